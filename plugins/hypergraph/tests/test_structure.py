import json

import networkx as nx
import numpy as np
import pytest
import torch

from hyperzoo.hypergraph import Hypergraph, HypergraphError


def test_from_edges_csr_and_degrees(small_hg):
    assert small_hg.num_nodes == 10 and small_hg.num_edges == 7 and small_hg.num_incidences == 19
    assert small_hg.edges()[2] == [2, 3, 4, 5]
    assert small_hg.edge_size.tolist() == [3, 2, 4, 2, 3, 1, 4]
    assert small_hg.node_degree.tolist() == [2, 3, 2, 2, 2, 2, 2, 2, 2, 0]
    assert small_hg.weighted_node_degree[0].item() == pytest.approx(4.0)


@pytest.mark.parametrize("edges, n, match", [
    ([[0, 5]], 3, "out of range"),
    ([[0, 1], []], None, "empty"),
    ([[0, 1, 1]], None, "more than once"),
])
def test_validation_errors(edges, n, match):
    with pytest.raises(HypergraphError, match=match):
        Hypergraph.from_edges(edges, n)


def test_validation_features_and_weights():
    with pytest.raises(HypergraphError, match="NaN"):
        Hypergraph.from_edges([[0, 1]], x=torch.tensor([[1.0], [float("nan")]]))
    with pytest.raises(HypergraphError, match="non-negative"):
        Hypergraph.from_edges([[0, 1]], edge_weight=[-1.0])
    with pytest.raises(HypergraphError, match="shape"):
        Hypergraph.from_edges([[0, 1]], x=torch.zeros(3, 2))
    assert Hypergraph.from_edges([[0, 1, 1]], allow_repeated_nodes=True).num_incidences == 3


def test_duplicates_options():
    edges = [[0, 1], [1, 0], [1, 2]]
    assert Hypergraph.from_edges(edges).num_edges == 3
    merged = Hypergraph.from_edges(edges, duplicates="merge")
    assert merged.num_edges == 2 and merged.edge_weight.tolist() == [1.0, 1.0]
    summed = Hypergraph.from_edges(edges, duplicates="sum")
    assert summed.edge_weight.tolist() == [2.0, 1.0]
    with pytest.raises(HypergraphError, match="repeats"):
        Hypergraph.from_edges(edges, duplicates="error")
    with pytest.raises(HypergraphError, match="duplicates must be"):
        Hypergraph.from_edges(edges, duplicates="drop")


def test_from_networkx_bipartite_davis():
    g = nx.davis_southern_women_graph()
    hg = Hypergraph.from_networkx_bipartite(g, g.graph["top"])
    assert (hg.num_nodes, hg.num_edges, hg.num_incidences) == (18, 14, g.number_of_edges())
    for e, event in enumerate(hg.edge_names):
        assert {hg.node_names[v] for v in hg.edges()[e]} == set(g[event])


def test_from_maximal_cliques_karate():
    g = nx.karate_club_graph()
    hg = Hypergraph.from_maximal_cliques(g)
    assert {frozenset(c) for c in nx.find_cliques(g)} == set(hg.edge_sets())
    assert set(map(frozenset, hg.clique_expansion().edges())) == set(map(frozenset, g.edges()))


def test_star_expansion_is_bipartite_incidence(small_hg):
    s = small_hg.star_expansion()
    assert nx.is_bipartite(s) and s.number_of_edges() == small_hg.num_incidences


def test_weighted_clique_expansion_counts_pairs():
    hg = Hypergraph.from_edges([[0, 1, 2], [0, 1], [2, 3]])
    g = hg.clique_expansion(weighted=True)
    assert g[0][1]["weight"] == 2 and g[1][2]["weight"] == 1 and not g.has_edge(0, 3)


def test_dual_twice_is_identity(small_hg):
    hg, _ = small_hg.remove_isolated()
    dual = hg.dual()
    assert (dual.num_nodes, dual.num_edges) == (hg.num_edges, hg.num_nodes)
    assert dual.dual().edge_sets() == hg.edge_sets()
    with pytest.raises(HypergraphError, match="belong to no hyperedge"):
        small_hg.dual()


def test_json_roundtrips(tmp_path, small_hg):
    path = tmp_path / "hg.json"
    small_hg.to_json(path)
    back = Hypergraph.from_json(path)
    assert back.equals(small_hg)
    xgi = {"hypergraph-data": {}, "node-data": {"a": {}, "b": {}, "c": {}},
           "edge-data": {"e1": {"weight": 2.0}}, "edge-dict": {"e1": ["a", "b"], "e2": ["b", "c"]}}
    hg = Hypergraph.from_json(xgi)
    assert hg.edges() == [[0, 1], [1, 2]] and hg.edge_weight.tolist() == [2.0, 1.0]
    assert hg.node_names == ["a", "b", "c"]
    with pytest.raises(HypergraphError, match="neither HIF"):
        Hypergraph.from_json({"foo": 1})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(HypergraphError, match="not valid JSON"):
        Hypergraph.from_json(bad)
    assert json.loads(path.read_text())["network-type"] == "undirected"


def test_dhg_roundtrip_merges_duplicates():
    import dhg  # a required test dependency (the plugin's test extra)

    hg = Hypergraph.from_edges([[0, 1], [1, 0], [1, 2, 3]], edge_weight=[1.0, 3.0, 0.5])
    d = hg.to_dhg()
    assert isinstance(d, dhg.Hypergraph) and d.num_e == 2
    back = Hypergraph.from_dhg(d)
    assert back.equals(Hypergraph.from_edges([[0, 1], [1, 2, 3]], edge_weight=[2.0, 0.5]))
    assert Hypergraph.from_edges([[0, 1], [1, 0], [1, 2, 3]], edge_weight=[1.0, 3.0, 0.5],
                                 duplicates="merge").equals(back)


@pytest.mark.parametrize("isolated", ["zero", "self_loop"])
def test_smoothing_matrix_symmetric_spectrum_in_unit_interval(small_hg, dense_h, isolated):
    theta = small_hg.smoothing_matrix(isolated=isolated).to_dense().double()
    assert torch.allclose(theta, theta.T, atol=1e-6)
    eig = torch.linalg.eigvalsh(theta)
    assert eig.min() >= -1e-6 and eig.max() <= 1 + 1e-6
    h, w = dense_h(small_hg), small_hg.edge_weight.double()
    dv = h @ w
    dvis = torch.where(dv > 0, dv.rsqrt(), torch.zeros_like(dv))
    ref = torch.diag(dvis) @ h @ torch.diag(w / h.sum(0)) @ h.T @ torch.diag(dvis)
    if isolated == "self_loop":
        ref = ref + torch.diag((dv == 0).double())
        assert theta[9, 9] == 1.0
    else:
        assert theta[9].abs().sum() == 0
    assert torch.allclose(theta, ref, atol=1e-6)
    lap = small_hg.laplacian(isolated=isolated).to_dense().double()
    assert torch.allclose(lap, torch.eye(10, dtype=torch.float64) - ref, atol=1e-6)


def test_incidence_matrix(small_hg, dense_h):
    assert torch.equal(small_hg.incidence().to_dense().double(), dense_h(small_hg))
    assert np.allclose(small_hg.to("cpu").edge_weight.numpy(), small_hg.edge_weight.numpy())


def test_error_messages_name_what_to_fix():
    import pytest
    import torch

    from hyperzoo.hypergraph import Hypergraph, HypergraphError

    with pytest.raises(HypergraphError, match=r"node id -1 in hyperedge 1 .*ids start at 0"):
        Hypergraph.from_edges([[0, 1], [-1, 2]], 3)
    with pytest.raises(HypergraphError, match=r"node id 5 in hyperedge 0 .*pass num_nodes=6"):
        Hypergraph.from_edges([[0, 5]], 3)
    x = torch.zeros(4, 2)
    x[2, 1] = float("nan")
    with pytest.raises(HypergraphError, match=r"NaN or inf \(first at node 2, 1 node"):
        Hypergraph.from_edges([[0, 1], [2, 3]], 4, x=x)


def test_load_npz_num_nodes_must_match(tmp_path):
    import numpy as np
    import pytest

    from hyperzoo.hypergraph import HypergraphError
    from hyperzoo.hypergraph.data import load_npz

    path = tmp_path / "g.npz"
    np.savez(path, x_data=np.ones(2, np.float32), x_indices=np.array([0, 1]), x_indptr=np.array([0, 1, 2, 2]),
             x_shape=np.array([3, 2]), edge_ptr=np.array([0, 2, 3]), edge_nodes=np.array([0, 1, 2]),
             labels=np.array([0, 1, 0]), train_splits=np.array([[0, 1]]))
    assert load_npz(path, num_nodes=3)["hg"].num_nodes == 3
    with pytest.raises(HypergraphError, match="num_nodes=5 but the features"):
        load_npz(path, num_nodes=5)
