"""Fuzzing core's operator (``core.rms_norm``) and the rule that every registered operator is fuzzed.

Each plugin's operators are fuzzed by its own ``plugins/<name>/tests/test_fuzz.py`` (a ``FUZZ`` table of
``hyperzoo.core.fuzz.Spec``), so ``nox -s plugin-<name>`` fuzzes them with only core and that plugin installed;
this file fuzzes core's and checks that no registered operator of core or a first-party plugin lacks a spec.
Replay a failure with the ``@reproduce_failure`` line it prints.
"""

import runpy
import tomllib
from pathlib import Path

import pytest
import torch
from hypothesis import strategies as st

from hyperzoo import core
from hyperzoo.core import fuzz

ROOT = Path(__file__).resolve().parents[1]
OP = "core.rms_norm"


@st.composite
def rms_norm_cases(draw):
    dtype = draw(fuzz.dtypes())
    lead = draw(st.lists(st.integers(0, 4), min_size=0, max_size=2))  # () , (0,), (3, 1), ...
    d = draw(fuzz.lengths(1100))  # Triton's one-row programs hold the next power of two: 1025, 1100 cross one
    x = fuzz.randn(draw, (*lead, d), dtype, requires_grad=draw(st.booleans()))  # magnitudes up to the dtype's max
    weight = fuzz.randn(draw, (d,), dtype, scale_exp=0, requires_grad=draw(st.booleans())) if draw(
        st.booleans()) else None
    kwargs = {"eps": draw(st.sampled_from([1e-6, 1e-3, 1.0]))} if draw(st.booleans()) else {}
    return (x, weight), kwargs


def matches_float64(args, kwargs, outs):
    """No overflow or underflow garbage: the result equals the same formula evaluated in float64."""
    x, weight = args
    (y,) = outs
    want = core.get_operator(OP).reference(x.detach().double(), None if weight is None else weight.detach().double(),
                                           **kwargs)
    scale = 1.0 if weight is None else max(1.0, float(weight.detach().abs().max()))
    torch.testing.assert_close(y.double(), want, rtol=1e-4 if y.dtype == torch.float32 else 1e-10,
                               atol=1e-5 * scale, msg=lambda m: f"rms_norm differs from its float64 value: {m}")


def _bad(items):
    return st.sampled_from(items).map(lambda b: (b[0](), b[1], b[2]))


BAD = [
    (lambda: ((torch.ones(2, 8, dtype=torch.long),), {}), TypeError, "x must be a floating-point tensor"),
    (lambda: ((torch.randn(2, 8).numpy(),), {}), TypeError, "x must be a floating-point tensor"),
    (lambda: ((torch.tensor(1.0),), {}), ValueError, "non-empty last dimension"),
    (lambda: ((torch.randn(3, 0),), {}), ValueError, "non-empty last dimension"),
    (lambda: ((torch.randn(2, 8), torch.ones(7)), {}), ValueError, r"weight must have shape \(8,\)"),
    (lambda: ((torch.randn(2, 8), torch.ones(2, 8)), {}), ValueError, r"weight must have shape \(8,\)"),
    (lambda: ((torch.randn(2, 8),), {"eps": 0.0}), ValueError, "eps must be > 0"),
    (lambda: ((torch.randn(2, 8),), {"eps": -1e-6}), ValueError, "eps must be > 0"),
]

FUZZ = {OP: fuzz.Spec(valid=rms_norm_cases(), invalid=_bad(BAD), check=matches_float64)}


def test_fuzz_backends_finite_and_layouts():
    fuzz.check_valid(OP, FUZZ[OP])


def test_fuzz_out_of_contract_inputs_raise():
    fuzz.check_invalid(OP, FUZZ[OP])


def test_fuzz_triton_backend_interpreted():
    pytest.importorskip("triton", reason="needs triton (a test dependency): pip install triton")
    ran = fuzz.check_interpreted([OP], f"{__file__}::FUZZ", max_examples=6)
    assert ran[OP].get("triton", 0) >= 1, ran


# ------------------------------------------------------------------------------------------- coverage


def fuzz_file(plugin: str) -> Path | None:
    """Where ``plugin``'s operators are fuzzed: this file for core, ``plugins/<name>/tests/test_fuzz.py`` for a
    first-party plugin of the catalogue; None for a plugin from elsewhere (it fuzzes its operators itself)."""
    if plugin == "core":
        return Path(__file__)
    catalogue = tomllib.loads((ROOT / "registry.toml").read_text())["plugins"]
    if plugin in catalogue:
        return ROOT / catalogue[plugin]["path"] / "tests" / "test_fuzz.py"
    return None


def unfuzzed_operators() -> list[str]:
    """Registered operators of core and the first-party plugins that have no spec in their plugin's FUZZ table."""
    from hyperzoo.core.discovery import entries

    missing, tables = [], {}
    for name, entry in sorted(entries("operator").items()):
        path = fuzz_file(entry.plugin)
        if path is None:
            continue
        if path not in tables:
            tables[path] = runpy.run_path(str(path))["FUZZ"] if path.exists() else {}
        if name not in tables[path]:
            missing.append(f"{name} (plugin {entry.plugin}: add a fuzz.Spec to {path.relative_to(ROOT)})")
    return missing


def test_every_registered_operator_is_fuzzed():
    missing = unfuzzed_operators()
    assert missing == [], missing
    fuzz.check_coverage(FUZZ, plugin="core")


def test_an_operator_without_fuzz_strategies_fails_the_coverage_checks(monkeypatch):
    class NewOps:
        @core.hookimpl
        def hyperzoo_register(self, registrar):
            registrar.operator("fuzzdemo.double", "builtins:abs", doc="a new operator, not yet fuzzed")

    core.register_plugin(NewOps(), "fuzzdemo")
    try:
        with pytest.raises(AssertionError, match=r"without fuzz strategies: \['fuzzdemo\.double'\]"):
            fuzz.check_coverage({}, plugin="fuzzdemo")
        with pytest.raises(AssertionError, match=r"not registered: \['nowhere\.op'\]"):
            fuzz.check_coverage({"nowhere.op": FUZZ[OP]}, plugin="nowhere")
    finally:
        core.unregister_plugin("fuzzdemo")
    # an operator of core (or of a first-party plugin) missing from its FUZZ table fails the repository-wide check
    from hyperzoo.core import discovery
    from hyperzoo.core.registry import Entry

    real = discovery.entries

    def with_new_op(kind):
        table = dict(real(kind))
        if kind == "operator":
            table["core.new_op"] = Entry("operator", "core.new_op", "builtins:abs", "core")
        return table

    monkeypatch.setattr(discovery, "entries", with_new_op)
    assert "core.new_op (plugin core: add a fuzz.Spec to tests/test_fuzz.py)" in unfuzzed_operators()
    with pytest.raises(AssertionError, match="core.new_op"):
        test_every_registered_operator_is_fuzzed()


# ------------------------------------------------------------------------------------------- the fuzz checks can fail


@pytest.mark.parametrize("layout", fuzz.LAYOUTS)
def test_layouts_keep_values_and_change_strides(layout):
    from hyperzoo.core.fuzz import _arrange

    t = torch.randn(3, 4, 5)
    a = _arrange(t, layout, dim=1)
    want = t.narrow(1, 0, 1).expand(t.shape) if layout == "broadcast" else t
    assert torch.equal(a, want) and a.shape == t.shape
    assert a.is_contiguous() == (layout == "contiguous")
    if layout == "broadcast":
        assert a.stride(1) == 0


def _demo_operator(monkeypatch, reference):
    class Demo:
        @core.hookimpl
        def hyperzoo_register(self, registrar):
            registrar.operator("fuzzdemo.op", reference, doc="a deliberately broken operator")

    core.register_plugin(Demo(), "fuzzdemo")
    return "fuzzdemo.op"


@st.composite
def _vectors(draw):
    return (fuzz.randn(draw, (draw(fuzz.lengths(40)),), draw(fuzz.dtypes()), scale_exp=0),), {}


@pytest.mark.parametrize("broken,message", [
    (lambda x: x / x.abs().min().clamp_max(0), "not finite"),                    # inf from finite inputs
    (lambda x: x * 1.0 if x.is_contiguous() else x * 1.5, "memory layout"),      # layout-dependent result
    (lambda x: x.flip(0) if x.shape[0] > 16 else x, "no longer the identity"),  # the spec's own check
])
def test_check_valid_fails_on_broken_operators(monkeypatch, broken, message):
    def identity(args, kwargs, outs):
        assert torch.equal(outs[0], args[0].detach()), "no longer the identity"

    name = _demo_operator(monkeypatch, broken)
    try:
        with pytest.raises(AssertionError, match=message):
            fuzz.check_valid(name, fuzz.Spec(valid=_vectors(), check=identity, max_examples=40))
    finally:
        core.unregister_plugin("fuzzdemo")


def test_check_invalid_fails_when_bad_input_returns_a_value(monkeypatch):
    name = _demo_operator(monkeypatch, lambda x: x * 2)
    bad = st.just(((torch.ones(3, dtype=torch.float64),), {})).map(lambda c: (c, ValueError, "must be float32"))
    try:
        with pytest.raises(AssertionError, match="returned .* for out-of-contract inputs instead of raising"):
            fuzz.check_invalid(name, fuzz.Spec(valid=_vectors(), invalid=bad))
        with pytest.raises(AssertionError, match="has no invalid-input strategy"):
            fuzz.check_invalid(name, fuzz.Spec(valid=_vectors()))
    finally:
        core.unregister_plugin("fuzzdemo")



def _cancelling(c):
    """(x + c) − c in x's dtype: exact in float64 for |x| ~ 1, off by up to half an ulp of c in float32."""
    return lambda x: (x + c) - c


@pytest.mark.parametrize("backend,passes", [   # the reference: _cancelling(1e5), errors up to 0.0039 (ulp 2^-7)
    (lambda x: x * 1.0, True),             # more accurate than the ill-conditioned reference: accepted
    (_cancelling(5e4), True),              # other roundings (ulp 2^-8): accepted
    (_cancelling(3e7), False),             # ~250x the reference's error: still a parity failure
])
def test_parity_of_ill_conditioned_float32_cases_is_judged_against_float64(backend, passes):
    class Demo:
        @core.hookimpl
        def hyperzoo_register(self, registrar):
            registrar.operator("fuzzdemo.cancel", _cancelling(1e5), doc="loses digits in float32")
            registrar.backend("fuzzdemo.cancel", "other", backend)

    @st.composite
    def float32_vectors(draw):
        return (fuzz.randn(draw, (draw(st.integers(16, 40)),), torch.float32, scale_exp=0),), {}

    core.register_plugin(Demo(), "fuzzdemo")
    try:
        op = core.get_operator("fuzzdemo.cancel")
        x = torch.randn(32, generator=torch.Generator().manual_seed(0))
        with pytest.raises(AssertionError, match="differs from the reference"):   # plain parity cannot pass
            core.testing.check_parity(op, [((x,), {})], backends=["other"])
        assert fuzz.as_accurate_as_reference(op, ((x,), {}), ["other"]) is passes
        assert fuzz.as_accurate_as_reference(op, ((x.double(),), {}), ["other"]) is False   # float64: no excuse
        spec = fuzz.Spec(valid=float32_vectors(), max_examples=15)
        if passes:
            fuzz.check_valid("fuzzdemo.cancel", spec)
        else:
            with pytest.raises(AssertionError, match="differs from the reference"):
                fuzz.check_valid("fuzzdemo.cancel", spec)
    finally:
        core.unregister_plugin("fuzzdemo")


def test_an_accurate_reference_leaves_no_excuse_for_a_wrong_backend():
    class Demo:
        @core.hookimpl
        def hyperzoo_register(self, registrar):
            registrar.operator("fuzzdemo.exact", lambda x: x * 2.0, doc="exact in every dtype")
            registrar.backend("fuzzdemo.exact", "other", lambda x: x * 2.001)

    core.register_plugin(Demo(), "fuzzdemo")
    try:
        op = core.get_operator("fuzzdemo.exact")
        assert fuzz.as_accurate_as_reference(op, ((torch.randn(16),), {}), ["other"]) is False
    finally:
        core.unregister_plugin("fuzzdemo")
