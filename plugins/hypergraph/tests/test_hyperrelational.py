"""Hyper-relational facts: loader, structure round trips, exact filtered ranking, MoE routing, HyperFormer."""

import pytest
import torch

from hyperzoo import core
from hyperzoo.core import testing
from hyperzoo.hypergraph.hyperformer import (
    ComplEx,
    DistMult,
    HyperFormer,
    MoEFeedForward,
    TripleTransformer,
    switch_balance_loss,
)
from hyperzoo.hypergraph.hyperrelational import (
    FilterIndex,
    HyperRelationalError,
    HyperRelationalFacts,
    brute_force_ranks,
    filtered_ranks,
    load_facts,
    load_hyper_relational,
    queries,
    ranking_metrics,
)
from hyperzoo.hypergraph.link_prediction import evaluate_ranking, neighbor_table

WD = "hyper-relational/wd50k_100"


# -- loader ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant, counts", [("statements", (22738, 3279, 5297)), ("triples", (21190, 3227, 5377))])
def test_loader_counts_match_readme(variant, counts):
    testing.require_data(f"{WD}/{variant}/train.txt")
    d = load_hyper_relational(variant=variant)
    assert tuple(len(d[s]) for s in ("train", "valid", "test")) == counts
    if variant == "statements":
        assert (d["train"].num_entities, d["train"].num_relations) == (18791, 278)
        n = torch.cat([d[s].num_qualifiers for s in ("train", "valid", "test")])
        assert int((n == 1).sum()) == 20426 and int((n == 2).sum()) == 9342 and int(n.min()) == 1
    else:
        assert int(d["train"].num_qualifiers.sum()) == 0


def test_loader_round_trip_on_real_files(tmp_path):
    testing.require_data(f"{WD}/statements/test.txt")
    root = testing.require_data(f"{WD}/statements/test.txt")
    src = root / WD / "statements" / "test.txt"
    (facts,) = load_facts(src)
    facts.save(tmp_path / "test.txt")
    assert (tmp_path / "test.txt").read_text().split() == src.read_text().split()
    hg, rel = facts.to_hypergraph()
    assert hg.num_edges == len(facts) and hg.num_incidences == 2 * len(facts) + int(facts.num_qualifiers.sum())
    back = HyperRelationalFacts.from_hypergraph(hg, rel, entities=facts.entities, relations=facts.relations)
    assert torch.equal(back.triples, facts.triples) and torch.equal(back.qualifiers, facts.qualifiers)
    assert back.lines() == facts.lines()


@pytest.mark.parametrize("line, message", [
    ("Q1,P1,Q2,P3\n", "odd qualifier count"),
    ("Q1,P1,Q2,P3,Q4,P5\n", "odd qualifier count"),
    ("Q1,,Q2\n", "empty id"),
    ("Q1,P1,Q2,P3,\n", "empty id"),
    ("Q1,P1,Q2,P3,Q4,\n", "odd qualifier count"),
    ("Q1,P1\n", "at least"),
])
def test_malformed_line_names_file_line_and_problem(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_text("Q1,P1,Q2\n\n" + line)
    with pytest.raises(HyperRelationalError, match=message) as info:
        load_facts(path)
    assert f"{path}:3" in str(info.value)


def test_loader_folder_errors(tmp_path):
    with pytest.raises(HyperRelationalError, match="missing valid.txt, test.txt"):
        (tmp_path / "train.txt").write_text("a,r,b\n")
        load_hyper_relational(tmp_path)
    with pytest.raises(HyperRelationalError, match="out of range"):
        HyperRelationalFacts([[0, 0, 5]], entities=["a", "b"], relations=["r"])


def test_vocabulary_is_shared_and_qualifiers_padded(tmp_path):
    for s, text in [("train", "a,r,b,q,c\na,r,c\n"), ("valid", "b,s,a,q,a,q,b\n"), ("test", "c,r,a\n")]:
        (tmp_path / f"{s}.txt").write_text(text)
    d = load_hyper_relational(tmp_path)
    assert d["train"].entities == d["test"].entities == ["a", "b", "c"]
    assert d["valid"].qualifiers.tolist() == [[[1, 0], [1, 1]]]
    assert d["train"].qualifier_mask.tolist() == [[True], [False]]
    assert d["valid"].fact(0) == ("b", "s", "a", [("q", "a"), ("q", "b")])


# -- filtered ranking ------------------------------------------------------------------------------------------
def _toy(seed=0, n_ent=12, n_rel=3, n=40):
    g = torch.Generator().manual_seed(seed)
    t = torch.stack([torch.randint(0, n_ent, (n,), generator=g), torch.randint(0, n_rel, (n,), generator=g),
                     torch.randint(0, n_ent, (n,), generator=g)], 1)
    t[n // 2:, :2] = t[:n - n // 2, :2]  # many shared (s, r) queries so filtering matters
    q = torch.full((n, 2, 2), -1)
    has = torch.rand(n, generator=g) < 0.5
    q[has, 0, 0] = torch.randint(0, n_rel, (int(has.sum()),), generator=g)
    q[has, 0, 1] = torch.randint(0, n_ent, (int(has.sum()),), generator=g)
    names = dict(entities=[f"e{i}" for i in range(n_ent)], relations=[f"r{i}" for i in range(n_rel)])
    f = HyperRelationalFacts(t, q, q[..., 0] >= 0, **names)
    cut = [0, n // 2, 3 * n // 4, n]
    return [HyperRelationalFacts(t[a:b], q[a:b], q[a:b, :, 0] >= 0, **names) for a, b in zip(cut, cut[1:])], f


def _true_answers(splits, qs, r):
    """Brute force: every answer of a query with the same (e, r', set of qualifiers), by Python loops."""
    facts = []
    for f in splits:
        for i in range(len(f)):
            s, rel, o = f.triples[i].tolist()
            quals = frozenset(tuple(p) for p, m in zip(f.qualifiers[i].tolist(), f.qualifier_mask[i].tolist()) if m)
            facts += [((s, rel, quals), o), ((o, rel + r, quals), s)]
    out = []
    for i in range(len(qs["answer"])):
        quals = frozenset(tuple(p) for p, m in zip(qs["qualifiers"][i].tolist(), qs["qualifier_mask"][i].tolist())
                          if m)
        key = (int(qs["entity"][i]), int(qs["relation"][i]), quals)
        out.append({a for k, a in facts if k == key} - {int(qs["answer"][i])})
    return out


def test_filtered_ranking_equals_brute_force():
    splits, _ = _toy()
    r = splits[0].num_relations
    index = FilterIndex(splits, r)
    qs = queries(splits[2], r)
    scores = torch.randn(len(qs["answer"]), 12, generator=torch.Generator().manual_seed(1)).round(decimals=1)
    rows, ents = index.mask_pairs(index.groups(qs))
    fast = filtered_ranks(scores, qs["answer"], rows, ents)
    slow = brute_force_ranks(scores, qs["answer"], _true_answers(splits, qs, r))
    assert torch.equal(fast, slow)
    unfiltered = brute_force_ranks(scores, qs["answer"], [set()] * len(slow))
    assert (unfiltered >= fast).all() and (unfiltered > fast).any()  # the filter removed something


def test_qualifier_order_does_not_change_the_filter_key():
    splits, _ = _toy()
    r = splits[0].num_relations
    qs = queries(splits[1], r)
    swapped = {**qs, "qualifiers": qs["qualifiers"].flip(1), "qualifier_mask": qs["qualifier_mask"].flip(1)}
    index = FilterIndex(splits, r)
    assert (index.groups(qs) == index.groups(swapped)).all()


def test_perfect_and_constant_scorers():
    splits, _ = _toy()
    r, e = splits[0].num_relations, 12
    index = FilterIndex(splits, r)
    qs = queries(splits[2], r)
    b = len(qs["answer"])
    rows, ents = index.mask_pairs(index.groups(qs))
    perfect = torch.zeros(b, e)
    perfect[torch.arange(b), qs["answer"]] = 1.0
    perfect[rows, ents] += 0.5  # other true answers score high too: filtering must remove them
    ranks = filtered_ranks(perfect, qs["answer"], rows, ents)
    assert ranking_metrics(ranks)["mrr"] == 1.0
    const = filtered_ranks(torch.zeros(b, e), qs["answer"], rows, ents)
    others = torch.zeros(b, e, dtype=torch.bool)
    others[rows, ents] = True
    others[torch.arange(b), qs["answer"]] = False
    expected = 1 + (e - 1 - others.sum(1)).double() / 2  # the middle of the unfiltered candidates
    assert torch.equal(const, expected)


def test_unknown_query_is_a_clear_error():
    splits, _ = _toy()
    index = FilterIndex(splits[:1], splits[0].num_relations)
    qs = queries(HyperRelationalFacts([[0, 0, 0]], [[[2, 11]]], entities=splits[0].entities,
                                      relations=splits[0].relations), splits[0].num_relations)
    with pytest.raises(HyperRelationalError, match="not in the filter index"):
        index.groups(qs)


# -- mixture of experts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 3])
def test_moe_routes_each_token_to_exactly_k_experts(k):
    torch.manual_seed(0)
    moe = MoEFeedForward(8, 16, num_experts=4, top_k=k)
    x = torch.randn(50, 8)
    y = moe(x)
    choice = moe.last_choice
    assert choice.shape == (50, k) and all(len(set(c)) == k for c in choice.tolist())
    probs = torch.softmax(moe.gate(x), -1)
    ref = torch.zeros_like(y)
    for t in range(50):  # brute force: the renormalised top-k mixture of the experts' outputs
        p, i = probs[t].topk(k)
        p = p / p.sum()
        ref[t] = sum(p[j] * moe.expert(int(i[j]), x[t:t + 1])[0] for j in range(k))
    torch.testing.assert_close(y, ref)
    unused = [i for i in range(4) if not (choice == i).any()]
    if unused:  # an expert no token chose does not touch the output
        with torch.no_grad():
            moe.w1[unused[0]].add_(1.0)
        torch.testing.assert_close(moe(x), y)


def test_balance_loss_is_minimal_for_a_uniform_router():
    n, t = 4, 64
    uniform = torch.full((t, n), 1 / n)
    for k in (1, 2):
        chosen = torch.arange(t * k).reshape(t, k) % n
        assert switch_balance_loss(uniform, chosen, n).item() == pytest.approx(1.0)
        # whatever the (tie-broken) choice: P uniform gives 1
        assert switch_balance_loss(uniform, torch.zeros(t, k, dtype=torch.long), n).item() == pytest.approx(1.0)
    collapsed = torch.zeros(t, n)
    collapsed[:, 0] = 1
    assert switch_balance_loss(collapsed, torch.zeros(t, 1, dtype=torch.long), n).item() == pytest.approx(n)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):  # confident routers: L = N Σ f_i² ≥ 1, equality only when balanced
        a = torch.randint(0, n, (t,), generator=g)
        onehot = torch.nn.functional.one_hot(a, n).float()
        loss = switch_balance_loss(onehot, a[:, None], n).item()
        assert loss >= 1.0 - 1e-6
        assert (loss == pytest.approx(1.0)) == bool((torch.bincount(a, minlength=n) == t // n).all())
    # the model reports it through auxiliary_losses(), weighted, only in training
    m = HyperFormer(12, 3, width=16, heads=2, num_experts=4, top_k=2, num_neighbors=2, balance_weight=0.5)
    m(torch.tensor([0, 1]), torch.tensor([0, 4]))
    aux = m.auxiliary_losses()
    assert set(aux) == {"balance"} and aux["balance"].requires_grad
    expected = 0.5 * sum(layer.ffn.balance_loss for layer in m.layers)
    torch.testing.assert_close(aux["balance"], expected)
    m.eval()
    assert m.auxiliary_losses() == {}


# -- models -----------------------------------------------------------------------------------------------------
def _model(**kw):
    torch.manual_seed(0)
    m = HyperFormer(12, 3, width=16, heads=2, num_experts=3, top_k=2, num_neighbors=3, dropout=0.0, **kw)
    splits, _ = _toy()
    m.set_neighbors(*neighbor_table(splits[0], 3, 3))
    return m.eval()


def test_permuting_qualifier_pairs_does_not_change_the_score():
    m = _model()
    g = torch.Generator().manual_seed(3)
    q = torch.stack([torch.randint(0, 3, (5, 4), generator=g), torch.randint(0, 12, (5, 4), generator=g)], -1)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 1, 1], [0, 1, 0, 0], [1, 1, 1, 0]], dtype=torch.bool)
    q[~mask] = -1
    e, r = torch.tensor([0, 3, 5, 7, 11]), torch.tensor([0, 1, 5, 2, 4])
    base = m(e, r, q, mask)
    perm = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(m(e, r, q[:, perm], mask[:, perm]), base, rtol=1e-5, atol=1e-5)
    # and the qualifiers matter: changing a value changes the score
    q2 = q.clone()
    q2[0, 0, 1] = (q2[0, 0, 1] + 1) % 12
    assert not torch.allclose(m(e, r, q2, mask)[0], base[0])
    # the ablation ignores them
    ab = _model(qualifiers=False)
    torch.testing.assert_close(ab(e, r, q, mask), ab(e, r, q2, mask))


def test_neighbor_table_and_answer_exclusion():
    splits, _ = _toy()
    ent, rel = neighbor_table(splits[0], 3, 3, seed=0)
    t = splits[0].triples.tolist()
    pairs = {(s, (r, o)) for s, r, o in t} | {(o, (r + 3, s)) for s, r, o in t}
    for e in range(12):
        listed = [(int(r), int(u)) for r, u in zip(rel[e], ent[e]) if u >= 0]
        true = {p for c, p in pairs if c == e}
        assert set(listed) <= true and len(listed) == min(3, len({i for i, (s, r, o) in enumerate(t)
                                                                  if s == e} | {-1 - i for i, (s, r, o) in
                                                                                enumerate(t) if o == e}))
    m = _model()
    s, r, o = t[0]
    x = torch.tensor([s])
    keep = m.aggregate_neighbors(x, torch.tensor([r]), None)
    drop = m.aggregate_neighbors(x, torch.tensor([r]), torch.tensor([o]))
    listed = [(int(a), int(b)) for a, b in zip(m.neighbor_relation[s], m.neighbor_entity[s])]
    assert ((r, o) in listed) == (not torch.allclose(keep, drop))


@pytest.mark.parametrize("cls", [TripleTransformer, DistMult, ComplEx])
def test_baselines_score_all_entities(cls):
    torch.manual_seed(0)
    kw = {"heads": 2} if cls is TripleTransformer else {}
    m = cls(12, 3, width=16, **kw).eval()
    out = m(torch.tensor([0, 1, 2]), torch.tensor([0, 4, 5]))
    assert out.shape == (3, 12) and torch.isfinite(out).all()


def test_complex_matches_the_complex_product():
    torch.manual_seed(0)
    m = ComplEx(5, 2, width=8, dropout=0.0).eval()
    with torch.no_grad():
        m.bias.zero_()
    e, r = torch.tensor([1]), torch.tensor([3])
    c = lambda v: torch.complex(*v.chunk(2, -1))  # noqa: E731
    ref = (c(m.ent.weight[1]) * c(m.rel.weight[3]) * c(m.ent.weight).conj()).sum(-1).real
    torch.testing.assert_close(m(e, r)[0], ref)


def test_evaluate_ranking_matches_per_query_loop():
    splits, _ = _toy()
    m = _model()
    index = FilterIndex(splits, 3)
    qs = queries(splits[2], 3)
    ranks = evaluate_ranking(m, qs, index.groups(qs), index, batch_size=4)
    with torch.no_grad():
        scores = m(qs["entity"], qs["relation"], qs["qualifiers"], qs["qualifier_mask"])
    slow = brute_force_ranks(scores, qs["answer"], _true_answers(splits, qs, 3))
    torch.testing.assert_close(ranks, slow)


def test_task_runs_through_core_on_a_user_folder(tmp_path):
    splits, _ = _toy(n=80)
    for name, f in zip(("train", "valid", "test"), splits):
        f.save(tmp_path / f"{name}.txt")
    r = core.run("wd50k-100", "hyperformer", path=str(tmp_path), epochs=2, batch_size=16, width=16, heads=2,
                 num_neighbors=2, progress=False)
    for k in ("test_mrr", "test_hits@1", "test_hits@3", "test_hits@10", "val_mrr", "val_hits@10"):
        assert 0 < r.metrics[k] <= 1
    assert any("train_aux_balance" in row for row in r.history)
    r2 = core.run("wd50k-100", "distmult", path=str(tmp_path), epochs=1, batch_size=16, width=16, progress=False)
    assert 0 < r2.metrics["test_mrr"] <= 1
