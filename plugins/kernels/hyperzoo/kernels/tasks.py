"""The kernels tasks: each owns its procedure (fit an estimator, evaluate), run through ``core.run``.

- ``digits-kernel``: scikit-learn digits (pixels / 16, each image scaled to unit norm), stratified 20% test and 10%
  of the rest for validation; accuracy of a kernel classifier (NTK/NNGP regression vs the RBF-SVC baseline).
- ``quantum-adhoc``: the ad-hoc data set of arXiv 1804.11326 (labels defined through a random unitary on the ZZ
  feature states, with a gap), on ``num_qubits`` qubits; train/test accuracy.
- ``spectral-mixture-1d``: extrapolation of a 1-D quasi-periodic signal (three spectral components, documented
  below) past the training window; test RMSE and the fitted kernel's weights.

Splits and draws are seeded by ``split_seed`` (docs/naming.md; the run's ``seed`` is core.run's own).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _to_device(model: Any, trainer: Any) -> None:
    device = getattr(trainer, "device", None)
    if device is not None and hasattr(model, "get_params") and "device" in model.get_params():
        model.set_params(device=str(device))


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float((model.predict(x) == y).mean())


class DigitsKernel:
    """Kernel classification of scikit-learn digits (1797 8×8 images, 10 classes)."""

    kind = "kernel-classification"
    trainer_keys = ()

    def __init__(self, *, subset: int | None = None, split_seed: int = 0):
        if subset is not None and subset < 10:
            raise ValueError(f"subset must be None (all) or >= 10 training images; got {subset!r}")
        self.subset, self.split_seed = subset, split_seed

    def model_defaults(self) -> dict[str, Any]:
        return {}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        x = x / 16.0
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        idx = np.arange(len(y))
        rest, test = train_test_split(idx, test_size=0.2, stratify=y, random_state=self.split_seed)
        train, val = train_test_split(rest, test_size=0.1, stratify=y[rest], random_state=self.split_seed)
        if self.subset is not None:
            train = train[: self.subset]
        return {k: (x[i], y[i]) for k, i in (("train", train), ("val", val), ("test", test))}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        _to_device(model, trainer)
        s = self.splits()
        model.fit(*s["train"])
        return {f"{k}_accuracy": _accuracy(model, *s[k]) for k in ("train", "val", "test")}


class QuantumAdhoc:
    """The paper's ad-hoc classification data: separable by the ZZ quantum kernel by construction."""

    kind = "kernel-classification"
    trainer_keys = ()

    def __init__(self, *, num_qubits: int = 2, subset: int = 20, n_test: int = 10, gap: float = 0.3,
                 split_seed: int = 0):
        if not 1 <= num_qubits <= 12:
            raise ValueError(f"num_qubits must be in [1, 12] (the statevector simulation's limit); got {num_qubits}")
        self.num_qubits, self.subset, self.n_test, self.gap, self.split_seed = num_qubits, subset, n_test, gap, \
            split_seed

    def model_defaults(self) -> dict[str, Any]:
        return {}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        from .quantum import adhoc_data

        _to_device(model, trainer)
        x, y = adhoc_data(self.num_qubits, self.subset + self.n_test, gap=self.gap, seed=self.split_seed)
        rng = np.random.default_rng(self.split_seed)
        train, test = [], []
        for lab in (-1, 1):
            idx = rng.permutation(np.flatnonzero(y == lab))
            train.extend(idx[: self.subset])
            test.extend(idx[self.subset:])
        model.fit(x[train], y[train])
        return {"train_accuracy": _accuracy(model, x[train], y[train]),
                "test_accuracy": _accuracy(model, x[test], y[test])}


def quasi_periodic(t: np.ndarray) -> np.ndarray:
    """The noiseless signal of ``spectral-mixture-1d``: a slow trend-like component, a period-1 oscillation under a
    slowly decaying envelope and a faster period-0.3 one (frequencies 0.05, 1 and 3.33 cycles per unit time)."""
    return (np.sin(2 * math.pi * 0.05 * t) + np.exp(-((t - 5) / 10) ** 2) * np.cos(2 * math.pi * t)
            + 0.5 * np.sin(2 * math.pi * t / 0.3))


class SpectralMixture1D:
    """Fit on t ∈ [0, 10) (``n_train`` even samples, noise std ``noise``), extrapolate to [10, 12); test RMSE."""

    kind = "kernel-regression"
    trainer_keys = ()

    def __init__(self, *, n_train: int = 200, noise: float = 0.1, split_seed: int = 0):
        if n_train < 10 or not noise >= 0:
            raise ValueError(f"need n_train >= 10 and noise >= 0; got {n_train}, {noise}")
        self.n_train, self.noise, self.split_seed = n_train, noise, split_seed

    def model_defaults(self) -> dict[str, Any]:
        # a GSMP grid of spacing 0.05 up to 5 cycles per unit time (half the sampling rate of 20 per unit)
        return {"num_components": 101, "max_frequency": 5.0}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        _to_device(model, trainer)
        rng = np.random.default_rng(self.split_seed)
        t = np.linspace(0, 10, self.n_train, endpoint=False)[:, None]
        y = quasi_periodic(t[:, 0]) + self.noise * rng.standard_normal(self.n_train)
        t_test = np.linspace(10, 12, 100)[:, None]
        model.fit(t, y)
        rmse = float(np.sqrt(((model.predict(t_test) - quasi_periodic(t_test[:, 0])) ** 2).mean()))
        out = {"test_rmse": rmse, "train_rmse": float(np.sqrt(((model.predict(t) - y) ** 2).mean()))}
        weights = getattr(model, "weights_", None)
        if weights is not None:
            out["active_components"] = float((weights > 1e-3 * weights.max()).sum())
        return out
