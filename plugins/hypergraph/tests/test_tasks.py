import numpy as np
import pytest
import torch

from hyperzoo import core
from hyperzoo.core import testing
from hyperzoo.hypergraph import HypergraphError
from hyperzoo.hypergraph.data import graph_families, load_enc, load_npz, structural_features


@pytest.mark.parametrize("name, nodes, edges, features, mean_size, max_size, isolated", [
    ("cocitation-cora", 2708, 1579, 1433, 3.03, 5, 1274),
    ("coauthorship-cora", 2708, 1072, 1433, 4.28, 43, 320),
])
def test_npz_loader_counts_match_readme(name, nodes, edges, features, mean_size, max_size, isolated):
    testing.require_data(f"hypergraph/{name}.npz")
    d = load_npz(name=name)
    hg = d["hg"]
    assert (hg.num_nodes, hg.num_edges, hg.x.shape[1]) == (nodes, edges, features)
    assert round(hg.edge_size.float().mean().item(), 2) == mean_size and hg.edge_size.max() == max_size
    assert int((hg.node_degree == 0).sum()) == isolated
    assert d["train_splits"].shape == (10, 140) and int(d["labels"].max()) + 1 == 7


@pytest.mark.parametrize("folder, nodes, edges, incidences, counts, held", [
    ("enc-StackOverflowBiology", 15490, 26823, 56257, [26290, 18444, 11523], 5365),
    ("enc-cora_coauthorship_outsider_id", 1904, 1905, 14990, [7895, 7095], 76),
])
def test_enc_loader_counts_match_readme(folder, nodes, edges, incidences, counts, held):
    testing.require_data(f"hypergraph/{folder}/hypergraph.txt")
    d = load_enc(name=folder)
    hg = d["hg"]
    assert (int((hg.node_degree > 0).sum()), hg.num_edges, hg.num_incidences) == (nodes, edges, incidences)
    assert torch.bincount(d["labels"]).tolist() == counts
    assert len(d["valid_edges"]) == len(d["test_edges"]) == held


def test_malformed_files_give_clear_errors(tmp_path):
    np.savez(tmp_path / "bad.npz", edge_ptr=np.array([0, 2]), edge_nodes=np.array([0, 1]))
    with pytest.raises(HypergraphError, match="missing keys"):
        load_npz(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(HypergraphError, match="not a readable"):
        load_npz(tmp_path / "junk.npz")
    enc = tmp_path / "enc"
    enc.mkdir()
    (enc / "hypergraph.txt").write_text("0\t1\t2\n1\t3\n")
    (enc / "hypergraph_pos.txt").write_text("0\t1\t0\n1\n")
    (enc / "valid_hindex.txt").write_text("0\n")
    (enc / "test_hindex.txt").write_text("1\n")
    with pytest.raises(HypergraphError, match="hyperedge 1 .line 2. has 2 nodes but 1 labels"):
        load_enc(enc)
    (enc / "hypergraph_pos.txt").write_text("0\t1\t0\n1\tx\n")
    with pytest.raises(HypergraphError, match="hypergraph_pos.txt:2"):
        load_enc(enc)
    (enc / "hypergraph_pos.txt").write_text("0\t1\t0\n1\t0\n")
    (enc / "test_hindex.txt").write_text("7\n")
    with pytest.raises(HypergraphError, match="out of"):
        load_enc(enc)
    (enc / "test_hindex.txt").unlink()
    with pytest.raises(HypergraphError, match="missing ENC file"):
        load_enc(enc)


def test_structural_features_are_deterministic_and_finite():
    from hyperzoo.hypergraph import Hypergraph

    hg = Hypergraph.from_edges([[0, 1, 2], [2, 3], [3, 4, 5], [5, 0], [1, 4]], 7)
    f1, f2 = structural_features(hg, dim=3), structural_features(hg, dim=3)
    assert f1.shape == (7, 5) and torch.equal(f1, f2) and torch.isfinite(f1).all()
    assert f1[6].abs().sum() == 0  # the isolated node carries no structure


def test_graph_families_matched_edge_counts():
    graphs = graph_families(num_per_class=5)
    assert [g["label"] for g in graphs] == [0] * 5 + [1] * 5 + [2] * 5
    for i in range(5):  # same (n, k) draws are not shared across classes, but each class obeys m = k (n - k)
        for g in graphs[i::5]:
            m, n = g["edge_index"].shape[1], g["num_nodes"]
            assert 20 <= n <= 40 and m in (2 * (n - 2), 4 * (n - 4))


@pytest.mark.parametrize("model", ["hgnn", "hgnnp", "unigcn", "node-mlp", "lighthgnn-plus"])
def test_karate_cliques_through_core_run(model):
    r = core.run("karate-cliques", model, epochs=60, device="cpu", progress=False, num_splits=3)
    assert 0.0 <= r.metrics["test_accuracy"] <= 1.0 and "test_accuracy_std" in r.metrics
    assert [row["split"] for row in r.history if "epoch" not in row] == [0, 1, 2]   # one summary row per split
    fits = 2 if model == "lighthgnn-plus" else 1                                     # teacher, then student
    assert len([row for row in r.history if "epoch" in row]) == 3 * 60 * fits         # one row per epoch
    if model != "node-mlp":  # one-hot features: only structure can generalise to unlabelled members
        assert r.metrics["test_accuracy"] > 0.75


def test_davis_task_runs_and_rejects_mismatched_model():
    r = core.run("davis-southern-women", "hgnn", epochs=30, device="cpu", progress=False, num_splits=2)
    assert set(r.metrics) >= {"test_accuracy", "train_accuracy"}
    with pytest.raises(core.ConfigError, match="node-classification"):
        core.run("davis-southern-women", "conhd", device="cpu", progress=False)


def test_cora_task_one_split_beats_chance():
    testing.require_data("hypergraph/cocitation-cora.npz")
    task = core.get_task("cocitation-cora")
    trainer = core.Trainer(epochs=100, lr=0.01, weight_decay=5e-4, optimizer="adam", scheduler=None)
    torch.manual_seed(0)
    model = core.create_model("hgnn", **task.model_defaults())
    assert task.fit_split(model, 0, trainer)["test_accuracy"] > 0.55


@pytest.mark.parametrize("model, extra", [("hgnnp", {}), ("conhd", {"model.variant": "admm", "model.block": "unp"}),
                                          ("conhd", {})])
def test_enc_cora_outsider_through_core_run(model, extra):
    testing.require_data("hypergraph/enc-cora_coauthorship_outsider_id/hypergraph.txt")
    r = core.run("enc-cora-outsider", model, epochs=2, device="cpu", progress=False, **extra)
    for k in ("test_micro_f1", "test_macro_f1", "val_micro_f1"):
        assert 0.0 < r.metrics[k] <= 1.0


def test_reconstruction_task_beats_maximal_cliques_on_coauthorship_cora():
    testing.require_data("hypergraph/coauthorship-cora.npz")
    r = core.run("hyperedge-reconstruction", "hyperedge-reconstructor", device="cpu", progress=False)
    assert r.metrics["test_jaccard"] > r.metrics["baseline_jaccard"]


def test_graph_families_dht_and_softhgnn_digits_run():
    r = core.run("graph-families", "dht", epochs=2, device="cpu", progress=False, num_per_class=20)
    assert 0.0 <= r.metrics["test_accuracy"] <= 1.0
    r = core.run("digits-2d", "softhgnn", epochs=1, device="cpu", progress=False)
    assert r.metrics["test_accuracy"] > 0.2
    assert any("train_aux_load_balance" in row for row in r.history)


class _Killed(Exception):
    pass


def test_full_batch_run_killed_and_resumed_ends_with_the_same_metrics(tmp_path):
    """cocitation-cora, one split, through core's trainer: killed at epoch 7, resumed, equal to uninterrupted."""
    testing.require_data("hypergraph/cocitation-cora.npz")
    cfg = dict(epochs=15, device="cpu", progress=False, num_splits=1)
    whole = core.run("cocitation-cora", "hgnn", out_dir=tmp_path / "whole", **cfg)

    def kill(row):
        if row["epoch"] == 7:
            raise _Killed

    with pytest.raises(_Killed):
        core.run("cocitation-cora", "hgnn", out_dir=tmp_path / "part", callbacks=[kill], **cfg)
    assert (tmp_path / "part" / "split-0.pt").exists() and not (tmp_path / "part" / "metrics.json").exists()
    resumed = core.run("cocitation-cora", "hgnn", out_dir=tmp_path / "part", resume=True, **cfg)
    assert resumed.metrics == whole.metrics
    assert resumed.history == whole.history
    assert [row["epoch"] for row in resumed.history if "epoch" in row] == list(range(1, 16))


def test_full_batch_tasks_reject_trainer_settings_they_do_not_use():
    with pytest.raises(core.ConfigError, match="does not use the trainer setting.*batch_size.*honours: epochs"):
        core.run("karate-cliques", "hgnn", batch_size=32, device="cpu", progress=False)
    with pytest.raises(core.ConfigError, match="does not use the trainer setting.*epochs.*honours: none"):
        core.run("hyperedge-reconstruction", "hyperedge-reconstructor", epochs=3, device="cpu", progress=False)


def test_runs_show_users_no_sparse_warnings():
    """torch's sparse 'invariant checks' and 'CSR beta' notices are silenced where we raise them (a fresh process:
    torch emits each only once)."""
    import subprocess
    import sys

    code = ("import warnings; warnings.simplefilter('always'); from hyperzoo import core; "
            "core.run('karate-cliques', 'hgnn', epochs=2, device='cpu', progress=False, num_splits=1); "
            "core.run('karate-cliques', 'hgnnp', epochs=2, device='cpu', progress=False, num_splits=1)")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert "Sparse" not in err, err
