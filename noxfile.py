"""nox sessions; the plugin list comes from registry.toml.

    nox -s tests               core + every first-party plugin in one virtualenv, the whole test suite
    nox -s plugin-<name>       a fresh virtualenv with only core and that plugin: its tests alone
    nox -s lint                ruff
    nox -s bench               every benchmarks/<plugin>.py (long; writes docs/results/)
    nox -s wheels [-- <name>]  sdists + wheels of core and every plugin; core + <name> (default kde) installed from
                               those wheels alone in a fresh virtualenv, checked outside the source tree

Every virtualenv gets torch==2.13.0 first (a local CPU wheel here; an unpinned torch would pull a CUDA build).
Uses nox's default virtualenv backend: uv would ignore the local wheel.
"""

import shutil
import tempfile
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


@nox.session
def wheels(session):
    """What users will install: package data (registry.toml, py.typed), entry points, namespace packaging."""
    name = session.posargs[0] if session.posargs else "kde"
    if name not in PLUGINS:
        session.error(f"unknown plugin {name!r}; choose one of {sorted(PLUGINS)}")
    session.install(TORCH)
    session.install("build", "setuptools>=68", "wheel")
    work = Path(tempfile.mkdtemp(prefix="hyperzoo-wheels-"))
    dist = work / "dist"
    for path in [ROOT, *(ROOT / p["path"] for p in PLUGINS.values())]:
        session.run("python", "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(dist), str(path),
                    silent=True)
    built = sorted(p.name for p in dist.iterdir())
    session.log(f"built: {built}")
    expected = {"hyperzoo", *(e["distribution"].replace("-", "_") for e in PLUGINS.values())}
    for stem in expected:
        if not any(b.startswith(f"{stem}-") and b.endswith(".whl") for b in built):
            session.error(f"no wheel for {stem}")
        if not any(b.startswith(f"{stem}-") and b.endswith(".tar.gz") for b in built):
            session.error(f"no sdist for {stem}")
    core_wheel = next(dist.glob("hyperzoo-*.whl"))
    plugin_wheel = next(dist.glob(PLUGINS[name]["distribution"].replace("-", "_") + "-*.whl"))
    # A fresh virtualenv outside the source tree: the hyperzoo packages come from the wheels only.
    venv = work / "venv"
    session.run("python", "-m", "venv", str(venv))
    py = str(venv / "bin" / "python")
    session.run(py, "-m", "pip", "install", "-q", TORCH, external=True)
    session.run(py, "-m", "pip", "install", "-q", f"{core_wheel}[test]", f"{plugin_wheel}[test]", external=True)
    check = work / "check"
    shutil.copytree(ROOT / PLUGINS[name]["path"] / "tests", check / "tests")
    shutil.copy(ROOT / "conftest.py", check / "conftest.py")
    (check / "pytest.ini").write_text("[pytest]\naddopts = --import-mode=importlib -ra\n")
    session.chdir(check)
    env = {"HYPERZOO_DATA": str(ROOT.parent / "shared" / "data")}
    session.run(py, "-c", "import json, subprocess, sys; out = subprocess.run([sys.executable, '-m', 'hyperzoo.core', "
                "'plugins', '--json'], capture_output=True, text=True, check=True).stdout; "
                f"info = {{p['name']: p['status'] for p in json.loads(out)['plugins']}}; print(info); "
                f"assert info.get({name!r}) == 'loaded' and info['core'] == 'loaded', info; "
                "import importlib.resources as r; assert r.files('hyperzoo.core').joinpath('registry.toml').is_file(); "
                f"assert r.files('hyperzoo.{name}').joinpath('py.typed').is_file(); "
                "assert r.files('hyperzoo.core').joinpath('py.typed').is_file()", external=True, env=env)
    session.run(py, "-m", "pytest", "-q", "tests", external=True, env=env)
