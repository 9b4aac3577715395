"""The fused Triton backends of linear and nala: outputs and every gradient equal the reference, under the Triton
interpreter in a fresh process (CI) and on this machine with every backend that can run here."""

import pytest
import torch

from hyperzoo import core
from hyperzoo.core import testing

HERE = __file__


def cases():
    """Tiny cases (the interpreter is slow), together covering: causal with N not a multiple of the chunk and
    states in and out, non-causal with cross-attention lengths, two value blocks (Dv = 70 > 64), every feature map,
    the unnormalised identity map, a row with no weight (output 0, no gradient, not 0/0)."""
    g = torch.Generator().manual_seed(0)

    def t(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).requires_grad_()

    s0 = torch.rand(1, 2, 8, 12, generator=g).requires_grad_()
    z0 = (torch.rand(1, 2, 8, generator=g) + 0.5).requires_grad_()
    weightless = torch.randn(1, 1, 10, 8, generator=g)
    weightless[0, 0, 3] = -torch.rand(8, generator=g)                # relu features 0: a row with no weight (eps=0)
    weightless.requires_grad_()
    return [((t(1, 2, 37, 8), t(1, 2, 37, 8), t(1, 2, 37, 12)),
             {"feature_map": "elu", "causal": True, "chunk_size": 16, "initial_state": (s0, z0),
              "output_final_state": True}),
            ((t(1, 2, 21, 8), t(1, 2, 29, 8), t(1, 2, 29, 12)), {"feature_map": "relu"}),
            ((t(1, 1, 18, 8, scale=0.3), t(1, 1, 18, 8, scale=0.3), t(1, 1, 18, 70)),
             {"feature_map": "identity", "normalize": False, "causal": True, "chunk_size": 16}),
            ((weightless, t(1, 1, 10, 8), t(1, 1, 10, 4)), {"feature_map": "relu", "causal": True, "chunk_size": 4,
                                                             "eps": 0.0})]


def nala_cases():
    g = torch.Generator().manual_seed(1)

    def t(*shape):
        return torch.randn(*shape, generator=g).requires_grad_()

    s0 = torch.rand(1, 2, 16, 12, generator=g).requires_grad_()
    z0 = (torch.rand(1, 2, 16, generator=g) + 0.5).requires_grad_()
    return [((t(1, 2, 37, 8), t(1, 2, 37, 8), t(1, 2, 37, 12)),
             {"causal": True, "chunk_size": 16, "initial_state": (s0, z0), "output_final_state": True}),
            ((t(1, 2, 21, 8), t(1, 2, 26, 8), t(1, 2, 26, 12)), {})]


def test_triton_parity_interpreted_linear():
    pytest.importorskip("triton", reason="needs triton (a test dependency): pip install triton")
    report = testing.check_parity_interpreted("linear_attention.linear", f"{HERE}::cases", backends=["triton"])
    assert report["ran"] == {"triton": len(cases())}


def test_triton_parity_interpreted_nala():
    pytest.importorskip("triton", reason="needs triton (a test dependency): pip install triton")
    report = testing.check_parity_interpreted("linear_attention.nala", f"{HERE}::nala_cases", backends=["triton"])
    assert report["ran"] == {"triton": len(nala_cases())}


def test_interpreted_parity_catches_a_broken_backward(tmp_path):
    """Break the kernel's backward (drop the dd term of the normaliser) and watch the interpreted check fail."""
    pytest.importorskip("triton", reason="needs triton (a test dependency): pip install triton")
    broken = tmp_path / "broken_cases.py"
    broken.write_text(
        "import torch\n"
        "import hyperzoo.linear_attention.ops.linear_triton as m\n"
        "_orig = m._LinearAttn.backward\n"
        "def _bad(ctx, do, dsf, dzf):\n"
        "    g = list(_orig(ctx, do, dsf, dzf))\n"
        "    g[1] = g[1] * 1.01\n"
        "    return tuple(g)\n"
        "m._LinearAttn.backward = staticmethod(_bad)\n"
        "def cases():\n"
        "    g = torch.Generator().manual_seed(0)\n"
        "    x = [torch.randn(1, 1, 20, 8, generator=g).requires_grad_() for _ in range(3)]\n"
        "    return [((x[0], x[1], x[2]), {'causal': True, 'chunk_size': 16})]\n")
    with pytest.raises(AssertionError, match="triton case 0 grad"):
        testing.check_parity_interpreted("linear_attention.linear", f"{broken}::cases", backends=["triton"])


@pytest.mark.parametrize("op,make", [("linear_attention.linear", cases), ("linear_attention.nala", nala_cases)])
def test_parity_on_this_machine_runs_every_available_backend(op, make):
    ok, why = core.triton_available()
    if not ok:
        report = testing.check_parity(op, make(), skip={"triton": f"needs a CUDA GPU: {why}"})
        assert report.skipped == {"triton": f"needs a CUDA GPU: {why}"}
        pytest.skip(f"needs a CUDA GPU for the Triton backend ({why}); the reference ran, see the interpreted test")
    on_gpu = [(_to_cuda(args), _to_cuda(kw)) for args, kw in make()]
    report = testing.check_parity(op, on_gpu)
    assert report.ran["triton"] == len(on_gpu)


def _to_cuda(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cuda().requires_grad_(x.requires_grad)
    if isinstance(x, (tuple, list)):
        return type(x)(_to_cuda(y) for y in x)
    if isinstance(x, dict):
        return {k: _to_cuda(y) for k, y in x.items()}
    return x


def test_blockwise_causal_is_left_to_the_reference():
    pytest.importorskip("triton", reason="needs triton (a test dependency): pip install triton")
    from hyperzoo.linear_attention.ops import linear_triton

    q = torch.randn(1, 1, 8, 4)
    for supports in (linear_triton.supports_linear, linear_triton.supports_nala):
        ok, why = supports(q, q, q, causal=True, block_size=4)
        assert not ok and "blockwise-causal runs in the reference" in why
    with pytest.raises(ValueError, match="runs in the reference"):
        linear_triton.linear(q, q, q, causal=True, block_size=4)
