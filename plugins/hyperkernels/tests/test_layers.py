"""Layers: slow net, HyperZZW gradients, long convs, re-parameterisation, Inception split, compressed convs."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo.hyperkernels import (
    DilatedReparamConv,
    GroupIBS,
    HyperZZW,
    InceptionDWConv2d,
    LongConv,
    OneWayConv1d,
    OneWayConv2d,
    PHConv1d,
    PHConv2d,
    SlowNet,
    coordinate_grid,
    dilate_kernel,
    fftconv,
    smooth,
    squash,
)


def test_slow_net_generates_kernels_of_any_size_from_coordinates():
    grid = coordinate_grid([5, 3])
    assert grid.shape == (2, 5, 3)
    assert grid.min() == -1 and grid.max() == 1
    torch.testing.assert_close(grid[0, :, 0], torch.linspace(-1, 1, 5))
    for size, dims in ((7, 1), (784, 1), ((8, 6), 2)):
        net = SlowNet(4, size, dims=dims, hidden=8, depth=2)
        w = net()
        assert w.shape == (4, *((size,) if dims == 1 else size))
    # the kernel is a function of the coordinates: same parameters on a finer grid give a finer sampling
    coarse, fine = SlowNet(2, 5), SlowNet(2, 9)
    fine.load_state_dict(coarse.state_dict())
    with torch.no_grad():
        fine.out.weight.copy_(coarse.out.weight)  # both scaled by 1/sqrt(taps) at init; compare the raw function
    torch.testing.assert_close(fine()[:, ::2], coarse(), rtol=1e-5, atol=1e-6)


def test_slow_net_equation():
    net = SlowNet(3, 6, hidden=4, depth=2).double()
    x = torch.linspace(-1, 1, 6, dtype=torch.float64)[:, None]
    u = torch.sin(net.filters[0](x))
    for filt, lin in zip(net.filters[1:], net.linears):
        u = torch.sin(filt(x)) * lin(u)
    torch.testing.assert_close(net(), net.out(u).T)


@pytest.mark.parametrize("size", [6, 3])
def test_hyperzzw_gradcheck_through_inputs_and_slow_net(size):
    layer = HyperZZW(2, size, hidden=3, depth=1).double()
    names = [n for n, _ in layer.named_parameters()]
    z = torch.randn(2, 2, 6, dtype=torch.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]

    def f(z, *ps):
        return torch.func.functional_call(layer, dict(zip(names, ps)), (z,))

    assert torch.autograd.gradcheck(f, (z, *params))
    assert torch.autograd.gradcheck(lambda z, v: layer(z, v), (z, torch.randn_like(z).requires_grad_()))


def test_group_ibs_standardises_groups_and_is_batch_independent_in_eval():
    norm = GroupIBS(8, groups=4)
    x = torch.randn(16, 8, 30) * 3 + 2
    y = norm(x)
    batch, inst = [0, 1, 4, 5], [2, 3, 6, 7]
    torch.testing.assert_close(y[:, batch].mean((0, 2)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(y[:, inst].mean(2), torch.zeros(16, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(y[:, inst].var(2, unbiased=False), torch.ones(16, 4), atol=1e-3, rtol=0)
    assert not any(p.requires_grad for p in norm.parameters())  # no affine parameters
    norm.eval()
    torch.testing.assert_close(norm(x[:3]), norm(x)[:3])
    with pytest.raises(ValueError, match="divisible"):
        GroupIBS(10, groups=4)


def test_squash_and_smooth_closed_forms():
    k = torch.tensor([[-2.0, -0.5, 0.0, 0.3, 1.5]])
    torch.testing.assert_close(squash(k, 0.4), torch.tensor([[-1.6, -0.1, 0.0, 0.0, 1.1]]))
    torch.testing.assert_close(smooth(k, 3), torch.tensor([[-2.5, -2.5, -0.2, 1.8, 1.8]]) / 3)
    torch.testing.assert_close(smooth(k, 1), k)


def test_long_conv_is_a_causal_fft_convolution_with_skip():
    layer = LongConv(3, 20, squash_lambda=0.05, smooth_width=3).double()
    u = torch.randn(2, 3, 20, dtype=torch.float64)
    k = smooth(squash(layer.kernel, 0.05), 3)
    want = F.conv1d(F.pad(u, (19, 0)), k.flip(-1)[:, None], groups=3) + layer.skip[:, None] * u
    torch.testing.assert_close(layer(u), want, rtol=0, atol=1e-10)
    assert (squash(layer.kernel, 0.05) == 0).any()  # squashing sparsifies
    with pytest.raises(ValueError, match="size"):
        layer(torch.randn(2, 3, 21, dtype=torch.float64))
    with pytest.raises(ValueError, match="odd"):
        LongConv(3, 20, smooth_width=2)


def test_dilate_kernel_is_the_dense_form_of_a_dilated_conv():
    k = torch.randn(3, 3, 3, dtype=torch.float64)
    x = torch.randn(1, 3, 12, 12, dtype=torch.float64)
    dense = dilate_kernel(k, 3)
    assert dense.shape == (3, 7, 7)
    torch.testing.assert_close(F.conv2d(x, dense[:, None], padding=3, groups=3),
                               F.conv2d(x, k[:, None], padding=3, dilation=3, groups=3))


@pytest.mark.parametrize("kernel_size", [5, 7, 9, 13])
@pytest.mark.parametrize("dims", [1, 2])
def test_reparameterised_block_equals_the_multi_branch_block(kernel_size, dims):
    layer = DilatedReparamConv(6, kernel_size, dims=dims).double()
    for bn in [layer.large_bn, *layer.small_bn]:  # non-trivial batch-norm statistics and affine parameters
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-1, 1)
    layer.eval()
    x = torch.randn(2, 6, *((23,) if dims == 1 else (11, 10)), dtype=torch.float64)
    before = layer(x)
    layer.reparameterize()
    assert layer.merged is not None and layer.merged.weight.shape == (6, *(kernel_size,) * dims)
    assert sum(p.numel() for p in layer.parameters()) == 6 * kernel_size**dims + 6
    torch.testing.assert_close(layer(x), before, rtol=0, atol=1e-10)


def test_reparam_rejects_branches_wider_than_the_kernel():
    with pytest.raises(ValueError, match="spans"):
        DilatedReparamConv(4, 7, branches=[(5, 2)])
    with pytest.raises(ValueError, match="no default branches"):
        DilatedReparamConv(4, 21)


@pytest.mark.parametrize("channels,ratio", [(64, 0.125), (96, 0.125), (40, 0.25)])
def test_inception_split_and_parameter_count(channels, ratio):
    k, b = 3, 11
    layer = InceptionDWConv2d(channels, square_kernel=k, band_kernel=b, branch_ratio=ratio)
    g = int(channels * ratio)
    assert layer.split == (channels - 3 * g, g, g, g)
    assert sum(p.numel() for p in layer.parameters()) == g * (k * k + 1) + 2 * g * (b + 1)
    x = torch.randn(2, channels, 9, 12)
    y = layer(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y[:, :channels - 3 * g], x[:, :channels - 3 * g])  # identity branch
    band = F.conv2d(x[:, channels - 2 * g:channels - g], layer.dw_w.weight[:, None], layer.dw_w.bias,
                    padding=(0, b // 2), groups=g)
    torch.testing.assert_close(y[:, channels - 2 * g:channels - g], band, rtol=1e-5, atol=1e-5)


def test_phconv_weight_is_a_sum_of_kronecker_products():
    layer = PHConv2d(8, 12, 3, n=4, padding=1)
    want = sum(torch.kron(layer.A[i], torch.ones(1)) for i in range(4))  # shape sanity of A_i
    assert want.shape == (4, 4)
    w = layer.weight
    for i_k in range(3):
        for j_k in range(3):
            ref = sum(torch.kron(layer.A[i], layer.F[i, :, :, i_k, j_k]) for i in range(4))
            torch.testing.assert_close(w[:, :, i_k, j_k], ref)
    x = torch.randn(2, 8, 7, 7)
    torch.testing.assert_close(layer(x), F.conv2d(x, w, layer.bias, padding=1))


@pytest.mark.parametrize("n", [2, 4, 8])
def test_phconv_has_one_nth_of_the_parameters(n):
    cin, cout, k = 32, 64, 3
    real = nn.Conv2d(cin, cout, k)
    ph = PHConv2d(cin, cout, k, n=n)
    count = sum(p.numel() for p in ph.parameters())
    assert count == n**3 + cout * cin * k * k // n + cout
    real_weights = sum(p.numel() for p in real.parameters()) - cout
    assert (count - n**3 - cout) * n == real_weights
    ph1 = PHConv1d(cin, cout, 5, n=n)
    assert sum(p.numel() for p in ph1.parameters()) == n**3 + cout * cin * 5 // n + cout
    with pytest.raises(ValueError, match="divisible by n"):
        PHConv2d(6, 8, 3, n=4)


def test_phconv_with_hamilton_matrices_is_a_quaternion_convolution():
    """n = 4 with A fixed to the Hamilton-product matrices: W = [[r,-i,-j,-k],[i,r,-k,j],[j,k,r,-i],[k,-j,i,r]]."""
    layer = PHConv1d(4, 4, 3, n=4, bias=False).double()
    hamilton = torch.tensor([
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
        [[0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 0, -1], [0, 0, 1, 0]],
        [[0, 0, -1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, -1, 0, 0]],
        [[0, 0, 0, -1], [0, 0, -1, 0], [0, 1, 0, 0], [1, 0, 0, 0]]], dtype=torch.float64)
    layer.A.data.copy_(hamilton)
    r, i, j, k = layer.F[:, 0, 0]  # one quaternion filter q = r + i·i + j·j + k·k (each of length 3)
    x = torch.randn(1, 4, 10, dtype=torch.float64)  # a quaternion signal p = x0 + x1 i + x2 j + x3 k
    y = layer(x)
    conv = lambda a, b: F.conv1d(a[None, None], b[None, None])[0, 0]  # noqa: E731
    x0, x1, x2, x3 = x[0]
    want = torch.stack([conv(x0, r) - conv(x1, i) - conv(x2, j) - conv(x3, k),   # Hamilton product q ⊗ p
                        conv(x0, i) + conv(x1, r) - conv(x2, k) + conv(x3, j),
                        conv(x0, j) + conv(x1, k) + conv(x2, r) - conv(x3, i),
                        conv(x0, k) - conv(x1, j) + conv(x2, i) + conv(x3, r)])
    torch.testing.assert_close(y[0], want)


def test_one_way_conv_weight_and_parameter_count():
    layer = OneWayConv2d(6, 10, (3, 5), rank=2, padding=1, stride=2)
    w = layer.weight
    ref = sum(torch.einsum("oc,oi,oj->ocij", layer.channel[r], layer.spatial[0][r], layer.spatial[1][r])
              for r in range(2))
    torch.testing.assert_close(w, ref)
    assert sum(p.numel() for p in layer.parameters()) == 2 * 10 * (6 + 3 + 5) + 10
    x = torch.randn(2, 6, 11, 13)
    real = nn.Conv2d(6, 10, (3, 5), padding=1, stride=2)
    assert layer(x).shape == real(x).shape  # a drop-in replacement
    torch.testing.assert_close(layer(x), F.conv2d(x, w, layer.bias, stride=2, padding=1))
    w64 = layer.double().weight.detach()
    assert torch.linalg.matrix_rank(w64[0].reshape(6, 15)) == 2  # rank-2 3-way kernel per output channel
    one = OneWayConv1d(6, 10, 7, rank=1)
    assert sum(p.numel() for p in one.parameters()) == 10 * (6 + 7) + 10
    assert one(torch.randn(2, 6, 20)).shape == (2, 10, 14)
    assert torch.linalg.matrix_rank(one.double().weight[3].detach()) == 1


def test_compressed_convs_reject_bad_input():
    with pytest.raises(ValueError, match="expected 6 input channels"):
        OneWayConv2d(6, 4, 3)(torch.randn(1, 5, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        PHConv2d(8, 8, 3, n=2)(torch.randn(8, 8, 8))
    with pytest.raises(TypeError, match="floating-point"):
        OneWayConv1d(2, 2, 3)(torch.ones(1, 2, 8, dtype=torch.long))


def test_layers_match_fftconv_global_branch():
    layer = HyperZZW(3, 16).double()
    z = torch.randn(2, 3, 16, dtype=torch.float64)
    w = layer.kernel()
    torch.testing.assert_close(layer(z), fftconv(z, w * z))
    assert math.isclose(float(np.prod(w.shape)), 48)


def _gathered_group_ibs(bn, x, groups, eps=1e-5):
    """The 0.1 formulation (channels gathered by index, nn.BatchNorm + F.instance_norm): the reference."""
    c = x.shape[1]
    group = torch.arange(c) // (c // groups)
    b_idx, i_idx = torch.nonzero(group % 2 == 0).flatten(), torch.nonzero(group % 2 == 1).flatten()
    out = torch.empty_like(x)
    out[:, b_idx] = bn(x[:, b_idx])
    if len(i_idx):
        out[:, i_idx] = F.instance_norm(x[:, i_idx], eps=eps)
    return out


@pytest.mark.parametrize("groups,dims,momentum", [(2, 1, 0.1), (3, 1, None), (4, 2, 0.3), (1, 1, 0.1)])
def test_group_ibs_equals_batch_norm_and_instance_norm_on_gathered_channels(groups, dims, momentum):
    c = 12
    norm = GroupIBS(c, groups, dims=dims, momentum=momentum).double()
    bn = (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(norm.batch.num_features, momentum=momentum,
                                                          affine=False).double()
    shape = (5, c, 7) if dims == 1 else (5, c, 3, 4)
    for step in range(3):  # training: outputs, input gradients and running statistics
        x = (torch.randn(*shape, dtype=torch.float64) * (step + 1) + step).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        y, want = norm(x), _gathered_group_ibs(bn, x2, groups)
        torch.testing.assert_close(y, want)
        cot = torch.randn_like(y)
        torch.testing.assert_close(torch.autograd.grad(y, x, cot)[0], torch.autograd.grad(want, x2, cot)[0])
        torch.testing.assert_close(norm.batch.running_mean, bn.running_mean)
        torch.testing.assert_close(norm.batch.running_var, bn.running_var)
        assert norm.batch.num_batches_tracked == bn.num_batches_tracked
    norm.eval(), bn.eval()  # eval: running statistics for the batch groups (constants), instance for the others
    x = (torch.randn(*shape, dtype=torch.float64) * 3).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    y, want = norm(x), _gathered_group_ibs(bn, x2, groups)
    torch.testing.assert_close(y, want)
    cot = torch.randn_like(y)
    torch.testing.assert_close(torch.autograd.grad(y, x, cot)[0], torch.autograd.grad(want, x2, cot)[0])


def test_group_ibs_reads_channels_through_views_not_index_gathers():
    """No gather/scatter of activations by channel index (issue 11): only reductions and elementwise ops touch x."""
    from torch.profiler import ProfilerActivity, profile

    norm = GroupIBS(16, 4)
    x = torch.randn(8, 16, 50, requires_grad=True)
    for mode in ("train", "eval"):
        getattr(norm, mode)()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            norm(x).sum().backward()
        indexed = [(e.name, e.input_shapes) for e in prof.events()
                   if e.name in ("aten::index", "aten::index_put_", "aten::index_select", "aten::gather",
                                 "aten::scatter", "aten::index_add_", "aten::masked_scatter")
                   and any(len(s) == 3 for s in e.input_shapes)]
        assert not indexed, (mode, indexed)


def test_group_ibs_rejects_inputs_it_cannot_standardise():
    with pytest.raises(ValueError, match="more than one position per channel"):
        GroupIBS(4, 2)(torch.randn(3, 4, 1))
    with pytest.raises(ValueError, match="more than one value per channel"):
        GroupIBS(4, 1)(torch.randn(1, 4, 1))


def test_terminator_block_equals_its_written_out_forward(direct):
    """The block's composition, written out from its equation on small float64 inputs (training mode, then eval):
    out = GELU(GIBS(P · IN(concat[G, L_3, L_4, F, Z]))), every branch from its own definition."""
    from hyperzoo.hyperkernels import TerminatorBlock

    torch.manual_seed(3)
    block = TerminatorBlock(2, 4, 9, local_sizes=(3, 4), slow_width=5, groups=2).double()
    z = torch.randn(3, 2, 9, dtype=torch.float64) * 2 + 1

    def std(h, dims):  # (h − mean) / sqrt(biased var + 1e-5) over dims
        mean = h.mean(dims, keepdim=True)
        return (h - mean) / torch.sqrt(((h - mean) ** 2).mean(dims, keepdim=True) + 1e-5)

    def written_out(z, batch_mean=None, batch_var=None):
        zn = z.numpy()
        with torch.no_grad():
            w_g = block.global_branch.slow().numpy()
            glob = direct.conv1d(zn, w_g[None] * zn)  # κ = W ⊙ Z (global: no pooling), then κ ⋆ Z
            local = [direct.conv1d(zn, b.slow().numpy()[None] * direct.pool1d(zn, k))
                     for b, k in zip(block.local_branches, (3, 4))]
            a, a0 = block.fast.weight, block.fast.bias
            fz = torch.einsum("oc,ncl->nol", a, z) + a0[:, None]
            fast = fz[:, :2] * torch.sigmoid(fz[:, 2:])
            h = torch.cat([torch.from_numpy(glob), *map(torch.from_numpy, local), fast, z], 1)
            h = std(h, (2,))  # instance standardisation of the concatenation
            p = torch.einsum("oc,ncl->nol", block.bottleneck.weight, h) + block.bottleneck.bias[:, None]
            # G-IBS with 2 groups of 2: channels 0-1 batch-standardised, 2-3 instance-standardised
            if batch_mean is None:
                g0 = std(p[:, :2], (0, 2))
            else:
                g0 = (p[:, :2] - batch_mean[:, None]) / torch.sqrt(batch_var[:, None] + 1e-5)
            g = torch.cat([g0, std(p[:, 2:], (2,))], 1)
            return 0.5 * g * (1 + torch.erf(g / math.sqrt(2))), p  # exact GELU; dropout p = 0

    want, p = written_out(z)
    torch.testing.assert_close(block.train()(z), want, rtol=1e-10, atol=1e-10)
    # eval: the batch groups use the running statistics after that one step (momentum 0.1, unbiased variance)
    mean = 0.1 * p[:, :2].mean((0, 2))
    var = 0.9 + 0.1 * p[:, :2].transpose(0, 1).reshape(2, -1).var(1, unbiased=True)
    want_eval, _ = written_out(z, mean, var)
    torch.testing.assert_close(block.eval()(z), want_eval, rtol=1e-10, atol=1e-10)
