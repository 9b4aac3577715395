"""The docs page's python blocks run, in order, in one namespace (as tests/test_docs.py does for every page)."""

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "linear_attention.md"


def test_docs_snippets_run():
    namespace = {"__name__": "docs_linear_attention"}
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert len(blocks) == 3
    for i, block in enumerate(blocks):
        exec(compile(block, f"{PAGE.name}[block {i}]", "exec"), namespace)
    assert 0.0 <= namespace["result"].metrics["test_accuracy"] <= 1.0
    assert namespace["out"].shape == (2, 50, 32)
    assert namespace["approx"].shape == (5, 3)
