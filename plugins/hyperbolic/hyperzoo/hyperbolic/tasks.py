"""Registered tasks: ``wordnet-mammals`` (Poincaré embeddings of the WordNet mammal closure, Nickel & Kiela
2017: reconstruction mean rank and MAP) and ``tree-embedding`` (networkx trees, distortion and MAP).

Both own their procedure (trainer custom-step mode: one epoch of negative-sampling or full-batch steps per
``step``, checkpointed and resumable like every core run) and evaluate the embedding against the graph. Models:
``poincare-embedding`` and ``euclidean-embedding`` (the task supplies ``num_nodes``; ``width`` is the dimension).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

KIND = "hierarchy-embedding"


def load_closure(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Node labels and the (ancestor, descendant) edge array of a networkx node-link JSON closure."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} is not a file; expected the networkx node-link JSON of a "
                                "hierarchy (e.g. ../shared/data/hierarchy/wordnet_mammals.json)")
    data = json.loads(path.read_text())
    if "nodes" not in data or "links" not in data:
        raise ValueError(f"{str(path)!r}: expected node-link JSON with 'nodes' and 'links' (networkx."
                         "node_link_data(graph, edges='links'))")
    ids = [n["id"] for n in data["nodes"]]
    index = {i: k for k, i in enumerate(ids)}
    labels = [str(n.get("label", n["id"])) for n in data["nodes"]]
    edges = np.array([[index[e["source"]], index[e["target"]]] for e in data["links"]], dtype=np.int64)
    if edges.size == 0:
        raise ValueError(f"{str(path)!r} has no edges")
    return labels, edges


def reconstruction(dist: torch.Tensor, adjacency: torch.Tensor) -> dict[str, float]:
    """Mean rank and MAP of the graph's edges among all non-edges (Nickel & Kiela 2017's reconstruction).

    ``dist`` (n, n) embedding distances, ``adjacency`` (n, n) bool, symmetric, no self loops. For each edge (u, v):
    rank = 1 + #{w : (u, w) not an edge, w ≠ u, d(u, w) < d(u, v)}; mean over edges (both directions). MAP: per node
    u with neighbours, the average precision of ranking its neighbours among all other nodes by distance.
    """
    n = dist.shape[0]
    d = dist.clone().double()
    d.fill_diagonal_(float("inf"))
    adj = adjacency.clone()
    adj.fill_diagonal_(False)
    ranks, aps = [], []
    for u in range(n):
        nb = adj[u].nonzero().squeeze(-1)
        if nb.numel() == 0:
            continue
        non = (~adj[u]).clone()
        non[u] = False
        dn = torch.sort(d[u, non]).values
        dv = d[u, nb]
        ranks.append(1 + torch.searchsorted(dn, dv, right=False).double())
        order = torch.argsort(d[u])
        hits = adj[u][order][: n - 1].double()
        prec = torch.cumsum(hits, 0) / torch.arange(1, n, dtype=torch.float64)
        aps.append(float((prec * hits).sum() / hits.sum()))
    r = torch.cat(ranks)
    return {"mean_rank": float(r.mean()), "map": float(np.mean(aps))}


class _EmbeddingTask:
    kind = KIND
    monitor, monitor_mode = "map", "max"
    trainer_keys = ("epochs", "lr", "batch_size", "optimizer", "weight_decay", "grad_clip")

    num_nodes: int

    def model_defaults(self) -> dict[str, Any]:
        return {"num_nodes": self.num_nodes}

    def _dist_matrix(self, model) -> torch.Tensor:
        idx = torch.arange(self.num_nodes)
        with torch.no_grad():
            return model.distance(idx[:, None], idx[None, :])


class WordNetMammals(_EmbeddingTask):
    """Poincaré (or Euclidean) embedding of the WordNet mammal closure (1,180 synsets, 6,540 edges), trained with
    Nickel & Kiela's softmax over ``negatives`` sampled non-neighbours per edge,

        L = −Σ_{(u,v)} log( e^{−d(u,v)} / Σ_{v' ∈ {v} ∪ N(u)} e^{−d(u,v')} ),

    with ``burn_in`` epochs at lr/10 first (their initial phase), and evaluated by reconstruction: mean rank and
    MAP of every edge among the node's non-edges (``test_mean_rank``, ``test_map``, on the training graph, as the
    paper's reconstruction experiment). ``path`` overrides the data file (networkx node-link JSON).
    """

    def __init__(self, *, data_root: str | os.PathLike | None = None, path: str | os.PathLike | None = None,
                 negatives: int = 10, burn_in: int = 5, split_seed: int = 0):
        from hyperzoo.core.data import data_root as default_root

        if negatives < 1:
            raise ValueError(f"negatives must be >= 1, got {negatives}")
        if burn_in < 0:
            raise ValueError(f"burn_in must be >= 0, got {burn_in}")
        file = Path(path) if path is not None else Path(data_root or default_root()) / "hierarchy" / \
            "wordnet_mammals.json"
        self.labels, edges = load_closure(file)
        self.edges = torch.as_tensor(edges)
        self.num_nodes = len(self.labels)
        self.negatives, self.burn_in, self.split_seed = negatives, burn_in, split_seed
        adj = torch.zeros(self.num_nodes, self.num_nodes, dtype=torch.bool)
        adj[self.edges[:, 0], self.edges[:, 1]] = True
        adj = adj | adj.t()
        self.adjacency = adj

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 60, "lr": 0.3, "batch_size": 64, "optimizer": "riemannian-adam"}

    def _sample(self, u: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``negatives`` nodes per row that are not neighbours of u (resampled where a draw hits one)."""
        neg = torch.randint(0, self.num_nodes, (len(u), self.negatives), generator=gen)
        for _ in range(10):
            bad = self.adjacency[u[:, None], neg] | (neg == u[:, None])
            if not bool(bad.any()):
                break
            neg = torch.where(bad, torch.randint(0, self.num_nodes, neg.shape, generator=gen), neg)
        return neg

    def run(self, model, trainer) -> dict[str, float]:
        opt, _ = trainer.make_optimizer(model)
        gen = torch.Generator().manual_seed(self.split_seed + trainer.seed)
        base_lr = trainer.lr
        both = torch.cat([self.edges, self.edges.flip(1)])

        def step(epoch: int) -> dict[str, Any]:
            for g in opt.param_groups:
                g["lr"] = base_lr / 10 if epoch < self.burn_in else base_lr
            model.train()
            perm = torch.randperm(len(both), generator=gen)
            total, count = torch.zeros(()), 0
            for start in range(0, len(perm), trainer.batch_size):
                e = both[perm[start:start + trainer.batch_size]]
                u, v = e[:, 0], e[:, 1]
                cand = torch.cat([v[:, None], self._sample(u, gen)], 1)
                d = model.distance(u[:, None], cand)
                loss = torch.nn.functional.cross_entropy(-d, torch.zeros(len(u), dtype=torch.long))
                trainer.optimize(loss, opt, model)
                total += loss.detach() * len(u)
                count += len(u)
            return {"train_loss": total / count}

        def select() -> dict[str, float]:
            return reconstruction(self._dist_matrix(model), self.adjacency)

        out = trainer.fit_steps(model, step, None, optimizers=[opt], monitor="map", mode="max",
                                desc="wordnet-mammals")
        final = select()
        out.update({f"test_{k}": v for k, v in final.items()})
        return out


class TreeEmbedding(_EmbeddingTask):
    trainer_keys = ("epochs", "lr", "optimizer", "weight_decay", "grad_clip", "patience", "scheduler")

    """Embedding of a networkx balanced tree (``branching``, ``height``) that matches its shortest-path metric:
    full-batch minimisation of the distortion loss Σ_{u<v} (d(u,v)/d_G(u,v) − 1)² over all pairs (Sala et al.
    2018's objective), reporting the average distortion mean |d/d_G − 1| (``test_distortion``, after the best
    global scale s·d for the Euclidean baseline too, which has no curvature to fix the scale) and the MAP of the
    tree's edges (``test_map``)."""

    def __init__(self, *, branching: int = 3, height: int = 3):
        import networkx as nx

        if branching < 1 or height < 1:
            raise ValueError(f"branching and height must be >= 1, got {branching}, {height}")
        self.branching, self.height = branching, height
        g = nx.balanced_tree(branching, height)
        self.num_nodes = g.number_of_nodes()
        lengths = dict(nx.all_pairs_shortest_path_length(g))
        dg = torch.tensor([[lengths[u][v] for v in range(self.num_nodes)] for u in range(self.num_nodes)],
                          dtype=torch.float32)
        self.graph_dist = dg
        self.adjacency = dg == 1
        iu = torch.triu_indices(self.num_nodes, self.num_nodes, 1)
        self.pairs = iu

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 300, "lr": 0.2, "optimizer": "riemannian-adam"}

    def distortion(self, model) -> float:
        d = self._dist_matrix(model)[self.pairs[0], self.pairs[1]].double()
        g = self.graph_dist[self.pairs[0], self.pairs[1]].double()
        scale = float((d * g).sum() / (d * d).sum().clamp_min(1e-300))   # least-squares scale s d ≈ g
        return float((scale * d / g - 1).abs().mean())

    def run(self, model, trainer) -> dict[str, float]:
        u, v = self.pairs
        g = self.graph_dist[u, v]

        def loss_fn() -> torch.Tensor:
            d = model.distance(u, v)
            return ((d / g.to(d.dtype) - 1) ** 2).mean()

        def select() -> dict[str, float]:
            return {"distortion": self.distortion(model)}

        out = trainer.fit_full_batch(model, loss_fn, select, monitor="distortion", mode="min", desc="tree-embedding")
        out["test_distortion"] = self.distortion(model)
        out["test_map"] = reconstruction(self._dist_matrix(model), self.adjacency)["map"]
        return out


class GCDDigits:
    """Generalized category discovery on scikit-learn's digits: classes ``0 … num_old − 1`` are "old" and
    ``labelled_fraction`` of their training images carry labels; all other training images (old and new classes)
    are unlabelled. Training: two augmented views (±1 pixel shifts, Gaussian noise) per image, the model's
    contrastive loss (HypCD: hybrid distance + angle on the ball; SupCon on the labelled part). Evaluation, as GCD
    papers do: semi-supervised k-means (k = 10) on the backbone features of all training images, Hungarian-matched
    accuracy on the unlabelled ones: ``test_all_accuracy``, ``test_old_accuracy``, ``test_new_accuracy``."""

    kind = "category-discovery"
    trainer_keys = ("epochs", "lr", "batch_size", "optimizer", "weight_decay", "grad_clip")

    def __init__(self, *, num_old: int = 5, labelled_fraction: float = 0.5, split_seed: int = 0):
        from hyperzoo.core.data import load_digits

        if not 1 <= num_old < 10:
            raise ValueError(f"num_old must be in [1, 9], got {num_old}")
        if not 0 < labelled_fraction < 1:
            raise ValueError(f"labelled_fraction must be in (0, 1), got {labelled_fraction}")
        x, y = load_digits()
        x = (x - x.mean()) / x.std()
        rng = np.random.default_rng(split_seed)
        labels = np.full(len(y), -1)
        for cl in range(num_old):
            idx = np.flatnonzero(y == cl)
            pick = rng.choice(idx, int(round(labelled_fraction * len(idx))), replace=False)
            labels[pick] = cl
        self.x = torch.from_numpy(x[:, None].astype(np.float32))
        self.y, self.labels = torch.from_numpy(y), torch.from_numpy(labels)
        self.num_old, self.labelled_fraction, self.split_seed = num_old, labelled_fraction, split_seed

    def model_defaults(self) -> dict[str, Any]:
        return {"in_features": 64}

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 30, "lr": 1e-3, "batch_size": 256, "optimizer": "adamw"}

    @staticmethod
    def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        shifts = torch.randint(-1, 2, (2,), generator=gen).tolist()
        out = torch.roll(x, shifts=shifts, dims=(2, 3))
        return out + 0.2 * torch.randn(out.shape, generator=gen)

    def evaluate(self, model) -> dict[str, float]:
        from .losses import hungarian_accuracy, semi_supervised_kmeans

        model.eval()
        with torch.no_grad():
            f = model(self.x)[0]
        pred = semi_supervised_kmeans(f, self.labels, 10, seed=self.split_seed)
        unl = (self.labels < 0).numpy()
        y, p = self.y.numpy()[unl], pred.numpy()[unl]
        return hungarian_accuracy(y, p, y < self.num_old)

    def run(self, model, trainer) -> dict[str, float]:
        opt, _ = trainer.make_optimizer(model)
        gen = torch.Generator().manual_seed(self.split_seed + trainer.seed)

        def step(epoch: int) -> dict[str, Any]:
            model.train()
            perm = torch.randperm(len(self.x), generator=gen)
            total, count = torch.zeros(()), 0
            for start in range(0, len(perm), trainer.batch_size):
                idx = perm[start:start + trainer.batch_size]
                xb = self.x[idx]
                _, z1 = model(self.augment(xb, gen))
                _, z2 = model(self.augment(xb, gen))
                loss = model.contrastive_loss(z1, z2, self.labels[idx])
                trainer.optimize(loss, opt, model)
                total += loss.detach() * len(idx)
                count += len(idx)
            return {"train_loss": total / count}

        out = trainer.fit_steps(model, step, None, optimizers=[opt], desc="gcd-digits")
        out.update({f"test_{k}": v for k, v in self.evaluate(model).items()})
        return out
