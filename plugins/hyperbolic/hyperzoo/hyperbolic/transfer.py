"""Zero-shot transfer across the subtrees of a hierarchy, the experiment that shows the H4G radius-scaling layer.

A hierarchy's closure (ancestor → descendant edges) is cut into the disjoint subtrees under given roots
(:func:`subtree_split`). An encoder is trained on some subtrees and applied, without any training, to a held-out
one. It sees only each subtree's *direct* is-a links (the transitive reduction, :func:`reduction`): node inputs
are random features plus structural ones (log #ancestors, log #descendants, log #children, leaf flag), propagated
over the undirected tree as in SGC (Wu et al. 2019), [X, ÂX, …, Â^K X], Â = D^{-½}(A + Aᵀ + I)D^{-½}
(:func:`structural_features`; random features make the nodes distinguishable while the weights stay transferable,
Sato et al. 2021). The encoder (:class:`SubtreeEncoder`) is an MLP, exp₀ onto the ball, and optionally the H4G
layer y = M ⊗ x with a learnable block-diagonal M (:class:`~hyperzoo.hyperbolic.layers.RadiusScaling`). It is
trained with Nickel & Kiela's loss on the closure edges of the training subtrees (negatives from the same
subtree) and scored by reconstruction of the held-out subtree's *closure* (mean rank, MAP;
:func:`~hyperzoo.hyperbolic.tasks.reconstruction`): every ancestor relation, although only parent links were input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from . import functional as F
from .layers import RadiusScaling, _check_c

__all__ = ["subtree_split", "subtree_edges", "reduction", "structural_features", "SubtreeEncoder", "SubtreeGraph",
           "make_graph", "train_transfer", "evaluate", "transfer_experiment"]


def subtree_split(labels: Sequence[str], edges: np.ndarray, roots: Sequence[str]) -> dict[str, np.ndarray]:
    """For each root label, the sorted node indices of its subtree (the root and its closure descendants);
    a node under more than one of the roots (multiple inheritance) is dropped from all of them, so the returned
    sets are disjoint. Raises ``ValueError`` for an unknown root, a root inside another root's subtree, or a
    subtree left with fewer than 2 nodes."""
    labels = list(labels)
    edges = np.asarray(edges)
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError(f"edges must be an (E, 2) array of (ancestor, descendant) indices, got shape {edges.shape}")
    if len(set(roots)) != len(roots):
        raise ValueError(f"roots {list(roots)} contain duplicates")
    sets = {}
    for r in roots:
        if r not in labels:
            raise ValueError(f"root {r!r} is not a node label (labels look like {labels[0]!r})")
        i = labels.index(r)
        sets[r] = {i, *edges[edges[:, 0] == i, 1].tolist()}
    for a in roots:
        for b in roots:
            if a != b and labels.index(b) in sets[a]:
                raise ValueError(f"root {b!r} lies inside the subtree of {a!r}; pick roots of disjoint subtrees")
    out = {}
    for r in roots:
        others = set().union(*(sets[o] for o in roots if o != r)) if len(roots) > 1 else set()
        keep = np.array(sorted(sets[r] - others), dtype=np.int64)
        if len(keep) < 2:
            raise ValueError(f"the subtree of {r!r} has {len(keep)} node(s) after removing shared ones; need >= 2")
        out[r] = keep
    return out


def subtree_edges(edges: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """The closure edges with both ends in ``nodes``, re-indexed to positions in ``nodes`` (0 … len − 1)."""
    pos = np.full(int(max(edges.max(), nodes.max())) + 1, -1, dtype=np.int64)
    pos[nodes] = np.arange(len(nodes))
    e = pos[np.asarray(edges)]
    return e[(e >= 0).all(1)]


def reduction(closure: np.ndarray, n: int) -> np.ndarray:
    """Transitive reduction of a DAG given by its closure edges: (u, v) is kept iff no w has u → w → v."""
    a = np.zeros((n, n), dtype=bool)
    a[closure[:, 0], closure[:, 1]] = True
    two = (a.astype(np.int32) @ a.astype(np.int32)) > 0
    keep = a & ~two
    return np.argwhere(keep).astype(np.int64)


def structural_features(closure: np.ndarray, n: int, *, random_dim: int = 16, hops: int = 4,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """Node inputs computed from a subtree's direct links only: X = [R, log(1+#anc), log(1+#desc), log(1+#children),
    leaf], R ~ N(0, I) (``random_dim`` columns), then [X, ÂX, …, Â^hops X] with Â the symmetrically normalised
    undirected tree adjacency with self loops. Shape (n, (hops + 1)(random_dim + 4)), float32."""
    if random_dim < 0 or hops < 0:
        raise ValueError(f"random_dim ({random_dim}) and hops ({hops}) must be >= 0")
    red = reduction(closure, n)
    a = torch.zeros(n, n)
    a[red[:, 0], red[:, 1]] = 1.0
    # ancestors/descendants from the direct links by repeated propagation (no closure used)
    reach = a.clone()
    for _ in range(n):
        nxt = ((reach @ a + a) > 0).float()
        if torch.equal(nxt, reach):
            break
        reach = nxt
    anc, desc, children = reach.sum(0), reach.sum(1), a.sum(1)
    struct = torch.stack([torch.log1p(anc), torch.log1p(desc), torch.log1p(children), (children == 0).float()], 1)
    r = torch.randn(n, random_dim, generator=generator)
    x = torch.cat([r, struct], 1)
    s = a + a.t() + torch.eye(n)
    dinv = s.sum(1).rsqrt()
    norm = dinv[:, None] * s * dinv[None, :]
    feats, cur = [x], x
    for _ in range(hops):
        cur = norm @ cur
        feats.append(cur)
    return torch.cat(feats, 1)


class SubtreeEncoder(nn.Module):
    """Node features → ball: u = W₂ ReLU(W₁ x + b₁) + b₂, p = exp₀(u), and with ``h4g`` the H4G radius reduction
    y = M ⊗ p, M = diag(B₁, …, B_k) learnable, initialised at ``init_scale``·I (Möbius matrix-vector product)."""

    def __init__(self, in_features: int, dim: int, *, hidden: int = 64, h4g: bool = False, block: int = 2,
                 init_scale: float = 0.5, c: float = 1.0):
        super().__init__()
        self.c = _check_c(c)
        self.mlp = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.scale = RadiusScaling(dim, block=block, init_scale=init_scale, c=self.c) if h4g else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = F.expmap0(self.mlp(x), c=self.c)
        return self.scale(p) if self.scale is not None else p


class SubtreeGraph:
    """One subtree: its features, closure edges (local indices) and symmetric closure adjacency (the target)."""

    def __init__(self, name: str, features: torch.Tensor, closure: np.ndarray):
        n = features.shape[0]
        self.name, self.features, self.n = name, features, n
        self.closure = torch.as_tensor(closure)
        adj = torch.zeros(n, n, dtype=torch.bool)
        adj[self.closure[:, 0], self.closure[:, 1]] = True
        self.adjacency = adj | adj.t()


def make_graph(name: str, edges: np.ndarray, nodes: np.ndarray, *, random_dim: int, hops: int,
               generator: torch.Generator) -> SubtreeGraph:
    """A :class:`SubtreeGraph` for the subtree ``nodes`` of the closure ``edges``."""
    local = subtree_edges(edges, nodes)
    return SubtreeGraph(name, structural_features(local, len(nodes), random_dim=random_dim, hops=hops,
                                                  generator=generator), local)


def _loss(model: nn.Module, g: SubtreeGraph, negatives: int, gen: torch.Generator) -> torch.Tensor:
    """Nickel & Kiela's softmax over the true descendant/ancestor and ``negatives`` non-neighbours of the subtree."""
    p = model(g.features)
    both = torch.cat([g.closure, g.closure.flip(1)])
    u, v = both[:, 0], both[:, 1]
    neg = torch.randint(0, g.n, (len(u), negatives), generator=gen)
    for _ in range(10):
        bad = g.adjacency[u[:, None], neg] | (neg == u[:, None])
        if not bool(bad.any()):
            break
        neg = torch.where(bad, torch.randint(0, g.n, neg.shape, generator=gen), neg)
    cand = torch.cat([v[:, None], neg], 1)
    # paired distances (not the Gram-based cdist): trained points sit near the boundary, where ‖x − y‖² from a
    # Gram matrix cancels
    d = F.dist(p[u][:, None, :].expand(-1, cand.shape[1], -1), p[cand], c=model.c)
    return nn.functional.cross_entropy(-d, torch.zeros(len(u), dtype=torch.long))


def train_transfer(model: nn.Module, graphs: Sequence[SubtreeGraph], *, steps: int = 300, lr: float = 1e-2,
                   negatives: int = 10, seed: int = 0) -> list[float]:
    """Full-batch Adam on the summed loss of the training subtrees; returns the loss per step."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = sum(_loss(model, g, negatives, gen) for g in graphs) / len(graphs)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def evaluate(model: nn.Module, g: SubtreeGraph) -> dict[str, Any]:
    """Reconstruction mean rank and MAP of the subtree's closure from the encoder's distances, and the mean and
    max d(0, y) of its points."""
    from .tasks import reconstruction

    with torch.no_grad():
        p = model.eval()(g.features).double()
        n = len(p)
        d = F.dist(p[:, None, :].expand(n, n, -1), p[None, :, :].expand(n, n, -1), c=model.c)
        r0 = F.dist0(p, c=model.c)
    out: dict[str, Any] = reconstruction(d, g.adjacency)
    out.update({"mean_radius": float(r0.mean()), "max_radius": float(r0.max())})
    return out


class _Scaled(nn.Module):
    """A trained encoder followed by the fixed Möbius scaling s ⊗ y (a test-time radius reduction)."""

    def __init__(self, model: nn.Module, s: float):
        super().__init__()
        self.model, self.s, self.c = model, s, model.c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.mobius_scalar_mul(self.s, self.model(x), c=self.c)


def transfer_experiment(labels: Sequence[str], edges: np.ndarray, roots: Sequence[str], held_out: str, *,
                        h4g: bool, seed: int = 0, steps: int = 150, dim: int = 10, hidden: int = 64,
                        random_dim: int = 16, hops: int = 4, block: int = 2, init_scale: float = 0.5,
                        lr: float = 1e-2, negatives: int = 10, test_scale: float | None = 0.5) -> dict[str, Any]:
    """Train a :class:`SubtreeEncoder` (with or without the H4G layer) on every subtree of ``roots`` but
    ``held_out`` and score it zero-shot on ``held_out``: ``test_*`` (reconstruction of the held-out closure),
    ``train_map`` (mean over the training subtrees), and with ``test_scale`` the held-out MAP after a fixed
    test-time Möbius scaling s ⊗ y (``scaled_map``)."""
    if held_out not in roots:
        raise ValueError(f"held_out {held_out!r} is not one of the roots {list(roots)}")
    split = subtree_split(labels, edges, roots)
    gen = torch.Generator().manual_seed(seed)
    graphs = {r: make_graph(r, edges, split[r], random_dim=random_dim, hops=hops, generator=gen) for r in roots}
    torch.manual_seed(seed)
    model = SubtreeEncoder(graphs[held_out].features.shape[1], dim, hidden=hidden, h4g=h4g, block=block,
                           init_scale=init_scale)
    train = [graphs[r] for r in roots if r != held_out]
    losses = train_transfer(model, train, steps=steps, lr=lr, negatives=negatives, seed=seed)
    test = evaluate(model, graphs[held_out])
    out: dict[str, Any] = {f"test_{k}": v for k, v in test.items()}
    out["train_map"] = float(np.mean([evaluate(model, g)["map"] for g in train]))
    out["first_loss"], out["final_loss"] = losses[0], losses[-1]
    out["nonfinite_losses"] = int(sum(not np.isfinite(v) for v in losses))
    if test_scale is not None:
        out["scaled_map"] = evaluate(_Scaled(model, test_scale), graphs[held_out])["map"]
    return out
