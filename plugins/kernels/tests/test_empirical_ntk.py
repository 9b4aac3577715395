"""Empirical NTK: vmap(jacrev) and the implicit vjp/jvp product equal a naive per-output Jacobian loop (float64)."""

import pytest
import torch
from torch import nn

from hyperzoo.kernels import empirical_ntk

F64 = torch.float64


def naive_ntk(model, x1, x2):
    """Θ̂[i, j, a, b] = Σ_p ∂f_a(x1_i)/∂θ_p ∂f_b(x2_j)/∂θ_p, one autograd.grad call per (point, output)."""
    params = [p for p in model.parameters() if p.requires_grad]

    def rows(x):
        out = []
        for i in range(x.shape[0]):
            f = model(x[i:i + 1]).reshape(-1)
            out.append(torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(f[a], params,
                                                                                           retain_graph=True)])
                                    for a in range(f.shape[0])]))
        return torch.stack(out)                      # (n, O, P)

    j1, j2 = rows(x1), rows(x2)
    return torch.einsum("iap,jbp->ijab", j1, j2)


def _models():
    mlp = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    conv = nn.Sequential(nn.Unflatten(1, (1, 4)), nn.Conv1d(1, 3, 3, padding=1), nn.GELU(), nn.Flatten(),
                         nn.Linear(12, 2)).double()
    frozen = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 1)).double().eval()
    frozen[0].weight.requires_grad_(False)           # only trainable parameters count
    from hyperzoo.kernels import NTKMLP

    ntkmlp = NTKMLP(4, width=8, depth=2, out_features=2, bias_variance=0.3).double()
    lin = nn.Linear(4, 4).double()
    shared = nn.Sequential(lin, nn.Tanh(), lin, nn.Tanh(), nn.Linear(4, 2)).double()   # a layer used twice
    return {"mlp": mlp, "conv": conv, "frozen": frozen, "ntkmlp": ntkmlp, "shared": shared}


@pytest.mark.parametrize("name", ["mlp", "conv", "frozen", "ntkmlp", "shared"])
@pytest.mark.parametrize("implementation", ["jacobian", "implicit", "structured"])
def test_equals_the_naive_jacobian_loop(name, implementation):
    model = _models()[name]
    x1, x2 = torch.randn(5, 4, dtype=F64), torch.randn(3, 4, dtype=F64)
    want = naive_ntk(model, x1, x2)
    got = empirical_ntk(model, x1, x2, implementation=implementation)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_implicit_chunks_many_points_and_symmetry():
    model = _models()["mlp"]
    x = torch.randn(40, 4, dtype=F64)              # > one chunk of 64 // 3 points
    a = empirical_ntk(model, x, implementation="implicit")
    b = empirical_ntk(model, x)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    torch.testing.assert_close(empirical_ntk(model, x, implementation="structured"), b, rtol=0, atol=1e-10)
    flat = b.permute(0, 2, 1, 3).reshape(120, 120)
    torch.testing.assert_close(flat, flat.T, rtol=0, atol=1e-12)
    assert float(torch.linalg.eigvalsh(flat).min()) >= -1e-10


def test_bad_input_errors():
    model = _models()["mlp"]
    with pytest.raises(ValueError, match=r"same per-example shape; got \(4,\) and \(5,\)"):
        empirical_ntk(model, torch.randn(2, 4, dtype=F64), torch.randn(2, 5, dtype=F64))
    bad = torch.randn(2, 4, dtype=F64)
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="x1 contains NaN"):
        empirical_ntk(model, bad)
    with pytest.raises(ValueError, match="implementation must be one of"):
        empirical_ntk(model, torch.randn(2, 4, dtype=F64), implementation="naive")
    bn = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 1)).double()
    with pytest.raises(ValueError, match="BatchNorm in training mode"):
        empirical_ntk(bn, torch.randn(4, 4, dtype=F64), implementation="structured")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        empirical_ntk(lambda x: x, torch.randn(2, 4, dtype=F64))
    with pytest.raises(ValueError, match="no parameters with requires_grad"):
        empirical_ntk(nn.Linear(4, 1).double().requires_grad_(False), torch.randn(2, 4, dtype=F64))
