"""Quantum ZZ kernel: k(x, x) = 1, equals a dense unitary built by Kronecker products (n ≤ 4), the feature map equals
its gate-by-gate circuit, shot noise is unbiased, the 12-qubit limit, the ad-hoc data."""

import math

import numpy as np
import pytest
import torch

from hyperzoo.kernels import QuantumKernelSVC, adhoc_data, quantum_zz_kernel
from hyperzoo.kernels.quantum import circuit_states, feature_states

F64 = torch.float64


def dense_states(x, reps, entanglement):
    """|Φ(x)⟩ = (U_Φ(x) H^{⊗n})^reps |0⟩ with H^{⊗n} a Kronecker product and U_Φ = exp(i Σ_S φ_S Z_S) as a matrix
    exponential of the (diagonal) Hamiltonian built from Kronecker products of Z and I."""
    n = x.shape[0]
    h1 = np.array([[1, 1], [1, -1]]) / math.sqrt(2)
    z, i2 = np.diag([1.0, -1.0]), np.eye(2)
    hn = np.array([[1.0]])
    for _ in range(n):
        hn = np.kron(hn, h1)

    def z_on(qubits):                     # little-endian: qubit k is bit k, i.e. the k-th factor from the right
        m = np.array([[1.0]])
        for k in reversed(range(n)):
            m = np.kron(m, z if k in qubits else i2)
        return m

    pairs = [(k, l) for k in range(n) for l in range(k + 1, n)] if entanglement == "full" else \
        [(k, k + 1) for k in range(n - 1)]
    ham = sum(x[k] * z_on({k}) for k in range(n))
    ham = ham + sum((math.pi - x[k]) * (math.pi - x[l]) * z_on({k, l}) for k, l in pairs)
    w, v = np.linalg.eigh(ham)
    u = (v * np.exp(1j * w)) @ v.conj().T
    psi = np.zeros(2 ** n, complex)
    psi[0] = 1
    for _ in range(reps):
        psi = u @ (hn @ psi)
    return psi


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("entanglement", ["full", "linear"])
def test_equals_the_dense_unitary(n, entanglement):
    x = torch.rand(6, n, dtype=F64) * 2 * math.pi
    states = feature_states(x, reps=2, entanglement=entanglement).numpy()
    dense = np.stack([dense_states(xi, 2, entanglement) for xi in x.numpy()])
    np.testing.assert_allclose(states, dense, atol=1e-12)
    k = quantum_zz_kernel(x, entanglement=entanglement).numpy()
    np.testing.assert_allclose(k, np.abs(dense.conj() @ dense.T) ** 2, atol=1e-12)


@pytest.mark.parametrize("reps", [1, 2, 3])
def test_feature_map_equals_its_circuit_up_to_a_global_phase(reps):
    x = torch.rand(5, 4, dtype=F64) * 2 * math.pi
    a, b = feature_states(x, reps=reps), circuit_states(x, reps=reps)
    overlap = (a.conj() * b).sum(1).abs()
    torch.testing.assert_close(overlap, torch.ones(5, dtype=F64), rtol=0, atol=1e-12)


def test_unit_diagonal_symmetry_psd_and_rectangular_blocks():
    x = torch.rand(30, 5, dtype=F64) * 2 * math.pi
    k = quantum_zz_kernel(x)
    torch.testing.assert_close(torch.diagonal(k), torch.ones(30, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close(k, k.T, rtol=0, atol=1e-14)
    assert float(torch.linalg.eigvalsh(k).min()) >= -1e-10
    torch.testing.assert_close(quantum_zz_kernel(x[:7], x[10:]), k[:7, 10:], rtol=0, atol=1e-14)


def test_shot_noise_is_an_unbiased_binomial_estimate():
    x = torch.rand(4, 2, dtype=F64) * 2 * math.pi
    exact = quantum_zz_kernel(x)
    g = torch.Generator().manual_seed(0)
    est = torch.stack([quantum_zz_kernel(x, shots=100, generator=g) for _ in range(400)])
    assert torch.all(((est * 100) - (est * 100).round()).abs() < 1e-9)       # counts / shots
    se = torch.sqrt(exact * (1 - exact) / 100 / 400).clamp_min(1e-6)
    assert torch.all((est.mean(0) - exact).abs() <= 5 * se + 1e-12)


def test_the_qubit_limit_and_bad_input():
    with pytest.raises(ValueError, match="13 features = qubits, more than the 12-qubit limit"):
        quantum_zz_kernel(torch.rand(2, 13, dtype=F64))
    bad = torch.rand(2, 3, dtype=F64)
    bad[0, 1] = float("nan")
    with pytest.raises(ValueError, match="x1 contains NaN"):
        quantum_zz_kernel(bad)
    with pytest.raises(ValueError, match="same number of features"):
        quantum_zz_kernel(torch.rand(2, 3, dtype=F64), torch.rand(2, 4, dtype=F64))
    with pytest.raises(ValueError, match="entanglement must be one of"):
        quantum_zz_kernel(torch.rand(2, 3, dtype=F64), entanglement="circular")
    with pytest.raises(ValueError, match="shots must be None"):
        quantum_zz_kernel(torch.rand(2, 3, dtype=F64), shots=0)
    with pytest.raises(ValueError, match="12-qubit limit"):
        QuantumKernelSVC().fit(np.random.rand(10, 14), np.arange(10) % 2)
    assert quantum_zz_kernel(torch.rand(2, 12, dtype=F64)).shape == (2, 2)   # 12 is allowed


def test_adhoc_data_has_the_gap_and_the_quantum_svc_separates_it():
    x, y = adhoc_data(2, 30, gap=0.3, seed=1)
    assert x.shape == (60, 2) and sorted(np.unique(y)) == [-1, 1] and (y == 1).sum() == 30
    assert x.min() >= 0 and x.max() < 2 * math.pi
    clf = QuantumKernelSVC(C=100.0).fit(x[::2], y[::2])
    assert clf.score(x[1::2], y[1::2]) >= 0.9


@pytest.mark.parametrize("n,entanglement", [(2, "full"), (3, "full"), (4, "linear")])
def test_equals_qiskit_fidelity_statevector_kernel(n, entanglement):
    """The peer: qiskit-machine-learning's FidelityStatevectorKernel on Qiskit's zz_feature_map (the test extra)."""
    from qiskit.circuit.library import zz_feature_map
    from qiskit_machine_learning.kernels import FidelityStatevectorKernel

    x = np.random.default_rng(n).uniform(0, 2 * math.pi, size=(8, n))
    y = np.random.default_rng(n + 10).uniform(0, 2 * math.pi, size=(5, n))
    peer = FidelityStatevectorKernel(feature_map=zz_feature_map(n, reps=2, entanglement=entanglement))
    ours = quantum_zz_kernel(torch.as_tensor(x), torch.as_tensor(y), entanglement=entanglement).numpy()
    np.testing.assert_allclose(ours, peer.evaluate(x, y), rtol=0, atol=1e-12)
