import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def brute_log_kernel_sum(y: np.ndarray, x: np.ndarray, h: float, kernel: str, w: np.ndarray | None = None):
    """float64 brute force: log Σ_i w_i K(‖y − x_i‖/h), straight from the profile definitions."""
    from scipy.special import logsumexp

    r = np.sqrt(((y[:, None, :] - x[None, :, :]) ** 2).sum(-1)) / h
    with np.errstate(divide="ignore"):
        k = {"gaussian": -0.5 * r**2, "exponential": -r,
             "tophat": np.where(r < 1, 0.0, -np.inf),
             "epanechnikov": np.log(np.clip(1 - r**2, 0, None)),
             "linear": np.log(np.clip(1 - r, 0, None)),
             "cosine": np.where(r < 1, np.log(np.clip(np.cos(np.pi * r / 2), 0, None)), -np.inf)}[kernel]
        if w is not None:
            k = k + np.log(w)[None, :]
    return logsumexp(k, axis=1)


@pytest.fixture
def brute():
    return brute_log_kernel_sum
