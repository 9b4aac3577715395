"""hyperzoo.hypernets -- hypernetize any module (MLP, chunked and RNN hypernetworks), magnitude-invariant
parametrisations (MIP), HyperInterval and hypernetwork continual learning, Stein variational Pareto set
learning, self-tuning networks and BO-REP bilevel optimisation.

    from hyperzoo.hypernets import hypernetize
    hnet = hypernetize(model, "*.weight", embedding_dim=8)
    y = hnet(x, task_id=0)

Names load on first access (``import hyperzoo.hypernets`` does not import torch), so listing plugins stays light.
"""

from __future__ import annotations

from hyperzoo.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "FunctionalTarget": "target",
    "TargetSpec": "target",
    "select_parameters": "target",
    "hypernetize": "layers",
    "HyperNetwork": "layers",
    "MLPHypernet": "layers",
    "ChunkedHypernet": "layers",
    "RNNHypernet": "layers",
    "mip_encode": "layers",
    "interval_linear": "interval",
    "interval_sequential": "interval",
    "HypernetCL": "continual",
    "HyperIntervalNet": "continual",
    "worst_case_logits": "continual",
    "ConditionedClassifier": "models",
    "hypernet_cl": "models",
    "rnn_hypernet_cl": "models",
    "hyperinterval": "models",
    "hypernet_conditioned": "models",
    "mip_hypernet": "models",
    "pareto": None,
    "psl": None,
    "stn": None,
    "bilevel": None,
    "svgd_direction": "pareto",
    "hypervolume_2d": "pareto",
    "ParetoHypernet": "psl",
    "ExactGP": "psl",
    "STNMLP": "stn",
    "STNLinear": "stn",
    "HyperCleaner": "bilevel",
})
