"""Registered tasks of the hypernets plugin.

``digits-l2-conditioned`` (kind ``hyperparameter-conditioned``), the MIP paper's kind of task: one hypernetwork
learns the classifiers of a whole range of a loss-weight hyperparameter. Each training batch draws
``γ ~ U(0, 1)``, the model generates its weights ``θ(γ)`` and the loss is

    CE(f_θ(γ)(x), y) + λ(γ)·‖W(γ)‖²,      λ(γ) = 10^(log10 λ_min + γ (log10 λ_max − log10 λ_min))

(``W`` the generated weight matrices, biases unpenalised). Evaluation runs at ``γ = 0.5`` for early stopping;
the test metrics report accuracy and the regularised objective at ``γ ∈ {0, 0.25, 0.5, 0.75, 1}`` and their
mean (``test_accuracy``). Data: scikit-learn digits split as core's ``digits-2d`` (8×8 images flattened by the
model).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from hyperzoo.core.builtin_tasks import Digits2D

__all__ = ["DigitsL2Conditioned", "l2_weight", "ParetoProblem", "STNDigits", "HyperCleaningDigits"]

GAMMAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def l2_weight(gamma: torch.Tensor | float, min_l2_weight: float, max_l2_weight: float) -> torch.Tensor:
    """``λ(γ)``: log-linear from ``min_l2_weight`` at ``γ = 0`` to ``max_l2_weight`` at ``γ = 1``."""
    g = torch.as_tensor(gamma, dtype=torch.float32)
    lo, hi = math.log10(min_l2_weight), math.log10(max_l2_weight)
    return 10.0 ** (lo + g * (hi - lo))


class DigitsL2Conditioned(Digits2D):
    """Digits classifiers conditioned on the L2 strength ``γ ∈ [0, 1]`` (see the module docstring)."""

    kind = "hyperparameter-conditioned"

    def __init__(self, *, split_seed: int = 0, min_l2_weight: float = 1e-4, max_l2_weight: float = 1e-1):
        super().__init__(split_seed=split_seed)
        for name, v in (("min_l2_weight", min_l2_weight), ("max_l2_weight", max_l2_weight)):
            if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if not min_l2_weight < max_l2_weight:
            raise ValueError(f"min_l2_weight ({min_l2_weight}) must be < max_l2_weight ({max_l2_weight})")
        self.min_l2_weight, self.max_l2_weight = float(min_l2_weight), float(max_l2_weight)
        self.eval_gamma = 0.5
        self._penalty: torch.Tensor | None = None

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 20, "batch_size": 64, "lr": 1e-3, "optimizer": "adam", "scheduler": None}

    def penalty(self, model: Any, gamma: torch.Tensor) -> torch.Tensor:
        w = model.last_weights
        mask = model.weight_mask.to(w.device)
        return l2_weight(gamma, self.min_l2_weight, self.max_l2_weight).to(w) * w[mask].square().sum()

    def forward(self, model: Any, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        inner = getattr(model, "module", model)                     # DDP wraps the model
        if not getattr(inner, "takes_gamma", False):
            raise TypeError(f"{type(self).__name__} needs a model called as model(x, gamma) (takes_gamma = True), "
                            f"e.g. 'hypernet-conditioned' or 'mip-hypernet'; got {type(inner).__name__}")
        if model.training:
            gamma = torch.rand((), device=x.device)
            out = model(x, gamma)
            self._penalty = self.penalty(inner, gamma)
        else:
            out = model(x, self.eval_gamma)
            self._penalty = None
        return out, y

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
        ce = F.cross_entropy(outputs, targets, label_smoothing=label_smoothing)
        penalty, self._penalty = self._penalty, None
        return ce if penalty is None else ce + penalty

    @torch.no_grad()
    def evaluate_grid(self, model: Any, split: str = "test") -> dict[str, float]:
        """Accuracy and regularised objective at each γ of :data:`GAMMAS` and the mean accuracy."""
        x, y = self.splits()[split].tensors
        device = next(model.parameters()).device
        x, y = x.to(device), y.to(device)
        was = model.training
        model.eval()
        out: dict[str, float] = {}
        for g in GAMMAS:
            logits = model(x, g)
            obj = F.cross_entropy(logits, y) + self.penalty(model, torch.tensor(g, device=device))
            out[f"accuracy_gamma{g:g}"] = float((logits.argmax(-1) == y).float().mean())
            out[f"objective_gamma{g:g}"] = float(obj)
        model.train(was)
        out["accuracy"] = sum(out[f"accuracy_gamma{g:g}"] for g in GAMMAS) / len(GAMMAS)
        return out

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        metrics = trainer.fit(self, model)
        metrics.update({f"test_{k}": v for k, v in self.evaluate_grid(model).items()})
        return metrics


class ParetoProblem:
    """Pareto set learning of an expensive multi-objective problem (``zdt1``, ``zdt2``, ``zdt3``, ``dtlz2``) on GP
    surrogates, at a fixed evaluation budget (see :mod:`hyperzoo.hypernets.psl`). Metrics: hypervolume of the
    evaluated front (reference point 1.1 per objective), its ratio to the true front's, and IGD to the true front.
    """

    kind = "pareto-set-learning"
    trainer_keys = ("lr",)

    def __init__(self, problem: str, *, num_variables: int = 6, num_evaluations: int = 60, num_initial: int = 20,
                 num_per_round: int = 5, num_steps: int = 200, split_seed: int = 0, num_candidates: int = 200,
                 acquisition_value: str = "lcb", acquisition_reference: str = "nadir", ideal_point: str = "paper",
                 reinit_each_round: bool = False):
        from .psl import PROBLEMS

        if problem not in PROBLEMS:
            raise ValueError(f"unknown problem {problem!r}: choose from {sorted(PROBLEMS)}")
        checks = {"num_variables": num_variables >= PROBLEMS[problem][1], "num_initial": num_initial >= 2,
                  "num_evaluations": num_evaluations > num_initial, "num_per_round": num_per_round >= 1,
                  "num_steps": num_steps >= 1}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}={locals()[name]!r} is out of range (num_variables >= objectives, "
                                 "num_evaluations > num_initial >= 2, num_per_round >= 1, num_steps >= 1)")
        self.problem, self.num_variables, self.num_evaluations = problem, num_variables, num_evaluations
        self.num_initial, self.num_per_round, self.num_steps, self.split_seed = (num_initial, num_per_round,
                                                                                num_steps, split_seed)
        self.loop_options = {"num_candidates": num_candidates, "acquisition_value": acquisition_value,
                             "acquisition_reference": acquisition_reference, "ideal_point": ideal_point,
                             "reinit_each_round": reinit_each_round}

    def model_defaults(self) -> dict[str, Any]:
        from .psl import PROBLEMS

        return {"num_objectives": PROBLEMS[self.problem][1], "num_variables": self.num_variables}

    def trainer_defaults(self) -> dict[str, Any]:
        return {"lr": 1e-2}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        """One trainer epoch per Bayesian-optimisation round (``trainer.fit_steps``): every round is checkpointed
        in the run directory (the hypernetwork, its Adam state, the evaluations so far and the random state), so
        ``resume=True`` continues after the last finished round."""
        import torch

        from .psl import ParetoLoop

        opt = torch.optim.Adam(model.parameters(), lr=trainer.lr)
        loop = ParetoLoop(self.problem, model, opt, num_variables=self.num_variables, budget=self.num_evaluations,
                          initial=self.num_initial, batch=self.num_per_round, steps=self.num_steps,
                          seed=self.split_seed, **self.loop_options)
        epochs, patience = trainer.epochs, trainer.patience
        trainer.epochs, trainer.patience = loop.num_rounds, None     # the rounds are this task's epochs
        try:
            trainer.fit_steps(model, lambda epoch: loop.round(), optimizers=[opt], monitor="loss", mode="min",
                              desc=f"{self.problem} rounds", extra_state=loop)
        finally:
            trainer.epochs, trainer.patience = epochs, patience
        last = loop.rounds[-1]
        return {"test_hypervolume": last["hypervolume"], "test_igd": last["igd"],
                "test_hypervolume_ratio": last["hypervolume"] / loop.true_hypervolume}


def _problem(name):
    def factory(*, num_variables: int = 6, num_evaluations: int = 60, num_initial: int = 20, num_per_round: int = 5,
                num_steps: int = 200, split_seed: int = 0, num_candidates: int = 200, acquisition_value: str = "lcb",
                acquisition_reference: str = "nadir", ideal_point: str = "paper",
                reinit_each_round: bool = False) -> ParetoProblem:
        return ParetoProblem(name, num_variables=num_variables, num_evaluations=num_evaluations,
                             num_initial=num_initial, num_per_round=num_per_round, num_steps=num_steps,
                             split_seed=split_seed, num_candidates=num_candidates,
                             acquisition_value=acquisition_value, acquisition_reference=acquisition_reference,
                             ideal_point=ideal_point, reinit_each_round=reinit_each_round)
    factory.__name__ = f"pareto_{name}"
    factory.__doc__ = f"Pareto set learning of {name.upper()} on GP surrogates at a fixed evaluation budget."
    return factory


pareto_zdt1, pareto_zdt2, pareto_zdt3, pareto_dtlz2 = (_problem(n) for n in ("zdt1", "zdt2", "zdt3", "dtlz2"))


class STNDigits(Digits2D):
    """Self-tuning of dropout and the L2 weight on core's ``digits-2d`` split (see :mod:`hyperzoo.hypernets.stn`).

    Each epoch alternates ``train_steps`` weight steps (training batches) with one hyperparameter step (a
    validation batch) through the trainer's custom-step mode (checkpoints, resume, early stopping on validation
    accuracy). The weights use the configured optimiser and ``lr``; the hyperparameters Adam at ``hyper_lr``.
    Metrics: test accuracy of the best response at the final hyperparameters, which are reported with their
    schedule in the history (``dropout``, ``l2_weight`` per epoch).
    """

    kind = "hyperparameter-tuning"
    trainer_keys = ("epochs", "batch_size", "lr", "optimizer", "patience", "grad_clip")

    def __init__(self, *, split_seed: int = 0, train_steps: int = 2, hyper_lr: float = 3e-3):
        super().__init__(split_seed=split_seed)
        if isinstance(train_steps, bool) or not isinstance(train_steps, int) or train_steps < 1:
            raise ValueError(f"train_steps must be an int >= 1, got {train_steps!r}")
        if not hyper_lr > 0:
            raise ValueError(f"hyper_lr must be > 0, got {hyper_lr!r}")
        self.train_steps, self.hyper_lr = train_steps, float(hyper_lr)

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 30, "batch_size": 64, "lr": 1e-3, "optimizer": "adam"}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        if not getattr(model, "takes_hyper", False):
            raise TypeError(f"{type(self).__name__} needs a self-tuning model (e.g. 'stn-mlp'), got "
                            f"{type(model).__name__}")
        splits = self.splits()
        (xt, yt), (xv, yv), (xs, ys) = (splits[s].tensors for s in ("train", "val", "test"))
        dev = trainer.device
        xt, yt, xv, yv, xs, ys = (t.to(dev) for t in (xt, yt, xv, yv, xs, ys))
        opt_w, _ = trainer.make_optimizer(model.weight_parameters(), weight_decay=0.0)
        opt_h = torch.optim.Adam(model.hyper_parameters(), lr=self.hyper_lr)
        bs = trainer.batch_size

        def step(epoch: int) -> dict[str, float]:
            model.train()
            g = torch.Generator().manual_seed(trainer.seed * 100003 + epoch)
            order = torch.randperm(len(xt), generator=g)
            losses = []
            for k, start in enumerate(range(0, len(xt), bs)):
                idx = order[start:start + bs].to(dev)
                loss = model.train_loss(xt[idx], yt[idx])
                trainer.optimize(loss, opt_w, model.weight_parameters())
                losses.append(float(loss.detach()))
                if (k + 1) % self.train_steps == 0:
                    v = torch.randint(0, len(xv), (min(bs, len(xv)),), generator=g).to(dev)
                    trainer.optimize(model.hyper_loss(xv[v], yv[v]), opt_h, model.hyper_parameters())
            return {"train_loss": sum(losses) / len(losses), **model.current()}

        def select() -> dict[str, float]:
            return {"accuracy": float((model(xv).argmax(-1) == yv).float().mean())}

        metrics = trainer.fit_steps(model, step, select, optimizers=[opt_w, opt_h], monitor="accuracy",
                                    mode="max", desc="STN")
        with torch.no_grad():
            model.eval()
            metrics["test_accuracy"] = float((model(xs).argmax(-1) == ys).float().mean())
        metrics.update({f"final_{k}": v for k, v in model.current().items()})
        return metrics


class HyperCleaningDigits(Digits2D):
    """Data hyper-cleaning on digits: ``noise`` of the training labels replaced by a different random class (drawn
    with ``split_seed``); the validation and test splits stay clean. Each epoch is ``iterations`` outer iterations
    of the model's bilevel solver (``bo-rep`` or ``stocbio``), through the trainer's custom-step mode. Metrics:
    test accuracy of the lower-level classifier, and the F1 score of flagging the corrupted examples as those
    with ``σ(x_i) < 0.5``.
    """

    kind = "bilevel"
    trainer_keys = ("epochs", "patience")

    def __init__(self, *, split_seed: int = 0, noise: float = 0.4, iterations: int = 10):
        super().__init__(split_seed=split_seed)
        if not 0 <= noise < 0.9:
            raise ValueError(f"noise must be in [0, 0.9), got {noise!r}")
        self.noise, self.iterations = float(noise), iterations

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 20}

    def noisy(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y = self.splits()["train"].tensors
        g = torch.Generator().manual_seed(self.split_seed + 12345)
        flip = torch.rand(len(y), generator=g) < self.noise
        shift = torch.randint(1, 10, (len(y),), generator=g)
        return x, torch.where(flip, (y + shift) % 10, y), flip

    def model_defaults(self) -> dict[str, Any]:
        return {**super().model_defaults(), "num_train": len(self.splits()["train"])}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        if not hasattr(model, "outer_step"):
            raise TypeError(f"{type(self).__name__} needs a bilevel solver model ('bo-rep' or 'stocbio'), got "
                            f"{type(model).__name__}")
        a, b, flip = self.noisy()
        av, bv = self.splits()["val"].tensors
        at, bt = self.splits()["test"].tensors

        def step(epoch: int) -> dict[str, float]:
            losses = [model.outer_step((a, b), (av, bv)) for _ in range(self.iterations)]
            return {"val_loss_upper": losses[-1], "lower_evaluations": float(model.lower_evaluations)}

        def select() -> dict[str, float]:
            return {"accuracy": float((model(av).argmax(-1) == bv).float().mean())}

        metrics = trainer.fit_steps(model, step, select, monitor="accuracy", mode="max", desc=model.method)
        with torch.no_grad():
            metrics["test_accuracy"] = float((model(at).argmax(-1) == bt).float().mean())
            flagged = torch.sigmoid(model.x) < 0.5
            tp = float((flagged & flip).sum())
            precision = tp / max(float(flagged.sum()), 1.0)
            recall = tp / max(float(flip.sum()), 1.0)
            metrics["test_cleaning_f1"] = 2 * precision * recall / max(precision + recall, 1e-12)
        return metrics
