"""Approximate kernel sums with a guaranteed relative error: leaf bounds prune far data (algorithm='tree').

The data are split recursively at the median of their widest coordinate into leaves of at most ``leaf_size``
points; each leaf j keeps its centre c_j, radius R_j = max ‖x − c_j‖ and weight W_j. For a query y every point
of leaf j lies at a distance in [‖y − c_j‖ − R_j, ‖y − c_j‖ + R_j], so its contribution is bracketed by

    L_j = W_j K((‖y − c_j‖ + R_j)/h) ≤ Σ_{i ∈ j} w_i K(‖y − x_i‖/h) ≤ U_j = W_j K(max(0, ‖y − c_j‖ − R_j)/h).

For a block of nearby queries, the leaves with the smallest upper bounds are skipped as long as, for every
query of the block, Σ_skipped U_j ≤ rtol · Σ_kept L_j; the kept leaves are summed exactly. The estimate
Ŝ therefore satisfies S(1 − rtol) ≤ Ŝ ≤ S: relative error at most rtol, whatever the data. Leaves whose
upper bound is exactly 0 (compact kernels) are always skipped, so rtol = 0 is exact.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .kernels import log_profile

QUERY_BLOCK = 128


class Tree:
    def __init__(self, data: torch.Tensor, weights: torch.Tensor | None, leaf_size: int = 256):
        if leaf_size < 1:
            raise ValueError(f"leaf_size must be >= 1, got {leaf_size}")
        x = data.detach().cpu().numpy()
        order = np.arange(len(x))
        leaves: list[tuple[int, int]] = []
        stack = [(0, len(x))]
        while stack:
            a, b = stack.pop()
            if b - a <= leaf_size:
                leaves.append((a, b))
                continue
            pts = x[order[a:b]]
            axis = int(np.argmax(pts.max(0) - pts.min(0)))
            mid = (b - a) // 2
            part = np.argpartition(pts[:, axis], mid)
            order[a:b] = order[a:b][part]
            stack += [(a, a + mid), (a + mid, b)]
        leaves.sort()
        perm = torch.as_tensor(order, device=data.device)
        self.data = data[perm]
        self.weights = None if weights is None else weights[perm]
        w = torch.ones(len(x), dtype=data.dtype, device=data.device) if weights is None else self.weights
        self.bounds = torch.tensor(leaves, device=data.device)
        # leaf of every (permuted) row; leaves are contiguous and sorted, so rows of kept leaves come in order
        sizes = self.bounds[:, 1] - self.bounds[:, 0]
        self.leaf_of = torch.repeat_interleave(torch.arange(len(leaves), device=data.device), sizes)
        k, d = len(leaves), data.shape[1]
        counts = sizes.to(data.dtype)[:, None]
        self.centres = torch.zeros(k, d, dtype=data.dtype, device=data.device).index_add_(0, self.leaf_of,
                                                                                           self.data) / counts
        spread = (self.data - self.centres[self.leaf_of]).norm(dim=1)
        self.radii = torch.zeros(k, dtype=data.dtype, device=data.device).scatter_reduce_(
            0, self.leaf_of, spread, reduce="amax", include_self=False)
        self.log_w = torch.log(torch.zeros(k, dtype=data.dtype, device=data.device).index_add_(0, self.leaf_of, w))

    def log_kernel_sum(self, queries: torch.Tensor, h: float, kernel: str, rtol: float, exact) -> torch.Tensor:
        """log Σ_i w_i K(‖y − x_i‖/h) within relative error rtol (``exact`` is the kernel-sum operator)."""
        nearest = torch.cdist(queries, self.centres).argmin(1)
        order = torch.argsort(nearest)
        out = torch.empty(queries.shape[0], dtype=queries.dtype, device=queries.device)
        log_rtol = math.log(rtol) if rtol > 0 else -math.inf
        unpruned = []      # blocks that keep every leaf are summed together in one exact call at the end
        for q0 in range(0, len(order), QUERY_BLOCK):
            idx = order[q0:q0 + QUERY_BLOCK]
            y = queries[idx]
            dist = torch.cdist(y, self.centres)
            log_u = self.log_w + log_profile(((dist - self.radii).clamp_min(0) / h) ** 2, kernel)
            log_l = self.log_w + log_profile(((dist + self.radii) / h) ** 2, kernel)
            keep = self._keep(log_u, log_l, log_rtol)
            if not bool(keep.any()):
                out[idx] = -math.inf
            elif bool(keep.all()):
                unpruned.append(idx)
            else:
                rows = torch.nonzero(keep[self.leaf_of]).flatten()     # every row of a kept leaf, in order
                w = None if self.weights is None else self.weights[rows]
                out[idx] = exact(y, self.data[rows], h, kernel=kernel, weights=w)
        if unpruned:
            idx = torch.cat(unpruned)
            out[idx] = exact(queries[idx], self.data, h, kernel=kernel, weights=self.weights)
        return out

    @staticmethod
    def _keep(log_u: torch.Tensor, log_l: torch.Tensor, log_rtol: float) -> torch.Tensor:
        """Leaves to sum exactly: skip the largest prefix (by max upper bound) with Σ U ≤ rtol Σ_kept L."""
        nonzero = torch.isfinite(log_u).any(0)
        if log_rtol == -math.inf:
            return nonzero
        rank = torch.argsort(log_u.max(0).values)          # ascending: cheapest to skip first
        shift = log_l.max(1, keepdim=True).values
        shift = torch.where(torch.isfinite(shift), shift, log_u.max(1, keepdim=True).values)
        shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
        u = torch.exp(log_u[:, rank] - shift)
        l = torch.exp(log_l[:, rank] - shift)
        skipped_u = torch.cumsum(u, 1)                        # Σ U over the first k+1 leaves
        kept_l = l.sum(1, keepdim=True) - torch.cumsum(l, 1)  # Σ L over the rest
        ok = (skipped_u <= math.exp(log_rtol) * kept_l).all(0)
        # largest k with ok[0..k] all true
        bad = torch.nonzero(~ok).flatten()
        k = int(bad[0]) if bad.numel() else ok.numel()
        keep = torch.ones_like(nonzero)
        keep[rank[:k]] = False
        return keep & nonzero
