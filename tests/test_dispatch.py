"""Backend dispatch (availability, supports, priority, env and per-call overrides, orphans) and the parity helper."""

import logging

import pytest
import torch

from hyperzoo import core
from hyperzoo.core import testing

HERE = __file__


def double(x, scale=1.0):
    """Reference: y = 2·scale·x."""
    return 2 * scale * x


def fast_double(x, scale=1.0):
    return x * (2 * scale)


def wrong_double(x, scale=1.0):
    return 2.01 * scale * x


def small_only(x, scale=1.0):
    return (x.numel() <= 8, f"{x.numel()} elements > 8")


@pytest.fixture
def toy(register):
    def hook(registrar):
        r = registrar
        r.operator("toy.double", double, doc="y = 2 x")
        r.backend("toy.double", "fast", fast_double, priority=10, supports=small_only)
        r.backend("toy.double", "gpu", fast_double, priority=20, is_available=lambda: (False, "no GPU here"))
        r.backend("toy.double", "wrong", wrong_double, priority=-5)
        r.backend("toy.absent", "fast", fast_double)

    register("toy", hook)
    return core.get_operator("toy.double")


def test_dispatch_picks_the_best_backend_that_can_run(toy, monkeypatch):
    monkeypatch.delenv("HYPERZOO_BACKEND", raising=False)
    assert list(toy.backends) == ["gpu", "fast", "wrong"]  # by priority
    name, reasons = toy.select(torch.ones(4))
    assert name == "fast" and reasons == {"gpu": ["not available: no GPU here"]}
    name, reasons = toy.select(torch.ones(20))
    assert name == "wrong" and "does not support these inputs: 20 elements > 8" in reasons["fast"][0]
    assert torch.equal(toy(torch.ones(4)), torch.full((4,), 2.0))


def test_per_call_request_runs_it_or_raises_with_every_reason(toy):
    assert torch.allclose(toy(torch.ones(3), backend="wrong"), torch.full((3,), 2.01))
    assert torch.equal(toy(torch.ones(30), backend="reference"), torch.full((30,), 2.0))
    with pytest.raises(core.BackendError, match="'fast' of toy.double cannot run here: does not support"):
        toy(torch.ones(30), backend="fast")
    with pytest.raises(core.BackendError, match="not available: no GPU here"):
        toy(torch.ones(3), backend="gpu")
    with pytest.raises(core.BackendError, match="did you mean 'fast'"):
        toy(torch.ones(3), backend="fats")


def test_environment_overrides(toy, monkeypatch, caplog):
    monkeypatch.setenv("HYPERZOO_BACKEND", "reference")
    assert toy.select(torch.ones(2))[0] == "reference"
    monkeypatch.setenv("HYPERZOO_BACKEND", "fast,toy.double=wrong")
    assert toy.select(torch.ones(2))[0] == "wrong"
    monkeypatch.setenv("HYPERZOO_BACKEND", "toy.double=gpu")
    with caplog.at_level(logging.WARNING, logger="hyperzoo"):
        assert toy.select(torch.ones(2))[0] == "fast"  # falls back to automatic dispatch
        assert toy.select(torch.ones(2))[0] == "fast"
    assert len([r for r in caplog.records if "falling back" in r.message]) == 1  # logged once
    assert toy.explain()["would_run"] == "gpu" and "falls back" in toy.explain()["why"]


def test_interpreter_mode_never_auto_picks_a_backend(toy, monkeypatch):
    monkeypatch.delenv("HYPERZOO_BACKEND", raising=False)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    name, reasons = toy.select(torch.ones(2))
    assert name == "reference" and "TRITON_INTERPRET" in reasons["fast"][0]
    assert toy.select(torch.ones(2), backend="fast")[0] == "fast"


def test_orphaned_backends_are_kept_and_reported(toy):
    from hyperzoo.core.dispatch import orphaned_backends

    assert {"operator": "toy.absent", "backend": "fast", "plugin": "toy"} in orphaned_backends()


def test_parity_passes_for_a_correct_backend_and_fails_for_a_wrong_one(toy):
    x = torch.randn(2, 3, requires_grad=True)
    report = testing.check_parity(toy, [((x,), {}), ((x,), {"scale": 0.5})], backends=["fast"])
    assert report.ran == {"fast": 2} and report.max_abs_error["fast"] == 0.0
    with pytest.raises(AssertionError, match="wrong case 0 output"):
        testing.check_parity(toy, [((x,), {})], backends=["wrong"])


def test_parity_fails_on_a_declared_backend_never_exercised(toy):
    x = torch.randn(2, 3, requires_grad=True)
    with pytest.raises(AssertionError, match="declared backend 'gpu' of toy.double was never exercised: "
                                             "case 0: not available: no GPU here"):
        testing.check_parity(toy, [((x,), {})], skip={"wrong": "covered above"})
    big = torch.randn(30)
    with pytest.raises(AssertionError, match="'fast' .* never exercised"):
        testing.check_parity(toy, [((big,), {})], backends=["fast"])
    report = testing.check_parity(toy, [((x,), {})], skip={"gpu": "no GPU on CI", "wrong": "a deliberate fault"})
    assert report.skipped == {"gpu": "no GPU on CI", "wrong": "a deliberate fault"}


def test_parity_compares_gradients_too(register):
    def bad_grad(x):
        return x.detach() * 2 + 0 * x  # right values, wrong gradient

    register("gradtoy", lambda registrar: (registrar.operator("gradtoy.op", lambda x: 2 * x),
                                          registrar.backend("gradtoy.op", "b", bad_grad)))
    with pytest.raises(AssertionError, match="b case 0 grad"):
        testing.check_parity("gradtoy.op", [((torch.randn(3, requires_grad=True),), {})])


# -- core's demo operator: rms_norm, reference + Triton ---------------------------------------------------
def cases():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 37, generator=g, requires_grad=True)
    w = torch.randn(37, generator=g, requires_grad=True)
    h = torch.randn(2, 3, 128, generator=g).half().requires_grad_()
    return [((x, w), {}), ((x,), {"eps": 1e-3}), ((h, torch.ones(128).half()), {})]


def test_rms_norm_reference_matches_the_equation():
    x = torch.randn(4, 16, dtype=torch.float64)
    w = torch.rand(16, dtype=torch.float64)
    expected = x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-6) * w
    torch.testing.assert_close(core.get_operator("core.rms_norm")(x, w), expected, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda a: core.get_operator("core.rms_norm")(a, w), x.requires_grad_())


def test_rms_norm_rejects_bad_input():
    op = core.get_operator("core.rms_norm")
    with pytest.raises(ValueError, match=r"weight must have shape \(8,\)"):
        op(torch.randn(2, 8), torch.ones(7))
    with pytest.raises(TypeError, match="floating-point"):
        op(torch.ones(2, 8, dtype=torch.long))


def test_rms_norm_parity_here_states_why_triton_is_skipped():
    triton_ok, why = core.triton_available()
    if triton_ok:
        testing.check_parity("core.rms_norm", cases())
    else:
        report = testing.check_parity("core.rms_norm", cases(), skip={"triton": why})
        assert report.skipped == {"triton": why}


def test_rms_norm_triton_parity_under_the_interpreter():
    pytest.importorskip("triton", reason="needs triton (a test dependency): pip install triton")
    report = testing.check_parity_interpreted("core.rms_norm", f"{HERE}::cases", backends=["triton"])
    assert report["ran"] == {"triton": 3}


def test_interpreted_parity_catches_a_broken_kernel(tmp_path):
    """Break the kernel (drop the weight in the backward) and watch the interpreted check fail."""
    pytest.importorskip("triton", reason="needs triton (a test dependency): pip install triton")
    broken = tmp_path / "broken_cases.py"
    broken.write_text(
        "import torch\n"
        "import hyperzoo.core.ops.rms_norm_triton as m\n"
        "_orig = m._RMSNorm.backward\n"
        "def _bad(ctx, dy):\n"
        "    dx, dw, _ = _orig(ctx, dy)\n"
        "    return dx * 1.5, dw, None\n"
        "m._RMSNorm.backward = staticmethod(_bad)\n"
        "def cases():\n"
        "    x = torch.randn(3, 16, requires_grad=True)\n"
        "    return [((x, torch.ones(16)), {})]\n")
    with pytest.raises(AssertionError, match="triton case 0 grad"):
        testing.check_parity_interpreted("core.rms_norm", f"{broken}::cases", backends=["triton"])


# -- the cached fast path: a call costs about a microsecond, and stays right ------------------------------------
@pytest.fixture
def traced(register, monkeypatch):
    """toy2.double with recording backends: `ran` lists which implementation each call ran."""
    monkeypatch.delenv("HYPERZOO_BACKEND", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    ran, asked = [], []

    def impl(name):
        def fn(x, scale=1.0):
            ran.append(name)
            return 2 * scale * x
        return fn

    def small(x, scale=1.0):
        asked.append("small")
        return x.numel() <= 8, f"{x.numel()} elements > 8"

    def float64_only(x, scale=1.0):
        asked.append("f64")
        return x.dtype == torch.float64, f"{x.dtype} is not float64"

    def hook(registrar):
        registrar.operator("toy2.double", impl("reference"))
        registrar.backend("toy2.double", "small", impl("small"), priority=10, supports=small)
        registrar.backend("toy2.double", "f64", impl("f64"), priority=20, supports=float64_only, cache_supports=True)
        registrar.backend("toy2.double", "gpu", impl("gpu"), priority=30, is_available=lambda: False)

    register("toy2", hook)
    return core.get_operator("toy2.double"), ran, asked, impl


def test_shape_dependent_supports_is_asked_on_every_call(traced):
    op, ran, asked, _ = traced
    op(torch.ones(4))
    op(torch.ones(20))  # same device, dtype and requires_grad: the cached plan must still ask `supports`
    op(torch.ones(3))
    assert ran == ["small", "reference", "small"]
    assert asked.count("small") == 3


def test_cache_supports_is_asked_once_per_dispatch_key(traced):
    op, ran, asked, _ = traced
    for n in (4, 20, 3):
        op(torch.ones(n, dtype=torch.float64))
    assert ran == ["f64"] * 3 and asked.count("f64") == 1  # decided once for (cpu, float64, no grad)
    op(torch.ones(4))  # float32: another key, asked again, passed over
    assert ran[-1] == "small" and asked.count("f64") == 2
    op(torch.ones(4, dtype=torch.float64, requires_grad=True))  # requires_grad is part of the key
    assert asked.count("f64") == 3
    from hyperzoo.core.dispatch import dispatch_key

    x = torch.ones(2, dtype=torch.float64)
    assert dispatch_key((x,), {"scale": 2.0}) in op._plans  # the key calls are cached under
    assert dispatch_key((x,), {}) != dispatch_key((x.float(),), {}) != dispatch_key((x.float(), 2.0), {})


def test_calls_run_what_select_names(traced, monkeypatch):
    op, ran, _, _ = traced
    inputs = [torch.ones(4), torch.ones(20), torch.ones(3, dtype=torch.float64), torch.ones(30, requires_grad=True)]
    for env in (None, "reference", "toy2.double=small", "small", "toy2.double=gpu", "toy2.double=nope"):
        if env is None:
            monkeypatch.delenv("HYPERZOO_BACKEND", raising=False)
        else:
            monkeypatch.setenv("HYPERZOO_BACKEND", env)
        for x in inputs:
            ran.clear()
            op(x)
            assert ran == [op.select(x)[0]], (env, x.shape, x.dtype)


def test_an_operator_without_an_available_backend_calls_its_reference_keyless(register, monkeypatch):
    """No backend can run in this process and no override is set: calls skip the dispatch key (no plan is built);
    a backend registered later, or HYPERZOO_BACKEND set, is honoured from the next call."""
    monkeypatch.delenv("HYPERZOO_BACKEND", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    ran = []

    def impl(name):
        def fn(x):
            ran.append(name)
            return x
        return fn

    def hook(registrar):
        registrar.operator("toy3.same", impl("reference"))
        registrar.backend("toy3.same", "gpu", impl("gpu"), is_available=lambda: False)

    def later(registrar):
        registrar.backend("toy3.same", "cpu", impl("cpu"))

    register("toy3", hook)
    op = core.get_operator("toy3.same")
    op(torch.ones(2))
    op(torch.ones(3, dtype=torch.float64))
    assert ran == ["reference", "reference"] and not op._plans
    monkeypatch.setenv("HYPERZOO_BACKEND", "toy3.same=gpu")     # asked for: the full rules (a logged fallback)
    op(torch.ones(2))
    assert ran[-1] == "reference" and op._plans
    monkeypatch.delenv("HYPERZOO_BACKEND")
    register("toy3b", later)
    op(torch.ones(2))
    assert ran[-1] == "cpu"


def test_environment_changes_are_honoured_after_caching(traced, monkeypatch, caplog):
    op, ran, _, _ = traced
    x = torch.ones(4)
    op(x)
    monkeypatch.setenv("HYPERZOO_BACKEND", "reference")
    op(x)
    monkeypatch.setenv("HYPERZOO_BACKEND", "small,toy2.double=f64")  # f64 cannot run float32: falls back, once
    with caplog.at_level(logging.WARNING, logger="hyperzoo"):
        op(x)
        op(x)
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # interpreter on: automatic dispatch runs the reference
    monkeypatch.delenv("HYPERZOO_BACKEND")
    op(x)
    monkeypatch.delenv("TRITON_INTERPRET")
    op(x)
    assert ran == ["small", "reference", "small", "small", "reference", "small"]
    assert len([r for r in caplog.records if "asks f64; falling back" in r.message]) == 1


def test_a_backend_registered_later_is_used_by_an_existing_operator(traced, register):
    op, ran, _, impl = traced
    op(torch.ones(4))
    register("toy2plus", lambda registrar: registrar.backend("toy2.double", "faster", impl("faster"), priority=50))
    op(torch.ones(4))  # the same Operator object, created before the plugin
    assert core.get_operator("toy2.double") is not op and "faster" in op.backends
    core.unregister_plugin("toy2plus")
    op(torch.ones(4))
    assert ran == ["small", "faster", "small"] and "faster" not in op.backends


def test_discovery_does_not_import_dispatch(register):
    """The registry tells dispatch about changes (generation counter, listeners); it never reaches into it."""
    import ast
    import inspect

    from hyperzoo.core import discovery

    tree = ast.parse(inspect.getsource(discovery))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "dispatch" not in imported and not any("dispatch" in (m or "") for m in imported)
    before = discovery.generation()
    seen = []
    remove = discovery.on_change(lambda: seen.append(discovery.generation()))
    register("gen", lambda registrar: registrar.dataset("gen-data", "m:f"))
    core.unregister_plugin("gen")
    remove()
    register("gen", lambda registrar: registrar.dataset("gen-data", "m:f"))
    assert seen == [before + 1, before + 2] and discovery.generation() == before + 3
