"""Fuzzing hypergraph's operators (hypothesis, through ``hyperzoo.core.fuzz``): random hypergraphs (no nodes or no
hyperedges, isolated nodes, singleton and repeated-node hyperedges, zero-weight hyperedges), features of any width
including 0 in float32 and float64 with extreme magnitudes, non-contiguous and broadcast features and weights.
The csr backends equal the reference; finite inputs give finite outputs; out-of-contract inputs raise the
documented error. Replay a failure with the ``@reproduce_failure`` line it prints."""

import pytest
import torch
from hypothesis import strategies as st

from hyperzoo.core import fuzz
from hyperzoo.hypergraph import Hypergraph


@st.composite
def hypergraphs(draw):
    n = draw(st.integers(0, 12))
    num_edges = draw(st.integers(0, 9)) if n else 0
    repeated = draw(st.booleans())
    if repeated:  # edge-dependent roles: a node may be listed more than once in one hyperedge
        edges = [draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=5)) for _ in range(num_edges)]
    else:
        edges = [sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=min(n, 6))))
                 for _ in range(num_edges)]
    weights = draw(st.one_of(st.none(), st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.5, 1e-3, 40.0]),
                                                 min_size=num_edges, max_size=num_edges)))
    return Hypergraph.from_edges(edges, n, edge_weight=weights, allow_repeated_nodes=repeated)


def _features(draw, rows, dtype):
    c = draw(st.sampled_from([0, 1, 3, 5, 17]))
    # an incidence weight (≤ 40) times a feature, summed over ≤ 12 incidences, twice: 10^±36 stays finite
    return fuzz.randn(draw, (rows, c), dtype, scale_exp=draw(fuzz.exponent(dtype, share=0.9)),
                      requires_grad=draw(st.booleans()))


def _incidence_weight(draw, hg, dtype):
    if not draw(st.booleans()):
        return None
    return fuzz.randn(draw, (hg.num_incidences,), dtype, scale_exp=0, positive=True)


@st.composite
def gather_cases(draw, to_edges: bool):
    hg, dtype = draw(hypergraphs()), draw(fuzz.dtypes())
    x = _features(draw, hg.num_nodes if to_edges else hg.num_edges, dtype)
    aggr = draw(st.sampled_from(["sum", "mean", "max"]))
    weight = None if aggr == "max" else _incidence_weight(draw, hg, dtype)
    return (x, hg, aggr, weight), {}


@st.composite
def smooth_cases(draw):
    hg, dtype = draw(hypergraphs()), draw(fuzz.dtypes())
    x = _features(draw, hg.num_nodes, dtype)
    edge_weight = None
    if draw(st.booleans()):
        edge_weight = fuzz.randn(draw, (hg.num_edges,), dtype, scale_exp=0, positive=True,
                                 requires_grad=draw(st.booleans()))
    return (x, hg, edge_weight, draw(st.sampled_from(["zero", "self_loop"]))), {}


# ------------------------------------------------------------------------------------------- outside the contract

def _hg():
    return Hypergraph.from_edges([[0, 1, 2], [1, 3], [4]], 6)


GATHER_BAD = {
    "nodes": [
        (lambda: ((torch.randn(6, 2), [[0, 1]]), {}), TypeError, r"hg must be a hyperzoo\.hypergraph\.Hypergraph"),
        (lambda: ((torch.randn(6), _hg()), {}), TypeError, "2-D floating-point tensor"),
        (lambda: ((torch.ones(6, 2, dtype=torch.long), _hg()), {}), TypeError, "2-D floating-point tensor"),
        (lambda: ((torch.randn(5, 2), _hg()), {}), ValueError, "features have 5 rows but the hypergraph has 6 nodes"),
        (lambda: ((torch.randn(6, 2), _hg(), "median"), {}), ValueError, "aggr must be one of"),
        (lambda: ((torch.randn(6, 2), _hg(), "max", torch.ones(6)), {}), ValueError, "not defined for aggr='max'"),
        (lambda: ((torch.randn(6, 2), _hg(), "sum", torch.ones(5)), {}), ValueError,
         r"weight must be a tensor of shape \(6,\)"),
    ],
}
GATHER_BAD["edges"] = [
    (lambda: ((torch.randn(6, 2), _hg()), {}), ValueError, "features have 6 rows but the hypergraph has 3 hyperedges"),
    (lambda: ((torch.randn(3, 2).numpy(), _hg()), {}), TypeError, "2-D floating-point tensor"),
    (lambda: ((torch.randn(3, 2), _hg(), "mean", torch.ones(2, 3)), {}), ValueError,
     r"weight must be a tensor of shape \(6,\)"),
]
SMOOTH_BAD = [
    (lambda: ((torch.randn(6, 2), _hg(), None, "drop"), {}), ValueError, "isolated must be 'zero'"),
    (lambda: ((torch.randn(6, 2), _hg(), torch.ones(4)), {}), ValueError,
     r"edge_weight must be a tensor of shape \(3,\)"),
    (lambda: ((torch.randn(7, 2), _hg()), {}), ValueError, "features have 7 rows"),
    (lambda: ((torch.randn(6, 2, 1), _hg()), {}), TypeError, "2-D floating-point tensor"),
    (lambda: ((torch.randn(6, 2), "hg"), {}), TypeError, r"hg must be a hyperzoo\.hypergraph\.Hypergraph"),
]


def _bad(items):
    return st.sampled_from(items).map(lambda b: (b[0](), b[1], b[2]))


FUZZ = {
    "hypergraph.v2e": fuzz.Spec(valid=gather_cases(True), invalid=_bad(GATHER_BAD["nodes"]), layout_args=(0, 3)),
    "hypergraph.e2v": fuzz.Spec(valid=gather_cases(False), invalid=_bad(GATHER_BAD["edges"]), layout_args=(0, 3)),
    "hypergraph.hgnn_smooth": fuzz.Spec(valid=smooth_cases(), invalid=_bad(SMOOTH_BAD), layout_args=(0, 2)),
    "hypergraph.hgnnp_smooth": fuzz.Spec(valid=smooth_cases(), invalid=_bad(SMOOTH_BAD), layout_args=(0, 2)),
}


@pytest.mark.parametrize("name", sorted(FUZZ))
def test_fuzz_backends_finite_and_layouts(name):
    ran = fuzz.check_valid(name, FUZZ[name])
    assert ran["csr"] >= 1  # the csr backend runs on every CPU


@pytest.mark.parametrize("name", sorted(FUZZ))
def test_fuzz_out_of_contract_inputs_raise(name):
    fuzz.check_invalid(name, FUZZ[name])


def test_fuzz_covers_every_operator():
    fuzz.check_coverage(FUZZ, plugin="hypergraph")
