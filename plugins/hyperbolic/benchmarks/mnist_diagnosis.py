"""Issue 13 diagnosis of ``poincare-resnet`` on ``mnist-2d`` (short runs, no results file): a few hundred
RiemannianAdam steps at a constant lr (batch 32, widths 4-8-16, 1 thread), printing every ``--every`` steps the
loss, the logit range and std, the mean distance from the origin d(0, x) of every top-level stage's output and
the gradient norm of every parameter; then, on 1,000 test images (and a random 1,000 training images), the
accuracy in eval mode (running statistics) vs train mode (batch statistics), each batch norm's running statistics
against the batch's own, and the eval accuracy after the running statistics are re-estimated at the final weights
(cumulative average over 40 training batches).

    python plugins/hyperbolic/benchmarks/mnist_diagnosis.py --steps 120 --lr 0.01 --curvature 0.1
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--curvature", type=float, default=0.1)
    ap.add_argument("--every", type=int, default=40)
    args = ap.parse_args()

    import geoopt

    from hyperzoo import core
    from hyperzoo.hyperbolic import functional as F
    from hyperzoo.hyperbolic.layers import MidpointBatchNorm

    torch.set_num_threads(1)
    torch.manual_seed(0)
    sp = core.get_task("mnist-2d").splits()
    xtr, ytr = sp["train"].tensors
    xte, yte = sp["test"].tensors
    m = core.create_model("poincare-resnet", widths=[4, 8, 16], depths=[1, 1, 1], curvature=args.curvature)
    opt = geoopt.optim.RiemannianAdam(m.parameters(), lr=args.lr, stabilize=10)
    feats: dict[str, torch.Tensor] = {}
    for n, mod in m.named_modules():
        if n and n.count(".") <= 1 and not n.startswith("head"):
            mod.register_forward_hook(lambda mod, i, out, n=n: feats.__setitem__(n, out.detach()))
    g = torch.Generator().manual_seed(0)
    t0 = time.time()
    for s in range(args.steps):
        idx = torch.randint(0, len(xtr), (32,), generator=g)
        m.train()
        logits = m(xtr[idx])
        loss = torch.nn.functional.cross_entropy(logits, ytr[idx])
        opt.zero_grad()
        loss.backward()
        if s % args.every == 0 or s == args.steps - 1:
            missing = [n for n, p in m.named_parameters() if p.grad is None]
            grads = {n: round(float(p.grad.norm()), 4) for n, p in m.named_parameters() if p.grad is not None}
            radii = {n: round(float(F.dist0(v.movedim(1, -1), c=m.c).mean()), 3) for n, v in feats.items()}
            print(f"step {s} loss {loss.item():.3f} logit range [{logits.min().item():.2f}, {logits.max().item():.2f}]"
                  f" std {logits.std().item():.3f} ({time.time() - t0:.0f} s)")
            print("  mean d(0, x):", radii)
            print("  grad norms:", grads)
            print("  parameters without a gradient:", missing)
        opt.step()

    bns = [(n, mod) for n, mod in m.named_modules() if isinstance(mod, MidpointBatchNorm)]
    perm = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(1))[:1000]
    sets = {"test": (xte[:1000], yte[:1000]), "train": (xtr[perm], ytr[perm])}

    def acc(x, y, train_mode):
        state = {k: v.clone() for k, v in m.state_dict().items()}
        m.train(train_mode)
        with torch.no_grad():
            hit = sum(int((m(x[i:i + 250]).argmax(1) == y[i:i + 250]).sum()) for i in range(0, len(x), 250))
        m.load_state_dict(state)
        return hit / len(x)

    for name, (x, y) in sets.items():
        print(f"{name}: accuracy eval mode (running stats) {acc(x, y, False):.3f}, "
              f"train mode (batch stats, batches of 250) {acc(x, y, True):.3f}")
    inputs: dict[str, torch.Tensor] = {}
    hooks = [mod.register_forward_hook(lambda mod, i, out, n=n: inputs.__setitem__(n, i[0].detach())) for n, mod in bns]
    m.eval()
    with torch.no_grad():
        m(xte[:256])
        for n, mod in bns:
            v = inputs[n]
            flat = v.permute(0, 2, 3, 1).reshape(-1, v.shape[1])
            mu = mod._mean(flat)
            d2 = F.dist(flat, mu.reshape(1, -1), c=m.c) ** 2
            print(f"{n}: batch var {float(d2.mean()):.3f} running var {float(mod.running_var):.3f}, "
                  f"d(running mean, batch mean) {float(F.dist(mod.running_mean, mu, c=m.c)):.3f}, "
                  f"d(0, β) {float(F.dist0(torch.as_tensor(mod.bias).detach(), c=m.c)):.3f}")
    for h in hooks:
        h.remove()
    with torch.no_grad():
        m.train()
        for k in range(40):
            for _, mod in bns:
                mod.momentum = 1.0 / (k + 1)
            m(xtr[torch.randint(0, len(xtr), (32,), generator=g)])
    print(f"test: eval-mode accuracy after re-estimating the running stats at the final weights "
          f"{acc(*sets['test'], False):.3f}")


if __name__ == "__main__":
    main()
