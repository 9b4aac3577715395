"""Regression tasks of the deep-kernel-machine and hierarchical-polynomial experiments (through ``core.run``).

- ``diabetes-regression``: scikit-learn's diabetes data (442 patients x 10 standardised features, disease
  progression after one year), a random 300/142 train/test split seeded by ``split_seed``; train/test RMSE and R²
  of a kernel regressor (``dkm-regressor``, ``ntk-regressor``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class DiabetesRegression:
    """Diabetes regression: 300 training and 142 test patients (``split_seed``), features standardised on the
    training split."""

    kind = "kernel-regression"
    trainer_keys = ()

    def __init__(self, *, split_seed: int = 0):
        self.split_seed = split_seed

    def model_defaults(self) -> dict[str, Any]:
        return {}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        from sklearn.datasets import load_diabetes

        x, y = load_diabetes(return_X_y=True)
        perm = np.random.default_rng(self.split_seed).permutation(len(y))
        tr, te = perm[:300], perm[300:]
        mu, sd = x[tr].mean(0), x[tr].std(0)
        x = (x - mu) / sd
        return {"train": (x[tr], y[tr]), "test": (x[te], y[te])}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        s = self.splits()
        model.fit(*s["train"])
        out = {}
        for k, (x, y) in s.items():
            p = model.predict(x)
            out[f"{k}_rmse"] = float(np.sqrt(((p - y) ** 2).mean()))
            out[f"{k}_r2"] = float(1 - ((p - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())
        return out
