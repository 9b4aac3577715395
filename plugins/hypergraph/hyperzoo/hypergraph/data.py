"""Loaders of the hypergraph data formats (any user path) and the offline graph-families generator.

- ``.npz`` (HyperGCN citation hypergraphs): CSR node features ``x_data/x_indices/x_indptr/x_shape``,
  ``edge_ptr``/``edge_nodes``, ``labels``, ``train_splits`` (10 × n_train); read with ``allow_pickle=False``.
- ENC text folder: ``hypergraph.txt`` (line e: the node ids of hyperedge e, tab-separated),
  ``hypergraph_pos.txt`` (the label of each of those nodes within e), ``valid_hindex.txt``/``test_hindex.txt``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyperzoo.core.data import data_file, data_root

from .structure import Hypergraph, HypergraphError

__all__ = ["load_npz", "load_enc", "structural_features", "graph_families", "NPZ_KEYS"]

NPZ_KEYS = ("x_data", "x_indices", "x_indptr", "x_shape", "edge_ptr", "edge_nodes", "labels", "train_splits")


def load_npz(path: str | os.PathLike | None = None, *, name: str = "cocitation-cora",
             root: str | os.PathLike | None = None, duplicates: str = "keep",
             num_nodes: int | None = None, sparse_features: bool | None = None) -> dict[str, Any]:
    """A HyperGCN-format ``.npz``: ``{"hg" (features in hg.x), "labels", "train_splits"}``.

    Args:
        path: any file in that format (keys ``x_data``, ``x_indices``, ``x_indptr``, ``x_shape`` -- the node
            features as CSR --, ``edge_ptr``/``edge_nodes`` -- hyperedge e holds ``edge_nodes[edge_ptr[e]:
            edge_ptr[e+1]]`` --, ``labels`` (N,) and ``train_splits`` (splits, n_train) node ids); without it,
            ``<data root>/hypergraph/<name>.npz``.
        name, root: the file under the data root when ``path`` is not given.
        duplicates: repeated hyperedges: ``"keep"``, ``"merge"`` (one copy, mean weight), ``"sum"`` (one copy,
            summed weight) or ``"error"`` (see ``Hypergraph.from_edges``).
        num_nodes: the number of nodes, when it must differ from ``x_shape[0]`` (it must match the features and
            labels; give it to get a clear error naming both).

        sparse_features: keep the node features as a sparse CSR tensor (the first layer then multiplies only the
            stored non-zeros: ``nn.Linear`` accepts CSR inputs) or make them dense. Default: sparse when at most
            10% of the entries are stored (bag-of-words citation features are about 1%), else dense.
    """
    path = Path(path) if path is not None else data_file(f"hypergraph/{name}.npz", root)
    try:
        raw = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise HypergraphError(f"{path}: not a readable .npz file ({exc})") from exc
    with raw:
        missing = [k for k in NPZ_KEYS if k not in raw.files]
        if missing:
            raise HypergraphError(f"{path}: missing keys {missing}; a hypergraph .npz needs {list(NPZ_KEYS)}")
        d = {k: raw[k] for k in NPZ_KEYS}
    n, f = (int(v) for v in d["x_shape"])
    if num_nodes is not None and num_nodes != n:
        raise HypergraphError(f"{path}: num_nodes={num_nodes} but the features (x_shape) describe {n} nodes")
    if len(d["x_indptr"]) != n + 1 or len(d["labels"]) != n:
        raise HypergraphError(f"{path}: x_shape says {n} nodes but x_indptr has {len(d['x_indptr'])} entries and "
                              f"labels {len(d['labels'])}")
    x = _features(d, n, f, path, sparse_features)
    ptr, nodes = d["edge_ptr"].astype(np.int64), d["edge_nodes"].astype(np.int64)
    edges = [nodes[ptr[e]:ptr[e + 1]].tolist() for e in range(len(ptr) - 1)]
    hg = Hypergraph.from_edges(edges, n, x=x, duplicates=duplicates)
    splits = torch.from_numpy(d["train_splits"].astype(np.int64))
    if splits.dim() != 2 or (splits < 0).any() or (splits >= n).any():
        raise HypergraphError(f"{path}: train_splits must be a (splits, n_train) array of node ids in [0, {n})")
    return {"hg": hg, "labels": torch.from_numpy(d["labels"].astype(np.int64)), "train_splits": splits}


def _features(d: dict[str, Any], n: int, f: int, path: Path, sparse: bool | None) -> torch.Tensor:
    """The (N, F) float32 node features from the npz's CSR arrays, sparse (CSR) or dense."""
    indptr, indices = d["x_indptr"].astype(np.int64), d["x_indices"].astype(np.int64)
    values = d["x_data"].astype(np.float32)
    if len(indices) != len(values) or (len(indices) and (indices.min() < 0 or indices.max() >= f)):
        raise HypergraphError(f"{path}: x_indices/x_data must be CSR column ids in [0, {f}) and their values")
    if sparse is None:
        sparse = len(values) <= 0.1 * n * f
    if sparse:
        import scipy.sparse as sp

        m = sp.csr_matrix((values, indices, indptr), shape=(n, f))
        m.sum_duplicates()
        m.sort_indices()
        from .ops._csr import csr

        return csr(torch.from_numpy(m.indptr.astype(np.int64)), torch.from_numpy(m.indices.astype(np.int64)),
                   torch.from_numpy(m.data), (n, f))
    x = np.zeros((n, f), dtype=np.float32)
    np.add.at(x, (np.repeat(np.arange(n), np.diff(indptr)), indices), values)
    return torch.from_numpy(x)


def _read_rows(path: Path, kind: type) -> list[list]:
    if not path.is_file():
        raise HypergraphError(f"missing ENC file {str(path)!r}; an ENC folder holds hypergraph.txt, "
                              "hypergraph_pos.txt, valid_hindex.txt and test_hindex.txt")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append([kind(float(t)) if kind is int and "." in t else kind(t) for t in line.split()])
            except ValueError as exc:
                raise HypergraphError(f"{path}:{i}: not a tab-separated list of numbers: "
                                      f"{line.strip()[:60]!r}") from exc
    return rows


def load_enc(path: str | os.PathLike | None = None, *, name: str = "enc-StackOverflowBiology",
             root: str | os.PathLike | None = None) -> dict[str, Any]:
    """An ENC folder: ``{"hg", "labels" (one per incidence, edge-major), "valid_edges", "test_edges"}``.

    A node listed twice in one hyperedge (843 hyperedges of StackOverflowBiology: one user in two roles, with
    two labels) keeps both listings as separate incidences, as the data's incidence counts do."""
    folder = Path(path) if path is not None else data_root(root) / "hypergraph" / name
    edges = _read_rows(folder / "hypergraph.txt", int)
    labels = _read_rows(folder / "hypergraph_pos.txt", int)
    if len(edges) != len(labels):
        raise HypergraphError(f"{folder}: hypergraph.txt has {len(edges)} hyperedges but hypergraph_pos.txt "
                              f"{len(labels)} label lines; they must match line by line")
    for e, (ms, ls) in enumerate(zip(edges, labels)):
        if len(ms) != len(ls):
            raise HypergraphError(f"{folder}: hyperedge {e} (line {e + 1}) has {len(ms)} nodes but {len(ls)} labels")
    split = {}
    for key in ("valid", "test"):
        ids = [r[0] for r in _read_rows(folder / f"{key}_hindex.txt", int)]
        bad = [i for i in ids if not 0 <= i < len(edges)]
        if bad:
            raise HypergraphError(f"{folder}/{key}_hindex.txt: hyperedge ids {bad[:5]} out of [0, {len(edges)})")
        split[f"{key}_edges"] = torch.tensor(sorted(ids), dtype=torch.long)
    hg = Hypergraph.from_edges(edges, allow_repeated_nodes=True)  # a node may hold two roles in one hyperedge
    y = torch.tensor([lab for ls in labels for lab in ls], dtype=torch.long)
    if (y < 0).any():
        raise HypergraphError(f"{folder}: labels must be non-negative class ids")
    return {"hg": hg, "labels": y, **split}


def structural_features(hg: Hypergraph, dim: int = 32, seed: int = 0) -> torch.Tensor:
    """Node features from structure only (no features ship with the ENC sets): log(1 + degree), log(1 + mean
    size of the node's hyperedges), and the top ``dim`` left singular vectors of Dv^-1/2 H De^-1/2 (a spectral
    embedding of the clique expansion; randomized SVD), scaled by √N. Deterministic for a given ``seed``."""
    import scipy.sparse as sp
    from sklearn.utils.extmath import randomized_svd

    n, m = hg.num_nodes, hg.num_edges
    v, e = hg.node_ids.numpy(), hg.incidence_edge.numpy()
    deg = hg.node_degree.double().numpy()
    size = hg.edge_size.double().numpy()
    dvis = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1)), 0.0)
    mat = sp.csr_matrix((dvis[v] / np.sqrt(size[e]), (v, e)), shape=(n, m))
    k = min(dim, min(n, m) - 1)
    u, _, _ = randomized_svd(mat, k, n_iter=4, random_state=seed)
    u = u * np.where(u.sum(0, keepdims=True) < 0, -1.0, 1.0)  # fix each vector's sign
    mean_size = np.zeros(n)
    np.add.at(mean_size, v, size[e])
    mean_size = np.where(deg > 0, mean_size / np.maximum(deg, 1), 0.0)
    feats = np.concatenate([np.log1p(deg)[:, None], np.log1p(mean_size)[:, None], u * np.sqrt(n)], axis=1)
    return torch.from_numpy(feats.astype(np.float32))


def graph_families(num_per_class: int = 300, min_nodes: int = 20, max_nodes: int = 40,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Three graph classes with matched edge counts, built offline (networkx generators, fixed seed):
    Erdős–Rényi G(n, m) (label 0), Barabási–Albert with k attachments (label 1) and Watts–Strogatz with
    2k neighbours and rewiring 0.3 (label 2). n is uniform in [min_nodes, max_nodes] and k ∈ {2, 4} per graph;
    all three have exactly k·(n−k) edges (BA by construction, ER by G(n, m), WS by dropping k² random edges of
    its k·n), so edge counts cannot tell the classes apart.
    Each item: ``{"edge_index" (2, M), "num_nodes", "label"}``."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    out = []
    for label in range(3):
        for _ in range(num_per_class):
            n = int(rng.integers(min_nodes, max_nodes + 1))
            k = int(rng.choice([2, 4]))
            s = int(rng.integers(2**31))
            if label == 1:
                g = nx.barabasi_albert_graph(n, k, seed=s)
            elif label == 2:
                g = nx.connected_watts_strogatz_graph(n, 2 * k, 0.3, seed=s)
                es = sorted(g.edges())
                g.remove_edges_from([es[i] for i in rng.choice(len(es), k * k, replace=False)])
            else:
                g = nx.gnm_random_graph(n, k * (n - k), seed=s)
            ei = torch.tensor(sorted(g.edges()), dtype=torch.long).t().reshape(2, -1)
            out.append({"edge_index": ei, "num_nodes": n, "label": label})
    return out
