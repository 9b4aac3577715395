"""The kernels plugin's registrations (no math, no torch import): see docs/plugins/kernels.md."""

from __future__ import annotations

from hyperzoo import core

_OPS = "hyperzoo.kernels.ops."
_M = "hyperzoo.kernels.models:"
_T = "hyperzoo.kernels.tasks:"
CLS, REG = "kernel-classification", "kernel-regression"


@core.hookimpl
def hyperzoo_register(registrar) -> None:
    registrar.operator("kernels.nngp_ntk", _OPS + "nngp_ntk:nngp_ntk",
                       doc="analytic (NNGP, NTK) Gram blocks of a deep ReLU/erf network: the dual recursion")
    registrar.backend("kernels.nngp_ntk", "triton", _OPS + "nngp_ntk_triton:nngp_ntk", priority=10,
                      is_available="hyperzoo.core.dispatch:triton_available",
                      supports=_OPS + "nngp_ntk_triton:supports", tolerances={"float32": (1e-4, 1e-4)})
    registrar.operator("kernels.empirical_ntk", _OPS + "empirical_ntk:empirical_ntk",
                       doc="empirical NTK J(x)J(x')ᵀ of any nn.Module (vmap(jacrev) or the implicit vjp/jvp product)")
    registrar.operator("kernels.quantum_zz_kernel", _OPS + "quantum_zz_kernel:quantum_zz_kernel",
                       doc="|⟨Φ(x)|Φ(x')⟩|² of the ZZ feature map on simulated statevectors (n ≤ 12 qubits)")
    registrar.operator("kernels.gsmp", _OPS + "gsmp:gsmp",
                       doc="grid spectral mixture product kernel Σ_q θ_q Π_p exp(−2π²τ_p²σ_qp²) cos(2πτ_pμ_qp)")

    registrar.model("ntk-regressor", _M + "ntk_regressor", fits=[REG])
    registrar.model("gsmp-regressor", _M + "gsmp_regressor", fits=[REG])
    registrar.model("ntk-classifier", _M + "ntk_classifier", fits=[CLS])
    registrar.model("quantum-svc", _M + "quantum_svc", fits=[CLS])
    registrar.model("rbf-svc", _M + "rbf_svc", fits=[CLS])
    registrar.model("local-ntk-regressor", "hyperzoo.kernels.cntk:local_ntk_regressor", fits=[REG])
    registrar.model("dkm-regressor", "hyperzoo.kernels.dkm:dkm_regressor", fits=[REG])
    registrar.model("layerwise-three-layer", "hyperzoo.kernels.hierarchical:layerwise_three_layer", fits=[REG])
    registrar.model("deep-limit-classifier", "hyperzoo.kernels.deep_limit:deep_limit_classifier", fits=[CLS])
    registrar.model("kernel-cl", "hyperzoo.kernels.gkcl:kernel_cl", fits=["continual-learning"])
    registrar.model("generative-kernel-cl", "hyperzoo.kernels.gkcl:generative_kernel_cl", fits=["continual-learning"])

    registrar.task("digits-kernel", _T + "DigitsKernel", kind=CLS)
    registrar.task("quantum-adhoc", _T + "QuantumAdhoc", kind=CLS)
    registrar.task("spectral-mixture-1d", _T + "SpectralMixture1D", kind=REG)
    registrar.task("teacher-student-local", "hyperzoo.kernels.cntk:TeacherStudentLocal", kind=REG)
    registrar.task("diabetes-regression", "hyperzoo.kernels.regression_tasks:DiabetesRegression", kind=REG)
    registrar.task("hierarchical-polynomial", "hyperzoo.kernels.hierarchical:HierarchicalPolynomial", kind=REG)
    registrar.task("dirichlet-2d", "hyperzoo.kernels.deep_limit:Dirichlet2D", kind=CLS)
