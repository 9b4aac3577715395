"""Tasks through core.run with tiny budgets; the reconstruction metric against a brute force; naming."""

import numpy as np
import pytest
import torch

from hyperzoo import core
from hyperzoo.core import testing
from hyperzoo.core.config import parameters


def test_reconstruction_metric_equals_brute_force():
    from hyperzoo.hyperbolic.tasks import reconstruction

    g = torch.Generator().manual_seed(0)
    n = 12
    adj = torch.rand(n, n, generator=g) < 0.3
    adj = (adj | adj.t())
    adj.fill_diagonal_(False)
    d = torch.rand(n, n, generator=g, dtype=torch.float64)
    d = d + d.t()
    got = reconstruction(d, adj)
    ranks, aps = [], []
    for u in range(n):
        nbs = [v for v in range(n) if adj[u, v]]
        if not nbs:
            continue
        non = [w for w in range(n) if w != u and not adj[u, w]]
        for v in nbs:
            ranks.append(1 + sum(d[u, w] < d[u, v] for w in non))
        others = sorted((w for w in range(n) if w != u), key=lambda w: float(d[u, w]))
        hits, prec = 0, []
        for i, w in enumerate(others, 1):
            if adj[u, w]:
                hits += 1
                prec.append(hits / i)
        aps.append(np.mean(prec))
    assert got["mean_rank"] == pytest.approx(float(np.mean(ranks)))
    assert got["map"] == pytest.approx(float(np.mean(aps)))
    perfect = reconstruction(torch.where(adj, 1.0, 2.0).double(), adj)
    assert perfect == {"mean_rank": 1.0, "map": 1.0}


def test_tree_embedding_hyperbolic_beats_euclidean_map_in_2d():
    hyp = core.run("tree-embedding", "poincare-embedding", width=2, progress=False)     # 300 epochs, ~3 s
    euc = core.run("tree-embedding", "euclidean-embedding", width=2, progress=False)
    for r in (hyp, euc):
        assert np.isfinite(r.metrics["test_distortion"]) and 0 < r.metrics["test_map"] <= 1
    assert hyp.metrics["test_map"] > euc.metrics["test_map"]


def test_wordnet_mammals_runs_and_learns():
    testing.require_data("hierarchy/wordnet_mammals.json")
    task = core.get_task("wordnet-mammals", burn_in=1)
    assert task.num_nodes == 1180 and len(task.edges) == 6540
    r = core.run(task, "poincare-embedding", width=5, epochs=2, progress=False)
    assert r.metrics["test_mean_rank"] < 300 and r.metrics["test_map"] > 0.05    # random: rank ~560, MAP ~0.02
    assert all(np.isfinite(v) for v in r.metrics.values())


def test_task_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="node-link JSON"):
        core.get_task("wordnet-mammals", path=tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": []}')
    with pytest.raises(ValueError, match="node-link"):
        core.get_task("wordnet-mammals", path=bad)
    with pytest.raises(ValueError, match="negatives"):
        core.get_task("wordnet-mammals", negatives=0)
    with pytest.raises(ValueError, match="branching"):
        core.get_task("tree-embedding", branching=0)
    with pytest.raises(core.ConfigError):
        core.run("tree-embedding", "poincare-embedding", batch_size=3, epochs=1, progress=False)


def test_poincare_resnet_through_core_run_on_digits():
    r = core.run("digits-2d", "poincare-resnet", widths=[4, 8], depths=[1, 1], epochs=1, batch_size=128,
                 optimizer="riemannian-adam", progress=False)
    assert 0.1 < r.metrics["test_accuracy"] <= 1 and np.isfinite(r.metrics["test_loss"])


NAMING_EXCEPTIONS = {
    "curvature": "the ball's curvature c (geoopt's and HypLL's term)",
    "input_scale": "poincare-resnet: scale of the pixels before exp₀ onto the ball",
    "num_nodes": "embedding models: number of embedded items (a num_<things> count, data-derived)",
    "negatives": "wordnet-mammals: negative samples per edge (Nickel & Kiela's term)",
    "burn_in": "wordnet-mammals: epochs at burn_in_multiplier × lr first (Nickel & Kiela's burn-in)",
    "branching": "tree-embedding: children per node of the networkx balanced tree",
    "height": "tree-embedding: height of the tree",
    "num_old": "gcd-digits: number of old (labelled) classes (GCD's term)",
    "labelled_fraction": "gcd-digits: share of the old classes' images that carry labels",
    "out_features": "hypcd / gcd-euclidean: projection dimension (nn.Linear's term)",
    "clip_r": "hypcd: the feature-clipping radius r (Guo et al.'s symbol)",
    "alpha": "hypcd: weight of the distance term in the hybrid similarity (HypCD's α)",
}


def test_factory_parameters_follow_the_naming_table():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "naming.md").read_text()
    table = {n for line in text.splitlines() if line.startswith("| `")
             for n in re.findall(r"`([a-z_]+)`", line.split("|")[1])}
    from hyperzoo.core.discovery import registry

    reg = registry()
    offenders = []
    for kind in ("model", "task"):
        for name in reg.names(kind):
            entry = reg.get(kind, name)
            if entry.plugin != "hyperbolic":
                continue
            for p in parameters(entry.load())[0]:
                if p not in table and p not in NAMING_EXCEPTIONS:
                    offenders.append(f"{kind} {name}: {p}")
    assert not offenders, offenders


def test_docs_page_snippets_run(monkeypatch):
    """Every python block of docs/plugins/hyperbolic.md runs, in order, in one namespace (as tests/test_docs.py
    does for the whole docs tree), so the plugin's own session covers its page."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    page = root / "docs" / "plugins" / "hyperbolic.md"
    monkeypatch.chdir(root)
    namespace = {"__name__": "docs_hyperbolic"}
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        exec(compile(block, f"hyperbolic.md[block {i}]", "exec"), namespace)


def test_docs_page_shows_the_wordnet_plot():
    """The page embeds the learned WordNet mammals disk plot, and the linked image exists."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    page = root / "docs" / "plugins" / "hyperbolic.md"
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", page.read_text())
    assert "../results/hyperbolic_wordnet_mammals.png" in images
    for rel in images:
        assert (page.parent / rel).is_file(), rel


def test_hungarian_accuracy_equals_brute_force_over_permutations():
    import itertools

    from hyperzoo.hyperbolic.losses import hungarian_accuracy

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 40)
    p = rng.integers(0, 4, 40)
    best = max(np.mean(np.array(perm)[p] == y) for perm in itertools.permutations(range(4)))
    got = hungarian_accuracy(y, p, y < 2)
    assert got["all_accuracy"] == pytest.approx(best)
    perm = np.array([2, 0, 3, 1])
    exact = hungarian_accuracy(y, perm[y], y < 2)
    assert exact == {"all_accuracy": 1.0, "old_accuracy": 1.0, "new_accuracy": 1.0}


def test_hybrid_contrastive_loss_prefers_aligned_views():
    import hyperzoo.hyperbolic as H
    from hyperzoo.hyperbolic.losses import hybrid_contrastive_loss, hybrid_similarity

    g = torch.Generator().manual_seed(0)
    z = H.expmap0(torch.randn(16, 4, generator=g, dtype=torch.float64))
    noisy = H.expmap0(H.logmap0(z) + 0.05 * torch.randn(16, 4, generator=g, dtype=torch.float64))
    other = H.expmap0(torch.randn(16, 4, generator=g, dtype=torch.float64))
    assert hybrid_contrastive_loss(z, noisy) < hybrid_contrastive_loss(z, other)
    s = hybrid_similarity(z, alpha=1.0)
    off = ~torch.eye(16, dtype=torch.bool)        # (the Gram form leaves ~1e-6 on the zero diagonal, masked anyway)
    torch.testing.assert_close(s[off], -H.dist(z[:, None], z[None])[off], rtol=1e-8, atol=1e-8)
    labels = torch.tensor([0, 0, 1, 1] + [-1] * 12)
    assert torch.isfinite(hybrid_contrastive_loss(z, noisy, labels))
    with pytest.raises(ValueError, match="alpha"):
        hybrid_similarity(z, alpha=2.0)


def test_gcd_digits_through_core_run():
    r = core.run("gcd-digits", "hypcd", epochs=1, progress=False)
    m = r.metrics
    assert {"test_all_accuracy", "test_old_accuracy", "test_new_accuracy"} <= set(m)
    assert 0.2 < m["test_all_accuracy"] <= 1 and m["test_old_accuracy"] > 0.5   # chance is ~0.1
    with pytest.raises(ValueError, match="num_old"):
        core.get_task("gcd-digits", num_old=0)
