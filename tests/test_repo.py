"""The repository agrees with itself: registry.toml (root and shipped copy), plugin pyprojects and entry points,
what plugins register at runtime, the README's Quickstart, and the PEP 420 namespace."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from hyperzoo import core

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = tomllib.loads((ROOT / "registry.toml").read_text())["plugins"]


def test_shipped_catalogue_is_the_root_file():
    shipped = ROOT / "core" / "hyperzoo" / "core" / "registry.toml"
    assert shipped.read_text() == (ROOT / "registry.toml").read_text(), "cp registry.toml core/hyperzoo/core/"
    assert core.discovery.catalogue() == CATALOGUE


def test_every_plugin_folder_is_catalogued_and_vice_versa():
    on_disk = {p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml")}
    assert set(CATALOGUE) == on_disk
    for name, entry in CATALOGUE.items():
        assert entry["path"] == f"plugins/{name}"
        assert {"distribution", "summary", "provides"} <= set(entry), name


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_catalogue_matches_pyproject_entry_point_and_runtime(name):
    entry = CATALOGUE[name]
    project = tomllib.loads((ROOT / entry["path"] / "pyproject.toml").read_text())["project"]
    assert project["name"] == entry["distribution"]
    assert project["entry-points"]["hyperzoo"] == {name: f"hyperzoo.{name}.plugin"}
    assert any(re.match(r"hyperzoo\s*[<>=!~]", dep) for dep in project["dependencies"]), "declare the core range"
    installed = {ep.name: ep.value for ep in metadata.entry_points(group="hyperzoo")}
    assert installed.get(name) == f"hyperzoo.{name}.plugin"
    info = {p.name: p for p in core.plugins()}[name]
    assert info.status == "loaded", info.error
    runtime = {k: v for k, v in info.provides.items() if k != "backends"}
    assert runtime == {k: sorted(v) for k, v in entry["provides"].items()}
    backends = {b.replace("/", "=") for b in info.provides.get("backends", [])}
    assert set(entry.get("gpu_backends", [])) <= backends


def test_every_registered_target_resolves():
    for table in core.discovery.registry().tables.values():
        for e in table.values():
            e.load()
            for key in ("is_available", "supports"):
                if isinstance(e.meta.get(key), str):
                    core.registry.resolve(e.meta[key])


def test_readme_quickstart_installs_every_plugin_by_path():
    text = (ROOT / "README.md").read_text().split("## Quickstart", 1)[1]
    commands = [c for c in re.search(r"```bash\n(.*?)```", text, re.S).group(1).splitlines() if c.strip()]
    assert len(commands) == 2
    install, tests = commands
    assert install.startswith("pip install torch==2.13.0 ") and install.endswith("&& hyperzoo run")
    for entry in CATALOGUE.values():
        assert f"./{entry['path']}[test]" in install
    assert tests == "python -m pytest"


def test_namespace_package_has_no_init():
    assert not list(ROOT.glob("**/hyperzoo/__init__.py"))


def test_import_core_is_light():
    import subprocess
    import sys

    code = ("import sys, hyperzoo.core\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'triton', 'sklearn', 'scipy', 'networkx', 'geoopt', 'numpy') or m.startswith('hyperzoo.') "
            "and not m.startswith('hyperzoo.core')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
