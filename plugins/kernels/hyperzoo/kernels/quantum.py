"""Quantum-kernel helpers (arXiv 1804.11326): the statevectors, an independent gate-by-gate circuit simulation of the
ZZ feature map, and the paper's ad-hoc data set (labels separable by the quantum kernel by construction).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .ops.quantum_zz_kernel import check_features, feature_states, pairs

__all__ = ["feature_states", "circuit_states", "adhoc_data"]


def _apply_1q(psi: torch.Tensor, gate: torch.Tensor, k: int) -> torch.Tensor:
    """Apply a 2×2 ``gate`` (or a batch (N, 2, 2)) to qubit k of states (N, 2ⁿ) (qubit k = bit k of the index)."""
    n_states, dim = psi.shape
    v = psi.reshape(n_states, dim >> (k + 1), 2, 1 << k)
    g = gate if gate.dim() == 3 else gate.expand(n_states, 2, 2)
    return torch.einsum("nab,nhbl->nhal", g, v).reshape(n_states, dim)


def _cnot(psi: torch.Tensor, control: int, target: int) -> torch.Tensor:
    dim = psi.shape[1]
    idx = torch.arange(dim, device=psi.device)
    flipped = torch.where(((idx >> control) & 1) == 1, idx ^ (1 << target), idx)
    return psi[:, flipped]


def circuit_states(x: torch.Tensor, *, reps: int = 2, entanglement: str = "full") -> torch.Tensor:
    """The ZZ feature map as Qiskit's circuit, gate by gate: per layer H on every qubit, P(−2x_k) on qubit k, and
    for each pair CNOT(k→l) · P(−2φ_kl) on l · CNOT(k→l). P(λ) = diag(1, e^{iλ}), so P(−2φ) = e^{−iφ} exp(iφZ):
    the paper's exp(iφ Z_S) up to a global phase per gate (states agree up to one overall phase)."""
    check_features(x)
    n = x.shape[1]
    cdtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
    psi = torch.zeros(x.shape[0], 2 ** n, dtype=cdtype, device=x.device)
    psi[:, 0] = 1
    h = torch.tensor([[1, 1], [1, -1]], dtype=cdtype, device=x.device) / math.sqrt(2)

    def phase_gate(lam: torch.Tensor) -> torch.Tensor:
        g = torch.zeros(lam.shape[0], 2, 2, dtype=cdtype, device=x.device)
        g[:, 0, 0] = 1
        g[:, 1, 1] = torch.polar(torch.ones_like(lam), lam)
        return g

    for _ in range(reps):
        for k in range(n):
            psi = _apply_1q(psi, h, k)
        for k in range(n):
            psi = _apply_1q(psi, phase_gate(-2 * x[:, k]), k)
        for k, l in pairs(n, entanglement):
            psi = _cnot(psi, k, l)
            psi = _apply_1q(psi, phase_gate(-2 * (math.pi - x[:, k]) * (math.pi - x[:, l])), l)
            psi = _cnot(psi, k, l)
    return psi


def adhoc_data(num_qubits: int = 2, n_per_class: int = 20, *, gap: float = 0.3, reps: int = 2, seed: int = 0,
               max_draws: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """The paper's artificial data (Sec. "Quantum variational classification"): x uniform in [0, 2π)ⁿ, a random
    unitary V (Haar, seeded) and the parity f = Z⊗…⊗Z; label m(x) = +1 if ⟨Φ(x)|V†fV|Φ(x)⟩ ≥ gap, −1 if ≤ −gap,
    points in between are discarded. Returns ``n_per_class`` points per class, x (2m, n) float64, y in {−1, +1}."""
    if not 1 <= num_qubits <= 12 or n_per_class < 1 or not 0 <= gap < 1:
        raise ValueError(f"need 1 <= num_qubits <= 12, n_per_class >= 1, 0 <= gap < 1; got {num_qubits}, "
                         f"{n_per_class}, {gap}")
    gen = torch.Generator().manual_seed(seed)
    dim = 2 ** num_qubits
    z = torch.complex(torch.randn(dim, dim, generator=gen, dtype=torch.float64),
                      torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    qm, r = torch.linalg.qr(z)
    v = qm * (torch.diagonal(r) / torch.diagonal(r).abs())[None, :]       # Haar-distributed unitary
    parity = torch.ones(dim, dtype=torch.float64)
    for k in range(num_qubits):
        parity = parity * (1 - 2 * ((torch.arange(dim) >> k) & 1)).to(torch.float64)
    xs, ys, counts, drawn = [], [], {1: 0, -1: 0}, 0
    while min(counts.values()) < n_per_class:
        if drawn >= max_draws:
            raise RuntimeError(f"adhoc_data: fewer than {n_per_class} points per class after {max_draws} draws "
                               f"at gap={gap}; lower the gap or n_per_class")
        x = torch.rand(1024, num_qubits, generator=gen, dtype=torch.float64) * 2 * math.pi
        drawn += 1024
        psi = feature_states(x, reps=reps) @ v.T                             # V|Φ(x)⟩
        val = (psi.abs().square() * parity).sum(1)
        for xi, vi in zip(x.numpy(), val.numpy()):
            lab = 1 if vi >= gap else -1 if vi <= -gap else 0
            if lab and counts[lab] < n_per_class:
                counts[lab] += 1
                xs.append(xi)
                ys.append(lab)
    return np.stack(xs), np.array(ys)
