"""docs/plugins/kernels.md: every python snippet runs as written."""

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "kernels.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_the_page_has_one_snippet_per_method():
    assert len(BLOCKS) >= 7   # one per documented method (and the tasks); sections are added by several people


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_docs_snippet_runs(index):
    exec(compile(BLOCKS[index], f"{PAGE.name}[block {index}]", "exec"), {"__name__": f"docs_kernels_{index}"})
