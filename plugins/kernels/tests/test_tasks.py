"""Tasks through core.run with tiny budgets; config routing, split seeds, clear errors, the naming table."""

import inspect
import re
from pathlib import Path

import pytest

from hyperzoo import core

ROOT = Path(__file__).resolve().parents[3]

# Parameters specific to this plugin's factories (the paper's or scikit-learn's own terms), with the reason.
NAMING_EXCEPTIONS = {
    "activation": "NTK/NNGP: the network's nonlinearity (relu, erf), neural-tangents' term",
    "weight_variance": "NTK/NNGP: σ_w² of the NTK parameterisation",
    "bias_variance": "NTK/NNGP: σ_b² of the NTK parameterisation",
    "ridge": "kernel regression: diagonal regulariser (scikit-learn KernelRidge's alpha)",
    "time": "NTK: gradient-flow training time t of the mean predictor",
    "learning_rate": "NTK: η of the gradient flow (scikit-learn's name; lr is the trainer's)",
    "reps": "ZZ feature map: repetitions of the layer (Qiskit's name)",
    "entanglement": "ZZ feature map: which qubit pairs interact (Qiskit's name)",
    "shots": "quantum kernel: measurements per kernel entry",
    "C": "SVC's regularisation constant (scikit-learn's name)",
    "gamma": "RBF-SVC's γ (scikit-learn's name)",
    "num_components": "GSMP: grid components Q",
    "max_frequency": "GSMP: top of the frequency grid",
    "sparsity": "GSMP: the ℓ1 weight λ on θ",
    "max_iter": "GSMP: SCA iterations (scikit-learn's name)",
    "num_qubits": "quantum-adhoc: qubits = features",
    "n_test": "quantum-adhoc: test points per class",
    "gap": "quantum-adhoc: the paper's label gap Δ",
    "n_train": "spectral-mixture-1d: training samples",
    "noise": "spectral-mixture-1d: observation noise std; dkm-regressor: likelihood variance σ²",
    "dim": "hierarchical-polynomial: input dimension d of the synthetic Gaussian data",
    "replay": "kernel continual learning: where old supports come from (memory, generative)",
    "memory_size": "kernel continual learning: supports per class (stored or generated)",
    "contrastive_weight": "GKCL: weight of the supervised contrastive loss (the <loss>_weight rule)",
    "generator_steps": "GKCL: Adam steps of the conditional VAE per sub-task",
    "nu": "deep kernel machine: the KL weight ν per layer (the paper's symbol; ∞ is the NNGP)",
}


def test_factory_parameters_follow_the_naming_table():
    text = (ROOT / "docs" / "naming.md").read_text()
    table = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            table |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    reg = core._registry()
    offenders = []
    for kind in ("model", "task"):
        for name in reg.names(kind):
            entry = reg.get(kind, name)
            if entry.plugin != "kernels":
                continue
            for param in inspect.signature(entry.load()).parameters:
                if param not in table | set(NAMING_EXCEPTIONS):
                    offenders.append(f"{kind} {name}: {param}")
    assert not offenders


def test_digits_ntk_nngp_and_rbf_svc_through_core_run():
    out = {}
    for model, kw in (("ntk-classifier", {}), ("ntk-classifier", {"kernel": "nngp", "depth": 3}), ("rbf-svc", {})):
        r = core.run("digits-kernel", model, subset=300, split_seed=1, **kw)
        out[(model, kw.get("kernel"))] = r.metrics["test_accuracy"]
        assert r.config["task_args"]["subset"] == 300
    assert min(out.values()) > 0.85, out


def test_quantum_svc_separates_the_adhoc_data_and_rbf_does_worse():
    q = core.run("quantum-adhoc", "quantum-svc", subset=20, n_test=10, split_seed=0)
    r = core.run("quantum-adhoc", "rbf-svc", subset=20, n_test=10, split_seed=0)
    assert q.metrics["test_accuracy"] >= 0.9
    assert q.metrics["test_accuracy"] > r.metrics["test_accuracy"]


def test_spectral_mixture_task_gsmp_extrapolates_better_than_the_ntk():
    g = core.run("spectral-mixture-1d", "gsmp-regressor", n_train=100, num_components=41, max_iter=60)
    n = core.run("spectral-mixture-1d", "ntk-regressor", n_train=100)
    assert g.metrics["test_rmse"] < n.metrics["test_rmse"]
    assert g.config["model_args"]["max_frequency"] == 5.0


def test_errors_name_the_problem():
    with pytest.raises(core.ConfigError, match="12-qubit limit|num_qubits must be in"):
        core.run("quantum-adhoc", "quantum-svc", num_qubits=13)
    with pytest.raises(ValueError, match="64 features = qubits, more than the 12-qubit limit"):
        core.run("digits-kernel", "quantum-svc", subset=20)
    with pytest.raises(core.ConfigError):
        core.run("digits-kernel", "ntk-classifier", epochs=3)   # the task honours no trainer settings
    with pytest.raises(core.ConfigError, match="kernel-regression"):
        core.run("spectral-mixture-1d", "rbf-svc")
