"""Building blocks of the H4G zero-shot transfer experiment (hyperzoo.hyperbolic.transfer)."""

import networkx as nx
import numpy as np
import pytest
import torch

import hyperzoo.hyperbolic as H
from hyperzoo.core import testing
from hyperzoo.hyperbolic import transfer as T
from hyperzoo.hyperbolic.tasks import load_closure

ROOTS = ["carnivore.n.01", "ungulate.n.01", "rodent.n.01", "primate.n.02"]


def small_closure():
    """A hand-made DAG: 0 → {1, 2}, 1 → {3, 4}, 2 → {5, 7}, 4 → {6}, and 5 also under 1 (multiple inheritance)."""
    g = nx.DiGraph([(0, 1), (0, 2), (1, 3), (1, 4), (2, 5), (2, 7), (4, 6), (1, 5)])
    closure = nx.transitive_closure_dag(g)
    return [f"n{i}" for i in range(8)], np.array(sorted(closure.edges()), dtype=np.int64), g


def test_split_is_disjoint_and_drops_shared_nodes():
    labels, edges, _ = small_closure()
    split = T.subtree_split(labels, edges, ["n1", "n2"])
    assert split["n1"].tolist() == [1, 3, 4, 6]        # 5 is under both 1 and 2: dropped from both
    assert split["n2"].tolist() == [2, 7]
    assert not set(split["n1"].tolist()) & set(split["n2"].tolist())
    with pytest.raises(ValueError, match="need >= 2"):
        T.subtree_split(labels, edges, ["n3"])                  # a leaf: a one-node subtree
    with pytest.raises(ValueError, match="inside the subtree"):
        T.subtree_split(labels, edges, ["n0", "n1"])
    with pytest.raises(ValueError, match="not a node label"):
        T.subtree_split(labels, edges, ["n9"])


def test_wordnet_subtrees_are_disjoint_and_match_networkx():
    labels, edges = load_closure(testing.require_data("hierarchy/wordnet_mammals.json") / "hierarchy" /
                                 "wordnet_mammals.json")
    split = T.subtree_split(labels, edges, ROOTS)
    sets = [set(v.tolist()) for v in split.values()]
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            assert not sets[i] & sets[j]
    g = nx.DiGraph(edges.tolist())
    for r, nodes in split.items():
        full = {labels.index(r)} | nx.descendants(g, labels.index(r))
        assert set(nodes.tolist()) <= full and len(full) - len(nodes) <= 2   # at most the shared ones dropped
    local = T.subtree_edges(edges, split["primate.n.02"])
    assert local.min() >= 0 and local.max() < len(split["primate.n.02"])
    assert len(local) == g.subgraph(split["primate.n.02"].tolist()).number_of_edges()


def test_reduction_and_features_use_the_direct_links():
    labels, edges, g = small_closure()
    red = T.reduction(edges, 8)
    assert {tuple(e) for e in red.tolist()} == set(nx.transitive_reduction(g).edges())
    x = T.structural_features(edges, 8, random_dim=3, hops=2, generator=torch.Generator().manual_seed(0))
    assert x.shape == (8, 3 * (3 + 4)) and torch.isfinite(x).all()
    # structural columns of hop 0: log(1 + #ancestors), log(1 + #descendants), log(1 + #children), leaf
    anc = torch.tensor([len(nx.ancestors(g, i)) for i in range(8)], dtype=torch.float32)
    desc = torch.tensor([len(nx.descendants(g, i)) for i in range(8)], dtype=torch.float32)
    torch.testing.assert_close(x[:, 3], torch.log1p(anc))
    torch.testing.assert_close(x[:, 4], torch.log1p(desc))
    assert x[:, 6].tolist() == [float(g.out_degree(i) == 0) for i in range(8)]
    with pytest.raises(ValueError, match="hops"):
        T.structural_features(edges, 8, hops=-1)


def test_h4g_encoder_reduces_the_radius_at_init():
    torch.manual_seed(0)
    plain = T.SubtreeEncoder(12, 4, h4g=False)
    scaled = T.SubtreeEncoder(12, 4, h4g=True, block=2, init_scale=0.5)
    scaled.mlp.load_state_dict(plain.mlp.state_dict())
    x = torch.randn(9, 12) * 3
    r_plain, r_scaled = H.dist0(plain(x)), H.dist0(scaled(x))
    torch.testing.assert_close(r_scaled, 0.5 * r_plain, rtol=1e-4, atol=1e-6)   # ½ ⊗ y halves d(0, y)
    m = scaled.scale.matrix()
    assert float(m.detach()[:2, 2:].abs().max()) == 0                                    # block-diagonal


def test_training_lowers_the_loss_and_improves_reconstruction():
    labels, edges, _ = small_closure()
    split = T.subtree_split(labels, edges, ["n1", "n2"])
    gen = torch.Generator().manual_seed(0)
    g1 = T.make_graph("n1", edges, split["n1"], random_dim=4, hops=2, generator=gen)
    torch.manual_seed(0)
    model = T.SubtreeEncoder(g1.features.shape[1], 2, hidden=8, h4g=True)
    before = T.evaluate(model, g1)
    losses = T.train_transfer(model, [g1], steps=30, lr=5e-2, negatives=2)
    after = T.evaluate(model, g1)
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert after["mean_rank"] <= before["mean_rank"] and after["map"] >= before["map"]
    with pytest.raises(ValueError, match="steps"):
        T.train_transfer(model, [g1], steps=0)
    with pytest.raises(ValueError, match="held_out"):
        T.transfer_experiment(labels, edges, ["n1", "n2"], "n0", h4g=True)
