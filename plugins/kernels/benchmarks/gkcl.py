"""Generative kernel continual learning (arXiv 2112.13410) on core's split-digits (5 sub-tasks of 2 classes),
task- and class-incremental: GKCL (generative replay supports, supervised contrastive loss, no stored example)
vs KCL with a stored memory of 20 examples per class vs fine-tuning an MLP, same trainer settings, 3 seeds.
Class-incrementally also GKCL variants (no contrastive term; a learned decoder variance s²; the linear kernel;
100 decoded supports per class, with and without the contrastive term) and, for every GKCL run, the diagnostic
"real supports": the final GKCL backbone with its generated supports swapped for 20 random real training examples
per class (separates generator quality from backbone drift).

    OMP_NUM_THREADS=1 python plugins/kernels/benchmarks/gkcl.py
"""

import numpy as np
import torch

from hyperzoo import core
from hyperzoo.core.continual import SplitDigits

MODELS = {"generative-kernel-cl (no memory)": ("generative-kernel-cl", {}),
          "kernel-cl (20 stored / class)": ("kernel-cl", {}),
          "mlp fine-tuning": ("mlp", {})}
CLASS_INCREMENTAL_VARIANTS = {
    "generative-kernel-cl, contrastive_weight 0": ("generative-kernel-cl", {"contrastive_weight": 0.0}),
    "generative-kernel-cl, decoder_variance learned": ("generative-kernel-cl", {"decoder_variance": "learned"}),
    "generative-kernel-cl, kernel linear": ("generative-kernel-cl", {"kernel": "linear"}),
    "generative-kernel-cl, samples_per_class 100": ("generative-kernel-cl", {"samples_per_class": 100}),
    "generative-kernel-cl, samples_per_class 100, contrastive_weight 0": (
        "generative-kernel-cl", {"samples_per_class": 100, "contrastive_weight": 0.0}),
}


def real_support_accuracy(model, seed: int) -> float:
    """Pooled class-incremental test accuracy of the final GKCL backbone with 20 real training examples per class
    as supports instead of the generated ones."""
    x_tr, y_tr = SplitDigits(task_identity=False).base()["train"]
    x_te, y_te = SplitDigits(task_identity=False).base()["test"]
    g = torch.Generator().manual_seed(seed)
    memory = {c: x_tr[y_tr == c][torch.randperm(int((y_tr == c).sum()), generator=g)[:20]].flatten(1)
              for c in range(10)}
    model.replay, model.memory = "memory", memory
    with torch.no_grad():
        acc = float((model(x_te).argmax(1) == y_te).float().mean())
    model.replay, model.memory = "generative", {}
    return acc


def main() -> None:
    rows, diag = [], {}
    for ti in (True, False):
        models = dict(MODELS) if ti else {**MODELS, **CLASS_INCREMENTAL_VARIANTS}
        for label, (model, kw) in models.items():
            acc, bwt, real = [], [], []
            for seed in range(3):
                r = core.run("split-digits", model, epochs=5, task_identity=ti, seed=seed, progress=False, **kw)
                acc.append(r.metrics["test_average_accuracy"])
                bwt.append(r.metrics["test_backward_transfer"])
                if model == "generative-kernel-cl" and not ti:
                    real.append(real_support_accuracy(r.model, seed))
            rows.append(("task-incremental" if ti else "class-incremental", label, np.mean(acc), np.std(acc),
                         np.mean(bwt), np.std(bwt)))
            if real:
                diag[label] = (np.mean(acc), np.std(acc), np.mean(real), np.std(real))
            print(rows[-1], diag.get(label, ""), flush=True)
    print("| protocol | model | average accuracy | backward transfer |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.3f} ± {r[3]:.3f} | {r[4]:.3f} ± {r[5]:.3f} |")
    print()
    print("| class-incremental GKCL model | final accuracy, generated supports "
          "| same backbone, 20 real supports / class |")
    print("|---|---|---|")
    for label, d in diag.items():
        print(f"| {label} | {d[0]:.3f} ± {d[1]:.3f} | {d[2]:.3f} ± {d[3]:.3f} |")


if __name__ == "__main__":
    main()
