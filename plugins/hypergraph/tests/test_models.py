import math

import pytest
import torch
import torch.nn.functional as F

from hyperzoo.hypergraph import Hypergraph
from hyperzoo.hypergraph.conhd import CoNHD, ISABBlock, UNPBlock
from hyperzoo.hypergraph.hgnn import HGNN, HGNNP, UniGCN
from hyperzoo.hypergraph.layers import (
    HGNNConv,
    HGNNPConv,
    HyperDrop,
    SoftHyperedges,
    UniGCNConv,
    dual_hypergraph_transform,
)
from hyperzoo.hypergraph.lighthgnn import LightHGNN, lighthgnn_loss
from hyperzoo.hypergraph.reconstruction import HyperedgeReconstructor, jaccard, maximal_cliques, project


def _permuted(hg, node_perm, edge_perm):
    """The same hypergraph with node i renamed node_perm[i] and hyperedges reordered by edge_perm."""
    edges = hg.edges()
    return Hypergraph.from_edges([[int(node_perm[v]) for v in edges[e]] for e in edge_perm.tolist()], hg.num_nodes,
                                 edge_weight=hg.edge_weight[edge_perm].tolist(),
                                 allow_repeated_nodes=hg.allow_repeated_nodes)


@pytest.mark.parametrize("isolated", ["zero", "self_loop"])
def test_hgnn_family_equals_dhg_on_cora_weighted(isolated):
    import dhg  # a required test dependency (the plugin's test extra)

    from hyperzoo.core import testing
    from hyperzoo.hypergraph.data import load_npz

    testing.require_data("hypergraph/cocitation-cora.npz")
    hg = load_npz(name="cocitation-cora", duplicates="merge")["hg"]
    w = (torch.rand(hg.num_edges, generator=torch.Generator().manual_seed(0)) + 0.5).tolist()
    hg = hg.with_edge_weight(w)
    edges = hg.edges()
    if isolated == "self_loop":  # DHG has no such option: give it the equivalent singleton hyperedges
        iso = (hg.node_degree == 0).nonzero().flatten().tolist()
        edges, w = edges + [[v] for v in iso], w + [1.0] * len(iso)
    d = dhg.Hypergraph(hg.num_nodes, edges, e_weight=w)
    x = hg.x
    for ours, theirs in ((HGNN, dhg.models.HGNN), (HGNNP, dhg.models.HGNNP), (UniGCN, dhg.models.UniGCN)):
        torch.manual_seed(0)
        ref = theirs(x.shape[1], 16, 7).eval()
        mine = ours(x.shape[1], 16, 7, isolated=isolated).eval()
        mine.load_state_dict(ref.state_dict())
        with torch.no_grad():
            assert torch.allclose(mine(x, hg), ref(x, d), atol=1e-6), ours.__name__


@pytest.mark.parametrize("conv", [HGNNConv, HGNNPConv, UniGCNConv])
def test_layers_permutation_equivariant(small_hg, conv):
    torch.manual_seed(0)
    layer = conv(4, 5, dropout=0.0, isolated="self_loop").eval()
    x = torch.randn(small_hg.num_nodes, 4)
    node_perm, edge_perm = torch.randperm(small_hg.num_nodes), torch.randperm(small_hg.num_edges)
    out = layer(x, small_hg)
    x_p = torch.empty_like(x)
    x_p[node_perm] = x
    out_p = layer(x_p, _permuted(small_hg, node_perm, edge_perm))
    assert torch.allclose(out_p[node_perm], out, atol=1e-6)


@pytest.mark.parametrize("block", [UNPBlock, ISABBlock])
def test_set_blocks_equivariant_within_each_set(block):
    torch.manual_seed(0)
    b = block(8)
    group = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    x = torch.randn(9, 8)
    perm = torch.tensor([2, 0, 1, 4, 3, 8, 6, 5, 7])  # shuffles members inside each set only
    assert torch.allclose(b(x[perm], group, 3), b(x, group, 3)[perm], atol=1e-5)
    other = x.clone()
    other[5:] += 1.0  # changing set 2 leaves sets 0 and 1 untouched
    assert torch.allclose(b(other, group, 3)[:5], b(x, group, 3)[:5], atol=1e-6)


def _dense_mab(q_in, k_in, lq, lk, lv, lo, heads):
    """Set Transformer MAB on one dense set, written out per head."""
    d = q_in.shape[1]
    q, k, v = (t.view(t.shape[0], heads, -1).transpose(0, 1) for t in (lq(q_in), lk(k_in), lv(k_in)))
    o = (q + torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d), -1) @ v).transpose(0, 1).reshape(-1, d)
    return o + F.relu(lo(o))


def test_set_blocks_equal_a_loop_over_dense_sets():
    """The vectorised blocks (all sets at once, unsorted groups) equal running each set on its own."""
    torch.manual_seed(0)
    group = torch.randint(0, 6, (40,))
    group[:6] = torch.arange(6)  # every set non-empty; sizes vary
    x = torch.randn(40, 8, dtype=torch.float64)
    isab, unp = ISABBlock(8, heads=2, num_inducing=3).double(), UNPBlock(8).double().eval()
    want_isab, want_unp = torch.empty_like(x), torch.empty_like(x)
    for s in range(6):
        idx = (group == s).nonzero().flatten()
        xs = x[idx]
        h = _dense_mab(isab.inducing, xs, isab.q0, isab.k0, isab.v0, isab.o0, 2)
        want_isab[idx] = _dense_mab(xs, h, isab.q1, isab.k1, isab.v1, isab.o1, 2)
        want_unp[idx] = unp.outer(torch.cat([xs, unp.inner(xs).mean(0).expand_as(xs)], -1))
    assert torch.allclose(isab(x, group, 6), want_isab, atol=1e-12)
    assert torch.allclose(unp(x, group, 6), want_unp, atol=1e-12)


@pytest.mark.parametrize("variant, block", [("gd", "isab"), ("admm", "unp"), ("gd", "unp"), ("admm", "isab")])
def test_conhd_equivariant_under_node_and_edge_relabelling(small_hg, variant, block):
    torch.manual_seed(0)
    model = CoNHD(4, 3, width=8, block=block, variant=variant, heads=2, dropout=0.0).eval()
    x = torch.randn(small_hg.num_nodes, 4)
    node_perm, edge_perm = torch.randperm(small_hg.num_nodes), torch.randperm(small_hg.num_edges)
    hg_p = _permuted(small_hg, node_perm, edge_perm)
    x_p = torch.empty_like(x)
    x_p[node_perm] = x
    out, out_p = model(x, small_hg), model(x_p, hg_p)
    assert out.shape == (small_hg.num_incidences, 3)
    # incidence (v, e) of the original is at the position of (node_perm[v], new index of e) in hg_p
    pos = {(int(v), int(e)): i for i, (v, e) in enumerate(zip(hg_p.node_ids, hg_p.incidence_edge))}
    new_edge = torch.empty_like(edge_perm)
    new_edge[edge_perm] = torch.arange(len(edge_perm))
    idx = torch.tensor([pos[(int(node_perm[v]), int(new_edge[e]))]
                        for v, e in zip(small_hg.node_ids, small_hg.incidence_edge)])
    assert torch.allclose(out_p[idx], out, atol=1e-5)


def test_softhgnn_participation_topk_and_balance_gradient():
    torch.manual_seed(0)
    layer = SoftHyperedges(16, num_edges=6, top_k=3)
    x = torch.randn(2, 10, 16)
    a = layer.participation(x)
    assert torch.allclose(a.sum(-1), torch.ones(2, 10), atol=1e-6)
    mask = layer.topk_mask(a)
    assert mask.sum(-1).tolist() == [3, 3]
    assert torch.equal(mask, torch.zeros_like(mask).scatter(1, a.sum(1).topk(3, -1).indices, True))
    out = layer(x)
    assert out.shape == x.shape
    loss = layer.load_balance_loss()
    loss.backward()
    assert layer.prototypes.grad is not None and layer.prototypes.grad.abs().sum() > 0
    uniform = torch.full((1, 4, 6), 1 / 6)
    assert layer.load_balance_loss(uniform).abs() < 1e-6 and layer.load_balance_loss(a.detach()) > 0


def test_lighthgnn_loss_matches_hand_written_kl(small_hg):
    torch.manual_seed(0)
    zs, zt = torch.randn(10, 4), torch.randn(10, 4)
    y, train = torch.randint(0, 4, (10,)), torch.tensor([0, 3, 5])
    tau, lam = 2.0, 0.3
    pt, ps = F.softmax(zt / tau, -1), F.softmax(zs / tau, -1)
    kl = (pt * (pt / ps).log()).sum(-1).mean()
    expected = lam * F.cross_entropy(zs[train], y[train]) + (1 - lam) * tau**2 * kl
    assert torch.allclose(lighthgnn_loss(zs, zt, y, train, lam=lam, tau=tau), expected, atol=1e-6)
    edges = torch.tensor([0, 2, 6])
    pte = torch.stack([pt[small_hg.edges()[e]].mean(0) for e in edges.tolist()])
    pse = torch.stack([ps[small_hg.edges()[e]].mean(0) for e in edges.tolist()])
    hc = (pte * (pte / pse).log()).sum(-1).mean()
    got = lighthgnn_loss(zs, zt, y, train, lam=lam, tau=tau, hg=small_hg, edges=edges, hc_weight=0.5)
    assert torch.allclose(got, expected + 0.5 * hc, atol=1e-6)


def test_lighthgnn_loss_equals_kldivloss_on_hand_computed_distributions():
    """LightHGNN (Feng et al., ICLR 2024, eq. 4): L = λ·CE(student, y) on labelled nodes + (1−λ)·τ²·KL(p_t ‖ p_s)
    over all nodes, with p = softmax(z/τ). The τ² factor is Hinton, Vinyals & Dean (2015), "Distilling the
    Knowledge in a Neural Network", §2: soft-target gradients scale as 1/τ², so the term is multiplied by τ² to
    keep its weight independent of τ. Checked against torch.nn.KLDivLoss on distributions written out by hand."""
    tau, lam = 2.0, 0.25
    pt = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=torch.float64)
    ps = torch.tensor([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]], dtype=torch.float64)
    zt, zs = tau * pt.log(), tau * ps.log()          # logits whose softmax(z/τ) is exactly pt, ps
    y, train = torch.tensor([0, 2]), torch.tensor([1])
    by_hand = ((0.7 * math.log(0.7 / 0.5) + 0.2 * math.log(0.2 / 0.3) + 0.1 * math.log(0.1 / 0.2))
               + (0.1 * math.log(0.1 / 0.2) + 0.1 * math.log(0.1 / 0.2) + 0.8 * math.log(0.8 / 0.6))) / 2
    kl = torch.nn.KLDivLoss(reduction="batchmean")(ps.log(), pt)
    assert float(kl) == pytest.approx(by_hand, rel=1e-12)
    ce = -math.log(float(F.softmax(zs[1], -1)[2]))
    expected = lam * ce + (1 - lam) * tau**2 * by_hand
    assert float(lighthgnn_loss(zs, zt, y, train, lam=lam, tau=tau)) == pytest.approx(expected, rel=1e-10)


def test_lighthgnn_student_takes_features_only(small_hg):
    model = LightHGNN(4, 3, width=8, hc_weight=1.0).eval()
    x = torch.randn(10, 4)
    assert torch.equal(model(x), model.student(x))
    model.prepare_distillation(x, small_hg)
    assert model.reliability.shape == (small_hg.num_edges,)
    assert (model.reliability >= 0).all() and (model.reliability <= 1).all()
    loss = model.distillation_loss(x, small_hg, torch.zeros(10, dtype=torch.long), torch.tensor([0, 1]))
    loss.backward()
    assert all(p.grad is None for p in model.teacher.parameters())


def test_dht_dual_of_graph_and_hyperdrop_keeps_ceil_ratio():
    edge_index = torch.tensor([[0, 0, 1, 2, 4, 4, 5], [1, 2, 2, 3, 5, 6, 6]])
    hg = dual_hypergraph_transform(edge_index, 7, torch.randn(7, 3))
    assert hg.num_nodes == 7 and hg.num_edges == 7  # nodes: graph edges; hyperedges: graph nodes
    assert hg.edge_sets()[0] == frozenset({0, 1}) and hg.edge_sets()[3] == frozenset({3})
    assert (hg.node_degree == 2).all()  # every graph edge has two endpoints
    graph = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    for ratio in (0.1, 0.5, 0.6, 1.0):
        keep, feats = HyperDrop(3, ratio)(torch.randn(7, 3), hg, graph)
        counts = torch.bincount(graph[keep], minlength=2).tolist()
        assert counts == [math.ceil(ratio * 4), math.ceil(ratio * 3)] and feats.shape == (len(keep), 3)
    with pytest.raises(ValueError, match="self-loops"):
        dual_hypergraph_transform(torch.tensor([[0], [0]]), 2)


def test_reconstruction_properties():
    import networkx as nx

    truth = [frozenset(e) for e in ([0, 1, 2], [2, 3], [3, 4, 5, 6], [5, 6, 7], [0, 8], [8, 9, 10], [1, 9])]
    assert jaccard(truth, truth) == 1.0 and jaccard(truth, truth[:3]) == 3 / 7
    rng = torch.Generator().manual_seed(0)
    train = [frozenset(torch.randperm(40, generator=rng)[: int(torch.randint(2, 6, (1,), generator=rng))].tolist())
             for _ in range(60)]
    model = HyperedgeReconstructor(n_estimators=20).fit(project(train), train)
    g = project(truth)
    rec = model.predict(g)
    assert set(map(frozenset, project(rec).edges())) == set(map(frozenset, g.edges()))
    assert all(nx.is_isomorphic(g.subgraph(c), nx.complete_graph(len(c))) for c in rec)
    state = model.state_dict()
    clone = HyperedgeReconstructor()
    clone.load_state_dict(state)
    assert clone.predict(g) == rec
    assert set(maximal_cliques(g)) <= {frozenset(c) for c in nx.find_cliques(g)}


def test_sparse_csr_features_give_the_dense_outputs_and_gradients():
    """load_npz keeps bag-of-words features as CSR; the first layer multiplies only the stored non-zeros."""
    from hyperzoo import core
    from hyperzoo.core import testing as core_testing
    from hyperzoo.hypergraph.data import load_npz

    core_testing.require_data("hypergraph/cocitation-cora.npz")
    sparse, dense = load_npz(), load_npz(sparse_features=False)
    assert sparse["hg"].x.layout == torch.sparse_csr and dense["hg"].x.layout == torch.strided
    assert torch.equal(sparse["hg"].x.to_dense(), dense["hg"].x)
    for name in ("hgnn", "hgnnp", "node-mlp"):
        torch.manual_seed(0)
        model = core.create_model(name, in_channels=1433, num_classes=7).eval()
        a, b = model(sparse["hg"].x, sparse["hg"]), model(dense["hg"].x, dense["hg"])
        assert torch.allclose(a, b, atol=1e-5), name
        ga = torch.autograd.grad(a.square().sum(), list(model.parameters()))
        gb = torch.autograd.grad(b.square().sum(), list(model.parameters()))
        assert all(torch.allclose(u, v, rtol=1e-4, atol=1e-4) for u, v in zip(ga, gb)), name
