"""Terminator (Zhang, arXiv 2401.17948): the slow network, the HyperZ·Z·W branch, group-wise instance/batch
standardisation and the block that combines them (no residual connection)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import Pointwise, _check_input, _op, _size_tuple, coordinate_grid

__all__ = ["SlowNet", "HyperZZW", "GroupIBS", "TerminatorBlock"]


class SlowNet(nn.Module):
    """Coordinate-based implicit MLP (a multiplicative filter network) that generates a hyper-kernel of any size.

    Over normalised coordinates x in [-1, 1]^D of a grid of ``size``, with depth m and hidden width h:

        g_l(x) = sin(Ω_l x + φ_l)                       (sinusoidal filters, l = 0..m)
        u_0 = g_0(x),   u_l = g_l(x) ⊙ (A_l u_{l-1} + a_l)
        W(x) = B u_m + b                                 (one value per output channel)

    Ω_l is drawn in [-ω/(m+1), ω/(m+1)] per axis with ω = ``omega`` · π (size−1)/2, so the product of the m+1
    filters stays under the grid's Nyquist frequency; the last layer is scaled by 1/sqrt(#taps) (Chang et al.)
    so a kernel's sum has unit scale whatever its size. Output: (out_channels, *size).
    """

    def __init__(self, out_channels: int, size: int | Sequence[int], *, dims: int = 1, hidden: int = 16,
                 depth: int = 2, omega: float = 0.5):
        super().__init__()
        self.size = _size_tuple(size, dims, "SlowNet size")
        if hidden < 1 or depth < 0 or not omega > 0:
            raise ValueError(f"SlowNet: need hidden >= 1, depth >= 0, omega > 0; got {hidden}, {depth}, {omega}")
        self.register_buffer("coords", coordinate_grid(self.size).reshape(dims, -1).T.contiguous(), persistent=False)
        nyquist = torch.tensor([math.pi * max(s - 1, 1) / 2 for s in self.size])
        self.filters = nn.ModuleList()
        for _ in range(depth + 1):
            lin = nn.Linear(dims, hidden)
            with torch.no_grad():
                lin.weight.uniform_(-1.0, 1.0).mul_(omega * nyquist / (depth + 1))
                lin.bias.uniform_(-math.pi, math.pi)
            self.filters.append(lin)
        self.linears = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.out = nn.Linear(hidden, out_channels)
        with torch.no_grad():
            self.out.weight.mul_(1.0 / math.sqrt(self.coords.shape[0]))
            self.out.bias.zero_()

    def forward(self) -> torch.Tensor:
        x = self.coords
        u = torch.sin(self.filters[0](x))
        for filt, lin in zip(self.filters[1:], self.linears):
            u = torch.sin(filt(x)) * lin(u)
        return self.out(u).T.reshape(-1, *self.size)


class HyperZZW(nn.Module):
    """One HyperZ·Z·W branch: a slow net's hyper-kernel W made context-dependent by Z, then convolved with V.

        Y[n] = (W ⊙ P_K(Z[n])) ⋆ V[n],   W = SlowNet()    (``hyperkernels.hyperzzw``)

    ``kernel_size`` equal to the input size gives a global branch (P_K = identity, FFT convolution); smaller sizes
    give local branches whose kernel is modulated by the sample's own pooled context.
    """

    def __init__(self, channels: int, kernel_size: int | Sequence[int], *, dims: int = 1, hidden: int = 16,
                 depth: int = 2, omega: float = 0.5):
        super().__init__()
        self.slow = SlowNet(channels, kernel_size, dims=dims, hidden=hidden, depth=depth, omega=omega)

    def kernel(self) -> torch.Tensor:
        """The hyper-kernel W, (C, *K): context-free, shared by every sample."""
        return self.slow()

    def forward(self, z: torch.Tensor, v: torch.Tensor | None = None, *,
                kernel: torch.Tensor | None = None) -> torch.Tensor:
        """``hyperzzw(Z, W, V)``; ``kernel`` passes a W already computed by :meth:`kernel` (not recomputed)."""
        return _op("hyperzzw")(z, (self.kernel() if kernel is None else kernel).to(z.dtype), v)


class GroupIBS(nn.Module):
    """Group-wise instance / batch standardisation without affine parameters (zero-mean, unit-variance features).

    Channels are split into ``groups`` equal groups; even groups get batch standardisation
    (x − μ_c)/σ_c over (N, *spatial) (running statistics in eval mode, so a sample's output never depends on its
    batch then), odd groups instance standardisation (x − μ_{n,c})/σ_{n,c} over *spatial.

    One pass computes the per-(sample, channel) moments μ_{n,c}, σ²_{n,c} of every channel; the batch moments follow
    from them (μ_c = mean_n μ_{n,c}, σ²_c = mean_n σ²_{n,c} + var_n μ_{n,c}, biased, as batch norm normalises), so the
    activations are never gathered or scattered by channel index. Running statistics update like ``nn.BatchNorm``
    (unbiased variance, ``momentum``; ``None`` is the cumulative average) and live in ``self.batch`` (its state-dict
    keys).
    """

    def __init__(self, channels: int, groups: int = 2, *, dims: int = 1, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if groups < 1 or channels % groups:
            raise ValueError(f"GroupIBS: channels ({channels}) must be divisible by groups ({groups})")
        size = channels // groups
        group = torch.arange(channels) // size
        is_batch = group % 2 == 0
        self.register_buffer("is_batch", is_batch, persistent=False)
        # channel c of the batch groups is row pos[c] of the running statistics (pos is 0 for instance channels)
        self.register_buffer("pos", (torch.cumsum(is_batch.long(), 0) - 1).clamp_min(0), persistent=False)
        self.register_buffer("batch_channels", torch.nonzero(is_batch).flatten(), persistent=False)
        self.has_instance = groups > 1
        bn = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.batch = bn(int(is_batch.sum()), eps=eps, momentum=momentum, affine=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = tuple(range(2, x.dim()))
        positions = math.prod(x.shape[2:])
        if self.has_instance and positions < 2:
            raise ValueError(f"GroupIBS: instance standardisation needs more than one position per channel, got "
                             f"input of shape {tuple(x.shape)}")
        var, mean = torch.var_mean(x, dim=spatial, correction=0)  # (N, C): instance moments of every channel
        bn = self.batch
        batch_stats = self.training or not bn.track_running_stats
        if batch_stats:
            mean_b = mean.mean(0)
            var_b = var.mean(0) + mean.var(0, correction=0)  # law of total variance (equal counts per sample)
            if self.training and bn.track_running_stats:
                count = x.shape[0] * positions
                if count < 2:
                    raise ValueError(f"GroupIBS: batch standardisation in training needs more than one value per "
                                     f"channel, got input of shape {tuple(x.shape)}")
                self._update_running(mean_b.detach(), var_b.detach(), count)
        else:
            mean_b = bn.running_mean.to(x.dtype)[self.pos]
            var_b = bn.running_var.to(x.dtype)[self.pos]
        mean = torch.where(self.is_batch, mean_b, mean).detach()
        rstd = torch.rsqrt(torch.where(self.is_batch, var_b, var) + self.eps).detach()
        return _Standardise.apply(x, mean, rstd, self.is_batch, batch_stats)

    @torch.no_grad()
    def _update_running(self, mean_b: torch.Tensor, var_b: torch.Tensor, count: int) -> None:
        bn = self.batch
        bn.num_batches_tracked.add_(1)
        momentum = bn.momentum
        if momentum is None:  # cumulative moving average, as nn.BatchNorm
            momentum = 1.0 / bn.num_batches_tracked  # a 0-dim tensor: no host sync
        idx = self.batch_channels
        unbiased = var_b[idx] * (count / (count - 1))
        bn.running_mean.mul_(1 - momentum).add_(mean_b[idx].to(bn.running_mean.dtype) * momentum)
        bn.running_var.mul_(1 - momentum).add_(unbiased.to(bn.running_var.dtype) * momentum)


class _Standardise(torch.autograd.Function):
    """y = (x − μ) · r per (sample, channel), r = (σ² + eps)^-½, with the standardisation's own backward.

    With x̂ = y and means over the P terms each statistic was taken over (the positions for instance channels;
    samples and positions for batch channels in training):

        dx = r · (dy − mean_P(dy) − x̂ · mean_P(dy · x̂))

    and dx = r · dy for batch channels standardised by running statistics (constants in eval). Two passes
    forward (moments, then one fused multiply-add) and two backward; no gather by channel index.
    """

    @staticmethod
    def forward(ctx, x, mean, rstd, is_batch, batch_from_data):
        shape = (*mean.shape, *([1] * (x.dim() - 2)))
        y = torch.addcmul((-mean * rstd).view(shape), x, rstd.view(shape))
        ctx.save_for_backward(y, rstd, is_batch)
        ctx.batch_from_data = batch_from_data
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        y, rstd, is_batch = ctx.saved_tensors
        n, c = y.shape[:2]
        positions = max(math.prod(y.shape[2:]), 1)
        dy = dy.contiguous()
        s1 = dy.flatten(2).sum(-1)                                       # Σ_positions dy        (N, C)
        s2 = torch.einsum("ncl,ncl->nc", dy.flatten(2), y.flatten(2))     # Σ_positions dy · x̂    (N, C)
        if ctx.batch_from_data:
            total = max(n * positions, 1)
            a_b, b_b = s1.sum(0) / total, s2.sum(0) / total
        else:
            a_b = b_b = s1.new_zeros(())
        a = torch.where(is_batch, a_b, s1 / positions)
        b = torch.where(is_batch, b_b, s2 / positions)
        shape = (n, c, *([1] * (y.dim() - 2)))
        dx = torch.addcmul((-(a * rstd)).view(shape), dy, rstd.view(shape))
        return torch.addcmul(dx, y, (-(b * rstd)).view(shape)), None, None, None, None


class TerminatorBlock(nn.Module):
    """A Terminator block: multi-branch HyperZ·Z·W, bottleneck, G-IBS, GELU, dropout; no residual connection.

        branches:  G = HyperZZW_global(Z)        (hyper-kernel of the input's whole size, FFT)
                   L_k = HyperZZW_k(Z)           (local hyper-kernels, k in ``local_sizes``)
                   F = (A Z) ⊙ σ(B Z)            (fast gated branch, pointwise A, B)
        out = Dropout(GELU(GIBS(P · IN(concat[G, L_k..., F, Z]))))   P: 1x1 bottleneck, IN: instance standardisation

    Z itself joins the concatenation (the released code likewise concatenates earlier blocks' inputs): a linear
    path through the bottleneck, not an additive residual. ``global_kernel()`` returns the slow net's global
    hyper-kernel; the model's local feedback error ties them across blocks.
    """

    def __init__(self, in_channels: int, out_channels: int, size: int | Sequence[int], *, dims: int = 1,
                 local_sizes: Sequence[int] = (3, 5, 7, 9), slow_width: int = 16, slow_depth: int = 2,
                 omega: float = 0.5, groups: int = 2, dropout: float = 0.0):
        super().__init__()
        self.dims = dims
        self.in_channels = in_channels
        self.size = _size_tuple(size, dims, "TerminatorBlock size")
        slow = dict(dims=dims, hidden=slow_width, depth=slow_depth, omega=omega)
        self.global_branch = HyperZZW(in_channels, self.size, **slow)
        for k in local_sizes:
            if any(k > s for s in self.size):
                raise ValueError(f"TerminatorBlock: local kernel size {k} exceeds the input size {self.size}")
        self.local_branches = nn.ModuleList(HyperZZW(in_channels, k, **slow) for k in local_sizes)
        self.fast = Pointwise(in_channels, 2 * in_channels)  # value and gate of the fast branch
        branches = 3 + len(local_sizes)  # global, locals, fast, and Z itself
        self.bottleneck = Pointwise(branches * in_channels, out_channels)
        self.norm = GroupIBS(out_channels, groups, dims=dims)
        self.dropout = nn.Dropout(dropout)

    def global_kernel(self) -> torch.Tensor:
        """The global hyper-kernel W (C, *size), freshly computed by the slow network."""
        return self.global_branch.kernel()

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        state["_forward_kernel"] = None  # a non-leaf tensor of the last forward: neither copied nor pickled
        return state

    def take_forward_kernel(self) -> torch.Tensor | None:
        """The global hyper-kernel the last forward computed (each forward's kernel is handed out once), or
        ``None`` when there is none or it is stale: the slow net's parameters changed since (an optimiser step),
        or it was computed without gradients and gradients are wanted now. Lets the local feedback error reuse
        the forward's slow-net evaluation instead of running every global slow net again."""
        cached, self._forward_kernel = getattr(self, "_forward_kernel", None), None
        if cached is None:
            return None
        kernel, versions = cached
        params = list(self.global_branch.parameters())
        if versions != tuple(p._version for p in params):
            return None
        if torch.is_grad_enabled() and not kernel.requires_grad and any(p.requires_grad for p in params):
            return None
        return kernel

    def slow_parameters(self):
        """Parameters of the slow networks (hyper-kernel generators)."""
        yield from self.global_branch.parameters()
        yield from self.local_branches.parameters()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_input("TerminatorBlock", z, self.dims, self.in_channels, self.size)
        value, gate = self.fast(z).chunk(2, dim=1)
        w = self.global_branch.kernel()
        self._forward_kernel = (w, tuple(p._version for p in self.global_branch.parameters()))
        glob = self.global_branch(z, kernel=w)
        h = torch.cat([glob, *(b(z) for b in self.local_branches), value * torch.sigmoid(gate), z], 1)
        h = F.instance_norm(h)
        return self.dropout(F.gelu(self.norm(self.bottleneck(h))))
