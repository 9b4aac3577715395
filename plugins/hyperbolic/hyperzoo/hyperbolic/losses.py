r"""Hyperbolic Category Discovery (HypCD): the hybrid distance-plus-angle contrastive loss, semi-supervised k-means
and the Hungarian-matched all/old/new accuracy that generalized-category-discovery papers report.

Hybrid similarity of ball points zᵢ, zⱼ (HypCD: the hyperbolic distance and the angle both carry the contrast):

    s(zᵢ, zⱼ) = −α d(zᵢ, zⱼ) + (1 − α) cos∠(zᵢ, zⱼ)

InfoNCE over two views (2N embeddings, positives = the other view) and SupCon over the labelled ones (positives =
same label), each at temperature τ:

    L_u = −1/2N Σᵢ log( e^{s(i, i⁺)/τ} / Σ_{k≠i} e^{s(i,k)/τ} ),
    L_s = −1/|L| Σ_{i∈L} 1/|P(i)| Σ_{p∈P(i)} log( e^{s(i,p)/τ} / Σ_{k≠i} e^{s(i,k)/τ} ),
    L = (1 − λ) L_u + λ L_s          (GCD's λ = 0.35)
"""

from __future__ import annotations

import numpy as np
import torch

from . import functional as F

__all__ = ["hybrid_similarity", "hybrid_contrastive_loss", "hungarian_accuracy", "semi_supervised_kmeans"]


def hybrid_similarity(z: torch.Tensor, *, alpha: float = 0.5, c: float = 1.0) -> torch.Tensor:
    """(n, n) matrix −α d(zᵢ, zⱼ) + (1 − α) cos∠(zᵢ, zⱼ) of points ``z`` (n, d) of the ball."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    d = F.cdist(z, z, c=c)
    u = z / z.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return -alpha * d + (1 - alpha) * (u @ u.t())


def _log_softmax_offdiag(s: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(len(s), dtype=torch.bool, device=s.device)
    return s.masked_fill(eye, float("-inf")).log_softmax(-1).masked_fill(eye, 0.0)


def hybrid_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, labels: torch.Tensor | None = None, *,
                            alpha: float = 0.5, tau: float = 0.1, sup_weight: float = 0.35,
                            c: float = 1.0) -> torch.Tensor:
    """(1 − λ) L_u + λ L_s over two views ``z1``, ``z2`` (N, d); ``labels`` (N,) with −1 for unlabelled."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"z1 and z2 must be (N, d) of the same shape, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    n = len(z1)
    z = torch.cat([z1, z2])
    logp = _log_softmax_offdiag(hybrid_similarity(z, alpha=alpha, c=c) / tau)
    idx = torch.arange(2 * n, device=z.device)
    pos = (idx + n) % (2 * n)
    loss_u = -logp[idx, pos].mean()
    if labels is None or sup_weight == 0 or not bool((labels >= 0).any()):
        return loss_u
    lab = torch.cat([labels, labels])
    known = lab >= 0
    same = (lab[:, None] == lab[None, :]) & known[:, None] & known[None, :]
    same.fill_diagonal_(False)
    rows = known & same.any(1)
    loss_s = -((logp * same).sum(1)[rows] / same.sum(1)[rows]).mean()
    return (1 - sup_weight) * loss_u + sup_weight * loss_s


def hungarian_accuracy(y_true: np.ndarray, y_pred: np.ndarray, old_mask: np.ndarray) -> dict[str, float]:
    """All/old/new accuracy after the best one-to-one map of clusters to classes (Hungarian, on all samples,
    GCD's protocol): ``old_mask`` marks samples whose true class is an old (labelled) class."""
    from scipy.optimize import linear_sum_assignment

    y_true, y_pred, old_mask = np.asarray(y_true), np.asarray(y_pred), np.asarray(old_mask, bool)
    if y_true.shape != y_pred.shape or y_true.shape != old_mask.shape:
        raise ValueError("y_true, y_pred and old_mask must have the same length")
    k = int(max(y_true.max(), y_pred.max())) + 1
    w = np.zeros((k, k), dtype=np.int64)
    np.add.at(w, (y_pred, y_true), 1)
    r, col = linear_sum_assignment(-w)
    mapping = dict(zip(r, col))
    mapped = np.array([mapping[p] for p in y_pred])
    hit = mapped == y_true
    return {"all_accuracy": float(hit.mean()),
            "old_accuracy": float(hit[old_mask].mean()) if old_mask.any() else float("nan"),
            "new_accuracy": float(hit[~old_mask].mean()) if (~old_mask).any() else float("nan")}


def semi_supervised_kmeans(x: torch.Tensor, labels: torch.Tensor, k: int, *, iters: int = 50,
                           seed: int = 0) -> torch.Tensor:
    """GCD's semi-supervised k-means on features ``x`` (N, d): labelled points (label ≥ 0) stay in their class's
    cluster; the old classes' centroids start at their labelled means, the others by k-means++ on the rest."""
    g = torch.Generator().manual_seed(seed)
    x = x.double()
    known = labels >= 0
    classes = sorted(int(v) for v in labels[known].unique())
    if len(classes) > k:
        raise ValueError(f"{len(classes)} labelled classes but only k = {k} clusters")
    cents = [x[labels == cl].mean(0) for cl in classes]
    rest = x[~known] if bool((~known).any()) else x
    while len(cents) < k:
        d = torch.cdist(rest, torch.stack(cents)).min(1).values ** 2
        cents.append(rest[torch.multinomial(d / d.sum(), 1, generator=g)].squeeze(0))
    cents = torch.stack(cents)
    fixed = torch.full_like(labels, -1)
    for i, cl in enumerate(classes):
        fixed[labels == cl] = i
    assign = fixed.clone()
    for _ in range(iters):
        new = torch.cdist(x, cents).argmin(1)
        new = torch.where(fixed >= 0, fixed, new)
        if bool((new == assign).all()):
            break
        assign = new
        for j in range(k):
            m = assign == j
            if bool(m.any()):
                cents[j] = x[m].mean(0)
    # report clusters in class ids for the labelled classes, the rest numbered after them
    order = torch.tensor(classes + [i for i in range(k) if i not in classes][: k - len(classes)])
    return order[assign]
