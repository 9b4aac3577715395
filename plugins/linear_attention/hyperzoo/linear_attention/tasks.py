"""Registered tasks: ``mqar`` (multi-query associative recall) and ``selective-copy``, synthetic token tasks that
probe what sub-quadratic attention can recall; both of kind ``token-classification`` (per-token targets, −100 where
nothing is asked). Core's ``digits-seq``, ``mnist-seq``, ``digits-2d`` and ``mnist-2d`` also fit the models."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hyperzoo.core.task import SupervisedTask

IGNORE = -100
KIND = "token-classification"


class _TokenTask(SupervisedTask):
    kind = KIND
    monitor = "accuracy"
    monitor_mode = "max"

    def _generate(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def splits(self) -> dict[str, Any]:
        cached = getattr(self, "_splits", None)
        if cached is None:
            from torch.utils.data import TensorDataset

            rng = np.random.default_rng(self.split_seed)
            cached = {}
            for split, count in (("train", self.num_examples), ("val", 256), ("test", 512)):
                x, y = self._generate(rng, count)
                cached[split] = TensorDataset(torch.from_numpy(x).long(), torch.from_numpy(y).long())
            self._splits = cached
        return cached

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1), ignore_index=IGNORE,
                               label_smoothing=label_smoothing)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        asked = targets != IGNORE
        return {"accuracy": float((outputs.argmax(-1)[asked] == targets[asked]).float().mean())}

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 20, "batch_size": 64, "lr": 3e-3, "patience": 20}


class MQAR(_TokenTask):
    """Multi-query associative recall (Arora et al. 2023, Zoology). A sequence opens with ``num_pairs`` key-value
    pairs k₁ v₁ … k_P v_P (distinct keys from 1..K, values from K+1..2K, K = ``num_symbols``); every key is then
    asked once, at a random later position among pad tokens (0), and the target there is its value. The model sees
    the pairs only once, so answering needs recall of arbitrary pairs (hard for a fixed-size state)."""

    def __init__(self, *, seq_len: int = 32, num_pairs: int = 4, num_symbols: int = 16, num_examples: int = 2000,
                 split_seed: int = 0):
        if num_pairs < 1 or num_symbols < num_pairs:
            raise ValueError(f"mqar: need 1 <= num_pairs <= num_symbols, got num_pairs={num_pairs}, "
                             f"num_symbols={num_symbols}")
        if seq_len < 3 * num_pairs:
            raise ValueError(f"mqar: seq_len must be >= 3 * num_pairs = {3 * num_pairs} (pairs, then one query per "
                             f"key), got {seq_len}")
        if num_examples < 1:
            raise ValueError(f"mqar: num_examples must be >= 1, got {num_examples}")
        self.seq_len, self.num_pairs, self.num_symbols = seq_len, num_pairs, num_symbols
        self.num_examples, self.split_seed = num_examples, split_seed

    @property
    def vocab_size(self) -> int:
        return 2 * self.num_symbols + 1

    def _generate(self, rng, count):
        p, k, length = self.num_pairs, self.num_symbols, self.seq_len
        x = np.zeros((count, length), np.int64)
        y = np.full((count, length), IGNORE, np.int64)
        for r in range(count):
            keys = rng.choice(k, p, replace=False) + 1
            vals = rng.integers(k + 1, 2 * k + 1, p)
            x[r, 0:2 * p:2], x[r, 1:2 * p:2] = keys, vals
            where = np.sort(rng.choice(np.arange(2 * p, length), p, replace=False))
            order = rng.permutation(p)
            x[r, where], y[r, where] = keys[order], vals[order]
        return x, y

    def model_defaults(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "num_classes": self.vocab_size, "seq_len": self.seq_len,
                "in_channels": 1, "causal": True}


class SelectiveCopy(_TokenTask):
    """Selective copying (Gu & Dao 2023, Mamba). ``num_targets`` data tokens (1..K) sit at random positions among
    noise tokens (0) in the first ``seq_len − num_targets`` positions; then ``num_targets`` marker tokens (K + 1)
    follow, and at each marker the target is the next data token in order. Copying needs content-aware selection,
    not a fixed shift."""

    def __init__(self, *, seq_len: int = 32, num_targets: int = 4, num_symbols: int = 8, num_examples: int = 2000,
                 split_seed: int = 0):
        if num_targets < 1 or seq_len < 2 * num_targets:
            raise ValueError(f"selective-copy: need 1 <= num_targets and seq_len >= 2 * num_targets, got "
                             f"num_targets={num_targets}, seq_len={seq_len}")
        if num_symbols < 1 or num_examples < 1:
            raise ValueError(f"selective-copy: num_symbols and num_examples must be >= 1, got {num_symbols}, "
                             f"{num_examples}")
        self.seq_len, self.num_targets, self.num_symbols = seq_len, num_targets, num_symbols
        self.num_examples, self.split_seed = num_examples, split_seed

    @property
    def vocab_size(self) -> int:
        return self.num_symbols + 2

    def _generate(self, rng, count):
        m, length = self.num_targets, self.seq_len
        x = np.zeros((count, length), np.int64)
        y = np.full((count, length), IGNORE, np.int64)
        for r in range(count):
            data = rng.integers(1, self.num_symbols + 1, m)
            where = np.sort(rng.choice(length - m, m, replace=False))
            x[r, where] = data
            x[r, length - m:] = self.num_symbols + 1
            y[r, length - m:] = data
        return x, y

    def model_defaults(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "num_classes": self.vocab_size, "seq_len": self.seq_len,
                "in_channels": 1, "causal": True}
