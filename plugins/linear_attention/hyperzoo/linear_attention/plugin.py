"""linear_attention's registrations (no math, no torch import here: listing stays light)."""

from __future__ import annotations

from hyperzoo import core

_OPS = "hyperzoo.linear_attention.ops."
_M = "hyperzoo.linear_attention.models:"
_T = "hyperzoo.linear_attention.tasks:"
SEQ, IMG, TOK = "sequence-classification", "image-classification", "token-classification"
_TRITON = dict(is_available="hyperzoo.core.dispatch:triton_available",
               tolerances={"float32": (1e-4, 1e-5), "float16": (1e-2, 1e-2), "bfloat16": (2e-2, 2e-2)})


@core.hookimpl
def hyperzoo_register(registrar) -> None:
    registrar.operator("linear_attention.linear", _OPS + "linear:linear",
                       doc="o = φ(Q)(φ(K)ᵀV) / φ(Q)Σφ(K), φ ∈ {elu+1, relu, identity}; causal chunked/recurrent")
    registrar.operator("linear_attention.nala", _OPS + "nala:nala",
                       doc="NaLa: query-norm-aware power kernel on sign-split norm-preserving features (2D)")
    registrar.operator("linear_attention.hamming", _OPS + "hamming:hamming",
                       doc="EcoFormer: attention on b-bit codes, sim = hᵀh' + b + 1 = 2(b − Ham) + 1")
    registrar.operator("linear_attention.angular", _OPS + "angular:angular",
                       doc="ShiftAddViT: linear angular attention, sim = 1/2 + sgn(q)·sgn(k)/(πD)")
    registrar.operator("linear_attention.favor", _OPS + "favor:favor",
                       doc="Performer FAVOR+: positive orthogonal random features for exp(qᵀk/√D)")
    registrar.backend("linear_attention.linear", "triton", _OPS + "linear_triton:linear", priority=10,
                      supports=_OPS + "linear_triton:supports_linear", **_TRITON)
    registrar.backend("linear_attention.nala", "triton", _OPS + "linear_triton:nala", priority=10,
                      supports=_OPS + "linear_triton:supports_nala", **_TRITON)

    registrar.model("linear-transformer", _M + "linear_transformer", fits=[SEQ, TOK])
    registrar.model("nala-vit", _M + "nala_vit", fits=[IMG])

    registrar.task("mqar", _T + "MQAR", kind=TOK)
    registrar.task("selective-copy", _T + "SelectiveCopy", kind=TOK)
