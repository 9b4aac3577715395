"""Kernel continual learning with a stored memory (KCL, Derakhshani et al. 2021) and its generative variant
(Generative Kernel Continual Learning, GKCL, arXiv 2112.13410), in core's continual-learning protocol
(``hyperzoo.core.continual``: ``begin_task``/``end_task``, ``continual_loss``, ``takes_task_id``).

A shared backbone φ (an MLP, features L2-normalised) feeds a **kernel ridge regression head per sub-task**: for a
sub-task with classes C and a support set S = {(s_i, c_i)} of those classes,

    f(x) = k(x, S)(K_SS + λI)⁻¹ Y_S,     k(a, b) = exp(−‖φ(a) − φ(b)‖² / (2γ)),   logits = τ_out · f(x)

(Y_S the one-hot labels over C, λ = ``ridge``, γ = ``bandwidth``, τ_out = ``logit_scale``; ``kernel="linear"``:
k(a, b) = φ(a)·φ(b), the kernel of GKCL's SplitCIFAR100 headline result in its abstract); the head has no
parameters, so learning a new sub-task cannot overwrite an old head, only the backbone drifts, and the old heads are
rebuilt on the current backbone. Training on a batch of the current sub-task: half the batch is the support, the
other half the query, loss = cross-entropy of the query's logits (+ the supervised contrastive loss below).
Without the sub-task's identity at test time (class-incremental) the head is built over the supports of every class
seen so far.

The two variants differ only in where the supports of finished sub-tasks come from:

- ``replay="memory"`` (KCL): ``memory_size`` real training examples per class are stored at ``end_task``.
- ``replay="generative"`` (GKCL): no example is kept; a class-conditional VAE over the inputs,
  p(x | z, c) = N(dec(z, c), I), z ~ N(0, I_``latent``), is trained at ``end_task`` on the sub-task's data plus
  samples of its own previous copy for the earlier classes (generative replay, so the generator does not forget),
  by the ELBO E_q[log p(x|z, c)] − KL(q(z|x, c) ‖ N(0, I)). The supports are ``memory_size`` decoded samples per
  class (fixed noise per class, so evaluation is deterministic). GKCL also adds the **supervised contrastive
  regulariser** (Khosla et al. 2020) on the batch features, weight ``contrastive_weight``, temperature 0.1:

      L_sc = −(1/N) Σ_i 1/|P(i)| Σ_{p∈P(i)} log [exp(z_i·z_p/τ) / Σ_{a≠i} exp(z_i·z_a/τ)],  P(i) = same label.

While a sub-task is being trained its supports (for validation) are the most recent ``memory_size`` training
examples per class seen in the batches, dropped at ``end_task`` in the generative variant.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

REPLAYS = ("memory", "generative")
KERNELS = ("rbf", "linear")


def supervised_contrastive(z: torch.Tensor, y: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """L_sc of the module docstring on L2-normalised features z (N, D); anchors without positives are skipped."""
    sim = z @ z.T / temperature
    n = len(z)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, -math.inf)
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (y[:, None] == y[None, :]) & ~eye
    count = pos.sum(1)
    keep = count > 0
    if not keep.any():
        return z.new_zeros(())
    per = -(log_prob.masked_fill(~pos, 0.0).sum(1)[keep]) / count[keep]
    return per.mean()


DECODER_VARIANCES = ("learned", "unit")


class ConditionalVAE(nn.Module):
    """q(z|x, c) = N(μ(x, c), diag σ²(x, c)), p(x|z, c) = N(dec(z, c), s² I), one-hot class c.

    ``decoder_variance="learned"``: s² is one learned scalar (floored at ``MIN_DECODER_VARIANCE``), fitted with the
    rest by the ELBO; ``"unit"``: s² = 1 fixed. On standardised inputs a class's within-class pixel variance is
    well below 1, and with s² fixed at 1 the model explains that variation as decoder noise: for a linear decoder
    this is probabilistic PCA with σ² held at 1, whose maximum-likelihood loadings are W = U(Λ − σ²I)^½ on the
    eigen-directions with Λ > σ² and zero on the others (Tipping & Bishop 1999), so every direction of variance
    below 1 collapses and the decoded supports are copies of the class mean."""

    MIN_DECODER_VARIANCE = 1e-4

    def __init__(self, in_features: int, num_classes: int, latent: int = 8, width: int = 128,
                 decoder_variance: str = "unit"):
        super().__init__()
        if decoder_variance not in DECODER_VARIANCES:
            raise ValueError(f"decoder_variance must be one of {DECODER_VARIANCES}; got {decoder_variance!r}")
        self.num_classes, self.latent, self.decoder_variance = num_classes, latent, decoder_variance
        self.enc = nn.Sequential(nn.Linear(in_features + num_classes, width), nn.ReLU(), nn.Linear(width, 2 * latent))
        self.dec = nn.Sequential(nn.Linear(latent + num_classes, width), nn.ReLU(), nn.Linear(width, in_features))
        self.log_s2 = nn.Parameter(torch.zeros(())) if decoder_variance == "learned" else None

    def noise_variance(self) -> torch.Tensor:
        """s² of p(x|z, c) = N(dec(z, c), s² I)."""
        if self.log_s2 is None:
            return self.dec[0].weight.new_ones(())
        return self.log_s2.exp().clamp_min(self.MIN_DECODER_VARIANCE)

    def elbo_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """−ELBO per example: ‖x − dec(z, c)‖² / (2s²) + (D/2) log s² + KL(q ‖ N(0, I)) (the (D/2) log 2π dropped),
        one reparameterised z."""
        c = F.one_hot(y, self.num_classes).to(x.dtype)
        mu, logvar = self.enc(torch.cat([x, c], 1)).chunk(2, 1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        s2 = self.noise_variance()
        rec = 0.5 * (self.dec(torch.cat([z, c], 1)) - x).square().sum(1) / s2 + 0.5 * x.shape[1] * s2.log()
        kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(1)
        return (rec + kl).mean()

    def sample(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(len(y), self.latent, generator=generator, dtype=self.dec[0].weight.dtype)
        z = z.to(self.dec[0].weight.device)
        return self.dec(torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1))


class KernelContinualLearner(nn.Module):
    """Backbone + per-sub-task kernel ridge regression heads, supports from a stored memory (KCL) or a generative
    replay model (GKCL); see the module docstring."""

    takes_task_id = True

    def __init__(self, *, in_features: int, num_classes: int, num_tasks: int, width: int = 128, depth: int = 2,
                 replay: str = "generative", memory_size: int = 20, contrastive_weight: float = 0.1,
                 ridge: float = 0.1, bandwidth: float = 0.5, logit_scale: float = 10.0, latent: int = 8,
                 generator_steps: int = 1500, decoder_variance: str = "unit",
                 samples_per_class: int | None = None, kernel: str = "rbf"):
        super().__init__()
        if replay not in REPLAYS:
            raise ValueError(f"replay must be one of {REPLAYS}; got {replay!r}")
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}; got {kernel!r}")
        self.kernel = kernel
        for name, v in (("memory_size", memory_size), ("depth", depth), ("width", width), ("num_tasks", num_tasks)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"{name} must be an integer >= 1; got {v!r}")
        for name, v in (("ridge", ridge), ("bandwidth", bandwidth), ("logit_scale", logit_scale)):
            if not v > 0:
                raise ValueError(f"{name} must be > 0; got {v!r}")
        if samples_per_class is not None and not (isinstance(samples_per_class, int) and samples_per_class >= 1):
            raise ValueError(f"samples_per_class must be an integer >= 1 or None (= memory_size); "
                             f"got {samples_per_class!r}")
        if contrastive_weight < 0:
            raise ValueError(f"contrastive_weight must be >= 0; got {contrastive_weight!r}")
        self.in_features, self.num_classes, self.num_tasks = in_features, num_classes, num_tasks
        self.replay, self.memory_size, self.contrastive_weight = replay, memory_size, contrastive_weight
        self.ridge, self.bandwidth, self.logit_scale = ridge, bandwidth, logit_scale
        self.generator_steps = generator_steps
        self.samples_per_class = memory_size if samples_per_class is None else samples_per_class
        layers, d = [], in_features
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        layers.append(nn.Linear(d, width))
        self.backbone = nn.Sequential(*layers)
        self.generator = (ConditionalVAE(in_features, num_classes, latent, decoder_variance=decoder_variance)
                          if replay == "generative" else None)
        self.task_classes: dict[int, list[int]] = {}      # classes of each finished sub-task
        self.memory: dict[int, torch.Tensor] = {}          # class -> stored inputs (KCL only)
        self.recent: dict[int, torch.Tensor] = {}          # class -> recent inputs of the current sub-task
        self.current = 0
        self._aux: dict[str, torch.Tensor] = {}

    # -- features and heads ----------------------------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.backbone(x.flatten(1)), dim=1)

    def _krr_logits(self, fq: torch.Tensor, fs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """τ_out · k(q, S)(K_SS + λI)⁻¹Y_S scattered into ``num_classes`` logits (−inf outside the support's)."""
        classes = ys.unique()
        onehot = (ys[:, None] == classes[None, :]).to(fq.dtype)
        if self.kernel == "linear":
            k_ss, k_qs = fs @ fs.T, fq @ fs.T
        else:
            k_ss = torch.exp(-torch.cdist(fs, fs).square() / (2 * self.bandwidth))
            k_qs = torch.exp(-torch.cdist(fq, fs).square() / (2 * self.bandwidth))
        eye = torch.eye(len(fs), dtype=fq.dtype, device=fq.device)
        pred = k_qs @ torch.linalg.solve(k_ss + self.ridge * eye, onehot)
        out = fq.new_full((len(fq), self.num_classes), -math.inf)
        out[:, classes] = self.logit_scale * pred
        return out

    def _support(self, classes: list[int], device) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for c in classes:
            if c in self.recent and c not in self._finished_classes():
                xc = self.recent[c]
            elif self.replay == "memory":
                xc = self.memory[c]
            else:
                g = torch.Generator().manual_seed(1000 + c)
                with torch.no_grad():
                    xc = self.generator.sample(
                        torch.full((self.samples_per_class,), c, dtype=torch.long, device=device), g)
            xs.append(xc.to(device))
            ys.append(torch.full((len(xc),), c, dtype=torch.long, device=device))
        return torch.cat(xs), torch.cat(ys)

    def _finished_classes(self) -> set[int]:
        return {c for cs in self.task_classes.values() for c in cs}

    def _seen_classes(self) -> list[int]:
        return sorted(self._finished_classes() | set(self.recent))

    def forward(self, x: torch.Tensor, task_id: int | torch.Tensor | None = None) -> torch.Tensor:
        """Logits from the kernel head of each example's sub-task (``task_id``), or over every seen class."""
        x = x.flatten(1)
        fq = self.features(x)
        if task_id is None:
            classes = self._seen_classes()
            if not classes:
                raise RuntimeError("no sub-task seen yet: train on one before predicting")
            xs, ys = self._support(classes, x.device)
            return self._krr_logits(fq, self.features(xs), ys)
        ids = task_id if isinstance(task_id, torch.Tensor) else torch.full((len(x),), int(task_id))
        out = fq.new_full((len(x), self.num_classes), -math.inf)
        for t in ids.unique().tolist():
            classes = self.task_classes.get(t) or sorted(self.recent)
            if not classes:
                raise RuntimeError(f"sub-task {t} has no support yet (train on it first)")
            sel = ids.to(x.device) == t
            xs, ys = self._support(classes, x.device)
            out[sel] = self._krr_logits(fq[sel], self.features(xs), ys)
        return out

    # -- training --------------------------------------------------------------------------------------------------
    def continual_loss(self, x: torch.Tensor, y: torch.Tensor, task_id: torch.Tensor,
                       allowed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Half the batch as support, half as query: CE of the query's KRR logits (+ the contrastive term)."""
        x = x.flatten(1)
        with torch.no_grad():     # remember the latest examples of each class (validation supports, KCL memory)
            for c in y.unique().tolist():
                xc = torch.cat([self.recent.get(c, x.new_empty(0, x.shape[1])), x[y == c]])
                self.recent[c] = xc[-self.memory_size:].detach().clone()
        f = self.features(x)
        n = len(x)
        perm = torch.randperm(n, device=x.device)
        s, q = perm[: n // 2], perm[n // 2:]
        if len(y[s].unique()) < 1 or len(q) == 0:
            raise ValueError(f"a batch of {n} examples is too small to split into support and query")
        logits = torch.full((n, self.num_classes), -math.inf, dtype=f.dtype, device=f.device)
        logits[q] = self._krr_logits(f[q], f[s], y[s])
        # a query whose class is missing from the support has only −inf logits for it: drop it from the loss
        ok = torch.isfinite(logits[q].gather(1, y[q, None]))[:, 0]
        loss = F.cross_entropy(logits[q][ok], y[q][ok]) if ok.any() else 0.0 * f.sum()   # keeps the graph
        if self.replay == "generative" and self.contrastive_weight > 0:
            sc = supervised_contrastive(f, y)
            self._aux = {"supcon": self.contrastive_weight * sc}
            loss = loss + self.contrastive_weight * sc
        logits[s] = self._krr_logits(f[s], f[s], y[s]).detach()
        if allowed is not None:
            logits = logits.masked_fill(~allowed, -math.inf)
        return logits, loss

    def begin_task(self, t: int) -> None:
        self.current = int(t)
        self.recent = {}

    def end_task(self, t: int, train_inputs: Any = None, train_targets: Any = None) -> None:
        t = int(t)
        x, y = train_inputs.flatten(1), train_targets
        classes = sorted(y.unique().tolist())
        if self.replay == "memory":
            g = torch.Generator().manual_seed(t)
            for c in classes:
                xc = x[y == c]
                idx = torch.randperm(len(xc), generator=g)[: self.memory_size]
                self.memory[c] = xc[idx.to(xc.device)].detach().clone()
        else:
            self._train_generator(x, y)
        self.task_classes[t] = classes
        self.recent = {}

    def _train_generator(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """ELBO on the sub-task's data plus the previous generator's samples of the earlier classes."""
        old_classes = sorted(self._finished_classes())
        old = copy.deepcopy(self.generator).eval() if old_classes else None
        opt = torch.optim.Adam(self.generator.parameters(), lr=1e-3)
        per_class = max(1, len(x) // max(1, len(y.unique())))
        g = torch.Generator().manual_seed(12345 + len(old_classes))
        with torch.inference_mode(False), torch.enable_grad():   # core may call end_task without autograd
            x, y = x.clone(), y.clone()
            for _ in range(self.generator_steps):
                idx = torch.randint(len(x), (min(128, len(x)),), generator=g).to(x.device)
                xb, yb = x[idx], y[idx]
                if old is not None:
                    yo = torch.tensor(old_classes, device=x.device).repeat_interleave(
                        max(1, len(xb) // max(1, len(y.unique()))))
                    with torch.no_grad():
                        xo = old.sample(yo, g)
                    xb, yb = torch.cat([xb, xo]), torch.cat([yb, yo])
                opt.zero_grad()
                self.generator.elbo_loss(xb, yb).backward()
                opt.step()
        del per_class

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        return {}


def generative_kernel_cl(*, in_features: int, num_classes: int, num_tasks: int, width: int = 128, depth: int = 2,
                         memory_size: int = 20, contrastive_weight: float = 0.1, ridge: float = 0.1,
                         bandwidth: float = 0.5, generator_steps: int = 1500, decoder_variance: str = "unit",
                         samples_per_class: int | None = None, latent: int = 8,
                         kernel: str = "rbf") -> KernelContinualLearner:
    """The registered ``generative-kernel-cl`` (GKCL): generative replay supports + supervised contrastive loss."""
    return KernelContinualLearner(in_features=in_features, num_classes=num_classes, num_tasks=num_tasks,
                                  width=width, depth=depth, replay="generative", memory_size=memory_size,
                                  contrastive_weight=contrastive_weight, ridge=ridge, bandwidth=bandwidth,
                                  generator_steps=generator_steps, decoder_variance=decoder_variance,
                                  samples_per_class=samples_per_class, latent=latent, kernel=kernel)


def kernel_cl(*, in_features: int, num_classes: int, num_tasks: int, width: int = 128, depth: int = 2,
              memory_size: int = 20, ridge: float = 0.1, bandwidth: float = 0.5) -> KernelContinualLearner:
    """The registered ``kernel-cl`` (KCL): ``memory_size`` stored training examples per class."""
    return KernelContinualLearner(in_features=in_features, num_classes=num_classes, num_tasks=num_tasks,
                                  width=width, depth=depth, replay="memory", memory_size=memory_size,
                                  contrastive_weight=0.0, ridge=ridge, bandwidth=bandwidth)
