"""nox sessions; the plugin list comes from registry.toml.

    nox -s tests               core + every first-party plugin in one virtualenv, the whole test suite
    nox -s plugin-<name>       a fresh virtualenv with only core and that plugin: its tests alone
    nox -s lint                ruff
    nox -s bench               every benchmarks/<plugin>.py (long; writes docs/results/)

Every virtualenv gets torch==2.13.0 first (a local CPU wheel here; an unpinned torch would pull a CUDA build).
Uses nox's default virtualenv backend: uv would ignore the local wheel.
"""

import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PLUGINS = tomllib.loads((ROOT / "registry.toml").read_text())["plugins"]
TORCH = "torch==2.13.0"

nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["lint", "tests"]


def install(session, *specs):
    session.install(TORCH)
    session.install(*specs)


@nox.session
def tests(session):
    install(session, ".[test]", *(f"./{p['path']}[test]" for p in PLUGINS.values()))
    session.run("python", "-m", "pytest", *session.posargs)


def _plugin_session(name, entry):
    @nox.session(name=f"plugin-{name}")
    def session_fn(session):
        install(session, ".[test]", f"./{entry['path']}[test]")
        session.run("python", "-m", "pytest", f"{entry['path']}/tests", *session.posargs)

    return session_fn


for _name, _entry in PLUGINS.items():
    globals()[f"plugin_{_name}"] = _plugin_session(_name, _entry)


@nox.session
def lint(session):
    session.install("ruff>=0.5")
    session.run("ruff", "check", "core", "tests", "plugins", "benchmarks", "noxfile.py", "conftest.py")


@nox.session
def bench(session):
    install(session, ".[test]", *(f"./{p['path']}[test,bench]" for p in PLUGINS.values()))
    for name in PLUGINS:
        script = ROOT / "benchmarks" / f"{name}.py"
        if script.exists():
            session.run("python", str(script), *session.posargs)
