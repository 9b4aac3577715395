"""Small helpers shared by core and the plugins: next_fast_len (FFT sizes) and the factory argument checks."""

import numpy as np
import pytest

from hyperzoo.core.fft import next_fast_len
from hyperzoo.core.validate import fraction, positive_int


def _five_smooth(m: int) -> bool:
    for p in (2, 3, 5):
        while m % p == 0:
            m //= p
    return m == 1


def test_next_fast_len_is_the_smallest_five_smooth_size_at_least_n():
    want = {}
    nxt = None
    for m in range(2000, 0, -1):  # brute force: scan down, remember the last 5-smooth number seen
        if _five_smooth(m):
            nxt = m
        want[m] = nxt
    for n in range(1, 1800):
        assert next_fast_len(n) == want[n], n
    assert [next_fast_len(n) for n in (1, 7, 11, 13, 17, 97, 1000, 1025)] == [1, 8, 12, 15, 18, 100, 1000, 1080]


def test_next_fast_len_matches_scipy_real_sizes():
    scipy_fft = pytest.importorskip("scipy.fft", reason="needs scipy (installed with scikit-learn, a core dependency)")
    rng = np.random.default_rng(0)
    for n in [*range(1, 300), *rng.integers(300, 10**7, 200).tolist()]:
        assert next_fast_len(int(n)) == scipy_fft.next_fast_len(int(n), real=True), n


@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "8", None])
def test_next_fast_len_rejects_non_positive_ints(bad):
    with pytest.raises(ValueError, match="next_fast_len: n must be a positive int"):
        next_fast_len(bad)


def test_positive_int_and_fraction():
    assert positive_int("width", 3) == 3 and type(positive_int("width", np.int64(4))) is int
    for bad in (0, -1, 2.5, True, "3", None):
        with pytest.raises(ValueError, match=rf"width must be a positive int, got {bad!r}"):
            positive_int("width", bad)
    assert fraction("dropout", 0) == 0.0 and fraction("dropout", 0.5) == 0.5
    for bad in (1.0, -0.1, float("nan"), float("inf"), True, "0.1", None):
        with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
            fraction("dropout", bad)


def test_core_baselines_use_the_shared_check():
    from hyperzoo import core
    from hyperzoo.core import baselines

    assert baselines._positive is positive_int  # one helper (issue 11's duplicates), not a copy
    with pytest.raises(ValueError, match="width must be a positive int, got 0"):
        core.create_model("mlp", in_features=4, num_classes=2, width=0)


@pytest.mark.parametrize("plugin", ["hyperkernels", "hypergraph"])
def test_plugin_packages_export_through_lazy_exports(plugin):
    """The lazy-export ``__getattr__`` lives once in core (issue 11), and every exported name resolves."""
    import importlib

    pkg = importlib.import_module(f"hyperzoo.{plugin}")
    assert pkg.__getattr__.__module__ == "hyperzoo.core.lazy", f"hyperzoo.{plugin} hand-rolls its __getattr__"
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None
