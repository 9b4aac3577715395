"""Registered model factories (explicit keyword arguments). The models live in one module per family
(``hgnn``, ``lighthgnn``, ``conhd``, ``softhgnn``, ``dht``, ``reconstruction``); this module only builds them.
"""

from __future__ import annotations

from torch import nn

from .conhd import CoNHD
from .dht import DHTClassifier
from .hgnn import HGNN, HGNNP, ENCHead, NodeMLP, UniGCN, _HGNNPEncoder
from .lighthgnn import LightHGNN
from .reconstruction import HyperedgeReconstructor
from .softhgnn import SoftHGNNClassifier

__all__ = ["hgnn", "hgnnp", "unigcn", "node_mlp", "lighthgnn", "lighthgnn_plus", "conhd", "softhgnn", "dht",
           "reconstructor"]


# -- factories ----------------------------------------------------------------------------------------------
def hgnn(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5,
         use_bn: bool = False, isolated: str = "self_loop") -> HGNN:
    """HGNN node classifier (2 layers). ``isolated="self_loop"``: nodes in no hyperedge keep their own features
    (the cora hypergraphs have 320–1,274 such nodes; ``"zero"`` is DHG's default and leaves them featureless)."""
    return HGNN(in_channels, width, num_classes, use_bn=use_bn, dropout=dropout, isolated=isolated)


def hgnnp(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5, use_bn: bool = False,
          isolated: str = "self_loop", incidence_head: bool = False, depth: int = 2) -> nn.Module:
    """HGNN+ node classifier; with ``incidence_head=True`` (ENC tasks) an ``depth`` HGNN+ encoder + ENC head."""
    if incidence_head:
        return ENCHead(_HGNNPEncoder(in_channels, width, depth, dropout, isolated), width, num_classes)
    return HGNNP(in_channels, width, num_classes, use_bn=use_bn, dropout=dropout, isolated=isolated)


def unigcn(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5,
           use_bn: bool = False, isolated: str = "self_loop") -> UniGCN:
    """UniGCN node classifier (2 layers)."""
    return UniGCN(in_channels, width, num_classes, use_bn=use_bn, dropout=dropout, isolated=isolated)


def node_mlp(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5) -> NodeMLP:
    """MLP on node features only (the baseline every hypergraph model must beat)."""
    return NodeMLP(in_channels, width, num_classes, dropout)


def lighthgnn(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5,
              lam: float = 0.5, tau: float = 1.0) -> nn.Module:
    """LightHGNN: an MLP student distilled from an HGNN teacher (soft-label KL)."""
    return LightHGNN(in_channels, num_classes, width=width, dropout=dropout, lam=lam, tau=tau)


def lighthgnn_plus(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5,
                   lam: float = 0.5, tau: float = 1.0, hc_weight: float = 1.0, noise: float = 1.0) -> nn.Module:
    """LightHGNN+: LightHGNN plus the high-order constraint on reliability-sampled hyperedges."""
    return LightHGNN(in_channels, num_classes, width=width, dropout=dropout, lam=lam, tau=tau,
                     hc_weight=hc_weight, noise=noise)


def conhd(*, in_channels: int, num_classes: int, width: int = 64, depth: int = 2, block: str = "isab",
          variant: str = "gd", heads: int = 4, num_inducing: int = 4, dropout: float = 0.1) -> nn.Module:
    """CoNHD for edge-dependent node classification (``block``: ``"unp"``/``"isab"``;
    ``variant``: ``"gd"``/``"admm"``)."""
    return CoNHD(in_channels, num_classes, width=width, depth=depth, block=block, variant=variant,
                 heads=heads, num_inducing=num_inducing, dropout=dropout)


def softhgnn(*, in_channels: int, num_classes: int, image_size: list[int], patch_size: int = 2, width: int = 64,
             depth: int = 2, num_edges: int = 16, top_k: int | None = 8, balance_weight: float = 0.01,
             dropout: float = 0.1) -> SoftHGNNClassifier:
    """A small SoftHGNN vision classifier (patch tokens, soft hyperedges)."""
    return SoftHGNNClassifier(in_channels, num_classes, list(image_size), patch_size, width, depth, num_edges, top_k,
                              balance_weight, dropout)


def dht(*, in_channels: int, num_classes: int, width: int = 64, ratio: float = 0.5,
        dropout: float = 0.1) -> DHTClassifier:
    """DHT + HyperDrop graph classifier."""
    return DHTClassifier(in_channels, num_classes, width, ratio, dropout)


def reconstructor(*, max_subclique_drop: int = 1, n_estimators: int = 200, threshold: float = 0.5,
                  random_state: int = 0) -> nn.Module:
    """Hyperedge reconstruction from a projected graph (candidate cliques + a learned scorer)."""
    return HyperedgeReconstructor(max_subclique_drop=max_subclique_drop, n_estimators=n_estimators,
                                  threshold=threshold, random_state=random_state)
