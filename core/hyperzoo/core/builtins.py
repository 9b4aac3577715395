"""Core's own registrations: the demo operator, baseline models, built-in tasks, data sets and optimisers.

Registered by core itself under the plugin name ``core`` (it cannot be blocked). This module is the model for
a plugin's ``plugin.py``: registrations only, lazy ``"module:attribute"`` targets, no torch import.
"""

from __future__ import annotations

from .hookspecs import hookimpl

SEQ, IMG, CL = "sequence-classification", "image-classification", "continual-learning"
_M = "hyperzoo.core.baselines:"
_T = "hyperzoo.core.builtin_tasks:"
_C = "hyperzoo.core.continual:"


@hookimpl
def hyperzoo_register(registrar) -> None:
    registrar.operator("core.rms_norm", "hyperzoo.core.ops.rms_norm:rms_norm",
                       doc="RMSNorm over the last dim: y = x / sqrt(mean(x^2) + eps) * w")
    registrar.backend("core.rms_norm", "triton", "hyperzoo.core.ops.rms_norm_triton:rms_norm", priority=10,
                      is_available="hyperzoo.core.dispatch:triton_available",
                      supports="hyperzoo.core.ops.rms_norm_triton:supports",
                      tolerances={"float32": (1e-5, 1e-5), "float16": (1e-2, 1e-2), "bfloat16": (2e-2, 2e-2)})

    registrar.model("mlp", _M + "mlp", fits=[SEQ, IMG, CL])
    registrar.model("cnn", _M + "cnn", fits=[SEQ, IMG, CL])
    registrar.model("lstm", _M + "lstm", fits=[SEQ])
    registrar.model("transformer", _M + "transformer", fits=[SEQ])

    registrar.task("digits-seq", _T + "DigitsSeq", kind=SEQ)
    registrar.task("digits-2d", _T + "Digits2D", kind=IMG)
    registrar.task("mnist-seq", _T + "MNISTSeq", kind=SEQ)
    registrar.task("pmnist-seq", _T + "PermutedMNISTSeq", kind=SEQ)
    registrar.task("mnist-2d", _T + "MNIST2D", kind=IMG)
    registrar.task("split-digits", _C + "SplitDigits", kind=CL)
    registrar.task("permuted-digits", _C + "PermutedDigits", kind=CL)
    registrar.task("split-mnist", _C + "SplitMNIST", kind=CL)
    registrar.task("permuted-mnist", _C + "PermutedMNIST", kind=CL)

    registrar.dataset("digits", "hyperzoo.core.data:load_digits")
    registrar.dataset("mnist", "hyperzoo.core.data:load_mnist")

    for name in ("adamw", "adam", "sgd"):
        registrar.optimizer(name, f"hyperzoo.core.optim:{name}")
