"""Core's built-in tasks: common ground on which every plugin's models are compared.

Splits are fixed (the default ``split_seed=0`` is the documented split):

- digits (scikit-learn, 1,797 8x8 images): stratified 20% test with ``random_state=split_seed``, then a stratified
  10% of the rest for validation, same split_seed. ``digits-seq`` reads each image as a 64-step pixel sequence
  ``(N, 1, 64)``; ``digits-2d`` keeps ``(N, 1, 8, 8)``.
- MNIST (``<data root>/mnist``): the 5,000 training images shipped with the project (or the full 60k with
  ``subset="full"``), of which a stratified, seeded 10% is validation, and the official 10k test set.
  ``mnist-seq`` is the 784-step pixel sequence ``(N, 1, 784)``, ``pmnist-seq`` the same with pixels permuted
  by a fixed permutation (``permutation_seed``), ``mnist-2d`` the images ``(N, 1, 28, 28)``.

Inputs are standardised with the training split's mean and standard deviation.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .data import load_digits, load_mnist
from .task import ClassificationTask

__all__ = ["DigitsSeq", "Digits2D", "MNISTSeq", "PermutedMNISTSeq", "MNIST2D"]


def _stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    keep, held = train_test_split(idx, test_size=fraction, stratify=y, random_state=seed)
    return np.sort(keep), np.sort(held)


def _standardise(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[Any, Any]]:
    import torch

    x_train = splits["train"][0].astype(np.float32)
    mean, std = float(x_train.mean()), float(x_train.std())
    return {k: (torch.from_numpy((x.astype(np.float32) - mean) / std), torch.from_numpy(y)) for k, (x, y) in
            splits.items()}


class _Digits(ClassificationTask):
    shape: tuple[int, ...] = (1, 64)

    def __init__(self, *, split_seed: int = 0):
        self.split_seed = split_seed

    def load(self):
        images, labels = load_digits()
        rest, test = _stratified_split(labels, 0.2, self.split_seed)
        train_rel, val_rel = _stratified_split(labels[rest], 0.1, self.split_seed)
        train, val = rest[train_rel], rest[val_rel]
        x = images.reshape(len(images), *self.shape)
        return _standardise({s: (x[i], labels[i]) for s, i in (("train", train), ("val", val), ("test", test))})

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 40, "batch_size": 64, "lr": 3e-3, "patience": 10}


class DigitsSeq(_Digits):
    """scikit-learn digits as 64-step pixel sequences (N, 1, 64); 10 classes."""

    kind = "sequence-classification"
    shape = (1, 64)


class Digits2D(_Digits):
    """scikit-learn digits as 8x8 images (N, 1, 8, 8); 10 classes."""

    kind = "image-classification"
    shape = (1, 8, 8)


class _MNIST(ClassificationTask):
    shape: tuple[int, ...] = (1, 784)

    def __init__(self, *, data_root: str | os.PathLike | None = None, subset: str = "5k", split_seed: int = 0,
                 val_fraction: float = 0.1):
        if subset not in ("5k", "full"):
            raise ValueError(f"subset must be '5k' (the shipped training subset) or 'full', got {subset!r}")
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.data_root, self.subset, self.split_seed, self.val_fraction = data_root, subset, split_seed, val_fraction

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), *self.shape)

    def load(self):
        x_tr, y_tr = load_mnist(self.subset, self.data_root)
        x_te, y_te = load_mnist("test", self.data_root)
        train, val = _stratified_split(y_tr, self.val_fraction, self.split_seed)
        x_tr, x_te = self.transform(x_tr), self.transform(x_te)
        return _standardise({"train": (x_tr[train], y_tr[train]), "val": (x_tr[val], y_tr[val]),
                             "test": (x_te, y_te)})

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 10, "batch_size": 64, "lr": 1e-3, "patience": 5}


class MNISTSeq(_MNIST):
    """MNIST as 784-step pixel sequences (N, 1, 784): 4,500 train / 500 val / official 10k test."""

    kind = "sequence-classification"


class PermutedMNISTSeq(_MNIST):
    """Permuted pixel MNIST: ``mnist-seq`` with a fixed pixel permutation drawn with ``permutation_seed``."""

    kind = "sequence-classification"

    def __init__(self, *, data_root: str | os.PathLike | None = None, subset: str = "5k", split_seed: int = 0,
                 val_fraction: float = 0.1, permutation_seed: int = 0):
        super().__init__(data_root=data_root, subset=subset, split_seed=split_seed, val_fraction=val_fraction)
        self.permutation_seed = permutation_seed

    def transform(self, x: np.ndarray) -> np.ndarray:
        perm = np.random.default_rng(self.permutation_seed).permutation(784)
        return x.reshape(len(x), 1, 784)[:, :, perm]


class MNIST2D(_MNIST):
    """MNIST images (N, 1, 28, 28): 4,500 train / 500 val / official 10k test."""

    kind = "image-classification"
    shape = (1, 28, 28)
