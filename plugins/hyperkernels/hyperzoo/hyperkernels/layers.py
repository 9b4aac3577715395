"""Layers of hyperkernels (1D layers take (N, C, L), 2D layers (N, C, H, W)); each states its equation.

Terminator (Zhang, arXiv 2401.17948): :class:`SlowNet`, :class:`HyperZZW`, :class:`GroupIBS`,
:class:`TerminatorBlock`. FlashButterfly (Fu et al., ICML 2023): :class:`LongConv`. InceptionNeXt (Yu et al., CVPR
2024): :class:`InceptionDWConv2d`. RepLKNet / UniRepLKNet (Ding et al., CVPR 2022 / 2024):
:class:`DilatedReparamConv`. A priori compression (Boukraichi et al., arXiv 2304.04964): :class:`OneWayConv1d`,
:class:`OneWayConv2d`. PHNNs (Grassucci et al., IEEE TNNLS 2022): :class:`PHConv1d`, :class:`PHConv2d`.
Convolutions run through the registered operators (``hyperkernels.fftconv``, ``.dwconv``, ``.hyperzzw``), so a
GPU backend is used wherever one is available.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo import core

__all__ = [
    "SlowNet", "HyperZZW", "GroupIBS", "TerminatorBlock", "LongConv", "InceptionDWConv2d", "DilatedReparamConv",
    "OneWayConv1d", "OneWayConv2d", "PHConv1d", "PHConv2d", "Pointwise", "squash", "smooth", "coordinate_grid",
    "dilate_kernel",
]


def _op(name: str):
    return core.get_operator(f"hyperkernels.{name}")


def _size_tuple(size: int | Sequence[int], dims: int, what: str) -> tuple[int, ...]:
    sizes = (size,) * dims if isinstance(size, int) else tuple(size)
    if len(sizes) != dims or not all(isinstance(s, int) and s >= 1 for s in sizes):
        raise ValueError(f"{what} must be {dims} positive int(s), got {size!r}")
    return sizes


class Pointwise(nn.Module):
    """1x1 convolution over channels, y[n, :, ...] = A x[n, :, ...] + a, as one matrix product (for any layout
    (N, C, *spatial)); initialised like ``nn.Conv1d(C_in, C_out, 1)``."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        bound = 1 / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels).uniform_(-bound, bound))
        self.register_parameter("bias", nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias
                                else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(self.weight, x.flatten(2))
        if self.bias is not None:
            y = y + self.bias[:, None]
        return y.view(x.shape[0], -1, *x.shape[2:])


def _check_input(layer: str, x: torch.Tensor, dims: int, channels: int, size: tuple[int, ...] | None = None) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{layer}: input must be a floating-point tensor, got "
                        f"{getattr(x, 'dtype', type(x).__name__)}")
    layout = "(N, C, L)" if dims == 1 else "(N, C, H, W)"
    if x.dim() != dims + 2:
        raise ValueError(f"{layer}: expected input {layout}, got shape {tuple(x.shape)}")
    if x.shape[1] != channels:
        raise ValueError(f"{layer}: expected {channels} input channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    if size is not None and tuple(x.shape[2:]) != size:
        raise ValueError(f"{layer}: built for inputs of size {size}, got {tuple(x.shape[2:])}; "
                         f"build the model with seq_len/image_size of your data")


def coordinate_grid(size: Sequence[int]) -> torch.Tensor:
    """Normalised coordinates in [-1, 1]^D of a grid of ``size``: shape (D, *size)."""
    axes = [torch.linspace(-1.0, 1.0, s) if s > 1 else torch.zeros(1) for s in size]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


# --------------------------------------------------------------------------------------------------- Terminator


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

    def forward(self, z: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
        return _op("hyperzzw")(z, self.kernel().to(z.dtype), v)


class GroupIBS(nn.Module):
    """Group-wise instance / batch standardisation without affine parameters (zero-mean, unit-variance features).

    Channels are split into ``groups`` equal groups; even groups get batch standardisation
    (x − μ_c)/σ_c over (N, *spatial) (running statistics in eval mode, so a sample's output never depends on its
    batch then), odd groups instance standardisation (x − μ_{n,c})/σ_{n,c} over *spatial.
    """

    def __init__(self, channels: int, groups: int = 2, *, dims: int = 1, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if groups < 1 or channels % groups:
            raise ValueError(f"GroupIBS: channels ({channels}) must be divisible by groups ({groups})")
        size = channels // groups
        group = torch.arange(channels) // size
        self.register_buffer("batch_idx", torch.nonzero(group % 2 == 0).flatten(), persistent=False)
        self.register_buffer("inst_idx", torch.nonzero(group % 2 == 1).flatten(), persistent=False)
        bn = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.batch = bn(len(self.batch_idx), eps=eps, momentum=momentum, affine=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        out[:, self.batch_idx] = self.batch(x[:, self.batch_idx])
        if len(self.inst_idx):
            out[:, self.inst_idx] = F.instance_norm(x[:, self.inst_idx], eps=self.eps)
        return out


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
                 local_sizes: Sequence[int] = (3, 5, 7, 9), slow_hidden: int = 16, slow_depth: int = 2,
                 omega: float = 0.5, groups: int = 2, dropout: float = 0.0):
        super().__init__()
        self.dims = dims
        self.in_channels = in_channels
        self.size = _size_tuple(size, dims, "TerminatorBlock size")
        slow = dict(dims=dims, hidden=slow_hidden, depth=slow_depth, omega=omega)
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
        return self.global_branch.kernel()

    def slow_parameters(self):
        """Parameters of the slow networks (hyper-kernel generators)."""
        yield from self.global_branch.parameters()
        yield from self.local_branches.parameters()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_input("TerminatorBlock", z, self.dims, self.in_channels, self.size)
        value, gate = self.fast(z).chunk(2, dim=1)
        h = torch.cat([self.global_branch(z), *(b(z) for b in self.local_branches), value * torch.sigmoid(gate), z], 1)
        h = F.instance_norm(h)
        return self.dropout(F.gelu(self.norm(self.bottleneck(h))))


# --------------------------------------------------------------------------------------------------- FlashButterfly


def squash(k: torch.Tensor, lam: float) -> torch.Tensor:
    """Soft threshold: sign(k) · max(|k| − λ, 0) (sparsifies a learned long kernel)."""
    return torch.sign(k) * F.relu(k.abs() - lam)


def smooth(k: torch.Tensor, width: int) -> torch.Tensor:
    """Moving average over the last axis with an odd ``width`` ("same" length; zero padding)."""
    if width <= 1:
        return k
    shape = k.shape
    flat = k.reshape(-1, 1, shape[-1])
    return F.avg_pool1d(flat, width, stride=1, padding=width // 2, count_include_pad=True).reshape(shape)


class LongConv(nn.Module):
    """FlashButterfly long convolution with a directly learned kernel kept smooth by squashing (and smoothing).

        k̃ = smooth_p(squash_λ(K)),    y = k̃ ⋆ u + D ⊙ u         (``hyperkernels.fftconv``; causal by default)

    K has one kernel of the sequence's length per channel; D is a per-channel skip.
    """

    def __init__(self, channels: int, length: int, *, causal: bool = True, squash_lambda: float = 1e-3,
                 smooth_width: int = 1, dims: int = 1):
        super().__init__()
        if smooth_width < 1 or smooth_width % 2 == 0:
            raise ValueError(f"LongConv: smooth_width must be a positive odd int, got {smooth_width}")
        if squash_lambda < 0:
            raise ValueError(f"LongConv: squash_lambda must be >= 0, got {squash_lambda}")
        self.size = _size_tuple(length, dims, "LongConv length")
        self.channels, self.causal, self.dims = channels, causal, dims
        self.squash_lambda, self.smooth_width = squash_lambda, smooth_width
        taps = math.prod(self.size)
        self.kernel = nn.Parameter(torch.randn(channels, *self.size) / math.sqrt(taps))
        self.skip = nn.Parameter(torch.randn(channels))

    def effective_kernel(self) -> torch.Tensor:
        return smooth(squash(self.kernel, self.squash_lambda), self.smooth_width)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        _check_input("LongConv", u, self.dims, self.channels, self.size)
        y = _op("fftconv")(u, self.effective_kernel().to(u.dtype), causal=self.causal)
        return y + self.skip.view(-1, *([1] * self.dims)) * u


# --------------------------------------------------------------------------------------------------- large kernels


class _DepthwiseConv(nn.Module):
    """Depthwise conv through ``hyperkernels.dwconv`` ("same" padding), initialised like ``nn.Conv2d``."""

    def __init__(self, channels: int, kernel_size: Sequence[int], dilation: int = 1, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, *kernel_size))
        bound = 1 / math.sqrt(math.prod(kernel_size))
        nn.init.uniform_(self.weight, -bound, bound)
        self.register_parameter("bias", nn.Parameter(torch.empty(channels).uniform_(-bound, bound)) if bias else None)
        self.dilation = dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _op("dwconv")(x, self.weight, self.bias, dilation=self.dilation)


class InceptionDWConv2d(nn.Module):
    """InceptionNeXt token mixer: a channel split into identity, k×k, 1×b and b×1 depthwise branches.

        g = int(C · r);  X = [X_id (C − 3g), X_hw (g), X_w (g), X_h (g)]
        Y = concat[X_id, DW_{k×k}(X_hw), DW_{1×b}(X_w), DW_{b×1}(X_h)]
    Parameters: g(k² + 1) + 2 g(b + 1) (with biases).
    """

    def __init__(self, channels: int, square_kernel: int = 3, band_kernel: int = 11, branch_ratio: float = 0.125):
        super().__init__()
        g = int(channels * branch_ratio)
        if g < 1 or 3 * g > channels:
            raise ValueError(f"InceptionDWConv2d: branch_ratio {branch_ratio} gives {g} channels per branch for "
                             f"{channels} channels; need 1 <= int(C·r) <= C/3")
        self.split = (channels - 3 * g, g, g, g)
        self.dw_hw = _DepthwiseConv(g, (square_kernel, square_kernel))
        self.dw_w = _DepthwiseConv(g, (1, band_kernel))
        self.dw_h = _DepthwiseConv(g, (band_kernel, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_id, x_hw, x_w, x_h = torch.split(x, self.split, dim=1)
        return torch.cat([x_id, self.dw_hw(x_hw), self.dw_w(x_w), self.dw_h(x_h)], dim=1)


# UniRepLKNet's branch tables: large kernel -> (small kernel sizes, their dilations)
DILATED_BRANCHES = {
    5: ((3, 3), (1, 2)),
    7: ((5, 3, 3), (1, 2, 3)),
    9: ((5, 5, 3, 3), (1, 2, 3, 4)),
    11: ((5, 5, 3, 3, 3), (1, 2, 3, 4, 5)),
    13: ((5, 7, 3, 3, 3), (1, 2, 3, 4, 5)),
    15: ((5, 7, 3, 3, 3), (1, 2, 3, 5, 7)),
    17: ((5, 9, 3, 3, 3), (1, 2, 4, 5, 7)),
}


def _fuse_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv followed by eval-mode BN as one conv: w' = w γ/σ, b' = β + (b − μ) γ/σ, σ = sqrt(var + eps)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return weight * scale.view(-1, *([1] * (weight.dim() - 1))), bn.bias + (b - bn.running_mean) * scale


def dilate_kernel(k: torch.Tensor, dilation: int) -> torch.Tensor:
    """The dense kernel of a dilated one: size d(K−1)+1 per axis, taps at multiples of d, zeros between."""
    if dilation == 1:
        return k
    dims = k.dim() - 1
    size = [dilation * (s - 1) + 1 for s in k.shape[1:]]
    out = k.new_zeros(k.shape[0], *size)
    out[(slice(None), *([slice(None, None, dilation)] * dims))] = k
    return out


def _pad_to(k: torch.Tensor, size: int) -> torch.Tensor:
    pad = []
    for s in reversed(k.shape[1:]):
        pad += [(size - s) // 2, (size - s) - (size - s) // 2]
    return F.pad(k, pad)


class DilatedReparamConv(nn.Module):
    """UniRepLKNet's dilated re-parameterised large-kernel depthwise conv (RepLKNet's large+small kernel when the
    table has one dilation-1 branch).

        train:  y = BN_0(DW_K(x)) + Σ_i BN_i(DW_{k_i, dilation r_i}(x))
        merged: y = DW_K(x; W) + b,  W = W̄_0 + Σ_i pad_K(dilate_{r_i}(W̄_i)),  b = Σ b̄_i
    where W̄, b̄ are each branch with its eval-mode batch norm folded in. :meth:`reparameterize` switches to the
    merged single kernel (inference); outputs are equal in eval mode (up to float rounding).
    """

    def __init__(self, channels: int, kernel_size: int = 7, *, dims: int = 2,
                 branches: Sequence[tuple[int, int]] | None = None):
        super().__init__()
        if branches is None:
            if kernel_size not in DILATED_BRANCHES:
                raise ValueError(f"DilatedReparamConv: no default branches for kernel_size {kernel_size}; "
                                 f"choose one of {sorted(DILATED_BRANCHES)} or pass branches=[(k, r), ...]")
            branches = list(zip(*DILATED_BRANCHES[kernel_size]))
        for k, r in branches:
            if r * (k - 1) + 1 > kernel_size or k % 2 == 0:
                raise ValueError(f"DilatedReparamConv: branch kernel {k} (odd) with dilation {r} spans "
                                 f"{r * (k - 1) + 1} > kernel_size {kernel_size}")
        if kernel_size % 2 == 0:
            raise ValueError(f"DilatedReparamConv: kernel_size must be odd, got {kernel_size}")
        self.dims, self.kernel_size, self.branches = dims, kernel_size, [tuple(b) for b in branches]
        bn = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.large = _DepthwiseConv(channels, (kernel_size,) * dims, bias=False)
        self.large_bn = bn(channels)
        self.small = nn.ModuleList(_DepthwiseConv(channels, (k,) * dims, r, bias=False) for k, r in self.branches)
        self.small_bn = nn.ModuleList(bn(channels) for _ in self.branches)
        self.merged: _DepthwiseConv | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged is not None:
            return self.merged(x)
        y = self.large_bn(self.large(x))
        for conv, bn in zip(self.small, self.small_bn):
            y = y + bn(conv(x))
        return y

    @torch.no_grad()
    def merged_kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W, b) of the single equivalent large kernel (uses the batch norms' running statistics)."""
        w, b = _fuse_bn(self.large.weight, None, self.large_bn)
        for conv, bn in zip(self.small, self.small_bn):
            wi, bi = _fuse_bn(conv.weight, None, bn)
            w = w + _pad_to(dilate_kernel(wi, conv.dilation), self.kernel_size)
            b = b + bi
        return w, b

    def reparameterize(self) -> DilatedReparamConv:
        """Replace the branches by the merged large kernel (for inference); returns self."""
        if self.merged is None:
            w, b = self.merged_kernel()
            merged = _DepthwiseConv(w.shape[0], tuple(w.shape[1:])).to(w.device, w.dtype)
            merged.weight.data.copy_(w)
            merged.bias.data.copy_(b)
            self.merged = merged
            del self.large, self.large_bn, self.small, self.small_bn
        return self


# --------------------------------------------------------------------------------------------------- compressed convs


class _MaterialisedConv(nn.Module):
    """A drop-in for ``nn.Conv1d/2d`` whose weight is built from factors; ``weight`` is the dense kernel."""

    dims: int

    def _setup(self, in_channels: int, out_channels: int, kernel_size, stride, padding, dilation, bias: bool):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _size_tuple(kernel_size, self.dims, "kernel_size")
        self.stride, self.padding, self.dilation = stride, padding, dilation
        fan_in = in_channels * math.prod(self.kernel_size)
        self.register_parameter(
            "bias", nn.Parameter(torch.empty(out_channels).uniform_(-1, 1) / math.sqrt(fan_in)) if bias else None)

    @property
    def weight(self) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(type(self).__name__, x, self.dims, self.in_channels)
        conv = F.conv1d if self.dims == 1 else F.conv2d
        return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


class _OneWayConv(_MaterialisedConv):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True, *, rank: int = 1):
        super().__init__()
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, bias)
        if rank < 1:
            raise ValueError(f"{type(self).__name__}: rank must be >= 1, got {rank}")
        self.rank = rank
        # one-way filters per output channel: channel filter c, and one spatial filter per axis
        fan_in = in_channels * math.prod(self.kernel_size)
        scale = (3.0 / fan_in) ** (1.0 / (2 * (self.dims + 1))) / rank ** (1.0 / (2 * (self.dims + 1)))
        self.channel = nn.Parameter(torch.empty(rank, out_channels, in_channels).uniform_(-1, 1) * scale)
        self.spatial = nn.ParameterList(
            nn.Parameter(torch.empty(rank, out_channels, k).uniform_(-1, 1) * scale) for k in self.kernel_size)

    @property
    def weight(self) -> torch.Tensor:
        """W[o, c, i(, j)] = Σ_r g[r, o, c] a[r, o, i] (b[r, o, j])."""
        if self.dims == 1:
            return torch.einsum("roc,roi->oci", self.channel, self.spatial[0])
        return torch.einsum("roc,roi,roj->ocij", self.channel, self.spatial[0], self.spatial[1])


class OneWayConv1d(_OneWayConv):
    """``nn.Conv1d`` whose 2-way kernel (C_in × K) per output channel is a sum of ``rank`` products of one-way filters:

        W[o, c, i] = Σ_r g_r[o, c] a_r[o, i]            parameters: rank · C_out (C_in + K) (+ bias)
    """

    dims = 1


class OneWayConv2d(_OneWayConv):
    """``nn.Conv2d`` whose 3-way kernel (C_in × K_h × K_w) per output channel is a sum of ``rank`` products of
    one-way filters (a priori compression, Boukraichi et al.):

        W[o, c, i, j] = Σ_r g_r[o, c] a_r[o, i] b_r[o, j]   parameters: rank · C_out (C_in + K_h + K_w) (+ bias)
    """

    dims = 2


class _PHConv(_MaterialisedConv):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True, *, n: int = 4):
        super().__init__()
        if n < 1 or in_channels % n or out_channels % n:
            raise ValueError(f"{type(self).__name__}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by n ({n})")
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, bias)
        self.n = n
        self.A = nn.Parameter(torch.empty(n, n, n))
        nn.init.xavier_uniform_(self.A)
        self.F = nn.Parameter(torch.empty(n, out_channels // n, in_channels // n, *self.kernel_size))
        bound = math.sqrt(6.0 / (in_channels * math.prod(self.kernel_size) / n + out_channels / n)) / n
        nn.init.uniform_(self.F, -bound, bound)

    @property
    def weight(self) -> torch.Tensor:
        """W = Σ_i A_i ⊗ F_i (Kronecker product over the (out, in) channel axes)."""
        n, (o, c) = self.n, self.F.shape[1:3]
        w = torch.einsum("iab,ipq...->apbq...", self.A, self.F)
        return w.reshape(n * o, n * c, *self.kernel_size)


class PHConv1d(_PHConv):
    """Parameterised hypercomplex 1D convolution: W = Σ_{i=1}^{n} A_i ⊗ F_i, A_i ∈ R^{n×n},
    F_i ∈ R^{C_out/n × C_in/n × K}. Parameters n³ + C_out C_in K / n (+ bias): about 1/n of ``nn.Conv1d``'s."""

    dims = 1


class PHConv2d(_PHConv):
    """Parameterised hypercomplex 2D convolution (PHNNs): W = Σ_{i=1}^{n} A_i ⊗ F_i; n = 4 with A fixed to the
    Hamilton-product matrices is the quaternion convolution. About 1/n of ``nn.Conv2d``'s parameters."""

    dims = 2
