"""Deep kernel machines (Milsom, Anson, Aitchison et al., "A theory of representation learning gives a deep
generalisation of kernel methods", arXiv 2108.13097).

A deep kernel machine replaces the random features of a deep Gaussian process by their Gram matrices G_l (one per
hidden layer) and optimises them. With G_0 the input kernel and K(·) the NNGP layer map, the DKM objective is

    L(G_1 … G_L) = log N(Y; 0, K(G_L) + σ²I) − Σ_l ν_l KL( N(0, G_l) ‖ N(0, K(G_{l−1})) ),
    KL(N(0, G) ‖ N(0, K)) = ½ [tr(K⁻¹G) − P + log det K − log det G]                 (P points),

(log N summed over the output channels). Here G_0 = Σ⁰ = σ_w² XXᵀ/d + σ_b² is the fixed Gram of the first
(linear) layer's pre-activations, and K(G)_ab = σ_w² E[φ(u)φ(v)] + σ_b² with
(u, v) ~ N(0, [[G_aa, G_ab], [G_ab, G_bb]]) and φ = ReLU (the arc-cosine kernel, as in ``nngp_ntk``). ν_l plays the
role of the width N_l (the Wishart log-prior of the Gram of N_l features is −N_l·KL + const). As ν → ∞ the KL terms
force G_l = K(G_{l−1}): the optimum is the NNGP recursion, G_l = Σ^l,
and the output kernel is Σ^{L+1}. Finite ν lets the data pull the hidden Grams away from the prior:
representation learning, which the NNGP cannot do. (So L learned Grams are the hidden layers 1 … L of a network
whose ν → ∞ limit is ``nngp_ntk(depth=L + 1)``.)

**Optimisation over Gram matrices.** G_l = L_l L_lᵀ with L_l lower triangular (PSD by construction),
initialised at the NNGP Grams (where every KL term is 0), maximised by L-BFGS (strong Wolfe line search) in float64.

**Sparse (inducing-point) DKM.** With M inducing inputs Z only the M×M inducing Grams G_l^ii are parameters. For the
n data points, each layer takes the Gaussian conditional of the features given the inducing features:
G^ti = K^ti (K^ii)⁻¹ G^ii and diag G^tt = diag K^tt − diag(K^ti (K^ii)⁻¹ K^it) + diag(K^ti (K^ii)⁻¹ G^ii (K^ii)⁻¹ K^it),
and the next layer needs only K^ii, K^ti and diag K^tt (the arc-cosine map is entrywise). The KL terms are taken on
the inducing Grams, and the likelihood is the collapsed variational bound of Titsias (2009) on the output kernel,
log N(Y; 0, Q^tt + σ²I) − tr(K^tt − Q^tt)/(2σ²), Q^tt = K^ti (K^ii)⁻¹ K^it, computed by the Woodbury identity:
O(n M² L) time and O(n M) memory, linear in n. With Z = X the bound is tight and the conditional is the identity,
so the sparse objective equals the full one (tested). Predictions at new points use the same conditional (full DKM:
the inducing points are the training points) and the GP posterior mean on the output kernel.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class _ArcCosJ(torch.autograd.Function):
    """J(ρ) = √(1 − ρ²) + (π − arccos ρ) ρ, with dJ/dρ = π − arccos ρ (finite at ρ = ±1, unlike autograd's
    arccos' and sqrt' whose infinities cancel)."""

    @staticmethod
    def forward(ctx, rho):
        rho = rho.clamp(-1.0, 1.0)
        ctx.save_for_backward(rho)
        return torch.sqrt((1 - rho * rho).clamp_min(0.0)) + (math.pi - torch.arccos(rho)) * rho

    @staticmethod
    def backward(ctx, grad):
        (rho,) = ctx.saved_tensors
        return grad * (math.pi - torch.arccos(rho))


def relu_map(g_ab: torch.Tensor, d_a: torch.Tensor, d_b: torch.Tensor, weight_variance: float,
             bias_variance: float) -> torch.Tensor:
    """K(G)_ab = σ_w² √(G_aa G_bb) J(ρ)/(2π) + σ_b², ρ = G_ab/√(G_aa G_bb): σ_w² E[relu(u) relu(v)] + σ_b²."""
    norm = torch.sqrt(d_a[:, None] * d_b[None, :])
    return weight_variance * norm * _ArcCosJ.apply(g_ab / norm) / (2 * math.pi) + bias_variance


def relu_map_diag(d: torch.Tensor, weight_variance: float, bias_variance: float) -> torch.Tensor:
    """K(G)_aa = σ_w² G_aa / 2 + σ_b² (ρ = 1)."""
    return weight_variance * d / 2 + bias_variance


def gaussian_kl(g: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """KL(N(0, G) ‖ N(0, K)) = ½ [tr(K⁻¹G) − P + log det K − log det G]."""
    lk = torch.linalg.cholesky(k)
    lg = torch.linalg.cholesky(g)
    tr = torch.cholesky_solve(g, lk).diagonal().sum()
    return 0.5 * (tr - g.shape[0] + 2 * torch.log(lk.diagonal()).sum() - 2 * torch.log(lg.diagonal()).sum())


def gaussian_loglik(y: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Σ_c log N(y_c; 0, K) for y (P, C)."""
    lk = torch.linalg.cholesky(k)
    alpha = torch.cholesky_solve(y, lk)
    p, c = y.shape
    return -0.5 * (y * alpha).sum() - c * torch.log(lk.diagonal()).sum() - 0.5 * p * c * math.log(2 * math.pi)


def titsias_bound(y: torch.Tensor, k_ii: torch.Tensor, k_ti: torch.Tensor, k_tt_diag: torch.Tensor,
                  noise: float) -> torch.Tensor:
    """log N(Y; 0, Q + σ²I) − C·tr(K^tt − Q)/(2σ²), Q = K^ti (K^ii)⁻¹ K^it, by Woodbury in O(n M²)."""
    n, c = y.shape
    m = k_ii.shape[0]
    l_ii = torch.linalg.cholesky(k_ii)
    a = torch.linalg.solve_triangular(l_ii, k_ti.T, upper=False)          # (M, n): Q = AᵀA
    b = torch.eye(m, dtype=y.dtype, device=y.device) + a @ a.T / noise
    l_b = torch.linalg.cholesky(b)
    ay = torch.linalg.solve_triangular(l_b, a @ y, upper=False) / noise   # (M, C)
    quad = (y * y).sum() / noise - (ay * ay).sum()                         # yᵀ(Q + σ²I)⁻¹y
    logdet = 2 * torch.log(l_b.diagonal()).sum() + n * math.log(noise)
    trace = (k_tt_diag - (a * a).sum(0)).sum()
    return -0.5 * quad - 0.5 * c * logdet - 0.5 * n * c * math.log(2 * math.pi) - c * trace / (2 * noise)


def input_kernel(x1: torch.Tensor, x2: torch.Tensor, weight_variance: float, bias_variance: float) -> torch.Tensor:
    """Σ⁰ = σ_w² x·x'/d + σ_b²."""
    return weight_variance * (x1 @ x2.T) / x1.shape[1] + bias_variance


def conditional(k_ii: torch.Tensor, k_ti: torch.Tensor, k_tt_diag: torch.Tensor,
                g_ii: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(G^ti, diag G^tt) of the points t given the inducing Gram G^ii under the prior kernel K (module docstring)."""
    l_ii = torch.linalg.cholesky(k_ii)
    w = torch.cholesky_solve(k_ti.T, l_ii).T                               # K^ti (K^ii)⁻¹, (n, M)
    g_ti = w @ g_ii
    diag = k_tt_diag - (w * k_ti).sum(1) + (g_ti * w).sum(1)
    return g_ti, diag.clamp_min(1e-12)


def _jitter(k: torch.Tensor, eps: float) -> torch.Tensor:
    return k + eps * k.diagonal().mean() * torch.eye(k.shape[0], dtype=k.dtype, device=k.device)


class DKMObjective(torch.nn.Module):
    """The (sparse) DKM objective as a module: parameters are the Cholesky factors of the inducing Grams G_1 … G_L
    (inducing = training points for the full DKM). ``forward(x, y)`` returns (objective, log-likelihood term,
    list of KL terms); ``predict(x_new, x, y)`` the posterior mean."""

    def __init__(self, z: torch.Tensor, *, depth: int, nu: float, noise: float, weight_variance: float,
                 bias_variance: float, jitter: float = 1e-6, exact: bool = False):
        super().__init__()
        self.depth, self.nu, self.noise, self.exact = depth, float(nu), float(noise), exact
        self.wv, self.bv, self.eps = float(weight_variance), float(bias_variance), float(jitter)
        self.register_buffer("z", z)
        factors = []
        for g in self.nngp_grams(z):
            factors.append(torch.nn.Parameter(torch.linalg.cholesky(g).contiguous()))
        self.factors = torch.nn.ParameterList(factors)

    def _first_prior(self, z: torch.Tensor, x: torch.Tensor | None):
        """K(G_0) with G_0 = Σ⁰ the (fixed) input-layer Gram: on Z, (x, Z) and diag(x)."""
        wv, bv = self.wv, self.bv
        s_ii = input_kernel(z, z, wv, bv)
        d_i = wv * (z * z).sum(1) / z.shape[1] + bv
        k_ii = _jitter(relu_map(s_ii, d_i, d_i, wv, bv), self.eps)
        if x is None:
            return k_ii, None, None
        d_t = wv * (x * x).sum(1) / x.shape[1] + bv
        return k_ii, relu_map(input_kernel(x, z, wv, bv), d_t, d_i, wv, bv), relu_map_diag(d_t, wv, bv)

    def nngp_grams(self, z: torch.Tensor) -> list[torch.Tensor]:
        """The ν → ∞ Grams on the inducing points, G_l = Σ^l (jittered), l = 1 … L."""
        k = self._first_prior(z, None)[0]
        grams = []
        for _ in range(self.depth):
            grams.append(k)
            k = _jitter(relu_map(k, k.diagonal(), k.diagonal(), self.wv, self.bv), self.eps)
        return grams

    def grams(self) -> list[torch.Tensor]:
        return [torch.tril(f) @ torch.tril(f).T for f in self.factors]

    def _layers(self, x: torch.Tensor | None):
        """Propagate the inducing Grams and the points x through the layers: per layer the prior K^ii (of the
        previous layer), the learned G^ii, and for x the prior K^ti, diag K^tt and conditional G^ti, diag G^tt;
        finally the output kernel (K^ii, K^ti, diag K^tt)."""
        wv, bv = self.wv, self.bv
        k_ii, k_ti, k_tt = self._first_prior(self.z, x)
        priors = []
        for g_ii in self.grams():
            priors.append(k_ii)
            d_i = g_ii.diagonal()
            if x is not None:
                g_ti, d_t = conditional(k_ii, k_ti, k_tt, g_ii)
                k_ti = relu_map(g_ti, d_t, d_i, wv, bv)
                k_tt = relu_map_diag(d_t, wv, bv)
            k_ii = _jitter(relu_map(g_ii, d_i, d_i, wv, bv), self.eps)
        return priors, (k_ii, k_ti, k_tt)

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        grams = self.grams()
        if self.exact:   # inducing = training points: the full DKM, exact likelihood
            priors, (k_out, _, _) = self._layers(None)
            eye = torch.eye(k_out.shape[0], dtype=k_out.dtype, device=k_out.device)
            loglik = gaussian_loglik(y, k_out + self.noise * eye)
        else:
            priors, (k_ii, k_ti, k_tt) = self._layers(x)
            loglik = titsias_bound(y, k_ii, k_ti, k_tt, self.noise)
        kls = [gaussian_kl(g, k) for g, k in zip(grams, priors)]
        if math.isinf(self.nu):
            return loglik, loglik, kls
        return loglik - self.nu * sum(kls), loglik, kls

    @torch.no_grad()
    def predict(self, x_new: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Posterior mean on the output kernel: exact GP mean k_*ᵀ(K + σ²I)⁻¹y (full) or the Titsias mean
        K^*i (σ²K^ii + K^it K^ti)⁻¹ K^it y (sparse)."""
        _, (_, k_si, _) = self._layers(x_new)
        if self.exact:
            _, (k_ii, _, _) = self._layers(None)
            eye = torch.eye(k_ii.shape[0], dtype=k_ii.dtype, device=k_ii.device)
            return k_si @ torch.linalg.solve(k_ii + self.noise * eye, y)
        _, (k_ii, k_ti, _) = self._layers(x)
        return k_si @ torch.linalg.solve(self.noise * k_ii + k_ti.T @ k_ti, k_ti.T @ y)


def fit_dkm(objective: DKMObjective, x: torch.Tensor, y: torch.Tensor, *, max_iter: int = 100,
            tol: float = 1e-9) -> list[float]:
    """Maximise the DKM objective over the Gram factors by L-BFGS (strong Wolfe, ``max_iter`` iterations in all,
    in rounds of 20); returns the objective after each round (starting with its value at the NNGP
    initialisation)."""
    with torch.no_grad():
        history = [float(objective(x, y)[0])]
    objective.lbfgs_iterations = 0
    if math.isinf(objective.nu) or max_iter == 0:
        return history
    opt = torch.optim.LBFGS(objective.parameters(), lr=1.0, max_iter=20, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_change=tol, tolerance_grad=1e-9)

    def closure():
        opt.zero_grad()
        loss = -objective(x, y)[0]
        loss.backward()
        return loss

    for _ in range(max(1, max_iter // 20)):
        opt.step(closure)
        objective.lbfgs_iterations = int(opt.state[opt.param_groups[0]["params"][0]].get("n_iter", 0))
        with torch.no_grad():
            history.append(float(objective(x, y)[0]))
        if abs(history[-1] - history[-2]) <= tol * max(1.0, abs(history[-1])):
            break
    return history


class DeepKernelMachine(RegressorMixin, BaseEstimator):
    """Deep kernel machine regression (arXiv 2108.13097): ``depth`` hidden ReLU layers whose Gram matrices
    maximise the DKM objective (module docstring) at regularisation strength ``nu`` (``np.inf``: the NNGP, no
    optimisation); ``num_inducing=None`` is the full DKM (cost O(n³) per step), an integer M the sparse DKM with M
    inducing points drawn from the training inputs (seeded by ``random_state``), linear in n. ``noise`` is the
    likelihood variance σ² on standardised targets. Float64 torch on ``device``."""

    def __init__(self, *, depth: int = 2, nu: float = 10.0, noise: float = 0.1, weight_variance: float = 2.0,
                 bias_variance: float = 0.1, num_inducing: int | None = None, max_iter: int = 100,
                 random_state: int = 0, device: str = "cpu"):
        self.depth, self.nu, self.noise = depth, nu, noise
        self.weight_variance, self.bias_variance = weight_variance, bias_variance
        self.num_inducing, self.max_iter, self.random_state, self.device = num_inducing, max_iter, random_state, \
            device

    def _check_params(self):
        if not (isinstance(self.depth, (int, np.integer)) and self.depth >= 1):
            raise ValueError(f"depth must be an integer >= 1 (hidden layers); got {self.depth!r}")
        if not self.nu > 0:
            raise ValueError(f"nu must be > 0 (np.inf for the NNGP limit); got {self.nu!r}")
        if not self.noise > 0:
            raise ValueError(f"noise must be > 0 (the likelihood variance); got {self.noise!r}")
        if self.num_inducing is not None and not (isinstance(self.num_inducing, (int, np.integer))
                                                and self.num_inducing >= 1):
            raise ValueError(f"num_inducing must be None (full DKM) or an integer >= 1; got {self.num_inducing!r}")

    def fit(self, X, y):
        self._check_params()
        x, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std()) or 1.0
        xt = torch.as_tensor(x, dtype=torch.float64, device=self.device)
        yt = torch.as_tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float64, device=self.device)[:, None]
        exact = self.num_inducing is None or self.num_inducing >= len(x)
        if exact:
            z = xt
        else:
            idx = np.random.default_rng(self.random_state).choice(len(x), int(self.num_inducing), replace=False)
            z = xt[torch.as_tensor(np.sort(idx))]
        self.objective_ = DKMObjective(z, depth=int(self.depth), nu=float(self.nu), noise=float(self.noise),
                                       weight_variance=float(self.weight_variance),
                                       bias_variance=float(self.bias_variance), exact=exact)
        self.objective_history_ = fit_dkm(self.objective_, xt, yt, max_iter=int(self.max_iter))
        self.n_iter_ = self.objective_.lbfgs_iterations
        self.X_fit_, self._y_std_t = x, yt
        return self

    def predict(self, X):
        check_is_fitted(self, "objective_")
        x = validate_data(self, X, reset=False, dtype=np.float64)
        xt = torch.as_tensor(x, dtype=torch.float64, device=self.device)
        xf = torch.as_tensor(self.X_fit_, dtype=torch.float64, device=self.device)
        mu = self.objective_.predict(xt, xf, self._y_std_t)[:, 0]
        return mu.cpu().numpy() * self.y_std_ + self.y_mean_

    def gram_matrices(self) -> list[np.ndarray]:
        """The learned hidden-layer Grams G_1 … G_L on the inducing (full DKM: training) points."""
        check_is_fitted(self, "objective_")
        with torch.no_grad():
            return [g.cpu().numpy() for g in self.objective_.grams()]



def dkm_regressor(*, depth: int = 2, nu: float = 10.0, noise: float = 0.1, weight_variance: float = 2.0,
                  bias_variance: float = 0.1, num_inducing: int | None = None, max_iter: int = 100,
                  random_state: int = 0) -> DeepKernelMachine:
    """The registered ``dkm-regressor``: a :class:`DeepKernelMachine` (``nu`` = float("inf") for the NNGP)."""
    return DeepKernelMachine(depth=depth, nu=nu, noise=noise, weight_variance=weight_variance,
                             bias_variance=bias_variance, num_inducing=num_inducing, max_iter=max_iter,
                             random_state=random_state)
