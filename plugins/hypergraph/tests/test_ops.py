import pytest
import torch

from hyperzoo.core import testing
from hyperzoo.hypergraph import Hypergraph, e2v, hgnn_smooth, hgnnp_smooth, v2e


def _hg():
    edges = [[0, 1, 2], [1, 3], [2, 3, 4, 5], [5, 6], [0, 6, 7], [8], [1, 4, 7, 8]]
    return Hypergraph.from_edges(edges, 10, edge_weight=[1.0, 2.0, 0.5, 1.5, 3.0, 1.0, 0.7])


def _random_hg(seed: int, n: int = 60, e: int = 40):
    g = torch.Generator().manual_seed(seed)
    edges = [torch.randperm(n, generator=g)[: int(torch.randint(1, 7, (1,), generator=g))].tolist() for _ in range(e)]
    return Hypergraph.from_edges(edges, n + 3, edge_weight=(torch.rand(e, generator=g) + 0.1).tolist())


def cases_v2e():
    hg, g = _random_hg(0), torch.Generator().manual_seed(1)
    x = torch.randn(hg.num_nodes, 5, generator=g, requires_grad=True)
    w = torch.rand(hg.num_incidences, generator=g)
    return [((x, hg, a), {}) for a in ("sum", "mean", "max")] + [((x, hg, "mean", w), {}),
                                                                   ((x.double().detach().requires_grad_(), hg), {})]


def cases_e2v():
    hg, g = _random_hg(2), torch.Generator().manual_seed(3)
    y = torch.randn(hg.num_edges, 4, generator=g, requires_grad=True)
    w = torch.rand(hg.num_incidences, generator=g)
    return [((y, hg, a), {}) for a in ("sum", "mean", "max")] + [((y, hg, "sum", w), {})]


def _small_edges_hg(seed: int, n: int = 60, e: int = 50):
    """Hyperedges of 1..3 nodes (Σ|e|² ≤ 4·nnz(H): hgnn_smooth's csr backend takes the cached N×N Θ path),
    weighted, 3 isolated nodes."""
    g = torch.Generator().manual_seed(seed)
    edges = [torch.randperm(n, generator=g)[: int(torch.randint(1, 4, (1,), generator=g))].tolist() for _ in range(e)]
    return Hypergraph.from_edges(edges, n + 3, edge_weight=(torch.rand(e, generator=g) + 0.1).tolist())


def cases_smooth():
    out = []
    for seed in (4, 5):
        hg, g = _random_hg(seed), torch.Generator().manual_seed(seed)
        x = torch.randn(hg.num_nodes, 6, generator=g, requires_grad=True)
        out += [((x, hg), {}), ((x, hg), {"isolated": "self_loop"}),
                ((x.double().detach().requires_grad_(), hg, hg.edge_weight.double() * 2), {})]
    for seed in (6, 7):  # the Θ path: float32 and float64, both isolated options on one (cached) hypergraph
        hg, g = _small_edges_hg(seed), torch.Generator().manual_seed(seed)
        x = torch.randn(hg.num_nodes, 6, generator=g, requires_grad=True)
        out += [((x, hg), {}), ((x, hg), {"isolated": "self_loop"}),
                ((x.double().detach().requires_grad_(), hg, hg.edge_weight.double() * 2), {})]
        xd = x.double().detach().requires_grad_()
        out += [((xd, hg), {"isolated": "self_loop"}), ((xd, hg), {})]
    return out


@pytest.mark.parametrize("op, cases", [("v2e", cases_v2e), ("e2v", cases_e2v), ("hgnn_smooth", cases_smooth),
                                       ("hgnnp_smooth", cases_smooth)])
def test_csr_backend_parity(op, cases):
    """Every backend that can run here against the reference; on a CUDA GPU the cases move there and the
    compiled Triton kernel runs too (scripts/gpu-check), elsewhere Triton is skipped with that reason."""
    from hyperzoo import core

    triton_ok, why = core.triton_available()
    if triton_ok:
        on_gpu = [(tuple(a.to("cuda") if isinstance(a, (torch.Tensor, Hypergraph)) else a for a in args), kw)
                  for args, kw in cases()]
        report = testing.check_parity(f"hypergraph.{op}", on_gpu)
        assert report.ran["triton"] >= 3
    else:
        report = testing.check_parity(f"hypergraph.{op}", cases(), skip={"triton": f"needs a CUDA GPU ({why})"})
    assert report.ran["csr"] >= 3


def triton_cases_smooth():
    """Both hgnn_smooth paths (two products; the cached Θ), float32 and float64, weights, isolated nodes."""
    out = []
    for hg in (_random_hg(4), _small_edges_hg(6)):
        x = torch.randn(hg.num_nodes, 6, generator=torch.Generator().manual_seed(4), requires_grad=True)
        out += [((x, hg), {"isolated": "self_loop"}),
                ((x.double().detach().requires_grad_(), hg, hg.edge_weight.double() * 2), {})]
    return out


@pytest.mark.parametrize("op, cases, declined", [("v2e", "cases_v2e", 1), ("e2v", "cases_e2v", 1),
                                                 ("hgnn_smooth", "triton_cases_smooth", 0),
                                                 ("hgnnp_smooth", "triton_cases_smooth", 0)])
def test_triton_backend_parity_interpreted(op, cases, declined):
    """Outputs and gradients of the Triton segment-reduction backend equal the reference (float32 and float64,
    weights, isolated nodes), run under TRITON_INTERPRET=1; only aggr='max' is declined."""
    pytest.importorskip("triton")
    report = testing.check_parity_interpreted(f"hypergraph.{op}", f"{__file__}::{cases}", backends=["triton"])
    assert report["ran"]["triton"] == len(globals()[cases]()) - declined
    assert len(report["not_run"].get("triton", [])) == declined


def test_csr_declines_what_it_cannot_do():
    hg = _hg()
    x = torch.randn(10, 3)
    w = torch.ones(hg.num_edges, requires_grad=True)
    from hyperzoo import core

    op = core.get_operator("hypergraph.hgnn_smooth")
    assert op.select(x, hg, w)[0] == "reference"
    assert op.select(x, hg)[0] == "csr"
    assert op.select(x.half(), hg)[0] == "reference"


def test_hgnn_smooth_csr_paths_and_their_cache():
    from hyperzoo.hypergraph.ops import hgnn_smooth_csr as csr

    small, large = _small_edges_hg(6), _random_hg(4)
    assert csr.use_theta(small) and not csr.use_theta(large)  # the size rule: Σ|e|² vs 4·nnz(H)
    for isolated in ("zero", "self_loop"):
        t = csr.theta(small, torch.float64, isolated).to_dense()
        ref = small.smoothing_matrix(isolated=isolated).to_dense().double()
        assert torch.equal(t, t.T) and torch.allclose(t, ref, atol=1e-6)
    x = torch.randn(small.num_nodes, 4, dtype=torch.float64, requires_grad=True)
    g = torch.randn(small.num_nodes, 4, dtype=torch.float64)
    for isolated in ("zero", "self_loop", "zero"):  # one cache entry per option, each used as its own
        for backend in ("csr", "reference"):
            y = hgnn_smooth(x, small, isolated=isolated, backend=backend)
            (grad,) = torch.autograd.grad(y, x, g)
            if backend == "csr":
                y_csr, grad_csr = y, grad
        assert torch.allclose(y_csr, y, atol=1e-12) and torch.allclose(grad_csr, grad, atol=1e-12)
    assert {k for k in small._cache if k[0] == "hgnn_theta"} == {("hgnn_theta", torch.float64, "zero"),
                                                                 ("hgnn_theta", torch.float64, "self_loop")}
    for hg in (small, large):  # both paths forced, either hypergraph
        y = {p: csr.smooth(x[: hg.num_nodes].detach(), hg, "self_loop", p) for p in ("theta", "incidence")}
        assert torch.allclose(y["theta"], y["incidence"], atol=1e-12)
    heavier = small.with_edge_weight(small.edge_weight * 3 + torch.arange(small.num_edges) % 2)
    assert torch.allclose(hgnn_smooth(x, heavier, backend="csr"), hgnn_smooth(x, heavier, backend="reference"))


def test_operators_equal_dense_closed_forms(dense_h):
    hg = _hg()
    h, w = dense_h(hg), hg.edge_weight.double()
    x = torch.randn(10, 4, dtype=torch.float64)
    dv, de = h @ w, h.sum(0)
    inv = lambda d, p: torch.where(d > 0, d.clamp_min(1e-300) ** -p, torch.zeros_like(d))  # noqa: E731
    for backend in ("reference", "csr"):
        assert torch.allclose(v2e(x, hg, "sum", backend=backend), h.T @ x)
        assert torch.allclose(v2e(x, hg, "mean", backend=backend), torch.diag(1 / de) @ h.T @ x)
        y = torch.randn(hg.num_edges, 4, dtype=torch.float64)
        assert torch.allclose(e2v(y, hg, "sum", backend=backend), h @ y)
        assert torch.allclose(e2v(y, hg, "mean", backend=backend), torch.diag(inv(h.sum(1), 1)) @ h @ y)
        theta = torch.diag(inv(dv, 0.5)) @ h @ torch.diag(w / de) @ h.T @ torch.diag(inv(dv, 0.5))
        assert torch.allclose(hgnn_smooth(x, hg, backend=backend), theta @ x)
        p = torch.diag(inv(dv, 1)) @ h @ torch.diag(w / de) @ h.T
        assert torch.allclose(hgnnp_smooth(x, hg, backend=backend), p @ x)
        assert torch.allclose(hgnnp_smooth(x, hg, isolated="self_loop", backend=backend)[9], x[9])
    ref_max = torch.stack([x[e].max(0).values for e in hg.edges()])
    assert torch.equal(v2e(x, hg, "max"), ref_max)


def test_reference_gradcheck_including_edge_weights():
    hg = _hg()
    x = torch.randn(10, 3, dtype=torch.float64, requires_grad=True)
    w = (hg.edge_weight.double() + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: hgnn_smooth(a, hg, b, backend="reference"), (x, w))
    assert torch.autograd.gradcheck(lambda a, b: hgnnp_smooth(a, hg, b, backend="reference"), (x, w))


def test_operators_equal_dhg_message_passing():
    import dhg  # noqa: F401  (a required test dependency: the plugin's test extra)

    hg = _random_hg(7)
    hg, _ = hg.remove_isolated()
    hg = Hypergraph.from_edges(hg.edges(), hg.num_nodes, edge_weight=hg.edge_weight.tolist(), duplicates="merge")
    d = hg.to_dhg()
    x = torch.randn(hg.num_nodes, 5)
    assert torch.allclose(hgnn_smooth(x, hg), d.smoothing_with_HGNN(x), atol=1e-6)
    assert torch.allclose(hgnnp_smooth(x, hg), d.v2v(x, aggr="mean"), atol=1e-6)
    assert torch.allclose(v2e(x, hg, "sum"), d.v2e_aggregation(x, aggr="sum"), atol=1e-6)
    y = torch.randn(hg.num_edges, 5)
    assert torch.allclose(e2v(y, hg, "sum"), d.e2v_aggregation(y, aggr="sum"), atol=1e-6)
    # DHG's e2v "mean" divides by the *weighted* degree; ours is the plain mean: equal when unweighted.
    unweighted = Hypergraph.from_edges(hg.edges(), hg.num_nodes)
    assert torch.allclose(e2v(y, unweighted, "mean"), unweighted.to_dhg().e2v_aggregation(y, aggr="mean"), atol=1e-6)


def test_bad_inputs_have_clear_errors():
    hg = _hg()
    with pytest.raises(ValueError, match="10 nodes"):
        v2e(torch.randn(9, 3), hg)
    with pytest.raises(ValueError, match="aggr must be"):
        v2e(torch.randn(10, 3), hg, "median")
    with pytest.raises(ValueError, match="not defined for aggr='max'"):
        e2v(torch.randn(7, 3), hg, "max", torch.ones(hg.num_incidences))
    with pytest.raises(TypeError, match="Hypergraph"):
        hgnn_smooth(torch.randn(10, 3), [[0, 1]])
    with pytest.raises(ValueError, match="isolated must be"):
        hgnn_smooth(torch.randn(10, 3), hg, isolated="drop")
    with pytest.raises(TypeError, match="floating-point"):
        hgnn_smooth(torch.ones(10, 3, dtype=torch.long), hg)


def test_negative_or_nan_edge_weights_are_rejected():
    import pytest
    import torch

    from hyperzoo.hypergraph import Hypergraph, hgnn_smooth, hgnnp_smooth

    hg = Hypergraph.from_edges([[0, 1], [1, 2], [0, 2]], 3)
    x = torch.randn(3, 2)
    for op in (hgnn_smooth, hgnnp_smooth):
        for bad in (torch.tensor([1.0, -0.5, 1.0]), torch.tensor([1.0, float("nan"), 1.0])):
            with pytest.raises(ValueError, match=r"edge_weight must be finite and non-negative.*hyperedge 1"):
                op(x, hg, bad)
