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
