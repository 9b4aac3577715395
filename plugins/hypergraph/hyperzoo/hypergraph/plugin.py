"""The hypergraph plugin's registrations (no math, no torch import: listing stays light)."""

from __future__ import annotations

from hyperzoo import core

NODE, ENC = "node-classification", "edge-dependent-node-classification"
GRAPH, IMG, RECON = "graph-classification", "image-classification", "hyperedge-reconstruction"
_OPS = "hyperzoo.hypergraph.ops."
_M = "hyperzoo.hypergraph.models:"
_T = "hyperzoo.hypergraph.tasks:"

OPERATORS = {
    "v2e": "nodes → hyperedges: sum/mean/max of x_v over v ∈ e (optional incidence weights)",
    "e2v": "hyperedges → nodes: sum/mean/max of y_e over e ∋ v (optional incidence weights)",
    "hgnn_smooth": "HGNN propagation Dv^-1/2 H W De^-1 Hᵀ Dv^-1/2 X",
    "hgnnp_smooth": "HGNN+ propagation Dv^-1 H W De^-1 Hᵀ X (mean v→e, then mean e→v)",
}


@core.hookimpl
def hyperzoo_register(registrar) -> None:
    for op, doc in OPERATORS.items():
        registrar.operator(f"hypergraph.{op}", f"{_OPS}{op}:{op}", doc=doc)
        registrar.backend(f"hypergraph.{op}", "csr", f"{_OPS}{op}_csr:{op}", priority=5,
                          supports=f"{_OPS}{op}_csr:supports",
                          tolerances={"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)})
        registrar.backend(f"hypergraph.{op}", "triton", f"{_OPS}{op}_triton:{op}", priority=10,
                          is_available="hyperzoo.core.dispatch:triton_available",
                          supports=f"{_OPS}{op}_triton:supports",
                          tolerances={"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)})

    registrar.model("hgnn", _M + "hgnn", fits=[NODE])
    registrar.model("hgnnp", _M + "hgnnp", fits=[NODE, ENC])
    registrar.model("unigcn", _M + "unigcn", fits=[NODE])
    registrar.model("node-mlp", _M + "node_mlp", fits=[NODE])
    registrar.model("lighthgnn", _M + "lighthgnn", fits=[NODE])
    registrar.model("lighthgnn-plus", _M + "lighthgnn_plus", fits=[NODE])
    registrar.model("conhd", _M + "conhd", fits=[ENC])
    registrar.model("softhgnn", _M + "softhgnn", fits=[IMG])
    registrar.model("dht", _M + "dht", fits=[GRAPH])
    registrar.model("hyperedge-reconstructor", _M + "reconstructor", fits=[RECON])
    _HF, _LP = "hyperzoo.hypergraph.hyperformer:", "link-prediction"
    registrar.model("hyperformer", _HF + "hyperformer", fits=[_LP])
    registrar.model("hyperformer-triple", _HF + "hyperformer_triple", fits=[_LP])
    registrar.model("kg-transformer", _HF + "kg_transformer", fits=[_LP])
    registrar.model("distmult", _HF + "distmult", fits=[_LP])
    registrar.model("complex", _HF + "complex_scorer", fits=[_LP])

    registrar.task("hypergraph-npz", _T + "HypergraphNPZ", kind=NODE)
    registrar.task("cocitation-cora", _T + "CocitationCora", kind=NODE)
    registrar.task("coauthorship-cora", _T + "CoauthorshipCora", kind=NODE)
    registrar.task("davis-southern-women", _T + "DavisSouthernWomen", kind=NODE)
    registrar.task("karate-cliques", _T + "KarateCliques", kind=NODE)
    registrar.task("enc-stackoverflow-biology", _T + "ENCStackOverflowBiology", kind=ENC)
    registrar.task("enc-cora-outsider", _T + "ENCCoraOutsider", kind=ENC)
    registrar.task("hyperedge-reconstruction", _T + "HyperedgeReconstruction", kind=RECON)
    registrar.task("graph-families", _T + "GraphFamilies", kind=GRAPH)
    registrar.task("wd50k-100", "hyperzoo.hypergraph.link_prediction:WD50K100", kind="link-prediction")

    registrar.dataset("hypergraph-npz", "hyperzoo.hypergraph.data:load_npz")
    registrar.dataset("hypergraph-enc", "hyperzoo.hypergraph.data:load_enc")
    registrar.dataset("graph-families", "hyperzoo.hypergraph.data:graph_families")
    registrar.dataset("hyper-relational", "hyperzoo.hypergraph.hyperrelational:load_hyper_relational")
