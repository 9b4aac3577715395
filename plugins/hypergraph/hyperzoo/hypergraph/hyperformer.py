"""HyperFormer (Hu et al., CIKM 2023) for hyper-relational link prediction, and the baselines it is compared with.

A query is ``(e, r', Q)`` (see :mod:`.hyperrelational`); every model maps a batch of queries to scores over
all entities (1-N scoring): ``forward(entity, relation, qualifiers, qualifier_mask, exclude=None) -> (B, E)``.

HyperFormer, as implemented here (``d`` = ``width``, ``x_·`` embeddings, ``[a; b]`` concatenation):

- Entity neighbour aggregator (ENA). ``N(e)``: up to ``num_neighbors`` (relation, entity) pairs ``(ρ, u)`` of
  training facts at ``e`` (``(r, o)`` at ``s``, ``(r⁻¹, s)`` at ``o``), sampled once by the task::

      ẽ = ½ (x_e + 1/|N(e)| Σ_{(ρ,u) ∈ N(e)} W_n [x_ρ; x_u])

  During training the pair that *is* the query's answer ``(r', a)`` is left out (else the model learns to copy it).
- Relation qualifier aggregator (RQA). ``q_i = W_q [x_{qr_i}; x_{qv_i}]``,
  ``α_i = softmax_i((W_a x_r')ᵀ q_i / √d)`` over the fact's pairs, ``q̄ = Σ_i α_i q_i`` and
  ``r̃ = ½ (x_r' + q̄)`` (``r̃ = x_r'``, ``q̄ = 0`` for a fact without qualifiers). A sum over a set: permuting the
  pairs leaves it unchanged.
- Convolution-based bidirectional interaction (CBI). For a pair ``(a, b)`` the two vectors are reshaped to a
  2-channel ``h × w`` image (``hw = d``), convolved (``conv_width`` filters, ``kernel_size``), ReLU, flattened
  and projected to ``2d``; the halves are ``a←b`` and ``b←a``. Applied to (ẽ, r̃), (ẽ, q̄), (r̃, q̄) with one
  shared convolution, then fused by a gate ``fuse(p, q) = g ⊙ p + (1 − g) ⊙ q``, ``g = σ(W_f p + W_f q)``::

      e* = ẽ + fuse(ẽ←r̃, ẽ←q̄),  r* = r̃ + fuse(r̃←ẽ, r̃←q̄),  q* = q̄ + fuse(q̄←ẽ, q̄←r̃)

- Encoder: the token sequence ``[e*, r*, [MASK], q*, (x_{qr_i} + t_r, x_{qv_i} + t_v)_i]`` (learned position
  embeddings on the first three, type embeddings ``t_r``/``t_v`` and no order on the qualifier tokens, so the
  output is invariant to their order) through ``depth`` pre-LayerNorm transformer layers whose feed-forward is a
  mixture of experts (:class:`MoEFeedForward`). The ``[MASK]`` output ``h`` scores every entity:
  ``s_c = LN(h)ᵀ x_c + b_c``.

Choices where the paper leaves room (stated, and documented in docs/plugins/hypergraph.md): the released code
encodes each neighbour fact with the shared transformer and averages the outputs; here ENA is a linear
composition of the neighbour pairs (one pass instead of ``num_neighbors + 1``, to fit a CPU budget). CBI uses a
plain 2-channel image instead of the released code's chequered permutations (InteractE). ``q*`` enters as one
extra token. ``qualifiers=False`` is the ablation: RQA, the qualifier pairs of CBI and the qualifier tokens are
removed, everything else is the same model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MoEFeedForward", "HyperFormer", "TripleTransformer", "DistMult", "ComplEx", "switch_balance_loss",
           "hyperformer", "hyperformer_triple", "kg_transformer", "distmult", "complex_scorer"]


def switch_balance_loss(probs: torch.Tensor, chosen: torch.Tensor, num_experts: int) -> torch.Tensor:
    """Load-balancing loss of top-k routing (Switch Transformer, eq. 4, with k slots per token):
    ``L = N Σ_i f_i P_i``, ``f_i`` = share of the ``T·k`` slots routed to expert ``i`` (no gradient),
    ``P_i = 1/T Σ_t p_i(x_t)``. ``L = 1`` for a uniform router (``P_i = 1/N``) whatever it chose, ``L = N`` when
    every token goes to one expert, and for confident (one-hot) routers ``L = N Σ_i f_i² ≥ 1``."""
    f = torch.bincount(chosen.reshape(-1), minlength=num_experts).to(probs.dtype) / max(chosen.numel(), 1)
    return num_experts * (f.detach() * probs.mean(0)).sum()


class MoEFeedForward(nn.Module):
    """Mixture-of-experts feed-forward with top-k routing:
    ``y(x) = Σ_{i ∈ TopK(p(x))} p̂_i(x) E_i(x)``, ``p = softmax(W_g x)``, ``p̂`` = ``p`` renormalised over the
    top-k, ``E_i(x) = W_{2,i} GELU(W_{1,i} x + b_{1,i}) + b_{2,i}``. Each token is computed by exactly its k
    experts. After each forward ``balance_loss`` holds :func:`switch_balance_loss` of the routed tokens and
    ``last_choice`` (T, k) the chosen experts."""

    def __init__(self, width: int, hidden: int, num_experts: int = 4, top_k: int = 2, dropout: float = 0.0):
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be in [1, num_experts={num_experts}], got {top_k}")
        self.num_experts, self.top_k = num_experts, top_k
        self.gate = nn.Linear(width, num_experts, bias=False)
        self.w1 = nn.Parameter(torch.empty(num_experts, width, hidden))
        self.b1 = nn.Parameter(torch.zeros(num_experts, hidden))
        self.w2 = nn.Parameter(torch.empty(num_experts, hidden, width))
        self.b2 = nn.Parameter(torch.zeros(num_experts, width))
        for w in (self.w1, self.w2):
            bound = 1 / math.sqrt(w.shape[1])
            nn.init.uniform_(w, -bound, bound)
        self.dropout = nn.Dropout(dropout)
        self.balance_loss = torch.zeros(())
        self.last_choice = torch.zeros(0, top_k, dtype=torch.long)

    def expert(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(F.gelu(x @ self.w1[i] + self.b1[i])) @ self.w2[i] + self.b2[i]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (T, d) tokens -> (T, d)."""
        probs = F.softmax(self.gate(x), -1)
        top_p, top_i = probs.topk(self.top_k, -1)
        top_p = top_p / top_p.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for i in range(self.num_experts):
            tok, slot = (top_i == i).nonzero(as_tuple=True)
            if tok.numel():
                out.index_add_(0, tok, top_p[tok, slot, None] * self.expert(i, x[tok]))
        self.balance_loss = switch_balance_loss(probs, top_i, self.num_experts)
        self.last_choice = top_i.detach()
        return out


class EncoderLayer(nn.Module):
    """Pre-LN transformer layer: ``x += MHA(LN x)``, ``x += FFN(LN x)`` with a dense or MoE feed-forward."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float, num_experts: int, top_k: int):
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.moe = num_experts > 1
        self.ffn = (MoEFeedForward(width, hidden, num_experts, top_k, dropout) if self.moe else
                    nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, width)))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.drop(self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0])
        h = self.ln2(x)
        if self.moe:  # route only real tokens: padding must not count in the balance loss
            keep = torch.ones(h.shape[:2], dtype=torch.bool, device=h.device) if pad is None else ~pad
            y = torch.zeros_like(h)
            y[keep] = self.ffn(h[keep])
        else:
            y = self.ffn(h)
        return x + self.drop(y)


class _Scorer(nn.Module):
    """Shared parts: entity and relation (with inverses) tables, the 1-N scorer ``s = hᵀ X_E + b``."""

    def __init__(self, num_entities: int, num_relations: int, width: int):
        super().__init__()
        if num_entities < 1 or num_relations < 1 or width < 1:
            raise ValueError(f"num_entities, num_relations and width must be positive, got {num_entities}, "
                             f"{num_relations}, {width}")
        self.num_entities, self.num_relations, self.width = num_entities, num_relations, width
        self.ent = nn.Embedding(num_entities, width)
        self.rel = nn.Embedding(2 * num_relations, width)  # r and r⁻¹ = r + R
        self.bias = nn.Parameter(torch.zeros(num_entities))
        nn.init.normal_(self.ent.weight, std=width ** -0.5)
        nn.init.normal_(self.rel.weight, std=width ** -0.5)

    def check(self, entity: torch.Tensor, relation: torch.Tensor) -> None:
        if entity.shape != relation.shape or entity.dim() != 1:
            raise ValueError(f"entity and relation must be (B,) id tensors, got {tuple(entity.shape)} and "
                             f"{tuple(relation.shape)}")

    def score(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.ent.weight.t() + self.bias


class HyperFormer(_Scorer):
    """HyperFormer (see the module docstring for the equations). Call :meth:`set_neighbors` (the task does)
    before training; the neighbour table is a buffer, saved with the weights."""

    def __init__(self, num_entities: int, num_relations: int, *, width: int = 64, depth: int = 2, heads: int = 4,
                 mlp_ratio: float = 2.0, dropout: float = 0.1, num_experts: int = 4, top_k: int = 2,
                 balance_weight: float = 0.01, num_neighbors: int = 8, conv_width: int = 8, kernel_size: int = 3,
                 qualifiers: bool = True, neighbors: bool = True, interaction: bool = True):
        super().__init__(num_entities, num_relations, width)
        if width % heads:
            raise ValueError(f"width={width} must be divisible by heads={heads}")
        self.h = int(math.sqrt(width))
        while width % self.h:
            self.h -= 1
        self.w = width // self.h
        self.use_qualifiers, self.use_neighbors, self.use_interaction = qualifiers, neighbors, interaction
        self.balance_weight, self.num_neighbors = balance_weight, num_neighbors
        self.register_buffer("neighbor_entity", torch.full((num_entities, num_neighbors), -1, dtype=torch.long))
        self.register_buffer("neighbor_relation", torch.full((num_entities, num_neighbors), -1, dtype=torch.long))
        self.neigh = nn.Linear(2 * width, width)                     # W_n
        self.qual = nn.Linear(2 * width, width)                      # W_q
        self.qual_attn = nn.Linear(width, width, bias=False)         # W_a
        self.conv = nn.Conv2d(2, conv_width, kernel_size, padding=kernel_size // 2)
        self.conv_out = nn.Linear(conv_width * width, 2 * width)
        self.fuse_gate = nn.Linear(width, width)                     # W_f
        self.mask_token = nn.Parameter(torch.randn(width) * width ** -0.5)
        self.position = nn.Parameter(torch.zeros(4, width))          # e, r, [MASK], q*
        self.qual_type = nn.Parameter(torch.zeros(2, width))         # t_r, t_v
        self.layers = nn.ModuleList(EncoderLayer(width, heads, mlp_ratio, dropout, num_experts, top_k)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.input_drop = nn.Dropout(dropout)

    def set_neighbors(self, entity: torch.Tensor, relation: torch.Tensor) -> None:
        """The (num_entities, num_neighbors) neighbour table (ids, -1 padding) that ENA averages over."""
        shape = tuple(self.neighbor_entity.shape)
        if tuple(entity.shape) != shape or tuple(relation.shape) != shape:
            raise ValueError(f"the neighbour tables must have shape {shape}, got {tuple(entity.shape)} and "
                             f"{tuple(relation.shape)}")
        self.neighbor_entity.copy_(entity)
        self.neighbor_relation.copy_(relation)

    # -- modules -------------------------------------------------------------------------------------------------
    def aggregate_neighbors(self, entity: torch.Tensor, relation: torch.Tensor,
                            exclude: torch.Tensor | None) -> torch.Tensor:
        """ENA: ``ẽ = ½ (x_e + mean_{(ρ,u) ∈ N(e)} W_n [x_ρ; x_u])``; ``x_e`` alone when ``N(e)`` is empty."""
        x = self.ent(entity)
        u, rho = self.neighbor_entity[entity], self.neighbor_relation[entity]
        valid = u >= 0
        if exclude is not None:
            valid &= ~((u == exclude[:, None]) & (rho == relation[:, None]))
        msg = self.neigh(torch.cat([self.rel(rho.clamp(min=0)), self.ent(u.clamp(min=0))], -1))
        count = valid.sum(1, keepdim=True)
        ctx = (msg * valid[..., None]).sum(1) / count.clamp(min=1)
        return torch.where(count > 0, 0.5 * (x + ctx), x)

    def aggregate_qualifiers(self, r: torch.Tensor, qualifiers: torch.Tensor,
                             mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """RQA: ``(r̃, q̄, has_qualifiers)`` with ``α = softmax((W_a x_r)ᵀ q_i / √d)`` over the present pairs."""
        q = self.qual(torch.cat([self.rel(qualifiers[..., 0].clamp(min=0)),
                                 self.ent(qualifiers[..., 1].clamp(min=0))], -1))
        logits = (q @ self.qual_attn(r)[..., None]).squeeze(-1) / math.sqrt(self.width)
        logits = logits.masked_fill(~mask, float("-inf"))
        has = mask.any(1, keepdim=True)
        alpha = torch.where(has, F.softmax(logits.masked_fill(~has, 0.0), -1), torch.zeros_like(logits))
        qbar = (alpha[..., None] * q).sum(1)
        return torch.where(has, 0.5 * (r + qbar), r), qbar, has

    def interact(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CBI on one pair: ``(a←b, b←a)`` from the shared convolution over the 2-channel image of ``(a, b)``."""
        img = torch.stack([a, b], 1).view(-1, 2, self.h, self.w)
        out = self.conv_out(F.relu(self.conv(img)).flatten(1))
        return out[:, :self.width], out[:, self.width:]

    def fuse(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.fuse_gate(p) + self.fuse_gate(q))
        return g * p + (1 - g) * q

    def forward(self, entity: torch.Tensor, relation: torch.Tensor, qualifiers: torch.Tensor | None = None,
                qualifier_mask: torch.Tensor | None = None, exclude: torch.Tensor | None = None) -> torch.Tensor:
        self.check(entity, relation)
        b = entity.shape[0]
        e = self.aggregate_neighbors(entity, relation, exclude) if self.use_neighbors else self.ent(entity)
        r = self.rel(relation)
        use_q = self.use_qualifiers and qualifiers is not None and qualifiers.shape[1] > 0
        if use_q:
            if qualifier_mask is None:
                qualifier_mask = (qualifiers >= 0).all(-1)
            r, qbar, has = self.aggregate_qualifiers(r, qualifiers, qualifier_mask)
        if self.use_interaction:
            e_r, r_e = self.interact(e, r)
            if use_q:
                e_q, q_e = self.interact(e, qbar)
                r_q, q_r = self.interact(r, qbar)
                e, r, qbar = e + self.fuse(e_r, e_q), r + self.fuse(r_e, r_q), qbar + self.fuse(q_e, q_r)
            else:
                e, r = e + e_r, r + r_e
        tokens = [e, r, self.mask_token.expand(b, -1)]
        pads = [torch.zeros(b, 3, dtype=torch.bool, device=entity.device)]
        if use_q:
            tokens.append(qbar)
            qr = self.rel(qualifiers[..., 0].clamp(min=0)) + self.qual_type[0]
            qv = self.ent(qualifiers[..., 1].clamp(min=0)) + self.qual_type[1]
            pads += [~has, ~qualifier_mask, ~qualifier_mask]
        x = torch.stack(tokens, 1) + self.position[:len(tokens)]
        if use_q:
            x = torch.cat([x, qr, qv], 1)
        pad = torch.cat(pads, 1) if use_q else None
        x = self.input_drop(x)
        for layer in self.layers:
            x = layer(x, pad)
        return self.score(self.norm(x[:, 2]))

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        """``balance_weight · Σ_layers L_balance`` of the last forward (empty without MoE layers)."""
        losses = [layer.ffn.balance_loss for layer in self.layers if layer.moe]
        if not losses or not self.training:
            return {}
        return {"balance": self.balance_weight * torch.stack(losses).sum()}


class TripleTransformer(_Scorer):
    """Triple-only transformer baseline: ``[x_e, x_r', [MASK]]`` + positions through ``depth`` dense pre-LN
    layers; qualifiers are ignored. ``s = LN(h_[MASK])ᵀ X_E + b``."""

    def __init__(self, num_entities: int, num_relations: int, *, width: int = 64, depth: int = 2, heads: int = 4,
                 mlp_ratio: float = 2.0, dropout: float = 0.1):
        super().__init__(num_entities, num_relations, width)
        self.mask_token = nn.Parameter(torch.randn(width) * width ** -0.5)
        self.position = nn.Parameter(torch.zeros(3, width))
        self.layers = nn.ModuleList(EncoderLayer(width, heads, mlp_ratio, dropout, 1, 1) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.input_drop = nn.Dropout(dropout)

    def forward(self, entity: torch.Tensor, relation: torch.Tensor, qualifiers: torch.Tensor | None = None,
                qualifier_mask: torch.Tensor | None = None, exclude: torch.Tensor | None = None) -> torch.Tensor:
        self.check(entity, relation)
        x = torch.stack([self.ent(entity), self.rel(relation), self.mask_token.expand(entity.shape[0], -1)], 1)
        x = self.input_drop(x + self.position)
        for layer in self.layers:
            x = layer(x, None)
        return self.score(self.norm(x[:, 2]))


class DistMult(_Scorer):
    """DistMult (Yang et al., 2015) with 1-N scoring: ``s_c = Σ_k x_{e,k} x_{r',k} x_{c,k} + b_c``."""

    def __init__(self, num_entities: int, num_relations: int, *, width: int = 64, dropout: float = 0.1):
        super().__init__(num_entities, num_relations, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, entity: torch.Tensor, relation: torch.Tensor, qualifiers: torch.Tensor | None = None,
                qualifier_mask: torch.Tensor | None = None, exclude: torch.Tensor | None = None) -> torch.Tensor:
        self.check(entity, relation)
        return self.score(self.drop(self.ent(entity) * self.rel(relation)))


class ComplEx(_Scorer):
    """ComplEx (Trouillon et al., 2016) with 1-N scoring; ``width`` real numbers hold ``width/2`` complex ones:
    ``s_c = Re(Σ_k e_k r_k conj(c_k)) + b_c``."""

    def __init__(self, num_entities: int, num_relations: int, *, width: int = 64, dropout: float = 0.1):
        if width % 2:
            raise ValueError(f"ComplEx needs an even width (real and imaginary halves), got {width}")
        super().__init__(num_entities, num_relations, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, entity: torch.Tensor, relation: torch.Tensor, qualifiers: torch.Tensor | None = None,
                qualifier_mask: torch.Tensor | None = None, exclude: torch.Tensor | None = None) -> torch.Tensor:
        self.check(entity, relation)
        er, ei = self.ent(entity).chunk(2, -1)
        rr, ri = self.rel(relation).chunk(2, -1)
        # Re(e r conj(c)) = (er rr − ei ri)·cr + (er ri + ei rr)·ci
        return self.score(self.drop(torch.cat([er * rr - ei * ri, er * ri + ei * rr], -1)))


# -- registered factories --------------------------------------------------------------------------------------
def hyperformer(*, num_entities: int, num_relations: int, width: int = 64, depth: int = 2, heads: int = 4,
                mlp_ratio: float = 2.0, dropout: float = 0.1, num_experts: int = 4, top_k: int = 2,
                balance_weight: float = 0.01, num_neighbors: int = 8, conv_width: int = 8, kernel_size: int = 3,
                qualifiers: bool = True) -> HyperFormer:
    """HyperFormer: ENA + RQA + CBI + a MoE transformer encoder, 1-N scoring."""
    return HyperFormer(num_entities, num_relations, width=width, depth=depth, heads=heads, mlp_ratio=mlp_ratio,
                       dropout=dropout, num_experts=num_experts, top_k=top_k, balance_weight=balance_weight,
                       num_neighbors=num_neighbors, conv_width=conv_width, kernel_size=kernel_size,
                       qualifiers=qualifiers)


def hyperformer_triple(*, num_entities: int, num_relations: int, width: int = 64, depth: int = 2, heads: int = 4,
                       mlp_ratio: float = 2.0, dropout: float = 0.1, num_experts: int = 4, top_k: int = 2,
                       balance_weight: float = 0.01, num_neighbors: int = 8, conv_width: int = 8,
                       kernel_size: int = 3) -> HyperFormer:
    """HyperFormer with the qualifiers removed (the ablation that shows what they are worth)."""
    return hyperformer(num_entities=num_entities, num_relations=num_relations, width=width, depth=depth, heads=heads,
                       mlp_ratio=mlp_ratio, dropout=dropout, num_experts=num_experts, top_k=top_k,
                       balance_weight=balance_weight, num_neighbors=num_neighbors, conv_width=conv_width,
                       kernel_size=kernel_size, qualifiers=False)


def kg_transformer(*, num_entities: int, num_relations: int, width: int = 64, depth: int = 2, heads: int = 4,
                   mlp_ratio: float = 2.0, dropout: float = 0.1) -> TripleTransformer:
    """Triple-only transformer over (e, r', [MASK])."""
    return TripleTransformer(num_entities, num_relations, width=width, depth=depth, heads=heads, mlp_ratio=mlp_ratio,
                             dropout=dropout)


def distmult(*, num_entities: int, num_relations: int, width: int = 64, dropout: float = 0.1) -> DistMult:
    """DistMult 1-N scorer (triple-only)."""
    return DistMult(num_entities, num_relations, width=width, dropout=dropout)


def complex_scorer(*, num_entities: int, num_relations: int, width: int = 64, dropout: float = 0.1) -> ComplEx:
    """ComplEx 1-N scorer (triple-only)."""
    return ComplEx(num_entities, num_relations, width=width, dropout=dropout)
