import pytest

from hyperzoo import core
from hyperzoo.core.registry import Registrar, RegistryError, resolve


def test_core_builtins_are_listed_sorted():
    assert {"cnn", "lstm", "mlp", "transformer"} <= set(core.models())
    assert core.models() == sorted(core.models())
    assert {"digits-seq", "digits-2d", "mnist-seq", "pmnist-seq", "mnist-2d"} <= set(core.tasks())
    assert core.operators("core.*") == ["core.rms_norm"]
    assert core.datasets() == sorted(core.datasets()) and {"digits", "mnist"} <= set(core.datasets())
    assert core.tasks("mnist-*") == ["mnist-2d", "mnist-seq"]
    assert core.model_fits("lstm") == ("sequence-classification",)
    assert core.task_kind("digits-2d") == "image-classification"
    info = core.plugins()[0]
    assert info.name == "core" and info.status == "loaded" and "models" in info.provides


def test_unknown_names_suggest_close_matches():
    with pytest.raises(RegistryError, match=r"unknown model 'lstn'; did you mean 'lstm'\?"):
        core.create_model("lstn", in_channels=1, num_classes=2)
    with pytest.raises(RegistryError, match="did you mean 'digits-seq'"):
        core.get_task("digit-seq")
    with pytest.raises(RegistryError, match="unknown operator 'core.rmsnorm'; did you mean 'core.rms_norm'"):
        core.get_operator("core.rmsnorm")


def test_lazy_targets_resolve_on_first_use_only(register):
    def hook(registrar):
        registrar.model("lazy-missing", "no_such_module_xyz:factory", fits=["x"])
        registrar.model("lazy-ok", "hyperzoo.core.baselines:mlp", fits=["x"])

    info = register("lazytest", hook)
    assert info.status == "loaded" and info.provides["models"] == ["lazy-missing", "lazy-ok"]
    with pytest.raises(RegistryError, match="cannot import 'no_such_module_xyz'"):
        core.create_model("lazy-missing")
    model = core.create_model("lazy-ok", in_features=4, num_classes=3, width=8)
    assert model.hyperzoo_spec == {"name": "lazy-ok", "args": {"in_features": 4, "num_classes": 3, "width": 8,
                                                                "depth": 2, "dropout": 0.0}}


def test_registration_is_all_or_nothing(register):
    def hook(registrar):
        registrar.model("fresh-model-1", "hyperzoo.core.baselines:mlp", fits=["x"])
        registrar.model("cnn", "hyperzoo.core.baselines:mlp", fits=["x"])  # taken by core

    with pytest.raises(RegistryError, match="plugin 'clash' cannot register model 'cnn': model 'cnn' is already "
                                            "registered by plugin 'core'"):
        register("clash", hook)
    assert "fresh-model-1" not in core.models()

    def dup(registrar):
        registrar.task("twice", "m:f", kind="k")
        registrar.task("twice", "m:f", kind="k")

    with pytest.raises(RegistryError, match="registered twice"):
        register("dup", dup)
    assert "twice" not in core.tasks()


def test_a_hook_that_raises_keeps_nothing(register):
    def hook(registrar):
        registrar.model("half-registered", "m:f", fits=["x"])
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        register("raising", hook)
    assert "half-registered" not in core.models()


@pytest.mark.parametrize("call, message", [
    (lambda r: r.model("Bad Name", "m:f", fits=["x"]), "invalid"),
    (lambda r: r.model("m", "no-colon", fits=["x"]), "package.module:attribute"),
    (lambda r: r.model("m", "m:f", fits=[]), "fits must be"),
    (lambda r: r.task("t", 42, kind="k"), "callable"),
    (lambda r: r.backend("a.op", "reference", "m:f"), "reserved"),
    (lambda r: r.backend("a.op", "b", "m:f", tolerances={"float32": 1e-3}), r"\(rtol, atol\)"),
])
def test_registrar_rejects_bad_registrations(call, message):
    with pytest.raises(RegistryError, match=message):
        call(Registrar("p"))


def test_resolve_reports_bad_targets():
    assert resolve("hyperzoo.core.registry:resolve") is resolve
    with pytest.raises(RegistryError, match="has no attribute 'nope'"):
        resolve("hyperzoo.core.registry:nope")
    with pytest.raises(RegistryError, match="not of the form"):
        resolve("hyperzoo.core.registry")


def test_unregister_removes_every_name(register):
    register("gone", lambda registrar: registrar.dataset("gone-data", "m:f"))
    assert "gone-data" in core.datasets()
    core.unregister_plugin("gone")
    assert "gone-data" not in core.datasets() and "gone" not in [p.name for p in core.plugins()]
    with pytest.raises(RegistryError, match="cannot be unregistered"):
        core.unregister_plugin("core")


def test_operators_are_named_after_their_plugin(register):
    with pytest.raises(RegistryError, match=r"operator name 'core.gated' registered by plugin 'mine' must be "
                                            r"'mine.<op>' \('core.\*' names are core's own\).*'mine.gated'"):
        register("mine", lambda registrar: registrar.operator("core.gated", "m:f"))
    with pytest.raises(RegistryError, match="must be 'mine.<op>'"):
        register("mine", lambda registrar: registrar.operator("gated", "m:f"))
    with pytest.raises(RegistryError, match="must be 'mine.<op>'"):
        register("mine", lambda registrar: registrar.operator("mine.", "m:f"))
    assert "core.gated" not in core.operators()
    register("mine", lambda registrar: (registrar.operator("mine.gated", "m:f"),
                                        registrar.backend("core.rms_norm", "mine-fast", "m:f")))  # backends: any op
    assert "mine.gated" in core.operators() and "mine-fast" in core.get_operator("core.rms_norm").backends
