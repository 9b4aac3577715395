"""Differentially private similarity sums (Backurs, Lin, Mahabadi, Silwal, Tarnawski, ICLR 2024, arXiv 2403.08917).

Release once, from a private data set X ⊂ R^d, a data structure that answers F(y) = Σ_{x∈X} f(x, y) for any
number of queries y. Privacy is ε-differential privacy (pure) under add/remove-one neighbouring data sets; every
query is post-processing of the released structure, so answering more queries costs no privacy. All randomness
that does not touch the data (projections, frequencies, phases) is public.

Kernels f = gaussian exp(−‖x−y‖²/2h²), laplace exp(−‖x−y‖/h), cauchy 1/(1 + ‖x−y‖²/h²) -- ``PrivateKernelSum``:
    Each is a scale mixture of Gaussians, f(v) = E_s[exp(−s‖v‖²/2h²)] (s ≡ 1; s = 1/c², c ~ N(0,1); s = 2τ,
    τ ~ Exp(1)), the one-dimensional decomposition the paper's function-approximation reduction uses, so random
    features φ(x) = √(2/D)·cos(ω_jᵀ P x + b_j) with ω_j = √s_j z_j / h, z_j ~ N(0, I_k), b_j ~ U[0, 2π) satisfy
    E φ(x)·φ(y) = f(P(x − y)). P is the paper's dimensionality reduction (k × d Gaussian JL matrix / √k;
    identity when ``projection_dim=None``, which is the prior-work baseline of noisy random Fourier features).
    Release μ̃ = (Σ_x φ(x), |X|) + Lap(Δ/ε)^{D+1}.  Sensitivity: adding or removing one point changes the vector
    by (φ(x), 1), whose ℓ1 norm is ≤ D·√(2/D) + 1 = √(2D) + 1 =: Δ, so the Laplace mechanism is ε-DP.
    Answer: F̂(y) = φ(y)·μ̃[:D].

Distances f = ‖x − y‖₁ and ‖x − y‖₂ -- ``PrivateDistanceSum``:
    ℓ1 decomposes over coordinates, Σ_x ‖x − y‖₁ = Σ_k Σ_x |x_k − y_k|. Per coordinate, on a public range
    [lo, hi] cut into 2^L cells, a dyadic tree holds at each node the count and the sum of t = (x_k − lo)/(hi − lo)
    of its points; then with C_L, S_L (C_R, S_R) the count and sum of the cells left (right) of y's cell c,
        Σ_x |x_k − y_k| = (hi − lo)·[t_y C_L − S_L + S_R − t_y C_R + c·|t_c − t_y|],
    exact up to half a cell width per point in y's cell. Each range sum takes its dyadic nodes directly or as the
    root minus the complementary range, whichever needs fewer noisy nodes (about L/2 at worst; a choice that
    depends on y only). Sensitivity: one point touches one node per level per coordinate, changing counts by 1
    and sums by t ≤ 1: ℓ1 ≤ d(L + 1) for each of the two arrays, so each gets Lap(2d(L + 1)/ε) (ε/2 apiece).
    ℓ2 reduces to ℓ1 by a Gaussian projection G (k × d):
    E|gᵀv| = √(2/π)‖v‖₂, so ‖v‖₂ ≈ √(π/2)/k · ‖Gv‖₁, and the ℓ1 structure is built on Gx.

``PrivateSimilarityClassifier``: one ``PrivateKernelSum`` per class (each point is in one class, so by parallel
composition the whole release is ε-DP); predict argmax_c F̂_c(y) / ñ_c, the average similarity to class c.

Threat model. Public: the parameters, the public randomness (P, ω, b; the ℓ2 projection G), derived from
``random_state`` (the only seed a user can give), and the released noisy arrays; all of it is stored explicitly in
``state_dict()``, so a reload answers exactly as the fitted structure. Private: the data and the Laplace noise. The
noise is drawn at each release from a generator seeded with 128 bits of OS entropy (``secrets.randbits``), which no
user seed, global NumPy/torch seed or saved state reaches, and it is never stored: two releases with the same
``random_state`` get independent noise, and nothing saved lets anyone subtract it.
"""

from __future__ import annotations

import math
import secrets
from numbers import Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

PRIVATE_KERNELS = ("gaussian", "laplace", "cauchy")


def _check_epsilon(epsilon: float) -> float:
    if not (isinstance(epsilon, Real) and epsilon > 0):
        raise ValueError(f"epsilon must be a number > 0 (math.inf for no privacy), got {epsilon!r}")
    return float(epsilon)


def _noise_generator() -> np.random.Generator:
    """The Laplace noise's generator: 128 bits of fresh OS entropy per release; no user seed reaches it."""
    return np.random.default_rng(secrets.randbits(128))


def _laplace(scale: float, size) -> np.ndarray:
    """Lap(scale) noise from a fresh OS-entropy generator (never seeded by the user, never stored)."""
    return np.zeros(size) if scale == 0 else _noise_generator().laplace(0.0, scale, size)


def _array(state: dict[str, Any], key: str, what: str) -> np.ndarray:
    if key not in state:
        raise ValueError(f"{what} state has no {key!r}: it was saved by an older hyperzoo-kde whose noise could be "
                         "regenerated from its seed (not private); fit the structure again and save it anew")
    value = state[key]
    return None if value is None else torch.as_tensor(value).double().numpy()


def _as_array(x, name: str, d: int | None = None) -> np.ndarray:
    x = np.asarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (points × features), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinity; remove or impute those rows first")
    if d is not None and x.shape[1] != d:
        raise ValueError(f"{name} has {x.shape[1]} features but the structure was fitted with {d}")
    return x


class NoisyRandomFeatures:
    """The random-feature map φ of a private kernel sum (public randomness only; see the module docstring)."""

    def __init__(self, kernel: str, bandwidth: float, d: int, n_features: int, projection_dim: int | None,
                 rng: np.random.Generator):
        if kernel not in PRIVATE_KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(PRIVATE_KERNELS)}, got {kernel!r}")
        if not (bandwidth > 0 and math.isfinite(bandwidth)):
            raise ValueError(f"bandwidth must be a finite number > 0, got {bandwidth!r}")
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        k = d if projection_dim is None else int(projection_dim)
        if k < 1:
            raise ValueError(f"projection_dim must be >= 1, got {projection_dim}")
        self.proj = None if projection_dim is None else rng.standard_normal((d, k)) / math.sqrt(k)
        if kernel == "gaussian":
            scale = np.ones(n_features)
        elif kernel == "laplace":
            scale = 1.0 / np.abs(rng.standard_normal(n_features))
        else:
            scale = np.sqrt(2.0 * rng.exponential(1.0, n_features))
        self.omega = rng.standard_normal((k, n_features)) * scale / bandwidth
        self.phase = rng.uniform(0.0, 2 * math.pi, n_features)
        self.n_features = n_features

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NoisyRandomFeatures:
        """The map from its saved public arrays (``state()``), exactly: nothing is regenerated from a seed."""
        self = cls.__new__(cls)
        self.omega = _array(state, "omega", "NoisyRandomFeatures")
        self.phase = _array(state, "phase", "NoisyRandomFeatures")
        self.proj = _array(state, "proj", "NoisyRandomFeatures")
        self.n_features = int(self.omega.shape[1])
        return self

    def state(self) -> dict[str, Any]:
        """The public randomness as tensors: projection P (or None), frequencies ω, phases b."""
        return {"proj": None if self.proj is None else torch.as_tensor(self.proj), "omega": torch.as_tensor(self.omega),
                "phase": torch.as_tensor(self.phase)}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = x if self.proj is None else x @ self.proj
        return math.sqrt(2.0 / self.n_features) * np.cos(z @ self.omega + self.phase)

    @property
    def sensitivity(self) -> float:
        """max ℓ1 norm of (φ(x), 1): √(2D) + 1."""
        return math.sqrt(2.0 * self.n_features) + 1.0


class PrivateKernelSum(BaseEstimator):
    """ε-DP data structure for F(y) = Σ_x f(x, y), f a Gaussian, Laplace or Cauchy kernel (random features).

    Args: kernel, bandwidth h, epsilon (math.inf: no noise), n_features D, projection_dim k (None: no JL
    projection, i.e. the prior-work noisy random Fourier features), random_state: seeds the public random
    features only (None: OS entropy); the Laplace noise never depends on it (see the module's threat model).
    """

    fits = ("private-similarity",)

    def __init__(self, *, kernel: str = "gaussian", bandwidth: float = 1.0, epsilon: float = 1.0,
                 n_features: int = 1024, projection_dim: int | None = None, random_state: int | None = 0):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.epsilon = epsilon
        self.n_features = n_features
        self.projection_dim = projection_dim
        self.random_state = random_state

    def noise_scale(self) -> float:
        """Laplace scale b = Δ/ε of every released coordinate."""
        return self.features_.sensitivity / _check_epsilon(self.epsilon)

    def release(self, X) -> np.ndarray:
        """The exact (pre-noise) vector (Σ_x φ(x), |X|) whose ℓ1 sensitivity is ``features_.sensitivity``."""
        X = _as_array(X, "X", self.n_features_in_)
        return np.concatenate([self.features_(X).sum(0), [len(X)]])

    def fit(self, X, y=None) -> PrivateKernelSum:
        X = _as_array(X, "X")
        _check_epsilon(self.epsilon)
        public = np.random.default_rng(self.random_state)      # public randomness only
        self.n_features_in_ = X.shape[1]
        self.features_ = NoisyRandomFeatures(self.kernel, float(self.bandwidth), X.shape[1], int(self.n_features),
                                             self.projection_dim, public)
        self.released_ = self.privatize(self.release(X))
        return self

    def privatize(self, exact: np.ndarray) -> np.ndarray:
        """The Laplace mechanism: exact + Lap(b)^{D+1}, b = Δ/ε, fresh OS-entropy noise (what ``fit`` releases)."""
        return exact + _laplace(self.noise_scale(), exact.shape)

    def predict(self, Y) -> np.ndarray:
        """F̂(y) = φ(y)·μ̃ for each row y of Y."""
        Y = _as_array(Y, "Y", getattr(self, "n_features_in_", None))
        return self.features_(Y) @ self.released_[:-1]

    def count(self) -> float:
        """The released (noisy) number of points."""
        return float(self.released_[-1])

    # saving without pickle: the public randomness is stored explicitly, the noise is not (it cannot be)
    def state_dict(self) -> dict[str, Any]:
        return {"params": self.get_params(), "released": torch.as_tensor(self.released_),
                "n_features_in_": int(self.n_features_in_), "features": self.features_.state()}

    def load_state_dict(self, state: dict[str, Any]) -> PrivateKernelSum:
        self.set_params(**state["params"])
        if "features" not in state:
            _array(state, "features", "PrivateKernelSum")
        self.n_features_in_ = int(state["n_features_in_"])
        self.features_ = NoisyRandomFeatures.from_state(state["features"])
        self.released_ = _array(state, "released", "PrivateKernelSum")
        return self


class PrivateDistanceSum(BaseEstimator):
    """ε-DP data structure for F(y) = Σ_x ‖x − y‖₁ or ‖x − y‖₂ (dyadic trees over one-dimensional projections).

    Args: metric ``"l1"`` or ``"l2"``; bounds (lo, hi): the public box every data point lies in (a point outside
    is an error); epsilon; levels L (2^L cells per coordinate); projection_dim k (ℓ2 only); random_state: seeds
    the public projection G only (None: OS entropy); the Laplace noise never depends on it.
    ``flat=True`` releases only the leaf counts and sums (no tree): the ablation baseline.
    """

    fits = ("private-similarity",)

    def __init__(self, *, metric: str = "l1", bounds: tuple[float, float] = (0.0, 1.0), epsilon: float = 1.0,
                 levels: int = 10, projection_dim: int = 64, flat: bool = False, random_state: int | None = 0):
        self.metric = metric
        self.bounds = bounds
        self.epsilon = epsilon
        self.levels = levels
        self.projection_dim = projection_dim
        self.flat = flat
        self.random_state = random_state

    def _setup(self, d: int, proj: np.ndarray | None = None) -> None:
        """Check the parameters; fix the public projection G (drawn from random_state, or the saved ``proj``)."""
        if self.metric not in ("l1", "l2"):
            raise ValueError(f"metric must be 'l1' or 'l2', got {self.metric!r}")
        lo, hi = (float(b) for b in self.bounds)
        if not hi > lo:
            raise ValueError(f"bounds must be (lo, hi) with hi > lo, got {self.bounds!r}")
        if not (isinstance(self.levels, int) and 0 <= self.levels <= 24):
            raise ValueError(f"levels must be an int in [0, 24], got {self.levels!r}")
        self.n_features_in_ = d
        if self.metric == "l2":
            k = int(self.projection_dim)
            self.proj_ = np.random.default_rng(self.random_state).standard_normal((d, k)) if proj is None else proj
            if self.proj_.shape != (d, k):
                raise ValueError(f"saved projection has shape {self.proj_.shape}, expected {(d, k)}")
            centre, radius = 0.5 * (lo + hi), 0.5 * (hi - lo) * math.sqrt(d)
            norms = np.linalg.norm(self.proj_, axis=0)
            self.lo_ = centre * self.proj_.sum(0) - norms * radius
            self.hi_ = centre * self.proj_.sum(0) + norms * radius
        else:
            self.proj_ = None
            self.lo_, self.hi_ = np.full(d, lo), np.full(d, hi)

    def _coords(self, X: np.ndarray) -> np.ndarray:
        """t ∈ [0, 1]: each (projected) coordinate rescaled to its public range."""
        z = X if self.proj_ is None else X @ self.proj_
        return (z - self.lo_) / (self.hi_ - self.lo_)

    def sensitivity(self) -> float:
        """ℓ1 change of each released array (counts, sums) when one point is added or removed: k(L + 1)."""
        k = len(self.lo_)
        return float(k * (1 if self.flat else self.levels + 1))

    def noise_scale(self) -> float:
        return 2.0 * self.sensitivity() / _check_epsilon(self.epsilon)

    def release(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Exact (pre-noise) node counts and sums: arrays (k, 2^(L+1) − 1) in heap order (root first)."""
        X = _as_array(X, "X", self.n_features_in_)
        lo, hi = (float(b) for b in self.bounds)
        if X.size and (X.min() < lo or X.max() > hi):
            raise ValueError(f"data outside the public bounds {tuple(self.bounds)} (min {X.min():.4g}, "
                             f"max {X.max():.4g}); pass bounds that contain every point (clip it yourself)")
        t = np.clip(self._coords(X), 0.0, 1.0)
        cells = 1 << self.levels
        leaf = np.minimum((t * cells).astype(np.int64), cells - 1)
        k = t.shape[1]
        counts = np.zeros((k, 2 * cells - 1))
        sums = np.zeros((k, 2 * cells - 1))
        levels = [self.levels] if self.flat else range(self.levels + 1)
        for level in levels:
            node = (leaf >> (self.levels - level)) + (1 << level) - 1   # heap index of the ancestor at this level
            for j in range(k):
                counts[j] += np.bincount(node[:, j], minlength=2 * cells - 1)
                sums[j] += np.bincount(node[:, j], weights=t[:, j], minlength=2 * cells - 1)
        return counts, sums

    def fit(self, X, y=None) -> PrivateDistanceSum:
        X = _as_array(X, "X")
        _check_epsilon(self.epsilon)
        self._setup(X.shape[1])
        self.counts_, self.sums_ = self.privatize(self.release(X))
        return self

    def privatize(self, exact: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The Laplace mechanism on both arrays: + Lap(b), b = 2·sensitivity/ε, fresh OS-entropy noise (what
        ``fit`` releases)."""
        b, mask = self.noise_scale(), self._released_mask()
        return tuple((a + _laplace(b, a.shape)) * mask for a in exact)

    def _released_mask(self) -> np.ndarray:
        cells = 1 << self.levels
        mask = np.zeros(2 * cells - 1)
        if self.flat:
            mask[cells - 1:] = 1
        else:
            mask[:] = 1
        return mask

    def _direct(self, arr: np.ndarray, j: np.ndarray, suffix: bool) -> np.ndarray:
        """Σ over cells [0, j) (or [j, 2^L) when ``suffix``) from its popcount dyadic nodes, per coordinate."""
        cells = 1 << self.levels
        jj = cells - j if suffix else j
        out = np.zeros(j.shape)
        for level in range(1, self.levels + 1):
            top = jj >> (self.levels - level)
            take = (top & 1).astype(bool)
            node = (2**level - top) if suffix else (top - 1)          # index within the level
            vals = np.take_along_axis(arr, np.clip(node + 2**level - 1, 0, 2 * cells - 2).T, axis=1).T
            out += np.where(take, vals, 0.0)
        return out

    def _range(self, arr: np.ndarray, j: np.ndarray, suffix: bool) -> np.ndarray:
        """Σ over [0, j) (or [j, 2^L)): directly, or as the root minus the complement, whichever adds fewer
        noisy nodes (a choice that depends on j only, not on the data)."""
        cells = 1 << self.levels
        if self.flat:
            leaves = arr[:, cells - 1:]
            csum = np.concatenate([np.zeros((len(arr), 1)), np.cumsum(leaves, axis=1)], axis=1)
            pre = np.take_along_axis(csum, j.T, axis=1).T
            return csum[:, -1][None, :] - pre if suffix else pre
        def pop(v):
            return sum((v >> b) & 1 for b in range(self.levels + 1))   # popcount of cell indices
        own, other = (pop(cells - j), pop(j)) if suffix else (pop(j), pop(cells - j))
        direct = self._direct(arr, j, suffix)
        via_root = arr[:, 0][None, :] - self._direct(arr, j, not suffix)
        return np.where(own <= other + 1, direct, via_root)

    def predict(self, Y) -> np.ndarray:
        """F̂(y) for each row y of Y: per coordinate (t_y C_L − S_L) + (S_R − t_y C_R) + c·|t_c − t_y| with L, R the
        cells left and right of y's cell c (see the module docstring)."""
        Y = _as_array(Y, "Y", self.n_features_in_)
        cells = 1 << self.levels
        t = np.clip(self._coords(Y), 0.0, 1.0)
        leaf = np.minimum((t * cells).astype(np.int64), cells - 1)
        c_left, s_left = self._range(self.counts_, leaf, False), self._range(self.sums_, leaf, False)
        c_right, s_right = self._range(self.counts_, leaf + 1, True), self._range(self.sums_, leaf + 1, True)
        own = leaf + cells - 1
        c_own = np.take_along_axis(self.counts_, own.T, axis=1).T
        centre = (leaf + 0.5) / cells
        per_coord = (t * c_left - s_left) + (s_right - t * c_right) + c_own * np.abs(centre - t)
        total = (per_coord * (self.hi_ - self.lo_)).sum(1)
        if self.metric == "l2":
            total *= math.sqrt(math.pi / 2) / self.proj_.shape[1]
        return total

    def state_dict(self) -> dict[str, Any]:
        params = {**self.get_params(), "bounds": [float(b) for b in self.bounds]}
        return {"params": params, "counts": torch.as_tensor(self.counts_), "sums": torch.as_tensor(self.sums_),
                "n_features_in_": int(self.n_features_in_),
                "proj": None if self.proj_ is None else torch.as_tensor(self.proj_)}

    def load_state_dict(self, state: dict[str, Any]) -> PrivateDistanceSum:
        params = dict(state["params"])
        params["bounds"] = tuple(params["bounds"])
        self.set_params(**params)
        proj = _array(state, "proj", "PrivateDistanceSum") if self.metric == "l2" else None
        self._setup(int(state["n_features_in_"]), proj)
        self.counts_ = _array(state, "counts", "PrivateDistanceSum")
        self.sums_ = _array(state, "sums", "PrivateDistanceSum")
        return self


class PrivateSimilarityClassifier(BaseEstimator):
    """ε-DP classification by average similarity: argmax_c F̂_c(y)/ñ_c with one ``PrivateKernelSum`` per class."""

    fits = ("private-classification",)

    def __init__(self, *, kernel: str = "gaussian", bandwidth: float = 1.0, epsilon: float = 1.0,
                 n_features: int = 1024, projection_dim: int | None = None, random_state: int | None = 0):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.epsilon = epsilon
        self.n_features = n_features
        self.projection_dim = projection_dim
        self.random_state = random_state

    def fit(self, X, y) -> PrivateSimilarityClassifier:
        X = _as_array(X, "X")
        y = np.asarray(y)
        if y.shape != (len(X),):
            raise ValueError(f"y must have shape ({len(X)},), got {y.shape}")
        self.classes_ = np.unique(y)
        self.structures_ = []
        for i, c in enumerate(self.classes_):
            seed = None if self.random_state is None else self.random_state + 7919 * (i + 1)
            s = PrivateKernelSum(**{**self.get_params(), "random_state": seed}).fit(X[y == c])
            self.structures_.append(s)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Average private similarity to each class: F̂_c(y) / max(ñ_c, 1)."""
        return np.stack([s.predict(X) / max(s.count(), 1.0) for s in self.structures_], axis=1)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.get_params(), "classes": torch.as_tensor(self.classes_),
                "structures": [s.state_dict() for s in self.structures_]}

    def load_state_dict(self, state: dict[str, Any]) -> PrivateSimilarityClassifier:
        self.set_params(**state["params"])
        self.classes_ = state["classes"].numpy()
        self.structures_ = [PrivateKernelSum().load_state_dict(s) for s in state["structures"]]
        return self


def audit_laplace(run, statistic, neighbours, *, epsilon: float, trials: int = 20000, delta: float = 1e-3,
                  seed: int = 0) -> dict[str, float]:
    """Empirical privacy audit on two neighbouring data sets: a (1 − δ)-confidence lower bound on ε.

    ``run(data, seed)`` releases the mechanism's output on ``data`` (``seed`` serves mechanisms under test that take
    one; this module's own draw fresh OS-entropy noise on every release and need none); ``statistic(output)`` maps
    it to a number.
    For each ordered pair (D, D') of ``neighbours`` and thresholds t fixed on an independent calibration half, the
    tail events S = {stat > t} give ε ≥ log P_D(S) − log P_D'(S); with Clopper–Pearson bounds (Bonferroni over the
    events) the reported ``epsilon_lower`` holds with probability ≥ 1 − δ. A correct ε-DP mechanism keeps
    ``epsilon_lower ≤ ε``; ``flagged`` says it did not.
    """
    from scipy.stats import beta

    d0, d1 = neighbours
    stats = [np.array([statistic(run(data, seed + 2 * i + j)) for i in range(trials)])
             for j, data in enumerate((d0, d1))]
    half = trials // 2
    calib = np.concatenate([s[:half] for s in stats])
    thresholds = np.quantile(calib, np.linspace(0.02, 0.98, 25))
    events = 2 * len(thresholds)
    a = delta / (2 * events)
    best, where = -math.inf, math.nan
    m = trials - half
    for t in thresholds:
        counts = [int((s[half:] > t).sum()) for s in stats]
        for hi_i, lo_i in ((0, 1), (1, 0)):
            k_hi, k_lo = counts[hi_i], counts[lo_i]
            p_hi = beta.ppf(a, k_hi, m - k_hi + 1) if k_hi > 0 else 0.0       # lower bound
            p_lo = beta.ppf(1 - a, k_lo + 1, m - k_lo) if k_lo < m else 1.0   # upper bound
            if p_hi > 0:
                value = math.log(p_hi) - math.log(p_lo)
                if value > best:
                    best, where = value, float(t)
    return {"epsilon": float(epsilon), "epsilon_lower": float(best), "threshold": where,
            "flagged": bool(best > epsilon), "trials": int(trials), "delta": float(delta)}
