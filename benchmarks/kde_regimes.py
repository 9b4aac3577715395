"""Bandwidth regimes of the Gaussian KDE in large dimensions (arXiv 2408.05807): simulation vs theory.

For α = log(n)/d fixed, simulate n = e^{αd} standard normal points at several d and, over bandwidths
h = ratio · h_G(α), the participation ratio Y₂ = Σ K²/(Σ K)² and the KL per dimension (Monte Carlo over fresh
queries), beside the d → ∞ theory of hyperzoo.kde.regimes. The finite-d KL below h_G exceeds the limit by
about c(h)/d, so the Richardson extrapolation KL_∞ ≈ (d₂ KL_{d₂} − d₁ KL_{d₁}) / (d₂ − d₁) of the two largest d
is shown too.

    python benchmarks/kde_regimes.py          # α = 0.25, d = 16, 32, 48 (n up to 162,755), ~1 minute

Writes docs/results/kde_regimes.md, .json and .png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hyperzoo.kde import regimes

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alpha", type=float, default=0.25)
    p.add_argument("--dims", type=int, nargs="*", default=[16, 32, 48])
    p.add_argument("--queries", type=int, default=512)
    args = p.parse_args()
    ratios = [float(r) for r in np.round(np.geomspace(0.5, 2.5, 17), 4)]
    started = time.perf_counter()
    rows = regimes.simulate_regimes(args.alpha, args.dims, ratios, n_queries=args.queries, seed=0)
    seconds = time.perf_counter() - started
    hg, hc, hk = regimes.h_gauss(args.alpha), regimes.h_clt(args.alpha), regimes.h_kl(args.alpha)
    d1, d2 = args.dims[-2], args.dims[-1]
    by = {(r["d"], r["h_ratio"]): r for r in rows}
    extrap = {q: (d2 * by[(d2, q)]["kl_per_dim"] - d1 * by[(d1, q)]["kl_per_dim"]) / (d2 - d1) for q in ratios}

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fine = np.geomspace(0.45, 2.6, 400)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for d in args.dims:
        mine = [r for r in rows if r["d"] == d]
        n = mine[0]["n"]
        ax[0].plot([r["h_ratio"] for r in mine], [r["participation"] for r in mine], "o-", ms=3,
                   label=f"simulation d={d} (n={n:,})")
        ax[1].errorbar([r["h_ratio"] for r in mine], [r["kl_per_dim"] for r in mine],
                       yerr=[r["kl_per_dim_se"] for r in mine], fmt="o-", ms=3, label=f"simulation d={d}")
    ax[0].plot(fine, regimes.participation_theory(fine * hg, args.alpha), "k--", label="theory d→∞: 1 − (h/h_G)²")
    ax[1].plot(fine, regimes.kl_per_dim(fine * hg, args.alpha), "k--", label="theory d→∞")
    ax[1].plot(ratios, [extrap[q] for q in ratios], "kx", label=f"extrapolated from d={d1},{d2}")
    for a in ax:
        for x, name in ((1.0, "h_G"), (hc / hg, "h_CLT"), (hk / hg, "h_KL")):
            a.axvline(x, color="grey", lw=0.8, ls=":")
            a.text(x, a.get_ylim()[1] if a is ax[0] else 0.02, f" {name}", rotation=90, va="top", fontsize=8)
        a.set_xscale("log")
        a.set_xlabel("h / h_G(α)")
        a.legend(fontsize=7)
    ax[0].set_ylabel("participation ratio E[Y₂]")
    ax[1].set_ylabel("KL(ρ‖ρ̂) / d")
    ax[1].set_ylim(0, 0.6)
    fig.suptitle(f"Gaussian KDE, α = log(n)/d = {args.alpha}: h_G = {hg:.3f}, h_CLT = {hc:.3f}, h_KL = {hk:.3f}")
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "kde_regimes.png", dpi=110)

    best = {d: min((r for r in rows if r["d"] == d), key=lambda r: r["kl_per_dim"])["h_ratio"] for d in args.dims}
    best_extrap = min(extrap, key=extrap.get)
    lines = ["# kde: bandwidth regimes in large dimensions", "",
             f"Command: `python benchmarks/kde_regimes.py` (α = {args.alpha}, d = {args.dims}, {args.queries} "
             f"queries per point, {seconds:.0f} s on 2 shared cores). Plot: kde_regimes.png.", "",
             f"Theory (d → ∞, σ = 1): h_G = {hg:.4f}, h_CLT = √2·h_G = {hc:.4f}, h_KL = {hk:.4f} "
             f"(h_KL/h_G = {hk / hg:.3f}).", "",
             "Empirical KL-optimal h/h_G on the grid: " + ", ".join(f"d={d}: {best[d]:.3f}" for d in args.dims)
             + f"; from the 1/d extrapolation of d={d1},{d2}: {best_extrap:.3f}.", "",
             "| h/h_G | " + " | ".join(f"Y₂ d={d}" for d in args.dims) + " | Y₂ theory | "
             + " | ".join(f"KL/d d={d}" for d in args.dims) + " | KL/d extrapolated | KL/d theory |",
             "|---" * (2 * len(args.dims) + 4) + "|"]
    for q in ratios:
        ys = " | ".join(f"{by[(d, q)]['participation']:.3f}" for d in args.dims)
        ks = " | ".join(f"{by[(d, q)]['kl_per_dim']:.4f} ± {by[(d, q)]['kl_per_dim_se']:.4f}" for d in args.dims)
        r = by[(args.dims[-1], q)]
        lines.append(f"| {q:.3f} | {ys} | {r['participation_theory']:.3f} | {ks} | {extrap[q]:.4f} | "
                     f"{r['kl_per_dim_theory']:.4f} |")
    (RESULTS / "kde_regimes.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "kde_regimes.json").write_text(json.dumps({"alpha": args.alpha, "h_gauss": hg, "h_clt": hc, "h_kl": hk,
                                                          "rows": rows}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
