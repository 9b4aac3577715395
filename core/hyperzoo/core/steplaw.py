"""Step Law: the fitted power laws for the optimal learning rate and batch size of Li et al. (2025).

Li, Zheng, Hu, Wang, Zhang, Wang, Xuyang, Fan, Zhou, Zhang, Jiang, "Predictable Scale: Part I -- Optimal
Hyperparameter Scaling Law in Large Language Model Pretraining", arXiv:2503.04715, fitted on about 3,700 LLMs
trained from scratch:

    eta_opt(N, D) = 1.79 * N**-0.713 * D**0.307        (learning rate)
    B_opt(D)      = 0.58 * D**0.571                    (batch size, in TOKENS)

with ``N`` the number of non-embedding parameters and ``D`` the number of training tokens. The constants are the
paper's rounded ones; the authors' released bootstrap fits (step-law/steplaw, data/
1004_fitted_lr_bs_scaling_model_parameters.csv, 1,000 fits) average exp(0.5863) = 1.797, -0.7129, 0.3075 and
exp(-0.5435) = 0.581, 0.5709.

Domain of the fit: dense decoder-only transformers (and MoE variants) pre-trained on web text with AdamW
(weight decay 0.1), a cosine-style schedule to a minimum learning rate of 1e-5 and sequences of 2,048 tokens;
the released dense grid spans N = 2.1e8 .. 1.1e9 non-embedding parameters and D = 4e9 .. 1e11 tokens. Anything
outside that (a 30k-parameter classifier reading 64-pixel sequences for 40 epochs) is an extrapolation over
several orders of magnitude; ``in_fit_domain`` in the returned dict says which side a query is on, and
docs/results/sweep.md measures how far the suggestion lands from a sweep's best on two small sequence tasks.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["suggest_hyperparameters", "STEP_LAW", "FIT_DOMAIN", "tokens_per_run", "non_embedding_parameters"]

STEP_LAW = {"lr": {"coefficient": 1.79, "n_exponent": -0.713, "d_exponent": 0.307},
            "batch_size_tokens": {"coefficient": 0.58, "d_exponent": 0.571}}
# The ranges of the released dense-model grid (step-law/steplaw data/dense_lr_bs_loss.csv).
FIT_DOMAIN = {"n_params": (2.1e8, 1.1e9), "n_tokens": (4e9, 1e11), "seq_len": 2048}


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def suggest_hyperparameters(n_params: float, n_tokens: float, *, seq_len: int = 1) -> dict[str, Any]:
    """Step Law's optimal learning rate and batch size for ``n_params`` non-embedding parameters trained on
    ``n_tokens`` tokens (arXiv:2503.04715, eq. "Step Law"): ``lr = 1.79 N^-0.713 D^0.307`` and a batch of
    ``0.58 D^0.571`` tokens.

    The paper's batch size counts tokens; ``batch_size`` converts it to sequences of ``seq_len`` tokens,
    ``round(B_tokens / seq_len)`` and at least 1 (the default ``seq_len=1`` leaves it in tokens). For a
    sequence-classification task every position of every training sequence is a token: use
    :func:`tokens_per_run` for ``n_tokens`` and the task's ``seq_len``.

    Fitted on LLM pre-training only (N = 2.1e8 .. 1.1e9, D = 4e9 .. 1e11 tokens, sequences of 2,048 tokens, AdamW):
    ``in_fit_domain`` says whether the query lies inside those ranges; outside them the numbers are an
    extrapolation of a power law, not a measurement.

    Returns:
        ``{"lr": float, "batch_size": int, "batch_size_tokens": float, "in_fit_domain": bool}``
    """
    n = _positive("n_params", n_params)
    d = _positive("n_tokens", n_tokens)
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive int (tokens per sequence), got {seq_len!r}")
    lr_law, bs_law = STEP_LAW["lr"], STEP_LAW["batch_size_tokens"]
    lr = lr_law["coefficient"] * n ** lr_law["n_exponent"] * d ** lr_law["d_exponent"]
    tokens = bs_law["coefficient"] * d ** bs_law["d_exponent"]
    (n_lo, n_hi), (d_lo, d_hi) = FIT_DOMAIN["n_params"], FIT_DOMAIN["n_tokens"]
    return {"lr": lr, "batch_size": max(1, round(tokens / seq_len)), "batch_size_tokens": tokens,
            "in_fit_domain": bool(n_lo <= n <= n_hi and d_lo <= d <= d_hi)}


def tokens_per_run(*, n_train: int, seq_len: int, epochs: int) -> int:
    """Training tokens ``D`` of a sequence task: every position of every training sequence, once per epoch."""
    for name, value in (("n_train", n_train), ("seq_len", seq_len), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    return n_train * seq_len * epochs


def non_embedding_parameters(model: Any) -> int:
    """Trainable parameters outside ``nn.Embedding``/``nn.EmbeddingBag`` modules (the paper's ``N``).

    Core's sequence models read continuous inputs through a linear projection and have no token embedding,
    so for them this is every trainable parameter.
    """
    from torch import nn

    embedded = {id(p) for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))
                for p in m.parameters(recurse=False)}
    return sum(p.numel() for p in model.parameters() if p.requires_grad and id(p) not in embedded)
