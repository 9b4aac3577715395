"""Input checks shared by every implementation of the hypergraph operators (same errors for all backends)."""

from __future__ import annotations

import torch

from ..structure import Hypergraph, check_isolated

AGGREGATIONS = ("sum", "mean", "max")


def check_features(op: str, x: torch.Tensor, hg: Hypergraph, what: str) -> None:
    if not isinstance(hg, Hypergraph):
        raise TypeError(f"{op}: hg must be a hyperzoo.hypergraph.Hypergraph, got {type(hg).__name__} "
                        "(build one with Hypergraph.from_edges(...))")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 2:
        raise TypeError(f"{op}: features must be a 2-D floating-point tensor ({what}, C), got "
                        f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))} {getattr(x, 'dtype', '')}")
    rows = hg.num_nodes if what == "nodes" else hg.num_edges
    if x.shape[0] != rows:
        raise ValueError(f"{op}: features have {x.shape[0]} rows but the hypergraph has {rows} {what}")
    if x.device != hg.device:
        raise ValueError(f"{op}: features on {x.device} but the hypergraph on {hg.device}; call hg.to(x.device)")


def check_aggregation(op: str, aggr: str, weight: torch.Tensor | None, hg: Hypergraph) -> None:
    if aggr not in AGGREGATIONS:
        raise ValueError(f"{op}: aggr must be one of {AGGREGATIONS}, got {aggr!r}")
    if weight is not None:
        if aggr == "max":
            raise ValueError(f"{op}: incidence weights are not defined for aggr='max'; use 'sum' or 'mean'")
        if not isinstance(weight, torch.Tensor) or weight.shape != (hg.num_incidences,):
            raise ValueError(f"{op}: weight must be a tensor of shape ({hg.num_incidences},) (one per incidence, "
                             f"edge-major order), got {tuple(getattr(weight, 'shape', ()))}")


def check_edge_weight(op: str, edge_weight: torch.Tensor | None, hg: Hypergraph, isolated: str) -> torch.Tensor:
    check_isolated(isolated, op)
    if edge_weight is None:
        return hg.edge_weight
    if not isinstance(edge_weight, torch.Tensor) or edge_weight.shape != (hg.num_edges,):
        raise ValueError(f"{op}: edge_weight must be a tensor of shape ({hg.num_edges},), got "
                         f"{tuple(getattr(edge_weight, 'shape', ()))}")
    if not bool(torch.isfinite(edge_weight).all() & (edge_weight >= 0).all()):  # one host read, only when given
        bad = (~torch.isfinite(edge_weight) | (edge_weight < 0)).nonzero()[0, 0]
        raise ValueError(f"{op}: edge_weight must be finite and non-negative (degrees are sums of weights); "
                         f"hyperedge {int(bad)} has {float(edge_weight[bad])}")
    return edge_weight


def safe_inv(d: torch.Tensor, power: float = 1.0) -> torch.Tensor:
    """d^-power where d > 0, else 0 (isolated nodes, weightless sets)."""
    pos = d > 0
    return torch.where(pos, d.clamp_min(torch.finfo(d.dtype).tiny) ** -power, torch.zeros_like(d))


def csr_supports(x: torch.Tensor, *grad_free: torch.Tensor | None) -> tuple[bool, str]:
    """``supports`` of the CSR backends: float32/float64 features; weights that need no gradient."""
    if not isinstance(x, torch.Tensor) or x.dtype not in (torch.float32, torch.float64):
        return False, f"dtype {getattr(x, 'dtype', None)} (float32 or float64 only)"
    if any(w is not None and isinstance(w, torch.Tensor) and w.requires_grad for w in grad_free):
        return False, "weights that require grad (the CSR backward gives gradients for the features only)"
    return True, "ok"
