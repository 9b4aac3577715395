"""Hypergraph reconstruction from its projection (after Wang & Kleinberg, "From Graphs to Hypergraphs:
Hypergraph Projection and its Remediation", ICLR 2024).

The projection (clique expansion) G of a hypergraph links u–v when some hyperedge holds both; it forgets which
cliques were hyperedges. Reconstruction: enumerate candidate cliques of G (every maximal clique, and the
cliques left when one node is dropped from a maximal clique), score each with a classifier trained on a
hypergraph whose hyperedges are known (scikit-learn gradient boosting on structural clique features), keep
candidates scoring ≥ ``threshold``, then cover every still-uncovered edge of G with its best-scoring
candidate. All candidates are cliques of G, so the reconstruction's clique expansion equals G exactly.

Quality: Jaccard(R, T) = |R ∩ T| / |R ∪ T| over sets of hyperedges (size ≥ 2; singletons leave no trace).
Baseline: every maximal clique is a hyperedge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["HyperedgeReconstructor", "jaccard", "project", "maximal_cliques", "FEATURES"]

FEATURES = ("size", "is_maximal", "num_maximal_supersets", "min_edge_cover", "mean_edge_cover",
            "frac_private_edges", "mean_degree_ratio", "min_degree", "outside_neighbours_ratio",
            "parent_size")


def jaccard(a: Iterable[Iterable[int]], b: Iterable[Iterable[int]]) -> float:
    """|A ∩ B| / |A ∪ B| of two collections of hyperedges, compared as sets of node sets (1 when both empty)."""
    sa, sb = {frozenset(e) for e in a}, {frozenset(e) for e in b}
    return 1.0 if not sa and not sb else len(sa & sb) / len(sa | sb)


def project(edges: Iterable[Iterable[int]]) -> Any:
    """The clique expansion (networkx graph) of a list of hyperedges."""
    import networkx as nx

    g = nx.Graph()
    for e in edges:
        e = sorted(set(e))
        g.add_nodes_from(e)
        g.add_edges_from((u, v) for i, u in enumerate(e) for v in e[i + 1:])
    return g


def maximal_cliques(g: Any) -> list[frozenset[int]]:
    """Maximal cliques of size ≥ 2 (the baseline reconstruction)."""
    import networkx as nx

    return sorted({frozenset(c) for c in nx.find_cliques(g) if len(c) >= 2}, key=lambda c: (len(c), sorted(c)))


class HyperedgeReconstructor:
    """Candidate cliques + learned scorer (an estimator: ``fit(graph, hyperedges)``, ``predict(graph)``).

    Saved without pickle: ``state_dict()`` holds the training features and labels (lists) and the settings;
    ``load_state_dict`` refits the (seeded, deterministic) classifier on them.
    """

    def __init__(self, *, max_subclique_drop: int = 1, n_estimators: int = 200, threshold: float = 0.5,
                 random_state: int = 0):
        if max_subclique_drop not in (0, 1):
            raise ValueError("max_subclique_drop must be 0 (maximal cliques only) or 1 (also drop one node)")
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.max_subclique_drop, self.n_estimators = max_subclique_drop, n_estimators
        self.threshold, self.random_state = threshold, random_state
        self.clf: Any = None
        self._train: tuple[list, list] | None = None

    # -- candidates and features ---------------------------------------------------------------------------
    def candidates(self, g: Any) -> tuple[list[frozenset[int]], np.ndarray]:
        """Candidate cliques of ``g`` and their feature matrix (columns: :data:`FEATURES`)."""
        maxc = maximal_cliques(g)
        cover: dict[tuple[int, int], int] = defaultdict(int)
        node_in: dict[int, list[int]] = defaultdict(list)
        for i, c in enumerate(maxc):
            for u in c:
                node_in[u].append(i)
            cs = sorted(c)
            for a, u in enumerate(cs):
                for v in cs[a + 1:]:
                    cover[(u, v)] += 1
        cands: dict[frozenset[int], int] = {}
        for c in maxc:
            cands[c] = len(c)
            if self.max_subclique_drop and len(c) >= 3:
                for u in c:
                    cands.setdefault(c - {u}, len(c))
        deg = dict(g.degree())
        rows, out = [], []
        for c, parent in cands.items():
            cs = sorted(c)
            pairs = [cover[(u, v)] for a, u in enumerate(cs) for v in cs[a + 1:]]
            supers = set.intersection(*(set(node_in[u]) for u in cs))
            common = set.intersection(*(set(g[u]) for u in cs)) - c
            degs = [deg[u] for u in cs]
            whole = parent == len(c) and len(supers) == 1 and len(maxc[next(iter(supers))]) == len(c)
            rows.append([len(c), float(whole),
                         len(supers), min(pairs), float(np.mean(pairs)), float(np.mean([p == 1 for p in pairs])),
                         float(np.mean(degs)) / (len(c) - 1), min(degs), len(common) / len(c), parent])
            out.append(c)
        return out, np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))

    # -- estimator API ---------------------------------------------------------------------------------------
    def _make(self) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(max_iter=self.n_estimators, learning_rate=0.1,
                                              random_state=self.random_state)

    def fit(self, graph: Any, hyperedges: Iterable[Iterable[int]] | None = None) -> HyperedgeReconstructor:
        """Learn which candidate cliques of ``graph`` (the projection of ``hyperedges``) are hyperedges."""
        if hyperedges is None:
            raise ValueError("fit(graph, hyperedges): the true hyperedges of the training hypergraph are needed")
        truth = {frozenset(e) for e in hyperedges if len(set(e)) >= 2}
        cands, feats = self.candidates(graph)
        labels = [int(c in truth) for c in cands]
        if len(set(labels)) < 2:
            raise ValueError("training candidates are all positive or all negative; use a larger training part")
        self._train = (feats.tolist(), labels)
        self.clf = self._make().fit(feats, labels)
        return self

    def predict_proba(self, graph: Any) -> tuple[list[frozenset[int]], np.ndarray]:
        if self.clf is None:
            raise RuntimeError("fit the reconstructor first (or load_state_dict a fitted one)")
        cands, feats = self.candidates(graph)
        return cands, self.clf.predict_proba(feats)[:, 1] if cands else np.zeros(0)

    def predict(self, graph: Any) -> list[frozenset[int]]:
        """The reconstructed hyperedges; their clique expansion equals ``graph`` (isolated nodes aside)."""
        cands, p = self.predict_proba(graph)
        chosen = {c for c, s in zip(cands, p) if s >= self.threshold}
        covered = {(u, v) for c in chosen for u in c for v in c if u < v}
        best: dict[tuple[int, int], tuple[float, frozenset[int]]] = {}
        for c, s in zip(cands, p):
            for u in c:
                for v in c:
                    if u < v and (u, v) not in covered and s > best.get((u, v), (-1.0, None))[0]:
                        best[(u, v)] = (s, c)
        for (u, v) in sorted(best):
            if (u, v) not in covered:
                c = best[(u, v)][1]
                chosen.add(c)
                covered |= {(a, b) for a in c for b in c if a < b}
        return sorted(chosen, key=lambda c: (len(c), sorted(c)))

    def state_dict(self) -> dict[str, Any]:
        if self._train is None:
            raise RuntimeError("nothing to save: the reconstructor is not fitted")
        return {"features": self._train[0], "labels": self._train[1], "threshold": self.threshold,
                "n_estimators": self.n_estimators, "random_state": self.random_state,
                "max_subclique_drop": self.max_subclique_drop}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.threshold, self.n_estimators = float(state["threshold"]), int(state["n_estimators"])
        self.random_state, self.max_subclique_drop = int(state["random_state"]), int(state["max_subclique_drop"])
        self._train = (state["features"], state["labels"])
        self.clf = self._make().fit(np.asarray(state["features"]), np.asarray(state["labels"]))
