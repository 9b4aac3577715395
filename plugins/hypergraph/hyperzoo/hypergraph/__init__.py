"""hyperzoo.hypergraph -- hypergraphs and the networks that learn on them.

    from hyperzoo.hypergraph import Hypergraph, HGNNConv, v2e, hgnn_smooth
    hg = Hypergraph.from_edges([[0, 1, 2], [1, 3]])

Attributes load lazily (``hyperzoo.hypergraph.plugin`` imports this package without torch).
"""

from __future__ import annotations

from hyperzoo.core.lazy import lazy_exports

_LAZY = {
    "Hypergraph": "structure", "HypergraphError": "structure",
    "v2e": "functional", "e2v": "functional", "hgnn_smooth": "functional", "hgnnp_smooth": "functional",
    "HGNNConv": "layers", "HGNNPConv": "layers", "UniGCNConv": "layers", "SoftHyperedges": "layers",
    "DHTConv": "layers", "HyperDrop": "layers", "dual_hypergraph_transform": "layers",
    "HGNN": "hgnn", "HGNNP": "hgnn", "UniGCN": "hgnn", "NodeMLP": "hgnn", "LightHGNN": "lighthgnn",
    "lighthgnn_loss": "lighthgnn", "CoNHD": "conhd", "UNPBlock": "conhd", "ISABBlock": "conhd",
    "SoftHGNNClassifier": "softhgnn", "DHTClassifier": "dht",
    "HyperedgeReconstructor": "reconstruction", "jaccard": "reconstruction",
    "load_npz": "data", "load_enc": "data", "graph_families": "data",
    "HyperRelationalFacts": "hyperrelational", "HyperRelationalError": "hyperrelational",
    "load_facts": "hyperrelational", "load_hyper_relational": "hyperrelational",
    "HyperFormer": "hyperformer", "MoEFeedForward": "hyperformer",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
