"""Hyper-relational link prediction (task ``wd50k-100``, kind ``link-prediction``).

Training: every training fact gives an object query ``(s, r, Q) → o`` and a subject query ``(o, r⁻¹, Q) → s``;
each epoch is one pass over them in shuffled mini-batches, with 1-N scoring (scores over all entities) and
cross-entropy with label smoothing ``ε`` (``trainer.label_smoothing``): target ``(1 − ε) 1_a + ε/E``.
The model's ``auxiliary_losses()`` (HyperFormer's MoE balance loss) are added. Validation every epoch (filtered
MRR on ``valid``, early stopping and best-state restore on it), test at the end; both splits are evaluated in
full, object and subject queries, in the filtered setting (every other true answer of the same query in
train/valid/test removed; see :mod:`.hyperrelational`). Metrics: ``{val,test}_mrr``, ``_mr``, ``_hits@{1,3,10}``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .hyperrelational import (
    FilterIndex,
    HyperRelationalFacts,
    filtered_ranks,
    load_hyper_relational,
    queries,
    ranking_metrics,
)

__all__ = ["HyperRelationalLinkPrediction", "WD50K100", "neighbor_table", "evaluate_ranking"]

_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "optimizer", "scheduler", "warmup_epochs", "patience",
         "grad_clip", "label_smoothing", "eval_batch_size", "threads", "logger")


def neighbor_table(facts: HyperRelationalFacts, num_neighbors: int, num_relations: int,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(E, K) neighbour entity and relation ids (-1 padding): for each entity up to ``K`` of its training pairs
    ``(r, o)`` (as subject) and ``(r + R, s)`` (as object), sampled uniformly without replacement."""
    t = facts.triples.numpy()
    center = np.concatenate([t[:, 0], t[:, 2]])
    other = np.concatenate([t[:, 2], t[:, 0]])
    rel = np.concatenate([t[:, 1], t[:, 1] + num_relations])
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(center)), center))  # by entity, random inside each
    center, other, rel = center[order], other[order], rel[order]
    first = np.searchsorted(center, center, side="left")
    slot = np.arange(len(center)) - first
    keep = slot < num_neighbors
    ent = torch.full((facts.num_entities, num_neighbors), -1, dtype=torch.long)
    rels = torch.full((facts.num_entities, num_neighbors), -1, dtype=torch.long)
    idx = (torch.from_numpy(center[keep]), torch.from_numpy(slot[keep]))
    ent[idx] = torch.from_numpy(other[keep])
    rels[idx] = torch.from_numpy(rel[keep])
    return ent, rels


@torch.no_grad()
def evaluate_ranking(model: Any, q: dict[str, torch.Tensor], groups: np.ndarray, index: FilterIndex, *,
                     batch_size: int = 512, device: torch.device | str = "cpu") -> torch.Tensor:
    """Filtered ranks of every query in ``q`` (``groups`` from ``index.groups(q)``), in batches."""
    ranks = []
    for start in range(0, len(q["answer"]), batch_size):
        sl = slice(start, start + batch_size)
        scores = model(q["entity"][sl].to(device), q["relation"][sl].to(device), q["qualifiers"][sl].to(device),
                       q["qualifier_mask"][sl].to(device))
        rows, ents = index.mask_pairs(groups[sl])
        ranks.append(filtered_ranks(scores.float(), q["answer"][sl].to(device), rows, ents).cpu())
    return torch.cat(ranks)


class HyperRelationalLinkPrediction:
    """Filtered link prediction on a hyper-relational data set: a folder with ``train.txt``/``valid.txt``/
    ``test.txt`` in the text format (``path=``), or ``<data root>/hyper-relational/<name>/statements``.

    Args:
        path: any folder in that format. data_root: the data root when ``path`` is not given.
        max_qualifiers: keep at most this many qualifier pairs per fact (file order; StarE's WD50K setting keeps
            6: it affects 68 of 31,314 facts); ``None`` keeps all.
        split_seed: seed of the neighbour sampling (ENA's table).
    """

    kind = "link-prediction"
    trainer_keys = _KEYS
    name = ""

    def __init__(self, *, path: str | os.PathLike | None = None, data_root: str | os.PathLike | None = None,
                 max_qualifiers: int | None = 6, split_seed: int = 0):
        if max_qualifiers is not None and max_qualifiers < 0:
            raise ValueError(f"max_qualifiers must be >= 0 or None, got {max_qualifiers}")
        self.path, self.data_root, self.max_qualifiers, self.split_seed = path, data_root, max_qualifiers, split_seed

    @property
    def data(self) -> dict[str, HyperRelationalFacts]:
        if getattr(self, "_data", None) is None:
            d = load_hyper_relational(self.path, name=self.name or "wd50k_100", root=self.data_root)
            self._data = {k: v.truncate_qualifiers(self.max_qualifiers) for k, v in d.items()}
        return self._data

    def model_defaults(self) -> dict[str, Any]:
        train = self.data["train"]
        return {"num_entities": train.num_entities, "num_relations": train.num_relations}

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 50, "patience": 5, "batch_size": 128, "lr": 2e-3, "weight_decay": 0.0,
                "optimizer": "adamw", "scheduler": None, "label_smoothing": 0.1, "eval_batch_size": 512}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        d = self.data
        dev = getattr(trainer, "device", torch.device("cpu"))
        r = d["train"].num_relations
        index = FilterIndex(d.values(), r)
        if hasattr(model, "set_neighbors"):
            ent, rel = neighbor_table(d["train"], model.num_neighbors, r, self.split_seed)
            model.set_neighbors(ent.to(dev), rel.to(dev))
        train = queries(d["train"], r)
        evalq = {s: queries(d[s], r) for s in ("valid", "test")}
        groups = {s: index.groups(q) for s, q in evalq.items()}
        model.to(dev)
        opt, sched = trainer.make_optimizer(model)
        n = len(train["answer"])
        smoothing = trainer.label_smoothing

        def step(epoch: int) -> dict[str, Any]:
            model.train()
            g = torch.Generator().manual_seed(trainer.seed * 100_003 + epoch)
            perm = torch.randperm(n, generator=g)
            total, parts, seen = torch.zeros(()), {}, 0
            for start in trainer.progress(range(0, n, trainer.batch_size), desc=f"epoch {epoch + 1}"):
                idx = perm[start:start + trainer.batch_size]
                batch = {k: v[idx].to(dev) for k, v in train.items()}
                scores = model(batch["entity"], batch["relation"], batch["qualifiers"], batch["qualifier_mask"],
                               exclude=batch["answer"])
                loss = F.cross_entropy(scores, batch["answer"], label_smoothing=smoothing)
                aux = model.auxiliary_losses() if callable(getattr(model, "auxiliary_losses", None)) else {}
                trainer.optimize(loss + sum(aux.values(), torch.zeros((), device=dev)), opt, model)
                k = len(idx)
                seen += k
                total = total + loss.detach().cpu() * k
                for name, v in aux.items():
                    parts[name] = parts.get(name, 0.0) + v.detach().cpu() * k
            return {"train_loss": total / seen, **{f"train_aux_{k}": v / seen for k, v in parts.items()}}

        def select() -> dict[str, float]:
            ranks = evaluate_ranking(model, evalq["valid"], groups["valid"], index,
                                     batch_size=trainer.eval_batch_size, device=dev)
            return ranking_metrics(ranks)

        info = trainer.fit_steps(model, step, select, optimizers=[opt], schedulers=[sched], monitor="mrr",
                                 mode="max", desc=type(self).__name__)
        model.eval()
        ranks = evaluate_ranking(model, evalq["test"], groups["test"], index, batch_size=trainer.eval_batch_size,
                                 device=dev)
        half = len(ranks) // 2
        out = {**info, **ranking_metrics(ranks, "test_"), "test_object_mrr": float((1 / ranks[:half]).mean()),
               "test_subject_mrr": float((1 / ranks[half:]).mean())}
        return out


class WD50K100(HyperRelationalLinkPrediction):
    """WD50K(100) (StarE): 22,738 / 3,279 / 5,297 statements, every one with qualifiers; 18,791 entities,
    278 relations. Any folder in the same format through ``path=``."""

    name = "wd50k_100"
