"""The :class:`Hypergraph` structure: N nodes, E hyperedges stored as a CSR incidence.

Hyperedge ``e`` holds ``node_ids[edge_ptr[e]:edge_ptr[e+1]]``; position ``i`` in ``node_ids`` is one
*incidence* (a node–hyperedge pair), the unit CoNHD and edge-dependent labels work with. With the incidence
matrix H (N×E, H[v, e] = 1 when v ∈ e) and the diagonal hyperedge weights W:

    d(v) = Σ_e w_e H[v, e]   (weighted node degree, as in HGNN and DHG)      δ(e) = |e|

Duplicate hyperedges are an explicit choice (``duplicates=``): ``"keep"`` (default, the data as given),
``"merge"`` (one copy whose weight is the mean of the copies' weights: what DHG does, silently), ``"sum"``
(one copy with the summed weight: the same HGNN operator as keeping the copies) or ``"error"``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["Hypergraph", "HypergraphError"]

DUPLICATES = ("keep", "merge", "sum", "error")


class HypergraphError(ValueError):
    """A malformed hypergraph; the message names what is wrong and how to fix it."""


def _as_long(values: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.dtype.is_complex:
        raise HypergraphError(f"{name} must hold integer ids, got dtype {t.dtype}")
    return t.to(torch.long).reshape(-1)


class Hypergraph:
    """An undirected hypergraph with optional hyperedge weights and node features.

    Build one with :meth:`from_edges` (or the other ``from_*`` constructors); the plain constructor takes the
    CSR parts directly and validates them (``check_invariants=False`` skips that for parts that are valid by
    construction, as ``torch.sparse_coo_tensor`` does).
    """

    def __init__(self, num_nodes: int, edge_ptr: Any, node_ids: Any, *, edge_weight: Any = None,
                 x: torch.Tensor | None = None, allow_repeated_nodes: bool = False, check_invariants: bool = True):
        if not isinstance(num_nodes, (int, np.integer)) or isinstance(num_nodes, bool) or num_nodes < 0:
            raise HypergraphError(f"num_nodes must be a non-negative int, got {num_nodes!r}")
        self.num_nodes = int(num_nodes)
        self.edge_ptr = _as_long(edge_ptr, "edge_ptr")
        self.node_ids = _as_long(node_ids, "node_ids").to(self.edge_ptr.device)
        self._edge_weight = None if edge_weight is None else torch.as_tensor(edge_weight, dtype=torch.float32,
                                                                              device=self.edge_ptr.device)
        self.x = x
        self.allow_repeated_nodes = bool(allow_repeated_nodes)
        self._cache: dict[str, Any] = {}
        if check_invariants:  # False only for structures valid by construction (no host syncs in hot paths)
            self.validate()

    # -- validation ---------------------------------------------------------------------------------------
    def validate(self) -> Hypergraph:
        """Check the invariants; raise :class:`HypergraphError` naming the first problem found."""
        ptr, ids = self.edge_ptr, self.node_ids
        if ptr.numel() == 0 or int(ptr[0]) != 0:
            raise HypergraphError("edge_ptr must start with 0 and have E+1 entries (E = number of hyperedges)")
        if int(ptr[-1]) != ids.numel():
            raise HypergraphError(f"edge_ptr ends at {int(ptr[-1])} but node_ids has {ids.numel()} entries; "
                                  "edge_ptr[-1] must equal len(node_ids)")
        sizes = ptr.diff()
        if (sizes < 0).any():
            raise HypergraphError("edge_ptr must be non-decreasing")
        empty = (sizes == 0).nonzero().flatten()
        if empty.numel():
            raise HypergraphError(f"hyperedge(s) {empty[:5].tolist()} are empty; every hyperedge needs at least "
                                  "one node (drop empty hyperedges before building the hypergraph)")
        if ids.numel():
            bad = ((ids < 0) | (ids >= self.num_nodes)).nonzero().flatten()
            if bad.numel():
                e = int(torch.searchsorted(ptr, bad[:1], right=True)[0]) - 1
                node = int(ids[bad[0]])
                fix = ("node ids start at 0: fix the ids (a 1-based file? subtract 1)" if node < 0 else
                       f"pass num_nodes={int(ids.max()) + 1} (or more) or fix the ids")
                raise HypergraphError(f"node id {node} in hyperedge {e} is out of range [0, {self.num_nodes}); {fix}")
            key = self.incidence_edge * max(self.num_nodes, 1) + ids
            if not self.allow_repeated_nodes and torch.unique(key).numel() != key.numel():
                order = torch.sort(key).values
                dup = int(order[:-1][order[1:] == order[:-1]][0])
                raise HypergraphError(f"hyperedge {dup // max(self.num_nodes, 1)} lists node "
                                      f"{dup % max(self.num_nodes, 1)} more than once; a hyperedge is a set of "
                                      "nodes (pass allow_repeated_nodes=True to keep each listing as its own "
                                      "incidence, e.g. edge-dependent roles)")
        if self._edge_weight is not None:
            w = self._edge_weight
            if w.shape != (self.num_edges,):
                raise HypergraphError(f"edge_weight must have shape ({self.num_edges},), got {tuple(w.shape)}")
            if not torch.isfinite(w).all() or (w < 0).any():
                raise HypergraphError("edge_weight must be finite and non-negative")
        if self.x is not None:
            if not isinstance(self.x, torch.Tensor) or self.x.dim() != 2 or self.x.shape[0] != self.num_nodes:
                raise HypergraphError(f"node features x must be a tensor of shape ({self.num_nodes}, F), got "
                                      f"{tuple(getattr(self.x, 'shape', ()))}")
            values = self.x.values() if self.x.layout != torch.strided else self.x
            if values.is_floating_point() and not torch.isfinite(values).all():
                rows = (~torch.isfinite(self.x.to_dense() if self.x.layout != torch.strided else self.x)).any(1)
                first = int(rows.nonzero()[0, 0])
                raise HypergraphError(f"node features x contain NaN or inf (first at node {first}, "
                                      f"{int(rows.sum())} node(s) in all); impute or drop them first")
        return self

    # -- constructors -------------------------------------------------------------------------------------
    @classmethod
    def from_edges(cls, edges: Iterable[Iterable[int]], num_nodes: int | None = None, *,
                   edge_weight: Sequence[float] | None = None, x: torch.Tensor | None = None,
                   duplicates: str = "keep", allow_repeated_nodes: bool = False) -> Hypergraph:
        """From a list of hyperedges (each an iterable of node ids); ``num_nodes`` defaults to max id + 1."""
        if duplicates not in DUPLICATES:
            raise HypergraphError(f"duplicates must be one of {DUPLICATES}, got {duplicates!r}")
        edges = [list(e) for e in edges]
        if edge_weight is not None:
            edge_weight = [float(w) for w in edge_weight]
            if len(edge_weight) != len(edges):
                raise HypergraphError(f"edge_weight has {len(edge_weight)} entries for {len(edges)} hyperedges")
        if duplicates != "keep":
            edges, edge_weight = _dedupe(edges, edge_weight, duplicates)
        sizes = [len(e) for e in edges]
        ptr = np.zeros(len(edges) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum(sizes)
        ids = np.fromiter((int(v) for e in edges for v in e), dtype=np.int64, count=int(ptr[-1]))
        if num_nodes is None:
            num_nodes = int(ids.max()) + 1 if ids.size else 0
        return cls(num_nodes, ptr, ids, edge_weight=edge_weight, x=x, allow_repeated_nodes=allow_repeated_nodes)

    @classmethod
    def from_networkx_bipartite(cls, graph: Any, nodes: Iterable[Any] | None = None, *,
                                duplicates: str = "keep") -> Hypergraph:
        """From a bipartite networkx graph: ``nodes`` (default: ``bipartite == 0``) are the hypergraph's nodes,
        the other side its hyperedges. ``node_names``/``edge_names`` keep the networkx labels."""
        if nodes is None:
            nodes = [n for n, d in graph.nodes(data=True) if d.get("bipartite") == 0]
            if not nodes:
                raise HypergraphError("no node has attribute bipartite=0; pass nodes=[...] (the node side)")
        nodes = list(nodes)
        index = {n: i for i, n in enumerate(nodes)}
        sides = [n for n in graph.nodes if n not in index]
        edges = []
        for e in sides:
            members = [index[v] for v in graph.neighbors(e) if v in index]
            if len(members) != graph.degree(e):
                raise HypergraphError(f"{e!r} is linked to another hyperedge-side vertex; the graph is not bipartite "
                                      "with the given node side")
            edges.append(sorted(members))
        keep = [i for i, e in enumerate(edges) if e]
        hg = cls.from_edges([edges[i] for i in keep], len(nodes), duplicates=duplicates)
        hg.node_names, hg.edge_names = nodes, [sides[i] for i in keep]
        return hg

    @classmethod
    def from_maximal_cliques(cls, graph: Any) -> Hypergraph:
        """Every maximal clique of a networkx graph becomes a hyperedge (nodes relabelled 0..N-1 in graph order)."""
        import networkx as nx

        nodes = list(graph.nodes)
        index = {n: i for i, n in enumerate(nodes)}
        edges = sorted(sorted(index[v] for v in c) for c in nx.find_cliques(graph))
        hg = cls.from_edges(edges, len(nodes))
        hg.node_names = nodes
        return hg

    @classmethod
    def from_dhg(cls, hg: Any) -> Hypergraph:
        """From a ``dhg.Hypergraph`` (its hyperedges and weights; DHG has already merged duplicates)."""
        return cls.from_edges([list(e) for e in hg.e[0]], hg.num_v, edge_weight=list(hg.e[1]))

    def to_dhg(self, merge_op: str = "mean") -> Any:
        """A ``dhg.Hypergraph`` with the same hyperedges and weights (DHG merges duplicates with ``merge_op``)."""
        import dhg

        return dhg.Hypergraph(self.num_nodes, self.edges(), e_weight=self.edge_weight.tolist(), merge_op=merge_op)

    @classmethod
    def from_json(cls, source: str | os.PathLike | dict) -> Hypergraph:
        """From HIF JSON (``{"incidences": [{"edge", "node"}], ...}``) or XGI JSON (``{"edge-dict": ...}``).

        Node and edge ids may be any JSON scalars; they are relabelled 0.. in order of first appearance (the
        ``nodes`` list first) and kept as ``node_names``/``edge_names``. A hyperedge ``weight`` attribute is read.
        """
        data = _read_json(source)
        if "incidences" in data:
            node_names = [n["node"] for n in data.get("nodes", [])]
            edge_names = [e["edge"] for e in data.get("edges", [])]
            members: dict[Any, list[Any]] = {e: [] for e in edge_names}
            for inc in data["incidences"]:
                if "edge" not in inc or "node" not in inc:
                    raise HypergraphError(f"HIF incidence {inc!r} needs both 'edge' and 'node'")
                members.setdefault(inc["edge"], []).append(inc["node"])
            weights = {e["edge"]: e.get("attrs", {}).get("weight", e.get("weight", 1.0)) for e in data.get("edges", [])}
        elif "edge-dict" in data:
            node_names = list(data.get("node-data", {}))
            members = {k: list(v) for k, v in data["edge-dict"].items()}
            weights = {k: v.get("weight", 1.0) for k, v in data.get("edge-data", {}).items()}
        else:
            raise HypergraphError("JSON is neither HIF (has 'incidences') nor XGI (has 'edge-dict')")
        index: dict[Any, int] = {}
        for n in node_names:
            index.setdefault(n, len(index))
        for ms in members.values():
            for n in ms:
                index.setdefault(n, len(index))
        names = list(members)
        empty = [e for e in names if not members[e]]
        if empty:
            raise HypergraphError(f"hyperedge(s) {empty[:5]} have no nodes")
        hg = cls.from_edges([[index[n] for n in members[e]] for e in names], len(index),
                            edge_weight=[float(weights.get(e, 1.0)) for e in names])
        hg.node_names, hg.edge_names = list(index), names
        return hg

    def to_json(self, path: str | os.PathLike | None = None) -> dict:
        """HIF JSON (nodes, edges with a ``weight`` attribute, incidences); written atomically when ``path``."""
        nodes = getattr(self, "node_names", None) or list(range(self.num_nodes))
        enames = getattr(self, "edge_names", None) or list(range(self.num_edges))
        data = {
            "network-type": "undirected",
            "nodes": [{"node": _plain(n)} for n in nodes],
            "edges": [{"edge": _plain(e), "attrs": {"weight": float(w)}} for e, w in zip(enames, self.edge_weight)],
            "incidences": [{"edge": _plain(enames[e]), "node": _plain(nodes[v])}
                           for e, ms in enumerate(self.edges()) for v in ms],
        }
        if path is not None:
            from hyperzoo.core.io import write_json

            write_json(path, data)
        return data

    # -- basic views ----------------------------------------------------------------------------------------
    @property
    def num_edges(self) -> int:
        return self.edge_ptr.numel() - 1

    @property
    def num_incidences(self) -> int:
        return self.node_ids.numel()

    @property
    def device(self) -> torch.device:
        return self.edge_ptr.device

    @property
    def edge_weight(self) -> torch.Tensor:
        """w_e (ones when the hypergraph is unweighted), float32."""
        if self._edge_weight is None:
            return self._cached("ones", lambda: torch.ones(self.num_edges, device=self.device))
        return self._edge_weight

    @property
    def weighted(self) -> bool:
        return self._edge_weight is not None

    def _cached(self, key: str, make: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def incidence_edge(self) -> torch.Tensor:
        """The hyperedge id of each incidence (length nnz, edge-major order)."""
        return self._cached("incidence_edge", lambda: torch.repeat_interleave(
            torch.arange(self.num_edges, device=self.device), self.edge_ptr.diff()))

    @property
    def edge_size(self) -> torch.Tensor:
        """δ(e) = |e| (int64)."""
        return self._cached("edge_size", lambda: self.edge_ptr.diff())

    @property
    def node_degree(self) -> torch.Tensor:
        """Number of hyperedges holding each node (int64); 0 for isolated nodes."""
        return self._cached("node_degree", lambda: torch.bincount(self.node_ids, minlength=self.num_nodes))

    @property
    def weighted_node_degree(self) -> torch.Tensor:
        """d(v) = Σ_{e ∋ v} w_e (float32)."""
        return self._cached("weighted_node_degree", lambda: torch.zeros(self.num_nodes, device=self.device)
                            .index_add_(0, self.node_ids, self.edge_weight[self.incidence_edge]))

    @property
    def node_order(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(node_ptr, perm)``: incidences sorted by node (stable), i.e. the node-major CSR of H."""
        def make() -> tuple[torch.Tensor, torch.Tensor]:
            perm = torch.argsort(self.node_ids, stable=True)
            ptr = torch.zeros(self.num_nodes + 1, dtype=torch.long, device=self.device)
            ptr[1:] = torch.cumsum(self.node_degree, 0)
            return ptr, perm

        return self._cached("node_order", make)

    def edges(self) -> list[list[int]]:
        """The hyperedges as lists of node ids (in stored order)."""
        ptr, ids = self.edge_ptr.tolist(), self.node_ids.tolist()
        return [ids[ptr[e]:ptr[e + 1]] for e in range(self.num_edges)]

    def edge_sets(self) -> list[frozenset[int]]:
        return [frozenset(e) for e in self.edges()]

    def __repr__(self) -> str:
        return (f"Hypergraph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
                f"incidences={self.num_incidences}, weighted={self.weighted}, "
                f"features={None if self.x is None else tuple(self.x.shape)})")

    def to(self, device: str | torch.device) -> Hypergraph:
        """A copy on ``device`` (caches are rebuilt there)."""
        out = Hypergraph.__new__(Hypergraph)
        out.num_nodes = self.num_nodes
        out.edge_ptr, out.node_ids = self.edge_ptr.to(device), self.node_ids.to(device)
        out._edge_weight = None if self._edge_weight is None else self._edge_weight.to(device)
        out.x = None if self.x is None else self.x.to(device)
        out.allow_repeated_nodes = self.allow_repeated_nodes
        out._cache = {}
        for attr in ("node_names", "edge_names"):
            if hasattr(self, attr):
                setattr(out, attr, getattr(self, attr))
        return out

    def with_edge_weight(self, edge_weight: Any) -> Hypergraph:
        """The same hyperedges with other weights."""
        return Hypergraph(self.num_nodes, self.edge_ptr, self.node_ids, edge_weight=edge_weight, x=self.x,
                          allow_repeated_nodes=self.allow_repeated_nodes)

    # -- matrices -----------------------------------------------------------------------------------------
    def incidence(self) -> torch.Tensor:
        """H as a sparse COO tensor of shape (N, E)."""
        idx = torch.stack([self.node_ids, self.incidence_edge])
        return torch.sparse_coo_tensor(idx, torch.ones(self.num_incidences, device=self.device),
                                       (self.num_nodes, self.num_edges), check_invariants=False).coalesce()

    def smoothing_matrix(self, *, isolated: str = "zero", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Θ = Dv^-1/2 H W De^-1 Hᵀ Dv^-1/2 = h hᵀ with h_{ve} = d(v)^-1/2 (w_e/|e|)^1/2, as a sparse (N, N)
        tensor of ``dtype`` (the HGNN propagation matrix; degrees are summed in ``dtype`` too).

        ``isolated="zero"`` leaves nodes of zero degree as zero rows, ``"self_loop"`` gives them Θ[v, v] = 1.
        """
        check_isolated(isolated)
        e, w = self.incidence_edge, self.edge_weight.to(dtype)
        dv = torch.zeros(self.num_nodes, dtype=dtype, device=self.device).index_add_(0, self.node_ids, w[e])
        dvis = torch.where(dv > 0, dv.clamp_min(1e-30).rsqrt(), torch.zeros_like(dv))
        val = dvis[self.node_ids] * (w / self.edge_size.to(dtype))[e].sqrt()
        h = torch.sparse_coo_tensor(torch.stack([self.node_ids, e]), val, (self.num_nodes, self.num_edges),
                                    check_invariants=False)
        with warnings.catch_warnings():  # torch's CSR beta notice (raised inside sparse.mm) is not for users
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
            theta = torch.sparse.mm(h, h.t().coalesce())
        if isolated == "self_loop":
            iso = (dv == 0).nonzero().flatten()
            eye = torch.sparse_coo_tensor(torch.stack([iso, iso]), torch.ones(iso.numel(), dtype=dtype,
                                          device=self.device), theta.shape, check_invariants=False)
            theta = theta + eye
        return theta.coalesce()

    def laplacian(self, *, isolated: str = "zero") -> torch.Tensor:
        """The normalised hypergraph Laplacian Δ = I − Θ (Zhou et al. 2006), sparse (N, N)."""
        n = self.num_nodes
        eye = torch.sparse_coo_tensor(torch.arange(n, device=self.device).repeat(2, 1),
                                      torch.ones(n, device=self.device), (n, n), check_invariants=False)
        return (eye - self.smoothing_matrix(isolated=isolated)).coalesce()

    # -- expansions and the dual ---------------------------------------------------------------------------
    def clique_expansion(self, *, weighted: bool = False) -> Any:
        """The projected graph (networkx): u–v linked when some hyperedge holds both; with ``weighted`` the
        edge attribute ``weight`` counts the hyperedges holding the pair."""
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(self.num_nodes))
        for e in self.edges():
            for i, u in enumerate(e):
                for v in e[i + 1:]:
                    if g.has_edge(u, v):
                        g[u][v]["weight"] += 1
                    else:
                        g.add_edge(u, v, weight=1)
        if not weighted:
            for _, _, d in g.edges(data=True):
                d.pop("weight")
        return g

    def star_expansion(self) -> Any:
        """The bipartite incidence graph (networkx): nodes ``("v", i)`` (bipartite=0), ``("e", j)`` (bipartite=1)."""
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from((("v", i) for i in range(self.num_nodes)), bipartite=0)
        g.add_nodes_from((("e", j) for j in range(self.num_edges)), bipartite=1, )
        for j, w in enumerate(self.edge_weight.tolist()):
            g.nodes[("e", j)]["weight"] = w
        g.add_edges_from((("v", int(v)), ("e", int(e))) for v, e in zip(self.node_ids, self.incidence_edge))
        return g

    def dual(self) -> Hypergraph:
        """The dual hypergraph H*: node j of H* is hyperedge j of H, hyperedge i of H* holds the hyperedges of H
        containing node i (incidence Hᵀ). Needs every node in some hyperedge. ``dual().dual()`` is ``self``
        up to the order of nodes within each hyperedge."""
        iso = (self.node_degree == 0).nonzero().flatten()
        if iso.numel():
            raise HypergraphError(f"node(s) {iso[:5].tolist()} belong to no hyperedge, so the dual would have empty "
                                  "hyperedges; remove isolated nodes first (hg.remove_isolated())")
        ptr, perm = self.node_order
        return Hypergraph(self.num_edges, ptr, self.incidence_edge[perm])

    def remove_isolated(self) -> tuple[Hypergraph, torch.Tensor]:
        """The hypergraph without nodes of degree 0, and the kept original node ids."""
        keep = (self.node_degree > 0).nonzero().flatten()
        new = torch.full((self.num_nodes,), -1, dtype=torch.long, device=self.device)
        new[keep] = torch.arange(keep.numel(), device=self.device)
        x = None if self.x is None else self.x[keep]
        return Hypergraph(keep.numel(), self.edge_ptr, new[self.node_ids], edge_weight=self._edge_weight, x=x), keep

    def equals(self, other: Hypergraph) -> bool:
        """Same nodes, same hyperedges as sets in the same order, same weights."""
        return (self.num_nodes == other.num_nodes and self.num_edges == other.num_edges
                and self.edge_sets() == other.edge_sets()
                and torch.equal(self.edge_weight.cpu(), other.edge_weight.cpu()))


def check_isolated(isolated: str, where: str = "") -> None:
    """The one check of the ``isolated`` option (operators, layers and matrices share it)."""
    if isolated not in ("zero", "self_loop"):
        raise ValueError(f"{where + ': ' if where else ''}isolated must be 'zero' (isolated nodes give zero rows) or "
                         f"'self_loop' (they keep their features), got {isolated!r}")


def _dedupe(edges: list[list[int]], weights: list[float] | None, mode: str) -> tuple[list, list | None]:
    seen: dict[frozenset, int] = {}
    out: list[list[int]] = []
    ws: list[list[float]] = []
    for i, e in enumerate(edges):
        key = frozenset(e)
        w = 1.0 if weights is None else weights[i]
        if key in seen:
            if mode == "error":
                raise HypergraphError(f"hyperedge {i} repeats hyperedge {seen[key]} ({sorted(key)[:8]}...); "
                                      "pass duplicates='keep', 'merge' or 'sum'")
            ws[seen[key]].append(w)
        else:
            seen[key] = len(out)
            out.append(e)
            ws.append([w])
    if mode == "error":
        return out, weights
    merged = [sum(w) if mode == "sum" else sum(w) / len(w) for w in ws]
    unweighted = weights is None and all(len(w) == 1 for w in ws)
    return out, None if unweighted or (weights is None and mode == "merge") else merged


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _read_json(source: Any) -> dict:
    if isinstance(source, dict):
        return source
    try:
        with open(source, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise HypergraphError(f"{source}: not valid JSON ({exc})") from exc


