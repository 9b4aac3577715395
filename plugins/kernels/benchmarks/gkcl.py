"""Generative kernel continual learning (arXiv 2112.13410) on core's split-digits (5 sub-tasks of 2 classes),
task- and class-incremental: GKCL (generative replay supports, supervised contrastive loss, no stored example)
vs KCL with a stored memory of 20 examples per class vs fine-tuning an MLP, same trainer settings, 3 seeds.

    OMP_NUM_THREADS=1 python plugins/kernels/benchmarks/gkcl.py
"""

import numpy as np

from hyperzoo import core

MODELS = {"generative-kernel-cl (no memory)": "generative-kernel-cl", "kernel-cl (20 stored / class)": "kernel-cl",
          "mlp fine-tuning": "mlp"}


def main() -> None:
    rows = []
    for ti in (True, False):
        for label, model in MODELS.items():
            acc, bwt = [], []
            for seed in range(3):
                m = core.run("split-digits", model, epochs=5, task_identity=ti, seed=seed, progress=False).metrics
                acc.append(m["test_average_accuracy"])
                bwt.append(m["test_backward_transfer"])
            rows.append(("task-incremental" if ti else "class-incremental", label, np.mean(acc), np.std(acc),
                         np.mean(bwt), np.std(bwt)))
            print(rows[-1], flush=True)
    print("| protocol | model | average accuracy | backward transfer |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.3f} ± {r[3]:.3f} | {r[4]:.3f} ± {r[5]:.3f} |")


if __name__ == "__main__":
    main()
