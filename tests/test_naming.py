"""docs/naming.md is a contract: every registered model and task factory spells its parameters from its table.

A name outside the table fails unless it is listed below with the reason it is specific to that factory.
"""

import re
from pathlib import Path

import pytest

from hyperzoo import core
from hyperzoo.core.config import parameters
from hyperzoo.core.discovery import registry
from hyperzoo.core.runner import _RUN_KEYS

ROOT = Path(__file__).resolve().parents[1]


def table_names() -> set[str]:
    text = (ROOT / "docs" / "naming.md").read_text()
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


# Parameters that are specific to one method, with the reason (the paper's or the peer library's own term).
NAMING_EXCEPTIONS = {
    "permutation_seed": "pmnist-seq: the pixel permutation is part of the task's definition, apart from the split",
    "isolated": "hypergraph: how isolated nodes are smoothed (DHG's term)",
    "use_bn": "hypergraph: DHG's switch for batch norm in HGNN layers, kept for parity with DHG",
    "incidence_head": "hypergraph: HGNN+ with the ENC head over (node, hyperedge) incidences",
    "lam": "LightHGNN's λ, the weight of the distillation term (paper's symbol)",
    "tau": "LightHGNN's τ, the distillation temperature (paper's symbol)",
    "hc_weight": "LightHGNN+'s high-order correlation loss weight",
    "noise": "LightHGNN+'s feature noise",
    "block": "CoNHD: the set operator (isab or unp)",
    "variant": "CoNHD: gd or admm diffusion",
    "num_inducing": "CoNHD ISAB: inducing points",
    "ratio": "HyperDrop's keep ratio",
    "patch_size": "SoftHGNN: patch size of the token stem",
    "num_edges": "SoftHGNN: number of soft hyperedges",
    "balance_weight": "SoftHGNN: load-balance loss weight",
    "max_subclique_drop": "hyperedge reconstruction: candidate sub-cliques",
    "n_estimators": "hyperedge reconstruction: scikit-learn's name for the forest size",
    "threshold": "hyperedge reconstruction: score threshold",
    "duplicates": "hypergraph npz tasks: what to do with repeated hyperedges",
    "feature_dim": "ENC tasks: size of the structural node features",
    "per_class": "small node tasks: labelled nodes per class",
    "num_per_class": "graph-families: graphs per class",
    "dataset": "hyperedge-reconstruction: which hypergraph to project",
    "train_fraction": "hyperedge-reconstruction: share of hyperedges for training",
    "stem_kernel": "Terminator: kernel of the stem convolution",
    "local_sizes": "Terminator: local hyper-kernel sizes",
    "slow_width": "Terminator: slow net width",
    "slow_depth": "Terminator: slow net depth",
    "omega": "Terminator: SIREN/MFN frequency ω",
    "groups": "Terminator: channel groups",
    "feedback_weight": "Terminator: local feedback error weight",
    "squash_lambda": "long conv: squash threshold λ",
    "smooth_width": "long conv: smoothing window",
    "square_kernel": "InceptionNeXt: square branch kernel",
    "band_kernel": "InceptionNeXt: band branch kernel",
    "branch_ratio": "InceptionNeXt: share of channels in the conv branches",
    "algorithm": "KDE: scikit-learn's name (exact, grid, tree)",
    "rtol": "KDE tree mode: relative error bound (scikit-learn's name)",
    "grid_size": "KDE grid mode: grid points",
    "leaf_size": "KDE tree mode: scikit-learn's name",
    "dtype": "KDE: computation dtype",
    "backend": "KDE: the kernel_sum backend to ask for",
    "metric": "DP distance sums: ℓ1 or ℓ2",
    "bounds": "DP distance sums: data bounds (sensitivity)",
    "levels": "DP distance sums: tree levels",
    "projection_dim": "DP sums: dimensionality reduction",
    "flat": "DP distance sums: the flat-histogram baseline",
    "n_features": "DP kernel sums: random features (scikit-learn's n_ prefix, as RBFSampler)",
    "components": "density-digits: PCA components",
    "bandwidth_grid": "density-digits: candidate bandwidths",
    "dim": "density-gaussian: dimension of the synthetic data",
    "n_train": "density-gaussian: training points",
    "n_test": "density-gaussian: test points",
    "alpha": "kde-regimes: the paper's α",
    "dims": "kde-regimes: dimensions simulated",
    "h_ratios": "kde-regimes: bandwidth ratios",
    "sigma": "kde-regimes: data scale",
    "n_queries": "kde-regimes: query points",
    "epsilons": "DP tasks: privacy budgets swept",
    "repeats": "DP tasks: repetitions per budget",
    "n_private": "dp-similarity: size of the private set",
}


def _factories():
    reg = registry()
    for kind in ("model", "task"):
        for name in reg.names(kind):
            entry = reg.get(kind, name)
            if entry.plugin not in ("core", "hyperkernels", "hypergraph", "kde"):
                continue  # newer plugins keep their own exception lists next to their tests
            yield kind, name, entry.load()


def test_every_factory_parameter_follows_the_naming_table():
    allowed = table_names() | set(NAMING_EXCEPTIONS)
    assert {"width", "depth", "heads", "dropout", "kernel_size", "lr", "split_seed"} <= table_names()
    offenders = []
    for kind, name, factory in _factories():
        for param in parameters(factory)[0]:
            if param not in allowed:
                offenders.append(f"{kind} {name}: {param}")
    assert not offenders, "names outside docs/naming.md (rename, or list with a reason): " + ", ".join(offenders)


def test_no_factory_takes_a_run_key_and_seeds_are_split_seed_or_random_state():
    for kind, name, factory in _factories():
        named = set(parameters(factory)[0])
        assert not named & set(_RUN_KEYS), f"{kind} {name} takes run keys {named & set(_RUN_KEYS)}"
        if kind == "task":
            assert "random_state" not in named, f"task {name}: data seeds are split_seed"


class SeedTask(core.ClassificationTask):
    kind = "sequence-classification"

    def __init__(self, *, seed: int = 0):
        self.seed_ = seed

    def load(self):
        raise AssertionError("not reached")


def test_a_factory_taking_a_run_key_is_an_error(monkeypatch):
    import sys
    import types

    module = types.ModuleType("naming_probe")
    module.SeedTask = SeedTask
    monkeypatch.setitem(sys.modules, "naming_probe", module)
    with pytest.raises(core.ConfigError, match=r"takes \['seed'\], which are run settings"):
        core.run("naming_probe:SeedTask", "mlp")


def test_exceptions_are_still_used():
    used = {p for _, _, f in _factories() for p in parameters(f)[0]}
    stale = sorted(set(NAMING_EXCEPTIONS) - used - {"slow_width"})
    assert not stale, f"remove stale naming exceptions: {stale}"
