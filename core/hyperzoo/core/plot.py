"""Training curves of one or more run directories, drawn to a PNG with matplotlib (the ``plot`` extra).

    hyperzoo plot runs/a runs/b --out curves.png            # every train_*/val_* metric, one panel each
    core.plot_runs(["runs/a"], "curves.png", metrics=["val_accuracy"])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import ConfigError
from .io import read_json

__all__ = ["plot_runs"]


def _curves(run_dir: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    """(label, epoch rows) per fit: a multi-seed run gives one curve per seed, a split or sub-task one per tag."""
    path = run_dir / "history.json"
    if not path.exists():
        raise FileNotFoundError(f"{str(run_dir)!r} has no history.json: is it a hyperzoo run directory?")
    rows = [r for r in read_json(path) if isinstance(r, dict) and "epoch" in r]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        tags = [f"{k} {row[k]}" for k in ("seed", "split", "task") if k in row]
        groups.setdefault(", ".join(tags), []).append(row)
    return [(f"{run_dir.name}" + (f" ({tag})" if tag else ""), rs) for tag, rs in groups.items()]


def plot_runs(run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike,
              metrics: Sequence[str] | None = None) -> Path:
    """Draw ``metrics`` (default: every numeric ``train_*``/``val_*`` key) against the epoch, one panel per
    metric, runs overlaid; write the PNG atomically to ``out`` and return its path."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("hyperzoo plot needs matplotlib: pip install matplotlib (or hyperzoo[plot])") from exc
    curves = [c for d in run_dirs for c in _curves(Path(d))]
    if not any(rows for _, rows in curves):
        raise ConfigError("no per-epoch history rows to plot in " + ", ".join(map(str, run_dirs)))
    found = sorted({k for _, rows in curves for r in rows for k, v in r.items()
                    if k.startswith(("train_", "val_")) and isinstance(v, (int, float)) and "_class" not in k})
    metrics = list(metrics) if metrics else found
    missing = [m for m in metrics if m not in found]
    if missing:
        raise ConfigError(f"no run logs {missing}; the histories hold {found}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, rows in curves:
            points = [(r["epoch"], r[metric]) for r in rows if isinstance(r.get(metric), (int, float))]
            if points:
                ax.plot(*zip(*points), label=label, marker="o" if len(points) < 30 else None, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    from .io import atomic_write

    target = Path(out)
    atomic_write(target, lambda fh: fig.savefig(fh, format="png", dpi=110))
    plt.close(fig)
    return target
