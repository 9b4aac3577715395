"""``kernels.quantum_zz_kernel``: the quantum kernel of the ZZ feature map, simulated exactly on statevectors.

Havlíček et al., "Supervised learning with quantum enhanced feature spaces" (arXiv 1804.11326). For x ∈ R^n
(one qubit per feature) the feature map is

    |Φ(x)⟩ = U_Φ(x) H^{⊗n} ⋯ U_Φ(x) H^{⊗n} |0⟩^{⊗n}      (``reps`` layers; the paper uses 2)
    U_Φ(x) = exp(i Σ_{S} φ_S(x) Π_{k∈S} Z_k),   φ_{k}(x) = x_k,   φ_{k,l}(x) = (π − x_k)(π − x_l),

over the singletons S = {k} and the pairs S = {k, l} of the entanglement pattern (``"full"``: every pair k < l;
``"linear"``: (k, k+1)). U_Φ is diagonal in the computational basis: on |b⟩ its phase is
D_b(x) = Σ_S φ_S(x) Π_{k∈S} z_k(b) with z_k(b) = 1 − 2 b_k. H^{⊗n} is the Walsh–Hadamard transform
(O(n 2ⁿ) per state). The kernel is the fidelity

    k(x, x') = |⟨Φ(x) | Φ(x')⟩|²,

i.e. the probability of measuring |0…0⟩ after the circuit U(x)† U(x') on |0…0⟩; with ``shots`` it is estimated from that
many measurements (Binomial(shots, k)/shots, seeded by ``generator``), as on hardware. Qiskit's ``ZZFeatureMap`` uses
phase gates P(2φ), i.e. exp(−i φ Z) up to a global phase: the complex conjugate of the state above, so the same kernel.

Cost: O(N 2ⁿ (n + reps n²)) for the states and O(N₁ N₂ 2ⁿ) for the Gram matrix; n ≤ 12 qubits (MAX_QUBITS).
"""

from __future__ import annotations

import math

import torch

MAX_QUBITS = 12
ENTANGLEMENTS = ("full", "linear")


def check_features(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
        raise ValueError(f"{name} must be a 2-D floating-point tensor (samples, qubits); got "
                         f"{getattr(x, 'shape', type(x))}")
    if x.shape[1] > MAX_QUBITS:
        raise ValueError(f"{name} has {x.shape[1]} features = qubits, more than the {MAX_QUBITS}-qubit limit of the "
                         f"statevector simulation (2^n amplitudes per point); reduce the features first, e.g. PCA "
                         f"to <= {MAX_QUBITS}")
    if x.shape[1] < 1:
        raise ValueError(f"{name} needs at least one feature (qubit)")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values; clean or impute the inputs first")


def pairs(n: int, entanglement: str) -> list[tuple[int, int]]:
    if entanglement not in ENTANGLEMENTS:
        raise ValueError(f"entanglement must be one of {ENTANGLEMENTS}; got {entanglement!r}")
    if entanglement == "full":
        return [(k, l) for k in range(n) for l in range(k + 1, n)]
    return [(k, k + 1) for k in range(n - 1)]


def z_signs(n: int, dtype: torch.dtype, device: torch.device | str | None = None) -> torch.Tensor:
    """z_k(b) = 1 − 2 b_k, shape (2ⁿ, n); qubit k is bit k of the basis index b (little-endian, as Qiskit)."""
    b = torch.arange(2 ** n, device=device)
    bits = (b[:, None] >> torch.arange(n, device=device)[None, :]) & 1
    return (1 - 2 * bits).to(dtype)


def phases(x: torch.Tensor, entanglement: str = "full") -> torch.Tensor:
    """D_b(x) mod 2π for every basis state, shape (N, 2ⁿ), in x's dtype. Computed in float64 and reduced mod 2π
    before the cast: in float32 a phase of 10² rad would carry 10⁻⁵ rad of rounding (and its summation order, hence
    the memory layout, would show in the kernel)."""
    n = x.shape[1]
    xd = x.double()
    z = z_signs(n, torch.float64, x.device)
    d = xd @ z.T
    for k, l in pairs(n, entanglement):
        d = d + ((math.pi - xd[:, k]) * (math.pi - xd[:, l]))[:, None] * (z[:, k] * z[:, l])[None, :]
    if not bool((d.abs() < 2.0 ** 53).all()):
        raise ValueError(f"the ZZ phases Σ_S φ_S(x) exceed 2^53 rad (features up to {float(x.abs().max()):.3g}; the "
                         f"pair phases (π − x_k)(π − x_l) are products of features), where no digit of the angle "
                         f"mod 2π is left; the features are angles: rescale them, e.g. to [0, 2π]")
    return torch.remainder(d, 2 * math.pi).to(x.dtype)


def walsh_hadamard(psi: torch.Tensor) -> torch.Tensor:
    """H^{⊗n} applied to states (N, 2ⁿ): the fast Walsh–Hadamard transform, normalised."""
    n_states, dim = psi.shape
    n = dim.bit_length() - 1
    out = psi
    for k in range(n):
        v = out.reshape(n_states, dim >> (k + 1), 2, 1 << k)
        a, b = v[:, :, 0], v[:, :, 1]
        out = torch.stack((a + b, a - b), 2).reshape(n_states, dim)
    return out / math.sqrt(dim)


def feature_states(x: torch.Tensor, *, reps: int = 2, entanglement: str = "full") -> torch.Tensor:
    """|Φ(x)⟩ for every row of x, complex (N, 2ⁿ)."""
    check_features(x)
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be an int >= 1; got {reps!r}")
    n = x.shape[1]
    cdtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
    phase = torch.polar(torch.ones((), dtype=x.dtype, device=x.device), phases(x, entanglement))
    psi = torch.zeros(x.shape[0], 2 ** n, dtype=cdtype, device=x.device)
    psi[:, 0] = 1
    for _ in range(reps):
        psi = phase * walsh_hadamard(psi)
    return psi


def quantum_zz_kernel(x1: torch.Tensor, x2: torch.Tensor | None = None, *, reps: int = 2,
                      entanglement: str = "full", shots: int | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """k(x1_i, x2_j) = |⟨Φ(x1_i)|Φ(x2_j)⟩|², (n1, n2), real of x's dtype (exact, or estimated from ``shots``)."""
    check_features(x1, "x1")
    if x2 is not None:
        check_features(x2, "x2")
        if x2.shape[1] != x1.shape[1] or x2.dtype != x1.dtype:
            raise ValueError(f"x1 and x2 must have the same number of features (qubits) and dtype; got "
                             f"{x1.shape[1]} ({x1.dtype}) and {x2.shape[1]} ({x2.dtype})")
    s1 = feature_states(x1, reps=reps, entanglement=entanglement)
    s2 = s1 if x2 is None else feature_states(x2, reps=reps, entanglement=entanglement)
    k = (s1.conj() @ s2.T).abs().square().clamp(0.0, 1.0)
    if shots is None:
        return k
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise ValueError(f"shots must be None (exact) or an int >= 1; got {shots!r}")
    counts = torch.binomial(torch.full_like(k, float(shots)), k.detach(), generator=generator)
    return counts / shots
