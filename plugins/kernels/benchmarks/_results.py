"""The plugin benchmarks' writer: replace one ``## `` section of docs/results/kernels.md, keeping the others."""

from __future__ import annotations

from pathlib import Path

MD = Path(__file__).resolve().parents[3] / "docs" / "results" / "kernels.md"


def write_section(title: str, lines: list[str]) -> str:
    """Put ``lines`` (starting with ``title``) where the section ``title`` was, or at the end; returns them."""
    text = MD.read_text()
    new = "\n".join(lines).rstrip("\n") + "\n"
    if title in text:
        head, rest = text.split(title, 1)
        tail = rest.split("\n## ", 1)[1] if "\n## " in rest else None
        text = head + new + ("\n## " + tail if tail is not None else "")
    else:
        text = text.rstrip("\n") + "\n\n" + new
    MD.write_text(text)
    return new
