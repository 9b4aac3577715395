"""The kde tasks: each owns its procedure (fit an estimator, evaluate), run through ``core.run``.

- ``density-gaussian``: a known two-component Gaussian mixture in d dimensions; held-out log-likelihood and the
  Monte-Carlo KL(p‖p̂) = mean_test[log p − log p̂].
- ``density-digits``: scikit-learn digits, PCA to ``components`` dimensions (fitted on train); held-out
  log-likelihood at the estimator's own bandwidth and at the one chosen on validation from ``bandwidth_grid``.
- ``kde-regimes``: simulation of the Gaussian KDE at n = e^{αd} vs h/h_G at several d (arXiv 2408.05807).
- ``dp-similarity``: private kernel/distance sums on digits (pixels / 16): relative error vs ε, and the baseline.
- ``dp-classify-digits``: ε-DP classification by average similarity on digits: accuracy vs ε.

Splits, draws and simulations are seeded by ``split_seed`` (docs/naming.md; the run's ``seed`` is core.run's own);
digits splits are stratified: 20% test, then 10% of the rest for validation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DEFAULT_EPSILONS = [0.1, 0.3, 1.0, 3.0, 10.0]


def _tag(e: float) -> str:
    return "inf" if math.isinf(e) else f"{e:g}"


def _to_device(model: Any, trainer: Any) -> None:
    device = getattr(trainer, "device", None)
    if device is not None and hasattr(model, "set_params") and "device" in model.get_params():
        model.set_params(device=str(device))


def _digits(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=0.2, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=0.1, stratify=y[rest], random_state=seed)
    return {k: (x[i].astype(np.float64), y[i]) for k, i in (("train", train), ("val", val), ("test", test))}


def _with(model: Any, **params: Any) -> Any:
    return type(model)(**{**model.get_params(), **params})


class DensityGaussian:
    """Density estimation of a known Gaussian mixture ½N(−μ, I) + ½N(μ, 0.25 I), μ = (1.5, 0, …, 0)."""

    kind = "density"

    def __init__(self, *, dim: int = 2, n_train: int = 2000, n_test: int = 2000, split_seed: int = 0):
        if dim < 1 or n_train < 2 or n_test < 1:
            raise ValueError(f"need dim >= 1, n_train >= 2, n_test >= 1; got {dim}, {n_train}, {n_test}")
        self.dim, self.n_train, self.n_test, self.split_seed = dim, n_train, n_test, split_seed

    def _draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        comp = rng.random(n) < 0.5
        mu = np.zeros(self.dim)
        mu[0] = 1.5
        return np.where(comp[:, None], -mu + rng.standard_normal((n, self.dim)),
                        mu + 0.5 * rng.standard_normal((n, self.dim)))

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """The true log density."""
        from scipy.special import logsumexp
        from scipy.stats import multivariate_normal as mvn

        mu = np.zeros(self.dim)
        mu[0] = 1.5
        a = mvn(-mu, np.eye(self.dim)).logpdf(x)
        b = mvn(mu, 0.25 * np.eye(self.dim)).logpdf(x)
        return logsumexp(np.stack([a, b]), axis=0) - math.log(2)

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.split_seed)
        return self._draw(self.n_train, rng), self._draw(self.n_test, rng)

    def model_defaults(self) -> dict[str, Any]:
        return {}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        _to_device(model, trainer)
        train, test = self.data()
        model.fit(train)
        log_p_hat = model.score_samples(test)
        log_p = self.log_pdf(test)
        return {"test_log_likelihood": float(log_p_hat.mean()), "true_log_likelihood": float(log_p.mean()),
                "kl": float((log_p - log_p_hat).mean()), "bandwidth": float(model.bandwidth_)}


class DensityDigits:
    """Held-out log-likelihood of scikit-learn digits after PCA (fitted on the training split)."""

    kind = "density"

    def __init__(self, *, components: int = 15, bandwidth_grid: list[float] | None = None, split_seed: int = 0):
        if not 1 <= components <= 64:
            raise ValueError(f"components must be in [1, 64], got {components}")
        self.components, self.split_seed = components, split_seed
        self.bandwidth_grid = list(bandwidth_grid) if bandwidth_grid is not None else \
            [float(v) for v in np.round(np.geomspace(1.0, 8.0, 15), 4)]

    def model_defaults(self) -> dict[str, Any]:
        return {}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def splits(self) -> dict[str, np.ndarray]:
        from sklearn.decomposition import PCA

        raw = _digits(self.split_seed)
        pca = PCA(self.components, whiten=False, random_state=self.split_seed).fit(raw["train"][0])
        return {k: pca.transform(x) for k, (x, _) in raw.items()}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        _to_device(model, trainer)
        s = self.splits()
        model.fit(s["train"])
        out = {"val_log_likelihood": float(model.score_samples(s["val"]).mean()),
               "test_log_likelihood": float(model.score_samples(s["test"]).mean()),
               "bandwidth": float(model.bandwidth_)}
        best = None
        for h in self.bandwidth_grid:
            m = _with(model, bandwidth=float(h)).fit(s["train"])
            val = float(m.score_samples(s["val"]).mean())
            trainer.log(bandwidth=float(h), val_log_likelihood=val)
            if best is None or val > best[0]:
                best = (val, float(h), m)
        out.update(cv_bandwidth=best[1], cv_val_log_likelihood=best[0],
                   cv_test_log_likelihood=float(best[2].score_samples(s["test"]).mean()))
        return out


class KDERegimes:
    """Simulated statistics of the Gaussian KDE vs h/h_G at α = log(n)/d fixed (arXiv 2408.05807)."""

    kind = "density-regimes"

    def __init__(self, *, alpha: float = 0.25, dims: list[int] | None = None, h_ratios: list[float] | None = None,
                 sigma: float = 1.0, n_queries: int = 256, split_seed: int = 0):
        self.alpha, self.sigma, self.n_queries, self.split_seed = alpha, sigma, n_queries, split_seed
        self.dims = list(dims) if dims is not None else [16, 32, 48]
        self.h_ratios = list(h_ratios) if h_ratios is not None else \
            [float(v) for v in np.round(np.geomspace(0.5, 2.5, 15), 4)]

    def model_defaults(self) -> dict[str, Any]:
        return {"bandwidth": 1.0}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        from .regimes import h_clt, h_gauss, h_kl, simulate_regimes

        if getattr(model, "kernel", "gaussian") != "gaussian":
            raise ValueError(f"kde-regimes studies the Gaussian kernel; the model has kernel={model.kernel!r}")
        device = str(getattr(trainer, "device", "cpu"))
        rows = simulate_regimes(self.alpha, self.dims, self.h_ratios, sigma=self.sigma, n_queries=self.n_queries,
                                seed=self.split_seed, device=device)
        for row in rows:
            trainer.log(**row)
        hg = h_gauss(self.alpha, self.sigma)
        out = {"h_gauss": hg, "h_clt": h_clt(self.alpha, self.sigma), "h_kl": h_kl(self.alpha, self.sigma),
               "h_kl_ratio_theory": h_kl(self.alpha, self.sigma) / hg}
        for d in self.dims:
            mine = [r for r in rows if r["d"] == d]
            best = min(mine, key=lambda r: r["kl_per_dim"])
            at_hg = min(mine, key=lambda r: abs(r["h_ratio"] - 1.0))
            out[f"kl_opt_ratio_d{d}"] = best["h_ratio"]
            out[f"kl_min_d{d}"] = best["kl_per_dim"]
            out[f"participation_at_hg_d{d}"] = at_hg["participation"]
        return out


class DPSimilarity:
    """Private similarity sums on digits (pixels / 16 ∈ [0, 1]): the first ``n_private`` shuffled images are the
    private set, the rest the queries. Metric: mean over queries of |F̂(y) − F(y)| / F(y), averaged over
    ``repeats`` noise draws, for each ε; the same for the baseline (noisy random features without projection for
    a kernel model, the flat histogram for a distance model)."""

    kind = "private-similarity"

    def __init__(self, *, epsilons: list[float] | None = None, n_private: int = 1500, repeats: int = 3,
                 split_seed: int = 0):
        self.epsilons = list(epsilons) if epsilons is not None else list(DEFAULT_EPSILONS)
        self.n_private, self.repeats, self.split_seed = n_private, repeats, split_seed

    def model_defaults(self) -> dict[str, Any]:
        return {}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_digits

        x = load_digits().data / 16.0
        perm = np.random.default_rng(self.split_seed).permutation(len(x))
        return x[perm[: self.n_private]], x[perm[self.n_private:]]

    @staticmethod
    def exact(model: Any, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        if hasattr(model, "metric"):
            ord_ = 1 if model.metric == "l1" else 2
            return np.stack([np.linalg.norm(X - y, ord=ord_, axis=1).sum() for y in Y])
        d = np.sqrt(((Y[:, None, :] - X[None]) ** 2).sum(-1)) / model.bandwidth
        f = {"gaussian": np.exp(-0.5 * d**2), "laplace": np.exp(-d), "cauchy": 1.0 / (1.0 + d**2)}[model.kernel]
        return f.sum(1)

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        X, Y = self.data()
        truth = self.exact(model, X, Y)
        baseline = {"flat": True} if hasattr(model, "metric") else {"projection_dim": None}
        model.fit(X)   # the model as configured (its own epsilon) is the run's saved model
        out: dict[str, float] = {"rel_error": float(np.mean(np.abs(model.predict(Y) - truth) / truth))}
        for e in self.epsilons:
            for label, extra in (("", {}), ("baseline_", baseline)):
                errs = []
                for r in range(self.repeats):
                    m = _with(model, epsilon=float(e), random_state=self.split_seed + 1000 * r + 1, **extra).fit(X)
                    errs.append(float(np.mean(np.abs(m.predict(Y) - truth) / truth)))
                out[f"{label}rel_error_eps{_tag(e)}"] = float(np.mean(errs))
                trainer.log(epsilon=float(e), method=label.rstrip("_") or "model", rel_error=float(np.mean(errs)))
        return out


class DPClassifyDigits:
    """ε-DP classification of digits (pixels / 16) by average similarity; accuracy on the stratified test split."""

    kind = "private-classification"

    def __init__(self, *, epsilons: list[float] | None = None, repeats: int = 3, split_seed: int = 0):
        self.epsilons = list(epsilons) if epsilons is not None else list(DEFAULT_EPSILONS)
        self.repeats, self.split_seed = repeats, split_seed

    def model_defaults(self) -> dict[str, Any]:
        return {}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        s = _digits(self.split_seed)
        (xtr, ytr), (xte, yte) = s["train"], s["test"]
        xtr, xte = xtr / 16.0, xte / 16.0
        model.fit(xtr, ytr)   # the model as configured (its own epsilon) is the run's saved model
        out: dict[str, float] = {"test_accuracy": float(np.mean(model.predict(xte) == yte))}
        for e in [*self.epsilons, math.inf]:
            accs = [float(np.mean(_with(model, epsilon=float(e), random_state=self.split_seed + 1000 * r + 1)
                                  .fit(xtr, ytr).predict(xte) == yte)) for r in range(self.repeats)]
            key = "test_accuracy_nonprivate" if math.isinf(e) else f"test_accuracy_eps{_tag(e)}"
            out[key] = float(np.mean(accs))
            out[key + "_std"] = float(np.std(accs))
            trainer.log(epsilon=float(e), test_accuracy=float(np.mean(accs)))
        return out
