"""Hyper-relational facts (s, r, o, {(qr_i, qv_i)}): the structure, its text loader and exact filtered ranking.

A fact is a typed hyperedge over its entities {s, o, qv_1, ..., qv_k}: the main triple (subject, relation,
object) plus a *set* of qualifier pairs (qualifier relation, qualifier value). The text format (WD50K, StarE):
one fact a line, comma-separated ids ``s,r,o,qr_1,qv_1,...,qr_k,qv_k``.

Link prediction queries are ``(e, r', Q)``: object prediction ``(s, r, Q) → o`` and subject prediction
``(o, r⁻¹, Q) → s`` with the inverse relation ``r⁻¹ = r + R`` (``R`` relations). The *filtered* rank of the
answer ``a`` among all entities removes every other entity ``a'`` with ``(e, r', Q, a')`` true in any split:

    rank(a) = 1 + |{c ∉ F : s_c > s_a}| + ½ |{c ∉ F, c ≠ a : s_c = s_a}|,   F = {a' ≠ a : (e, r', Q) → a' true}

(ties count half: a constant scorer ranks the answer in the middle of the unfiltered candidates).
``filtered_ranks`` computes it for a whole batch with one mask (no loop over facts); ``brute_force_ranks`` is
the loop it is checked against.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .structure import Hypergraph, HypergraphError

__all__ = ["HyperRelationalFacts", "HyperRelationalError", "load_facts", "load_hyper_relational", "FilterIndex",
           "filtered_ranks", "brute_force_ranks", "ranking_metrics", "SPLITS"]

SPLITS = ("train", "valid", "test")


class HyperRelationalError(HypergraphError):
    """A malformed hyper-relational file or structure."""


class Vocabulary:
    """Ids ↔ names (insertion order)."""

    def __init__(self, names: Iterable[str] = ()):
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        for n in names:
            self.add(n)

    def add(self, name: str) -> int:
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.names)
            self.names.append(name)
        return i

    def __len__(self) -> int:
        return len(self.names)


class HyperRelationalFacts:
    """Facts as padded id arrays over shared entity / relation vocabularies.

    Attributes:
        entities, relations: the vocabularies (lists of names; id = position).
        triples: (N, 3) long ``[s, r, o]``.
        qualifiers: (N, Q, 2) long ``[qr, qv]`` pairs, padded with -1 (Q = the largest count, at least 0).
        qualifier_mask: (N, Q) bool, True where a pair is present.
    """

    def __init__(self, triples: Any, qualifiers: Any = None, qualifier_mask: Any = None, *,
                 entities: Sequence[str], relations: Sequence[str]):
        self.entities, self.relations = list(entities), list(relations)
        self.triples = torch.as_tensor(triples, dtype=torch.long).reshape(-1, 3)
        n = self.triples.shape[0]
        if qualifiers is None:
            qualifiers = torch.full((n, 0, 2), -1, dtype=torch.long)
        self.qualifiers = torch.as_tensor(qualifiers, dtype=torch.long)
        if qualifier_mask is None:
            qualifier_mask = (self.qualifiers >= 0).all(-1) if self.qualifiers.numel() else \
                torch.zeros(n, self.qualifiers.shape[1] if self.qualifiers.dim() == 3 else 0, dtype=torch.bool)
        self.qualifier_mask = torch.as_tensor(qualifier_mask, dtype=torch.bool)
        self.validate()

    def validate(self) -> HyperRelationalFacts:
        """Check shapes and id ranges; raise :class:`HyperRelationalError` naming the problem."""
        n, ne, nr = self.num_facts, self.num_entities, self.num_relations
        q = self.qualifiers
        if q.dim() != 3 or q.shape[0] != n or q.shape[2] != 2:
            raise HyperRelationalError(f"qualifiers must have shape ({n}, Q, 2), got {tuple(q.shape)}")
        if self.qualifier_mask.shape != q.shape[:2]:
            raise HyperRelationalError(f"qualifier_mask must have shape {tuple(q.shape[:2])}, got "
                                       f"{tuple(self.qualifier_mask.shape)}")
        t = self.triples
        for col, what, size in ((0, "subject", ne), (1, "relation", nr), (2, "object", ne)):
            bad = ((t[:, col] < 0) | (t[:, col] >= size)).nonzero().flatten()
            if bad.numel():
                raise HyperRelationalError(f"fact {int(bad[0])}: {what} id {int(t[bad[0], col])} is out of range "
                                           f"[0, {size})")
        m = self.qualifier_mask
        for col, what, size in ((0, "qualifier relation", nr), (1, "qualifier value", ne)):
            v = q[..., col]
            bad = (m & ((v < 0) | (v >= size))).nonzero()
            if bad.numel():
                raise HyperRelationalError(f"fact {int(bad[0, 0])}: {what} id {int(v[bad[0, 0], bad[0, 1]])} is out "
                                           f"of range [0, {size})")
        if (~m & (q >= 0).any(-1)).any():
            raise HyperRelationalError("padded qualifier slots (qualifier_mask False) must hold -1")
        return self

    # -- sizes ----------------------------------------------------------------------------------------------
    @property
    def num_facts(self) -> int:
        return int(self.triples.shape[0])

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    @property
    def num_qualifiers(self) -> torch.Tensor:
        """(N,) qualifier pairs per fact."""
        return self.qualifier_mask.sum(1)

    def __len__(self) -> int:
        return self.num_facts

    def __repr__(self) -> str:
        return (f"HyperRelationalFacts({self.num_facts} facts, {self.num_entities} entities, {self.num_relations} "
                f"relations, {int(self.num_qualifiers.sum())} qualifier pairs)")

    # -- views ----------------------------------------------------------------------------------------------
    def truncate_qualifiers(self, max_qualifiers: int | None) -> HyperRelationalFacts:
        """The same facts keeping at most the first ``max_qualifiers`` pairs of each (file order)."""
        if max_qualifiers is None or max_qualifiers >= self.qualifiers.shape[1]:
            return self
        if max_qualifiers < 0:
            raise HyperRelationalError(f"max_qualifiers must be >= 0, got {max_qualifiers}")
        k = max_qualifiers
        return HyperRelationalFacts(self.triples, self.qualifiers[:, :k], self.qualifier_mask[:, :k],
                                    entities=self.entities, relations=self.relations)

    def without_qualifiers(self) -> HyperRelationalFacts:
        return self.truncate_qualifiers(0)

    def fact(self, i: int) -> tuple[str, str, str, list[tuple[str, str]]]:
        """Fact ``i`` by names: (s, r, o, [(qr, qv), ...])."""
        s, r, o = self.triples[i].tolist()
        quals = [(self.relations[a], self.entities[b]) for (a, b), m in
                 zip(self.qualifiers[i].tolist(), self.qualifier_mask[i].tolist()) if m]
        return self.entities[s], self.relations[r], self.entities[o], quals

    def lines(self) -> list[str]:
        """The facts in the text format (one ``s,r,o,qr,qv,...`` line each)."""
        out = []
        for i in range(self.num_facts):
            s, r, o, quals = self.fact(i)
            out.append(",".join([s, r, o, *[x for pair in quals for x in pair]]))
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the text format (atomically)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in self.lines()))
        os.replace(tmp, path)

    # -- hypergraph conversion ------------------------------------------------------------------------------
    def to_hypergraph(self) -> tuple[Hypergraph, torch.Tensor]:
        """One hyperedge per fact over its entities, in the order ``s, o, qv_1, ..., qv_k``, and the relation of
        each incidence (``r`` for ``s`` and ``o``, ``qr_i`` for ``qv_i``). An entity may appear twice in a fact
        (e.g. as object and qualifier value), so incidences are roles: ``allow_repeated_nodes=True``."""
        n = self.num_facts
        counts = 2 + self.num_qualifiers
        ptr = torch.zeros(n + 1, dtype=torch.long)
        ptr[1:] = counts.cumsum(0)
        slots = torch.cat([self.triples[:, [0, 2]], torch.where(self.qualifier_mask, self.qualifiers[..., 1], -1)], 1)
        rels = torch.cat([self.triples[:, [1, 1]], torch.where(self.qualifier_mask, self.qualifiers[..., 0], -1)], 1)
        keep = torch.cat([torch.ones(n, 2, dtype=torch.bool), self.qualifier_mask], 1)
        hg = Hypergraph(self.num_entities, ptr, slots[keep], allow_repeated_nodes=True)
        return hg, rels[keep]

    @classmethod
    def from_hypergraph(cls, hg: Hypergraph, incidence_relation: Any, *, entities: Sequence[str],
                        relations: Sequence[str]) -> HyperRelationalFacts:
        """Inverse of :meth:`to_hypergraph`: each hyperedge ``[s, o, qv...]`` with its incidence relations."""
        rel = torch.as_tensor(incidence_relation, dtype=torch.long)
        if rel.shape != (hg.num_incidences,):
            raise HyperRelationalError(f"incidence_relation must have shape ({hg.num_incidences},), got "
                                       f"{tuple(rel.shape)}")
        sizes = hg.edge_size
        if (sizes < 2).any():
            raise HyperRelationalError(f"hyperedge {int((sizes < 2).nonzero()[0])} has fewer than 2 nodes; a fact "
                                       "needs a subject and an object")
        start = hg.edge_ptr[:-1]
        if (rel[start] != rel[start + 1]).any():
            raise HyperRelationalError("the subject and object incidences of a fact must carry the same relation")
        q = int(sizes.max()) - 2 if hg.num_edges else 0
        pos = torch.arange(hg.num_incidences) - start[hg.incidence_edge] - 2  # qualifier slot of each incidence
        quals = torch.full((hg.num_edges, q, 2), -1, dtype=torch.long)
        isq = pos >= 0
        quals[hg.incidence_edge[isq], pos[isq], 0] = rel[isq]
        quals[hg.incidence_edge[isq], pos[isq], 1] = hg.node_ids[isq]
        triples = torch.stack([hg.node_ids[start], rel[start], hg.node_ids[start + 1]], 1)
        return cls(triples, quals, quals[..., 0] >= 0, entities=entities, relations=relations)


# -- text loader --------------------------------------------------------------------------------------------
def _parse(path: Path, ents: Vocabulary, rels: Vocabulary, sep: str) -> tuple[list, list]:
    triples, quals = [], []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HyperRelationalError(f"{path}: cannot read the facts file ({exc})") from exc
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(sep)]
        where = f"{path}:{no}: {line[:80]!r}"
        if len(parts) < 3:
            raise HyperRelationalError(f"{where}: a fact needs at least s{sep}r{sep}o ({len(parts)} field(s) found)")
        if len(parts) % 2 == 0:
            raise HyperRelationalError(f"{where}: odd qualifier count: after s{sep}r{sep}o the qualifiers come in "
                                       f"(relation, value) pairs, but {len(parts) - 3} field(s) follow")
        empty = [i + 1 for i, p in enumerate(parts) if not p]
        if empty:
            raise HyperRelationalError(f"{where}: empty id in field(s) {empty} (two separators in a row or a "
                                       "trailing separator)")
        triples.append((ents.add(parts[0]), rels.add(parts[1]), ents.add(parts[2])))
        quals.append([(rels.add(parts[i]), ents.add(parts[i + 1])) for i in range(3, len(parts), 2)])
    return triples, quals


def _pack(triples: list, quals: list, ents: Vocabulary, rels: Vocabulary) -> HyperRelationalFacts:
    n = len(triples)
    q = max((len(x) for x in quals), default=0)
    arr = np.full((n, q, 2), -1, dtype=np.int64)
    for i, pairs in enumerate(quals):
        if pairs:
            arr[i, :len(pairs)] = pairs
    t = np.asarray(triples, dtype=np.int64).reshape(n, 3)
    return HyperRelationalFacts(torch.from_numpy(t), torch.from_numpy(arr), torch.from_numpy(arr[..., 0] >= 0),
                                entities=ents.names, relations=rels.names)


def load_facts(paths: str | os.PathLike | Sequence[str | os.PathLike], *, sep: str = ",",
               entities: Sequence[str] = (), relations: Sequence[str] = ()) -> list[HyperRelationalFacts]:
    """Read one or more fact files in the text format into facts over one shared vocabulary.

    Each line ``s,r,o[,qr_1,qv_1,...]``; blank lines are skipped. Errors name the file, line and problem:
    fewer than three fields, an odd qualifier count (a relation without its value), an empty id.
    ``entities``/``relations`` seed the vocabularies (ids of names already known).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    ents, rels = Vocabulary(entities), Vocabulary(relations)
    parsed = [_parse(Path(p), ents, rels, sep) for p in paths]
    return [_pack(t, q, ents, rels) for t, q in parsed]


def load_hyper_relational(path: str | os.PathLike | None = None, *, name: str = "wd50k_100",
                          variant: str = "statements", root: str | os.PathLike | None = None,
                          sep: str = ",") -> dict[str, HyperRelationalFacts]:
    """``{"train", "valid", "test"}`` facts over one vocabulary from a folder holding ``train.txt``,
    ``valid.txt`` and ``test.txt`` (any user ``path``), else ``<data root>/hyper-relational/<name>/<variant>/``."""
    if path is None:
        from hyperzoo.core.data import data_root

        if variant not in ("statements", "triples"):
            raise HyperRelationalError(f"variant must be 'statements' or 'triples', got {variant!r}")
        folder = data_root(root) / "hyper-relational" / name / variant
    else:
        folder = Path(path).expanduser()
    if not folder.is_dir():
        raise HyperRelationalError(f"{folder} is not a folder; a hyper-relational data set is a folder holding "
                                   f"{', '.join(s + '.txt' for s in SPLITS)}")
    missing = [s for s in SPLITS if not (folder / f"{s}.txt").is_file()]
    if missing:
        raise HyperRelationalError(f"{folder}: missing {', '.join(s + '.txt' for s in missing)} (a data set needs "
                                   f"{', '.join(s + '.txt' for s in SPLITS)})")
    facts = load_facts([folder / f"{s}.txt" for s in SPLITS], sep=sep)
    return dict(zip(SPLITS, facts))


# -- queries and filtered ranking -----------------------------------------------------------------------------
def queries(facts: HyperRelationalFacts, num_relations: int | None = None) -> dict[str, torch.Tensor]:
    """Object then subject queries of every fact: ``entity`` (2N,), ``relation`` (2N,) with inverses
    ``r + R``, ``qualifiers`` (2N, Q, 2), ``qualifier_mask`` (2N, Q), ``answer`` (2N,)."""
    r = facts.num_relations if num_relations is None else num_relations
    t = facts.triples
    return {"entity": torch.cat([t[:, 0], t[:, 2]]), "relation": torch.cat([t[:, 1], t[:, 1] + r]),
            "qualifiers": torch.cat([facts.qualifiers, facts.qualifiers]),
            "qualifier_mask": torch.cat([facts.qualifier_mask, facts.qualifier_mask]),
            "answer": torch.cat([t[:, 2], t[:, 0]])}


def _query_keys(q: dict[str, torch.Tensor], width: int) -> np.ndarray:
    """One row per query ``[e, r', sorted qualifier pairs..., -1 padding]`` (qualifiers are a set)."""
    quals = torch.where(q["qualifier_mask"][..., None], q["qualifiers"], -1).numpy()
    n, k = quals.shape[:2]
    pad = np.full((n, width, 2), -1, dtype=np.int64)
    pad[:, :k] = quals
    code = np.where(pad[..., 0] >= 0, pad[..., 0] * (1 << 32) + pad[..., 1], np.iinfo(np.int64).max)
    code = np.sort(code, axis=1)  # order-free; padding sorts last
    return np.concatenate([q["entity"].numpy()[:, None], q["relation"].numpy()[:, None], code], 1)


class FilterIndex:
    """For every query ``(e, r', Q)`` the set of its true answers over the given splits, as a CSR built with
    NumPy (``np.unique`` over the query rows; no Python loop over facts)."""

    def __init__(self, splits: Iterable[HyperRelationalFacts], num_relations: int):
        splits = list(splits)
        self.num_relations = num_relations
        self.width = max((f.qualifiers.shape[1] for f in splits), default=0)
        qs = [queries(f, num_relations) for f in splits]
        keys = np.concatenate([_query_keys(q, self.width) for q in qs])
        answers = np.concatenate([q["answer"].numpy() for q in qs])
        self.keys, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.reshape(-1)
        pairs = np.unique(np.stack([group, answers], 1), axis=0)  # distinct (group, answer), sorted by group
        self.ptr = np.zeros(len(self.keys) + 1, dtype=np.int64)
        np.add.at(self.ptr, pairs[:, 0] + 1, 1)
        self.ptr = np.cumsum(self.ptr)
        self.answers = pairs[:, 1]

    def groups(self, q: dict[str, torch.Tensor]) -> np.ndarray:
        """The group of each query (a vectorised join of its key against the index; every key must be in it).
        Compute it once for a whole split and slice it per batch."""
        k = q["qualifiers"].shape[1] if q["qualifiers"].dim() == 3 else 0
        keys = _query_keys(q, max(self.width, k))
        known = self.keys
        if keys.shape[1] > known.shape[1]:
            extra = keys[:, known.shape[1]:]
            if (extra != np.iinfo(np.int64).max).any():
                raise HyperRelationalError("queries have more qualifiers than any fact the filter was built from; "
                                           "build the FilterIndex from every split the queries come from")
            keys = keys[:, :known.shape[1]]
        both, inverse = np.unique(np.concatenate([known, keys]), axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        lookup = np.full(len(both), -1, dtype=np.int64)
        lookup[inverse[:len(known)]] = np.arange(len(known))
        pos = lookup[inverse[len(known):]]
        if (pos < 0).any():
            raise HyperRelationalError(f"{int((pos < 0).sum())} queries are not in the filter index; build it from "
                                       "every split the queries come from")
        return pos

    def mask_pairs(self, groups: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(row, entity) of every true answer of each query's group (rows index ``groups``)."""
        start, count = self.ptr[groups], self.ptr[groups + 1] - self.ptr[groups]
        rows = np.repeat(np.arange(len(groups)), count)
        offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        return torch.from_numpy(rows), torch.from_numpy(self.answers[np.repeat(start, count) + offsets])


def filtered_ranks(scores: torch.Tensor, answer: torch.Tensor, known_rows: torch.Tensor,
                   known_entities: torch.Tensor) -> torch.Tensor:
    """Filtered ranks (see the module docstring) of ``answer`` (B,) under ``scores`` (B, E): every
    ``(known_rows[j], known_entities[j])`` true answer other than the row's own is removed by one mask."""
    b = scores.shape[0]
    keep = torch.ones_like(scores, dtype=torch.bool)
    keep[known_rows.to(scores.device), known_entities.to(scores.device)] = False
    rows = torch.arange(b, device=scores.device)
    keep[rows, answer] = True
    target = scores[rows, answer][:, None]
    greater = ((scores > target) & keep).sum(1)
    ties = ((scores == target) & keep).sum(1) - 1
    return 1.0 + greater.to(torch.float64) + 0.5 * ties.to(torch.float64)


def brute_force_ranks(scores: torch.Tensor, answer: torch.Tensor, true_answers: Sequence[set[int]]) -> torch.Tensor:
    """The same ranks by a Python loop over queries and candidates (the reference for tests)."""
    out = []
    for i in range(scores.shape[0]):
        a = int(answer[i])
        t = float(scores[i, a])
        greater = ties = 0
        for c in range(scores.shape[1]):
            if c == a or c in true_answers[i]:
                continue
            v = float(scores[i, c])
            greater += v > t
            ties += v == t
        out.append(1 + greater + 0.5 * ties)
    return torch.tensor(out, dtype=torch.float64)


def ranking_metrics(ranks: torch.Tensor, prefix: str = "", ks: Sequence[int] = (1, 3, 10)) -> dict[str, float]:
    """MRR = mean 1/rank and Hits@k = share of ranks ≤ k."""
    ranks = ranks.to(torch.float64)
    out = {f"{prefix}mrr": float((1.0 / ranks).mean()), f"{prefix}mr": float(ranks.mean())}
    out.update({f"{prefix}hits@{k}": float((ranks <= k).to(torch.float64).mean()) for k in ks})
    return out
