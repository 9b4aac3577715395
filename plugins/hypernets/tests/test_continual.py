"""Continual learning: IBP soundness through hypernetwork + target, the universal embedding, the non-forgetting
guarantee under the regulariser, the von Oswald regulariser's closed form, task inference, and core.run."""

import math

import pytest
import torch

from hyperzoo import core
from hyperzoo.hypernets import HyperIntervalNet, HypernetCL, interval_sequential


def small(cls=HyperIntervalNet, **kw):
    args = dict(in_features=12, num_classes=4, num_tasks=3, width=8, depth=1, embedding_width=5, hyper_width=10,
                hyper_depth=1)
    return cls(**{**args, **kw}).double()


def test_ibp_contains_every_sampled_network_output():
    torch.manual_seed(1)
    m = small(radius=0.5)
    x = torch.randn(6, 12, dtype=torch.float64)
    w_mid, w_rad = m.weight_box(1)
    lo, hi = w_mid - w_rad, w_mid + w_rad
    z_mid, z_lo, z_hi = m.centers(2)[1], *(t[1] for t in m.boxes(2))
    logit_mid, logit_rad = m.logit_box(x, w_mid, w_rad)
    for _ in range(300):
        z = z_lo + (z_hi - z_lo) * torch.rand_like(z_mid)
        theta = m.generator(z)
        assert bool(((theta >= lo - 1e-12) & (theta <= hi + 1e-12)).all())        # hypernetwork IBP
        out = m.target(theta, x)
        assert bool(((out >= logit_mid - logit_rad - 1e-10) & (out <= logit_mid + logit_rad + 1e-10)).all())
    # the box at the centre alone is the point network
    zero = m.weight_box(z_mid=z_mid, z_rad=torch.zeros_like(z_mid))
    torch.testing.assert_close(zero[0], m.generator(z_mid), rtol=1e-12, atol=1e-12)
    assert float(zero[1].detach().abs().max()) == 0.0


def test_width_shrinks_to_zero_with_the_box():
    m = small(radius=0.5)
    x = torch.randn(4, 12, dtype=torch.float64)
    widths = []
    for s in (1.0, 0.1, 0.01, 0.0):
        _, rad = m.logit_box(x, *m.weight_box(0, scale=s))
        widths.append(float(rad.max()))
    assert widths[0] > widths[1] > widths[2] > widths[3] == 0.0
    assert widths[2] < 0.05 * widths[0]


def test_interval_sequential_rejects_unknown_layers():
    with pytest.raises(NotImplementedError, match="does not know layer '0' \\(Conv1d\\)"):
        interval_sequential(torch.nn.Sequential(torch.nn.Conv1d(1, 1, 1)), torch.zeros(1, 1), torch.zeros(1, 1))


def _train(m, t, x, y, steps, lr=0.02):
    m.train()
    m.begin_task(t)
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=lr)
    ids = torch.full((len(x),), t)
    for _ in range(steps):
        if hasattr(m, "continual_loss"):       # what core's protocol calls: the label-aware loss
            loss = m.continual_loss(x, y, ids, None)[1]
        else:
            loss = torch.nn.functional.cross_entropy(m(x, ids), y)
        loss = loss + sum(m.auxiliary_losses().values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.end_task(t, x, y)


def _sequence(seed=0, n=3):
    g = torch.Generator().manual_seed(seed)
    data = []
    for _ in range(n):
        x = torch.randn(40, 12, generator=g, dtype=torch.float64)
        w = torch.randn(12, 4, generator=g, dtype=torch.float64)
        data.append((x, (x @ w).argmax(-1)))
    return data


def test_universal_embedding_lies_in_every_box_and_its_weights_in_every_weight_box():
    torch.manual_seed(0)
    m = small(radius=0.5, warmup_steps=0, nesting=True)
    for t, (x, y) in enumerate(_sequence()):
        _train(m, t, x, y, 15)
    assert m.boxes_intersect()
    u = m.universal_embedding()
    lo, hi = m.boxes()
    assert bool(((u >= lo) & (u <= hi)).all()) and lo.shape == (3, 5)
    theta = m.generator(u)
    for t in range(3):
        mid, rad = m.weight_box(t)
        assert bool(((theta >= mid - rad - 1e-12) & (theta <= mid + rad + 1e-12)).all())
    assert m(torch.randn(3, 12, dtype=torch.float64)).shape == (3, 4)        # no task id: universal network


def _conflicting_accuracies(nesting, steps=150):
    """Two tasks on the same inputs with shifted labels (no single network serves both, as on permuted digits):
    each task's accuracy with its own centre network after both are learned."""
    x, y = _sequence()[0]
    y1 = (y + 1) % 4
    torch.manual_seed(0)
    m = small(radius=0.05, warmup_steps=0, regularizer_weight=1.0, nesting=nesting)
    _train(m, 0, x, y, steps)
    _train(m, 1, x, y1, steps)
    m.eval()
    with torch.no_grad():
        return m, [float((m(x, t).argmax(-1) == yy).float().mean()) for t, yy in ((0, y), (1, y1))]


def test_free_centres_keep_conflicting_tasks_apart_nested_boxes_share_one_network():
    """The paper's task-incremental HyperInterval (free centres e_t, boxes e_t ± ε·softmax(ρ_t)) learns both
    conflicting tasks; with nested boxes (|e_t| < r_t, all containing 0) the centres differ by < 2ε, the networks
    are nearly one, and the two accuracies (which sum to <= 1 for any single network) cannot both be high."""
    m, free = _conflicting_accuracies(False)
    assert min(free) > 0.9, free
    assert float((m.centers(2)[0] - m.centers(2)[1]).detach().abs().max()) > 2 * m.radius
    m, nested = _conflicting_accuracies(True)
    assert float((m.centers(2)[0] - m.centers(2)[1]).detach().abs().max()) < 2 * m.radius
    assert sum(nested) < 1.3, nested


def test_free_boxes_without_a_common_point_have_no_universal_network():
    m, _ = _conflicting_accuracies(False, steps=5)
    assert not m.boxes_intersect()
    x, y = _sequence()[0]
    with pytest.raises(RuntimeError, match="nesting=True"):
        m(x)
    cert = m.certify(x, y, 0)
    assert math.isnan(cert["universal_accuracy"]) and 0 <= cert["certified_accuracy"] <= 1
    with pytest.raises(ValueError, match="nesting must be True or False"):
        small(nesting="yes")


@pytest.mark.parametrize("beta, keeps", [(50.0, True), (0.0, False)])
def test_the_guarantee_holds_after_the_last_task_only_with_the_regulariser(beta, keeps):
    """Old tasks' worst-case predictions (IBP logit boxes of task 0) stay put while later tasks are learned."""
    torch.manual_seed(0)
    m = small(radius=0.3, warmup_steps=0, regularizer_weight=beta)
    seq = _sequence(1)
    _train(m, 0, *seq[0], 40)
    x0, y0 = seq[0]
    m.eval()
    before = m.logit_box(x0, *m.weight_box(0))
    cert_before = m.certify(x0, y0, 0)["certified_accuracy"]
    for t in (1, 2):
        _train(m, t, *seq[t], 40)
    m.eval()
    after = m.logit_box(x0, *m.weight_box(0))
    drift = max(float((a - b).abs().max()) for a, b in zip(after, before))
    scale = float(before[0].abs().max())
    if keeps:
        assert drift < 0.05 * scale
        assert m.certify(x0, y0, 0)["certified_accuracy"] >= cert_before - 0.05
    else:
        assert drift > 0.2 * scale


def test_hyperinterval_regulariser_keeps_the_ibp_bounds_of_earlier_boxes():
    """β · mean_s Σ_{lo, mid, hi} ‖θ_·,s − θ*_·,s‖² / 3 with (θ_lo, θ_mid, θ_hi) the IBP weight box of task s."""
    torch.manual_seed(0)
    m = small(radius=0.5, warmup_steps=0, regularizer_weight=0.7, nesting=True)
    seq = _sequence()
    _train(m, 0, *seq[0], 3)
    _train(m, 1, *seq[1], 3)
    stored = []
    for s_ in (0, 1):
        mid, rad = m.weight_box(s_)
        stored.append(torch.stack([mid - rad, mid, mid + rad]).detach())
    torch.testing.assert_close(m.stored_bounds, torch.stack(stored), rtol=1e-12, atol=1e-12)
    m.begin_task(2)
    with torch.no_grad():
        for p in m.generator.parameters():
            p.add_(0.01 * torch.randn_like(p))
    want = 0.0
    for s_ in (0, 1):
        mid, rad = m.weight_box(s_)
        now = torch.stack([mid - rad, mid, mid + rad])
        want += float((now - stored[s_]).square().sum()) / 3
    m.train()
    assert float(m.auxiliary_losses()["hnet_reg"]) == pytest.approx(0.7 * want / 2, rel=1e-10)
    # free centres: the same closed form on their boxes
    m.nesting = False
    want = sum(float((torch.stack([mid - rad, mid, mid + rad]) - stored[s_]).square().sum()) / 3
               for s_, (mid, rad) in ((0, m.weight_box(0)), (1, m.weight_box(1))))
    assert float(m.auxiliary_losses()["hnet_reg"]) == pytest.approx(0.7 * want / 2, rel=1e-10)


def test_continual_loss_is_the_papers_worst_case_loss_with_the_labels():
    """κ·CE(z_mid, y) + (1−κ)·CE(z_worst(y), y) over the task box (core's label-aware hook), classes outside
    ``allowed`` masked; the half-widths and 1−κ ramp over warmup_steps; interval_loss is the post-warm-up loss."""
    torch.manual_seed(0)
    m = small(radius=0.5, warmup_steps=4, worst_case_weight=0.5).train()
    x, y = _sequence()[0]
    y = y % 2                                        # classes {0, 1} of a split-style sub-task
    ids = torch.zeros(len(x), dtype=torch.long)
    allowed = torch.zeros(len(x), 4, dtype=torch.bool)
    allowed[:, :2] = True
    F = torch.nn.functional
    for step in range(6):
        ramp = min(1.0, step / 4)
        mid, rad = m.logit_box(x, *m.weight_box(0, scale=ramp))
        worst = torch.where(F.one_hot(y, 4).bool(), mid - rad, mid + rad)
        mask = lambda z: z.masked_fill(~allowed, -math.inf)  # noqa: E731
        kappa = 1 - 0.5 * ramp
        want = kappa * F.cross_entropy(mask(mid), y) + (1 - kappa) * F.cross_entropy(mask(worst), y)
        out, loss = m.continual_loss(x, y, ids, allowed)
        assert float(loss) == pytest.approx(float(want), rel=1e-10)
        torch.testing.assert_close(out, mask(mid))
    assert int(m.steps) == 6 and m.ramp() == 1.0
    assert float(m.interval_loss(x, y, 0, allowed)) == pytest.approx(float(want), rel=1e-10)
    # the worst case is taken at the true label, not at the model's own prediction
    pred = mid.detach().masked_fill(~allowed, -math.inf).argmax(-1)
    assert bool((pred != y).any())
    pseudo = F.cross_entropy(mask(torch.where(F.one_hot(pred, 4).bool(), mid - rad, mid + rad)), pred)
    assert abs(float(pseudo) - float(F.cross_entropy(mask(worst), y))) > 1e-3
    # several sub-tasks in one batch: each example's own box
    mixed = torch.tensor([0, 1] * 20)
    _, loss = m.continual_loss(x, y, mixed, None)
    per = [m.interval_loss(x[mixed == t], y[mixed == t], t) * (mixed == t).sum() for t in (0, 1)]
    assert float(loss) == pytest.approx(float(sum(per) / len(x)), rel=1e-10)


def test_paper_schedule_is_the_authors_kappa_and_box_ramp():
    """kappa_schedule="paper" (the authors' train_non_forced_classification_scenario.py, W = warmup_steps): at step
    s < W the box is scaled by s/(W − 1) and κ_s = max(1 − 5e-5·s, κ); from W on the full box and κ. The loss of
    every step is κ_s·CE(z_mid, y) + (1 − κ_s)·CE(z_worst(y), y) on that box."""
    torch.manual_seed(0)
    w = 5
    m = small(radius=0.5, warmup_steps=w, worst_case_weight=0.5, kappa_schedule="paper").train()
    x, y = _sequence()[0]
    ids = torch.zeros(len(x), dtype=torch.long)
    F = torch.nn.functional
    kappas = []
    for step in range(w + 3):
        scale = step / (w - 1) if step < w else 1.0
        kappa = max(1 - 5e-5 * step, 0.5) if step < w else 0.5
        mid, rad = m.logit_box(x, *m.weight_box(0, scale=scale))
        worst = torch.where(F.one_hot(y, 4).bool(), mid - rad, mid + rad)
        want = kappa * F.cross_entropy(mid, y) + (1 - kappa) * F.cross_entropy(worst, y)
        kappas.append(m.kappa())
        assert m.ramp() == pytest.approx(scale, rel=1e-12)
        _, loss = m.continual_loss(x, y, ids, None)
        assert float(loss.detach()) == pytest.approx(float(want.detach()), rel=1e-10)
    # the full box is reached at step W − 1 with κ still near 1, then κ drops to 1 − worst_case_weight at once
    assert kappas[w - 1] == pytest.approx(1 - 5e-5 * (w - 1)) and kappas[w] == 0.5
    linear = small(radius=0.5, warmup_steps=w, worst_case_weight=0.5)
    linear.steps.fill_(w - 1)
    assert linear.kappa() == pytest.approx(1 - 0.5 * (w - 1) / w) and linear.kappa() < kappas[w - 1] - 0.3
    # a long warm-up: κ falls by 5e-5 a step until the floor
    long = small(worst_case_weight=0.5, warmup_steps=20000, kappa_schedule="paper")
    long.steps.fill_(4000)
    assert long.kappa() == pytest.approx(0.8) and long.ramp() == pytest.approx(4000 / 19999)
    long.steps.fill_(15000)
    assert long.kappa() == 0.5
    m.begin_task(1)                                   # each sub-task starts its own schedule
    assert int(m.steps) == 0 and m.kappa() == 1.0 and m.ramp() == 0.0
    with pytest.raises(ValueError, match="kappa_schedule must be 'linear'"):
        small(kappa_schedule="cosine")


def test_hypernet_regulariser_is_the_closed_form_and_batches_earlier_tasks():
    torch.manual_seed(0)
    m = small(HypernetCL, regularizer_weight=0.3)
    seq = _sequence()
    _train(m, 0, *seq[0], 5)
    _train(m, 1, *seq[1], 5)
    m.begin_task(2)
    with torch.no_grad():
        for p in m.generator.parameters():
            p.add_(0.01 * torch.randn_like(p))
    want = 0.3 * sum(float((m.generator(m.task_embeddings[s]) - m.stored[s]).square().sum()) for s in (0, 1)) / 2
    m.train()
    assert float(m.auxiliary_losses()["hnet_reg"]) == pytest.approx(want, rel=1e-10)
    # the training forward computes it in the same generator call as the current task's weights: same value, same
    # gradients as the two separate calls
    x = torch.randn(5, 12, dtype=torch.float64)
    loss = m(x, 2).square().sum() + m.auxiliary_losses()["hnet_reg"]
    fused = torch.autograd.grad(loss, list(m.generator.parameters()))
    assert m._reg is None
    loss = m.target(m.weights(2), x).square().sum() + m.regularizer()
    separate = torch.autograd.grad(loss, list(m.generator.parameters()))
    for a, b in zip(fused, separate):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    m.begin_task(0)
    assert m.auxiliary_losses() == {}              # nothing to keep while learning the first task


def test_task_inference_picks_the_most_confident_learned_network():
    torch.manual_seed(0)
    m = small(HypernetCL)
    seq = _sequence()
    for t in range(3):
        _train(m, t, *seq[t], 30)
    m.eval()
    x = torch.randn(7, 12, dtype=torch.float64)
    outs = torch.stack([m(x, t) for t in range(3)])
    logp = torch.log_softmax(outs, -1)
    best = (-(logp.exp() * logp).sum(-1)).argmin(0)
    torch.testing.assert_close(m(x), outs[best, torch.arange(7)])
    mixed = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    torch.testing.assert_close(m(x, mixed), outs[mixed, torch.arange(7)])


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"task_id must be an int in \[0, 3\)"):
        small(HypernetCL)(torch.zeros(2, 12, dtype=torch.float64), 3)
    with pytest.raises(ValueError, match="radius must be a finite number > 0"):
        small(radius=-1.0)
    with pytest.raises(ValueError, match="worst_case_weight must be in"):
        small(worst_case_weight=1.0)
    with pytest.raises(ValueError, match="one id per example"):
        small(HypernetCL)(torch.zeros(2, 12, dtype=torch.float64), torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("name", ["hypernet-cl", "rnn-hypernet-cl", "hyperinterval"])
def test_models_learn_split_digits_through_core_run(name):
    small_cfg = dict(width=32, embedding_width=8, hyper_width=32, epochs=2)
    if name == "rnn-hypernet-cl":
        small_cfg.update(chunk_size=512)
    if name == "hyperinterval":
        small_cfg.update(warmup_steps=5)
    result = core.run("split-digits", name, seed=0, **small_cfg)
    m = result.metrics
    assert m["test_average_accuracy"] > 0.7                    # chance is 0.5 within a sub-task's two classes
    assert math.isfinite(m["test_backward_transfer"])
    assert len([r for r in result.history if "accuracy_row" in r]) == 5
    if name == "hyperinterval":   # trained through core's label-aware hook: one curriculum step per batch (the
        # counter is a buffer, so it comes back with the weights of the best epoch: one or two epochs' worth)
        batches = -(-len(core.get_task("split-digits").subtask(4).splits()["train"]) // 32)
        assert int(result.model.steps) in (batches, 2 * batches)
