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
    Nickel & Kiela's softmax over ``negatives`` sampled non-neighbours per positive pair (u, v),

        L = −Σ_{(u,v)} log( e^{−d(u,v)} / Σ_{v' ∈ {v} ∪ N(u)} e^{−d(u,v')} ),

    where N(u) ⊂ {w : w ≠ u, (u, w) not a training relation} (v itself is in the denominator, never in N(u)),
    with ``burn_in`` epochs at ``burn_in_multiplier`` × lr first.

    Options (defaults = ours; the official code's values in brackets, ``train-mammals.sh`` + ``hype/``):

    - ``direction``: ``"symmetric"`` trains on every closure edge from both ends, N(u) avoids u's ancestors and
      descendants; [``"directed"``]: only hyponym → hypernym pairs (u = descendant, v = ancestor), N(u) avoids
      u's ancestors only (descendants of u can be negatives), as the official ``BatchedDataset``.
    - ``unique_negatives``: False draws N(u) with replacement; [True]: without replacement (the official sampler
      keeps a set; here Gumbel-top-k, the same law as drawing and rejecting repeats).
    - ``burn_in_sampling``: ``"uniform"`` over the allowed nodes; [``"unigram"``]: during burn-in, node w with
      probability ∝ count(w)^0.75, count(w) = #{training pairs (·, w)} (the official alias table; leaves, never a
      hypernym, get 0), restricted to the allowed nodes.
    - ``burn_in_multiplier``: 0.1; [0.01] (``embed.py -burnin_multiplier`` default). Epochs, negatives, burn-in
      epochs, lr, batch size and optimiser come from the config ([300, 50, 20, 0.3, 10, ``poincare-rsgd``]).

    Evaluation (reconstruction on the training graph, as the paper's experiment), ``protocol``:

    - ``"symmetric"`` (ours): every closure edge from both ends, ranked among the node's non-neighbours in the
      symmetrised closure; MAP over all nodes.
    - ``"nickel-kiela"`` (``hype/graph.py: eval_reconstruction`` on the adjacency ``embed.py`` builds): for each
      node u with ancestors A(u) in the directed closure, each a ∈ A(u) gets rank 1 + #{w ∉ A(u), w ≠ u :
      d(u, w) < d(u, a)} (descendants and siblings of u count against it); mean rank over all (u, a); MAP = mean
      over those u of the average precision of A(u) in the ranking of all other nodes by d(u, ·).

    ``test_mean_rank``/``test_map`` follow ``protocol``; both protocols are always reported too
    (``test_symmetric_*``, ``test_nickel_kiela_*``). ``path`` overrides the data file (networkx node-link JSON).
    """

    PROTOCOLS = ("symmetric", "nickel-kiela")

    def __init__(self, *, data_root: str | os.PathLike | None = None, path: str | os.PathLike | None = None,
                 negatives: int = 10, burn_in: int = 5, split_seed: int = 0, direction: str = "symmetric",
                 unique_negatives: bool = False, burn_in_sampling: str = "uniform",
                 burn_in_multiplier: float = 0.1, protocol: str = "symmetric"):
        from hyperzoo.core.data import data_root as default_root

        if negatives < 1:
            raise ValueError(f"negatives must be >= 1, got {negatives}")
        if burn_in < 0:
            raise ValueError(f"burn_in must be >= 0, got {burn_in}")
        if direction not in ("symmetric", "directed"):
            raise ValueError(f"direction must be 'symmetric' or 'directed', got {direction!r}")
        if burn_in_sampling not in ("uniform", "unigram"):
            raise ValueError(f"burn_in_sampling must be 'uniform' or 'unigram', got {burn_in_sampling!r}")
        if not burn_in_multiplier > 0:
            raise ValueError(f"burn_in_multiplier must be > 0, got {burn_in_multiplier}")
        if protocol not in self.PROTOCOLS:
            raise ValueError(f"protocol must be one of {self.PROTOCOLS}, got {protocol!r}")
        file = Path(path) if path is not None else Path(data_root or default_root()) / "hierarchy" / \
            "wordnet_mammals.json"
        self.labels, edges = load_closure(file)
        self.edges = torch.as_tensor(edges)
        self.num_nodes = len(self.labels)
        self.negatives, self.burn_in, self.split_seed = negatives, burn_in, split_seed
        self.direction, self.unique_negatives = direction, unique_negatives
        self.burn_in_sampling, self.burn_in_multiplier, self.protocol = burn_in_sampling, burn_in_multiplier, protocol
        n = self.num_nodes
        # ancestors[u, a]: a is an ancestor of u (edges are (ancestor, descendant)), the official adjacency
        self.ancestors = torch.zeros(n, n, dtype=torch.bool)
        self.ancestors[self.edges[:, 1], self.edges[:, 0]] = True
        self.adjacency = self.ancestors | self.ancestors.t()
        if direction == "directed":   # (u = hyponym, v = hypernym), N(u) avoids A(u)
            self.pairs = self.edges.flip(1)
            self.forbidden = self.ancestors.clone()
        else:
            self.pairs = torch.cat([self.edges, self.edges.flip(1)])
            self.forbidden = self.adjacency.clone()
        self.forbidden.fill_diagonal_(True)
        counts = torch.bincount(self.pairs[:, 1], minlength=n).double()
        self.unigram = counts ** 0.75

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 60, "lr": 0.3, "batch_size": 64, "optimizer": "riemannian-adam"}

    def sample_negatives(self, u: torch.Tensor, gen: torch.Generator, burn_in: bool = False) -> torch.Tensor:
        """(len(u), negatives) nodes w ≠ u not related to u (``forbidden``), uniformly or (``burn_in`` with
        ``burn_in_sampling="unigram"``) ∝ count^0.75; with or without replacement (``unique_negatives``). Rows with
        fewer allowed nodes than ``negatives`` (without replacement) repeat their draws, and a row with none (the root
        in the symmetric direction; in burn-in, a node whose allowed nodes all have count 0) gets u itself
        (d(u, u) = 0, no gradient), as the official sampler."""
        out = torch.empty(len(u), self.negatives, dtype=torch.long)
        uniform = not (burn_in and self.burn_in_sampling == "unigram")
        base = torch.ones(self.num_nodes, dtype=torch.float64) if uniform else self.unigram
        for start in range(0, len(u), 2048):
            uu = u[start:start + 2048]
            w = base.expand(len(uu), -1).masked_fill(self.forbidden[uu], 0.0)
            allowed = (w > 0).sum(1)
            none = allowed == 0   # u related to every node (the root, symmetric): u itself, the official fallback
            if bool(none.any()):
                w = w.clone()
                w[none, uu[none]] = 1.0
                allowed = allowed.clamp_min(1)
            k = self.negatives
            if self.unique_negatives:
                # Efraimidis-Spirakis: the k largest keys log(U)/w (U uniform; forbidden w = 0 → −inf) are a draw
                # without replacement ∝ w, the same law as drawing ∝ w and rejecting repeats (the official
                # sampler), ~5x faster than multinomial here; uniform w: the keys U themselves (same order)
                keys = torch.rand(w.shape, generator=gen)
                keys = keys.log_().div_(w.float()) if uniform is False else keys.masked_fill_(w == 0, -1.0)
                draw = keys.topk(min(k, self.num_nodes), dim=1).indices
                if draw.shape[1] < k:
                    draw = torch.cat([draw, draw[:, :k - draw.shape[1]]], 1)
                short = (allowed < k).nonzero().squeeze(-1).tolist()
                for i in short:   # fewer allowed nodes than k: all of them, then repeats of random ones
                    m = int(allowed[i])
                    first = draw[i, :m]
                    draw[i, m:] = first[torch.randint(0, m, (k - m,), generator=gen)]
                out[start:start + len(uu)] = draw
            else:
                out[start:start + len(uu)] = torch.multinomial(w, k, replacement=True, generator=gen)
        return out

    def evaluate(self, model) -> dict[str, float]:
        """Reconstruction under both protocols (``symmetric_*``, ``nickel_kiela_*``) and the chosen one's
        ``mean_rank``/``map``."""
        d = self._dist_matrix(model)
        sym = reconstruction(d, self.adjacency)
        nk = reconstruction(d, self.ancestors)
        chosen = sym if self.protocol == "symmetric" else nk
        return {**chosen, **{f"symmetric_{k}": v for k, v in sym.items()},
                **{f"nickel_kiela_{k}": v for k, v in nk.items()}}

    def run(self, model, trainer) -> dict[str, float]:
        opt, _ = trainer.make_optimizer(model)
        gen = torch.Generator().manual_seed(self.split_seed + trainer.seed)
        base_lr = trainer.lr
        pairs = self.pairs

        def step(epoch: int) -> dict[str, Any]:
            burn = epoch < self.burn_in
            for g in opt.param_groups:
                g["lr"] = base_lr * self.burn_in_multiplier if burn else base_lr
            model.train()
            perm = torch.randperm(len(pairs), generator=gen)
            e = pairs[perm]
            cand = torch.cat([e[:, 1:], self.sample_negatives(e[:, 0], gen, burn)], 1)  # the epoch's draws at once
            u_all = e[:, :1]
            target = torch.zeros(trainer.batch_size, dtype=torch.long)
            losses = []
            for start in range(0, len(e), trainer.batch_size):
                u, c = u_all[start:start + trainer.batch_size], cand[start:start + trainer.batch_size]
                d = model.distance(u, c)
                loss = torch.nn.functional.cross_entropy(-d, target[:len(u)])
                trainer.optimize(loss, opt, model)
                losses.append(loss.detach() * len(u))
            return {"train_loss": torch.stack(losses).sum() / len(e)}

        out = trainer.fit_steps(model, step, None, optimizers=[opt], monitor="map", mode="max",
                                desc="wordnet-mammals")
        final = self.evaluate(model)
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
