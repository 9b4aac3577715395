"""LightHGNN / LightHGNN+ (Feng et al., ICLR 2024): distil a hypergraph teacher into an MLP student.

With teacher logits z_t, student logits z_s, temperature τ and p = softmax(z/τ):

    L = λ · CE(z_s[train], y[train]) + (1 − λ) · τ² · mean_v KL(p_t(v) ‖ p_s(v))
      (+ LightHGNN+:  β · mean_{e ∈ S} KL(p̄_t(e) ‖ p̄_s(e)),   p̄(e) = mean_{v∈e} p(v))

KL(p_t ‖ p_s) = Σ_c p_t log(p_t / p_s) is computed from log-probabilities of both sides (the released code
passes probabilities where ``kl_div`` expects log-probabilities). LightHGNN+ samples the hyperedge set S
each step: e ∈ S with probability ρ_e = 1 − δ_e / max δ, where δ_e = KL(p̄_t(e) ‖ p̄_t^noisy(e)) measures how
much the teacher's hyperedge-level soft label moves when Gaussian noise (σ = ``noise`` · std of X) perturbs the
features: reliable hyperedges are sampled more. The student's inference uses node features only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .functional import v2e
from .hgnn import HGNN, NodeMLP
from .structure import Hypergraph

__all__ = ["LightHGNN", "lighthgnn_loss", "kl_soft", "hyperedge_reliability"]


def kl_soft(teacher_logits: torch.Tensor, student_logits: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """mean_rows Σ_c p_t log(p_t / p_s) with p = softmax(z / τ)."""
    return F.kl_div(F.log_softmax(student_logits / tau, -1), F.log_softmax(teacher_logits / tau, -1),
                    reduction="batchmean", log_target=True)


def _edge_kl(p_t: torch.Tensor, p_s: torch.Tensor, hg: Hypergraph, edges: torch.Tensor | None) -> torch.Tensor:
    pt, ps = v2e(p_t, hg, "mean"), v2e(p_s, hg, "mean")
    if edges is not None:
        pt, ps = pt[edges], ps[edges]
    if pt.shape[0] == 0:
        return p_s.sum() * 0.0
    return (pt * (pt.clamp_min(1e-12).log() - ps.clamp_min(1e-12).log())).sum(-1).mean()


def lighthgnn_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor,
                   train: torch.Tensor, *, lam: float = 0.5, tau: float = 1.0, hg: Hypergraph | None = None,
                   edges: torch.Tensor | None = None, hc_weight: float = 0.0) -> torch.Tensor:
    """λ CE + (1 − λ) τ² KL(p_t ‖ p_s) (+ β high-order KL over ``edges`` of ``hg``)."""
    loss = lam * F.cross_entropy(student_logits[train], y[train])
    loss = loss + (1 - lam) * tau * tau * kl_soft(teacher_logits, student_logits, tau)
    if hc_weight:
        if hg is None:
            raise ValueError("the high-order constraint needs the hypergraph (hg=...)")
        p_t, p_s = F.softmax(teacher_logits / tau, -1), F.softmax(student_logits / tau, -1)
        loss = loss + hc_weight * _edge_kl(p_t, p_s, hg, edges)
    return loss


@torch.no_grad()
def hyperedge_reliability(teacher: nn.Module, x: torch.Tensor, hg: Hypergraph, *, noise: float = 1.0,
                          tau: float = 1.0, seed: int = 0) -> torch.Tensor:
    """ρ_e = 1 − δ_e / max δ with δ_e = KL(p̄_t(e) ‖ p̄_t^noisy(e)) (see module docstring)."""
    teacher.eval()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    if x.layout != torch.strided:  # the noisy copy is dense anyway
        x = x.to_dense()
    xn = x + noise * x.std() * torch.randn(x.shape, generator=gen).to(x.device, x.dtype)
    pt = v2e(F.softmax(teacher(x, hg) / tau, -1), hg, "mean")
    pn = v2e(F.softmax(teacher(xn, hg) / tau, -1), hg, "mean")
    delta = (pt * (pt.clamp_min(1e-12).log() - pn.clamp_min(1e-12).log())).sum(-1)
    return 1.0 - delta / delta.max().clamp_min(1e-12)


class LightHGNN(nn.Module):
    """Teacher HGNN + student MLP. ``forward(x)`` is the student's (node features only; ``hg`` is ignored).

    Procedure: train ``teacher`` on the labels, call ``prepare_distillation`` (teacher soft labels and, for
    LightHGNN+, hyperedge reliabilities), then train ``student`` on ``distillation_loss``.
    """

    def __init__(self, in_channels: int, num_classes: int, *, width: int = 32, dropout: float = 0.5,
                 lam: float = 0.5, tau: float = 1.0, hc_weight: float = 0.0, noise: float = 1.0):
        super().__init__()
        if not 0 <= lam <= 1 or tau <= 0:
            raise ValueError(f"need 0 <= lam <= 1 and tau > 0, got lam={lam}, tau={tau}")
        self.teacher = HGNN(in_channels, width, num_classes, dropout=dropout, isolated="self_loop")
        self.student = NodeMLP(in_channels, width, num_classes, dropout)
        self.lam, self.tau, self.hc_weight, self.noise = lam, tau, hc_weight, noise
        self.register_buffer("teacher_logits", torch.empty(0), persistent=False)
        self.register_buffer("reliability", torch.empty(0), persistent=False)

    def forward(self, x: torch.Tensor, hg: Hypergraph | None = None) -> torch.Tensor:
        return self.student(x)

    @torch.no_grad()
    def prepare_distillation(self, x: torch.Tensor, hg: Hypergraph, y: torch.Tensor | None = None,
                             train: torch.Tensor | None = None) -> None:
        self.teacher.eval()
        self.teacher_logits = self.teacher(x, hg)
        if self.hc_weight:
            self.reliability = hyperedge_reliability(self.teacher, x, hg, noise=self.noise, tau=self.tau)

    def sample_edges(self) -> torch.Tensor:
        """Hyperedges kept this step: e with probability ρ_e."""
        return (torch.rand_like(self.reliability) < self.reliability).nonzero().flatten()

    def distillation_loss(self, x: torch.Tensor, hg: Hypergraph, y: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
        if self.teacher_logits.numel() == 0:
            raise RuntimeError("call prepare_distillation(x, hg) after training the teacher")
        edges = self.sample_edges() if self.hc_weight else None
        return lighthgnn_loss(self.student(x), self.teacher_logits, y, train, lam=self.lam, tau=self.tau, hg=hg,
                              edges=edges, hc_weight=self.hc_weight)
