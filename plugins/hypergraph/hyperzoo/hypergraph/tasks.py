"""Registered tasks. Node classification and ENC train full batch, graph families in mini-batches of graphs,
all through core's trainer (``fit_full_batch`` / ``fit``: early stopping, checkpoints, resume, history); the
reconstruction task fits an estimator. Each task declares the trainer settings it honours (``trainer_keys``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hyperzoo.core.task import SupervisedTask

from .structure import Hypergraph

__all__ = ["NodeClassification", "HypergraphNPZ", "CocitationCora", "CoauthorshipCora", "DavisSouthernWomen",
           "KarateCliques", "EdgeDependentNodeClassification", "ENCStackOverflowBiology", "ENCCoraOutsider",
           "HyperedgeReconstruction", "GraphFamilies", "f1_scores"]

_FULL_BATCH_KEYS = ("epochs", "lr", "weight_decay", "optimizer", "scheduler", "warmup_epochs", "grad_clip",
                    "label_smoothing", "threads", "logger")


def _device(trainer: Any) -> torch.device:
    return getattr(trainer, "device", torch.device("cpu"))


def _fresh(model: Any, trainer: Any, i: int) -> Any:
    return model if i == 0 else trainer.make_model()


# -- node classification ------------------------------------------------------------------------------------
class NodeClassification:
    """Semi-supervised node classification on one hypergraph over several fixed train splits.

    Per split: a fresh model, ``epochs`` full-batch steps of cross-entropy on the split's train nodes, then
    accuracy on every other node (the HyperGCN protocol: no validation set, the last epoch counts). Metrics:
    ``test_accuracy`` (mean over splits), ``test_accuracy_std``, ``train_accuracy``. A model with a
    ``teacher`` (LightHGNN) has its teacher trained first, then is distilled (``model.distillation_loss``).
    """

    kind = "node-classification"
    trainer_keys = _FULL_BATCH_KEYS  # no validation set: no early stopping (patience), no batches
    num_splits: int | None = None

    def load(self) -> dict[str, Any]:
        """``{"hg" (features in hg.x), "labels", "train_splits" (splits, n_train)}``."""
        raise NotImplementedError

    @property
    def data(self) -> dict[str, Any]:
        if getattr(self, "_data", None) is None:
            self._data = self.load()
        return self._data

    def model_defaults(self) -> dict[str, Any]:
        d = self.data
        return {"in_channels": int(d["hg"].x.shape[1]), "num_classes": int(d["labels"].max()) + 1}

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 200, "lr": 0.01, "weight_decay": 5e-4, "optimizer": "adam", "scheduler": None}

    def fit_split(self, model: torch.nn.Module, split: int, trainer: Any) -> dict[str, float]:
        d = self.data
        dev = _device(trainer)
        hg, y = d["hg"].to(dev), d["labels"].to(dev)
        x = hg.x
        train = d["train_splits"][split].to(dev)
        test = torch.ones(hg.num_nodes, dtype=torch.bool, device=dev)
        test[train] = False
        smoothing = trainer.label_smoothing
        if hasattr(model, "teacher"):
            trainer.fit_full_batch(model.teacher, lambda: F.cross_entropy(model.teacher(x, hg)[train], y[train],
                                                                          label_smoothing=smoothing),
                                   checkpoint=f"split-{split}-teacher.pt", desc=f"split {split} teacher")
            model.prepare_distillation(x, hg, y, train)
            trainer.fit_full_batch(model.student, lambda: model.distillation_loss(x, hg, y, train),
                                   checkpoint=f"split-{split}-student.pt", desc=f"split {split} student")
        else:
            trainer.fit_full_batch(model, lambda: F.cross_entropy(model(x, hg)[train], y[train],
                                                                  label_smoothing=smoothing),
                                   checkpoint=f"split-{split}.pt", desc=f"split {split}")
        model.eval()
        with torch.no_grad():
            pred = model(x, hg).argmax(-1)
        return {"test_accuracy": (pred[test] == y[test]).float().mean(),
                "train_accuracy": (pred[train] == y[train]).float().mean()}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        from hyperzoo.core.trainer import aggregate

        splits = len(self.data["train_splits"])
        if self.num_splits is not None:
            if not 1 <= self.num_splits <= splits:
                raise ValueError(f"num_splits must be in [1, {splits}] (the data set has {splits} splits), "
                                 f"got {self.num_splits}")
            splits = self.num_splits
        results = []
        for i in range(splits):
            m = _fresh(model, trainer, i)
            with trainer.tagged(split=i):
                r = {k: float(v) for k, v in self.fit_split(m, i, trainer).items()}
            trainer.log(split=i, **r)
            results.append(r)
        return aggregate(results)


class _NPZTask(NodeClassification):
    name = ""

    def __init__(self, *, path: str | os.PathLike | None = None, data_root: str | os.PathLike | None = None,
                 duplicates: str = "keep", num_splits: int | None = None):
        self.path, self.data_root, self.duplicates, self.num_splits = path, data_root, duplicates, num_splits

    def load(self) -> dict[str, Any]:
        from .data import load_npz

        return load_npz(self.path, name=self.name, root=self.data_root, duplicates=self.duplicates)


class HypergraphNPZ(_NPZTask):
    """Node classification on any hypergraph ``.npz`` in the documented format (``path=``, see
    ``hyperzoo.hypergraph.data.load_npz``): the file's own train splits, HyperGCN protocol. The run's config
    records the file."""

    name = "hypergraph-npz"

    def __init__(self, *, path: str | os.PathLike, duplicates: str = "keep", num_splits: int | None = None):
        if path is None or not str(path):
            raise ValueError("hypergraph-npz needs path=<your .npz>; the format is in docs/plugins/hypergraph.md")
        super().__init__(path=path, duplicates=duplicates, num_splits=num_splits)


class CocitationCora(_NPZTask):
    """Cora co-citation hypergraph (HyperGCN): 2,708 papers, 1,579 hyperedges, 7 classes, 10 splits of 140."""

    name = "cocitation-cora"


class CoauthorshipCora(_NPZTask):
    """Cora co-authorship hypergraph (HyperGCN): 2,708 papers, 1,072 hyperedges, 7 classes, 10 splits of 140."""

    name = "coauthorship-cora"


def _random_splits(labels: torch.Tensor, per_class: int, num_splits: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    return torch.tensor(np.stack([np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per_class,
                                                                     replace=False) for c in np.unique(y)]))
                                  for _ in range(num_splits)]))


def _identity_features(n: int) -> torch.Tensor:
    return torch.eye(n)


class DavisSouthernWomen(NodeClassification):
    """networkx's Davis Southern Women: 18 women (nodes), 14 events (hyperedges). Labels: the two groups of
    Davis, Gardner & Gardner (women 1–9 vs 10–18 in networkx's order); one-hot node ids as features;
    ``num_splits`` random splits with ``per_class`` labelled women each."""

    def __init__(self, *, per_class: int = 2, num_splits: int = 5, split_seed: int = 0):
        self.per_class, self.num_splits, self.split_seed = per_class, num_splits, split_seed

    def load(self) -> dict[str, Any]:
        import networkx as nx

        g = nx.davis_southern_women_graph()
        hg = Hypergraph.from_networkx_bipartite(g, g.graph["top"])
        hg.x = _identity_features(hg.num_nodes)
        labels = torch.tensor([0] * 9 + [1] * 9)
        return {"hg": hg, "labels": labels, "train_splits": _random_splits(labels, self.per_class,
                                                                          self.num_splits, self.split_seed)}

    def trainer_defaults(self) -> dict[str, Any]:
        return {**super().trainer_defaults(), "epochs": 100}


class KarateCliques(NodeClassification):
    """Zachary's karate club as the hypergraph of its maximal cliques; labels: the club each member joined;
    one-hot node ids as features; ``num_splits`` random splits with ``per_class`` labelled members each."""

    def __init__(self, *, per_class: int = 3, num_splits: int = 5, split_seed: int = 0):
        self.per_class, self.num_splits, self.split_seed = per_class, num_splits, split_seed

    def load(self) -> dict[str, Any]:
        import networkx as nx

        g = nx.karate_club_graph()
        hg = Hypergraph.from_maximal_cliques(g)
        hg.x = _identity_features(hg.num_nodes)
        labels = torch.tensor([int(g.nodes[v]["club"] != "Mr. Hi") for v in g.nodes])
        return {"hg": hg, "labels": labels, "train_splits": _random_splits(labels, self.per_class,
                                                                          self.num_splits, self.split_seed)}

    def trainer_defaults(self) -> dict[str, Any]:
        return {**super().trainer_defaults(), "epochs": 100}


# -- edge-dependent node classification ---------------------------------------------------------------------
def f1_scores(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> tuple[float, float]:
    """(micro-F1, macro-F1); micro-F1 equals accuracy for single-label multi-class predictions."""
    from sklearn.metrics import f1_score

    p, t = pred.cpu().numpy(), target.cpu().numpy()
    return (float(f1_score(t, p, average="micro")),
            float(f1_score(t, p, average="macro", labels=list(range(num_classes)), zero_division=0)))


class EdgeDependentNodeClassification:
    """ENC: predict each incidence's label (a node's role in one hyperedge). Train on the incidences of the
    training hyperedges, keep the epoch with the best validation micro-F1, report test micro/macro-F1.
    Node features are structural (``data.structural_features``): the sets ship without features."""

    kind = "edge-dependent-node-classification"
    trainer_keys = (*_FULL_BATCH_KEYS, "patience")
    folder = ""

    def __init__(self, *, path: str | os.PathLike | None = None, data_root: str | os.PathLike | None = None,
                 feature_dim: int = 32):
        self.path, self.data_root, self.feature_dim = path, data_root, feature_dim

    @property
    def data(self) -> dict[str, Any]:
        if getattr(self, "_data", None) is None:
            from .data import load_enc, structural_features

            d = load_enc(self.path, name=self.folder, root=self.data_root)
            d["hg"].x = structural_features(d["hg"], self.feature_dim)
            self._data = d
        return self._data

    def model_defaults(self) -> dict[str, Any]:
        d = self.data
        return {"in_channels": int(d["hg"].x.shape[1]), "num_classes": int(d["labels"].max()) + 1,
                "incidence_head": True}

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 150, "lr": 0.005, "weight_decay": 0.0, "optimizer": "adam", "scheduler": None,
                "patience": 30}

    def masks(self, device: torch.device) -> dict[str, torch.Tensor]:
        d = self.data
        hg = d["hg"]
        split = torch.zeros(hg.num_edges, dtype=torch.long)
        split[d["valid_edges"]] = 1
        split[d["test_edges"]] = 2
        inc = split[hg.incidence_edge]
        return {k: (inc == i).to(device) for i, k in enumerate(("train", "val", "test"))}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        d, dev = self.data, _device(trainer)
        hg, y = d["hg"].to(dev), d["labels"].to(dev)
        x, masks, c = hg.x, self.masks(dev), int(d["labels"].max()) + 1
        train = masks["train"]

        def select() -> dict[str, float]:
            return {"micro_f1": f1_scores(model(x, hg)[masks["val"]].argmax(-1), y[masks["val"]], c)[0]}

        info = trainer.fit_full_batch(
            model, lambda: F.cross_entropy(model(x, hg)[train], y[train], label_smoothing=trainer.label_smoothing),
            select, monitor="micro_f1", mode="max", desc="ENC")
        model.eval()
        with torch.no_grad():
            pred = model(x, hg).argmax(-1)
        out = {"epochs": info["epochs"], "best_epoch": info["best_epoch"]}
        for split in ("val", "test"):
            out[f"{split}_micro_f1"], out[f"{split}_macro_f1"] = f1_scores(pred[masks[split]], y[masks[split]], c)
        return out


class ENCStackOverflowBiology(EdgeDependentNodeClassification):
    """StackOverflow Biology (CoNHD/WHATsNet): 15,490 users, 26,823 questions, 56,257 incidences, 3 roles."""

    folder = "enc-StackOverflowBiology"


class ENCCoraOutsider(EdgeDependentNodeClassification):
    """Cora co-authorship 'outsider' ENC set: 1,905 hyperedges, 14,990 incidences, 2 labels."""

    folder = "enc-cora_coauthorship_outsider_id"


# -- hyperedge reconstruction -------------------------------------------------------------------------------
class HyperedgeReconstruction:
    """Project a real hypergraph, reconstruct its hyperedges, score by Jaccard against the truth.

    The distinct hyperedges of size ≥ 2 are split at random (``split_seed``) into a training part
    (``train_fraction``) and a test part; each part is projected separately. The model is fitted on the
    training part (projection + true hyperedges) and reconstructs the test part from its projection alone.
    Metrics: ``test_jaccard``, ``baseline_jaccard`` (every maximal clique a hyperedge) and their difference.
    """

    kind = "hyperedge-reconstruction"
    trainer_keys = ()  # fits an estimator

    def __init__(self, *, dataset: str = "coauthorship-cora", path: str | os.PathLike | None = None,
                 data_root: str | os.PathLike | None = None, train_fraction: float = 0.5, split_seed: int = 0):
        if not 0 < train_fraction < 1:
            raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
        self.dataset, self.path, self.data_root = dataset, path, data_root
        self.train_fraction, self.split_seed = train_fraction, split_seed

    def hyperedges(self) -> list[frozenset[int]]:
        from .data import load_enc, load_npz

        if self.dataset.startswith("enc-"):
            hg = load_enc(self.path, name=self.dataset, root=self.data_root)["hg"]
        else:
            hg = load_npz(self.path, name=self.dataset, root=self.data_root)["hg"]
        return sorted({frozenset(e) for e in hg.edges() if len(set(e)) >= 2}, key=lambda e: (len(e), sorted(e)))

    def model_defaults(self) -> dict[str, Any]:
        return {"random_state": self.split_seed}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def split(self) -> tuple[list[frozenset[int]], list[frozenset[int]]]:
        edges = self.hyperedges()
        perm = np.random.default_rng(self.split_seed).permutation(len(edges))
        cut = int(round(self.train_fraction * len(edges)))
        return [edges[i] for i in perm[:cut]], [edges[i] for i in perm[cut:]]

    def run(self, model: Any, trainer: Any = None) -> dict[str, float]:
        from .reconstruction import jaccard, maximal_cliques, project

        train, test = self.split()
        model.fit(project(train), train)
        g = project(test)
        rec = model.predict(g)
        out = {"test_jaccard": jaccard(rec, test), "baseline_jaccard": jaccard(maximal_cliques(g), test),
               "num_test_hyperedges": float(len(test)), "num_reconstructed": float(len(rec))}
        out["jaccard_gain"] = out["test_jaccard"] - out["baseline_jaccard"]
        return out


# -- graph classification (DHT / HyperDrop) ---------------------------------------------------------------------
def _edge_features(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Per edge (u, v): [log(1+d_u+d_v), |d_u − d_v| / (d_u+d_v), common neighbours / min(d_u, d_v)]."""
    a = torch.zeros(num_nodes, num_nodes)
    a[edge_index[0], edge_index[1]] = 1
    a[edge_index[1], edge_index[0]] = 1
    d = a.sum(1)
    du, dv = d[edge_index[0]], d[edge_index[1]]
    common = (a[edge_index[0]] * a[edge_index[1]]).sum(1)
    return torch.stack([torch.log1p(du + dv), (du - dv).abs() / (du + dv), common / torch.minimum(du, dv)], 1)


class GraphFamilies(SupervisedTask):
    """Graph classification among Erdős–Rényi / Barabási–Albert / Watts–Strogatz graphs with matched edge
    counts (``data.graph_families``: 3 × 300 graphs, 20–40 nodes, seed 0). Stratified 60/20/20 split
    (``split_seed``); edge features from endpoint degrees and common neighbours. Trained by core's mini-batch
    trainer on batches of ``batch_size`` disjoint graphs; the epoch with the best validation accuracy is kept."""

    kind = "graph-classification"
    monitor, monitor_mode = "accuracy", "max"

    def __init__(self, *, num_per_class: int = 300, split_seed: int = 0):
        self.num_per_class, self.split_seed = num_per_class, split_seed

    @property
    def data(self) -> list[dict[str, Any]]:
        if getattr(self, "_data", None) is None:
            from .data import graph_families

            graphs = graph_families(self.num_per_class)
            for g in graphs:
                g["edge_attr"] = _edge_features(g["edge_index"], g["num_nodes"])
            self._data = graphs
        return self._data

    def model_defaults(self) -> dict[str, Any]:
        return {"in_channels": 3, "num_classes": 3}

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 60, "lr": 0.005, "optimizer": "adam", "scheduler": None, "patience": 20}

    def split_ids(self) -> dict[str, list[int]]:
        from sklearn.model_selection import train_test_split

        y = [g["label"] for g in self.data]
        idx = np.arange(len(y))
        train, rest = train_test_split(idx, test_size=0.4, stratify=y, random_state=self.split_seed)
        val, test = train_test_split(rest, test_size=0.5, stratify=[y[i] for i in rest], random_state=self.split_seed)
        return {"train": train.tolist(), "val": val.tolist(), "test": test.tolist()}

    def splits(self) -> dict[str, list[dict[str, Any]]]:
        return {k: [self.data[i] for i in ids] for k, ids in self.split_ids().items()}

    @staticmethod
    def collate(graphs: list[dict[str, Any]]) -> tuple:
        """Disjoint union of ``graphs``: (edge_index, num_nodes, edge_attr, graph of each edge, num_graphs, labels)."""
        offset, eis, attrs, gids = 0, [], [], []
        for i, g in enumerate(graphs):
            eis.append(g["edge_index"] + offset)
            attrs.append(g["edge_attr"])
            gids.append(torch.full((g["edge_index"].shape[1],), i, dtype=torch.long))
            offset += g["num_nodes"]
        return (torch.cat(eis, 1), offset, torch.cat(attrs), torch.cat(gids), len(graphs),
                torch.tensor([g["label"] for g in graphs]))

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
        return F.cross_entropy(outputs, targets, label_smoothing=label_smoothing)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return {"accuracy": float((outputs.argmax(-1) == targets).float().mean())}
