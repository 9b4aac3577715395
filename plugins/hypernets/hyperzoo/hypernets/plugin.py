"""The hypernets plugin's registrations (no math, no torch import): see docs/plugins/hypernets.md."""

from __future__ import annotations

from hyperzoo import core

_OPS = "hyperzoo.hypernets.ops."
_M = "hyperzoo.hypernets.models:"
_T = "hyperzoo.hypernets.tasks:"
CL, COND, PSL = "continual-learning", "hyperparameter-conditioned", "pareto-set-learning"
TUNE, BILEVEL = "hyperparameter-tuning", "bilevel"


@core.hookimpl
def hyperzoo_register(registrar) -> None:
    registrar.operator("hypernets.interval_linear", _OPS + "interval_linear:interval_linear",
                       doc="midpoint-radius interval linear map: y_mid = x_mid W_midᵀ + b_mid, "
                           "y_rad = x_rad(|W_mid|+W_rad)ᵀ + |x_mid| W_radᵀ + b_rad (interval bound propagation)")
    registrar.backend("hypernets.interval_linear", "triton", _OPS + "interval_linear_triton:interval_linear",
                      priority=10, is_available="hyperzoo.core.dispatch:triton_available",
                      supports=_OPS + "interval_linear_triton:supports",
                      tolerances={"float32": (1e-4, 1e-5), "float16": (1e-2, 1e-2), "bfloat16": (2e-2, 2e-2)})

    registrar.model("hypernet-cl", _M + "hypernet_cl", fits=[CL])
    registrar.model("rnn-hypernet-cl", _M + "rnn_hypernet_cl", fits=[CL])
    registrar.model("hyperinterval", _M + "hyperinterval", fits=[CL])
    registrar.model("hypernet-conditioned", _M + "hypernet_conditioned", fits=[COND])
    registrar.model("mip-hypernet", _M + "mip_hypernet", fits=[COND])

    registrar.task("digits-l2-conditioned", _T + "DigitsL2Conditioned", kind=COND)
    registrar.model("psl", _M + "psl", fits=[PSL])
    registrar.model("svh-psl", _M + "svh_psl", fits=[PSL])
    for problem in ("zdt1", "zdt2", "zdt3", "dtlz2"):
        registrar.task(f"pareto-{problem}", _T + f"pareto_{problem}", kind=PSL)
    registrar.model("stn-mlp", _M + "stn_mlp", fits=[TUNE])
    registrar.task("stn-digits", _T + "STNDigits", kind=TUNE)
    registrar.model("bo-rep", _M + "bo_rep", fits=[BILEVEL])
    registrar.model("stocbio", _M + "stocbio", fits=[BILEVEL])
    registrar.task("hyper-cleaning-digits", _T + "HyperCleaningDigits", kind=BILEVEL)
