"""Session-wide test policy for core and every plugin (this file sits at the repository root).

- ``HYPERZOO_DATA`` defaults to ``../shared/data`` next to the checkout, so tests run from any directory.
- The session fails on unexpected skips. Accepted skip reasons start with ``needs a CUDA GPU`` or, outside CI,
  ``data missing:`` (see ``hyperzoo.core.testing.require_data``). A missing test dependency is a failure.
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("HYPERZOO_DATA", str(ROOT.parent / "shared" / "data"))

ACCEPTED_SKIPS = ("needs a CUDA GPU", "data missing:")
_unexpected: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        if not reason.startswith(ACCEPTED_SKIPS):
            _unexpected.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter):
    if _unexpected:
        terminalreporter.section("unexpected skips (these fail the session)")
        for line in _unexpected:
            terminalreporter.line(line)


def pytest_sessionfinish(session, exitstatus):
    if _unexpected and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
