"""Real entry-point discovery: throwaway plugin distributions pip-installed into a fresh virtual environment.

The environment sees this interpreter's packages (core, torch, the first-party plugins) through a .pth file and
gets, installed by pip, the plugin of docs/plugin-authors.md plus three broken ones: one that raises on import,
one that registers a taken name, one that requires an incompatible core.
"""

import json
import os
import re
import site
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugin-authors.md"
HEAVY = ("torch", "triton", "sklearn", "scipy", "networkx", "geoopt", "dhg")

BROKEN = {
    "broken": ("raise ImportError('missing dependency foo (pip install foo)')\n", "hyperzoo>=0.2,<0.3"),
    "taken": ("from hyperzoo import core\n\n@core.hookimpl\ndef hyperzoo_register(registrar):\n"
              "    registrar.model('taken-fresh', 'x:y', fits=['k'])\n"
              "    registrar.model('cnn', 'x:y', fits=['k'])\n", "hyperzoo>=0.2,<0.3"),
    "oldcore": ("from hyperzoo import core\n\n@core.hookimpl\ndef hyperzoo_register(registrar):\n"
                "    registrar.model('from-the-future', 'x:y', fits=['k'])\n", "hyperzoo>=9.0"),
    # loads (targets are lazy) but one target is misspelled: only `plugins --check` finds it before first use
    "typo": ("from hyperzoo import core\n\n@core.hookimpl\ndef hyperzoo_register(registrar):\n"
             "    registrar.model('typo-mlp', 'hyperzoo.core.baselines:mlpp', fits=['k'])\n"
             "    registrar.model('typo-cnn', 'hyperzoo.core.baselines:cnn', fits=['k'])\n", "hyperzoo>=0.2,<0.3"),
}


def guide_files() -> dict[str, str]:
    """The ```lang file=PATH blocks of the plugin author guide."""
    text = GUIDE.read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"```\w+ file=(\S+)\n(.*?)```", text, re.S)}


def guide_snippets() -> list[str]:
    """The untagged ```python blocks (usage examples)."""
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)


def write_broken(base: Path, name: str, body: str, requirement: str) -> Path:
    pkg = base / f"hz-{name}"
    (pkg / f"hz_{name}").mkdir(parents=True)
    (pkg / f"hz_{name}" / "__init__.py").write_text("")
    (pkg / f"hz_{name}" / "plugin.py").write_text(body)
    (pkg / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "hz-{name}"
        version = "0.0.1"
        dependencies = ["{requirement}"]
        [project.entry-points.hyperzoo]
        {name} = "hz_{name}.plugin"
        [tool.setuptools]
        packages = ["hz_{name}"]
        """))
    return pkg


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    base = tmp_path_factory.mktemp("third-party")
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                      text=True).strip()
    parents = [p for p in site.getsitepackages() if os.path.isdir(p)]
    Path(purelib, "_parent_env.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in parents))
    for rel, content in guide_files().items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    packages = [base / "hyperzoo-example"] + [write_broken(base, n, *spec) for n, spec in BROKEN.items()]
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    *map(str, packages)], check=True, cwd=base)
    return python


def py(venv, code, **env):
    full_env = {**os.environ, **env}
    for var in ("HYPERZOO_PLUGINS", "HYPERZOO_DISABLE_PLUGINS", "HYPERZOO_STRICT_PLUGINS"):
        if var not in env:
            full_env.pop(var, None)
    return subprocess.run([venv, "-c", code], capture_output=True, text=True, env=full_env, timeout=300)


LIST = ("import json, sys\nfrom hyperzoo import core\n"
        "infos = [i.to_dict() for i in core.plugins()]\n"
        "core.models(); core.tasks(); core.operators(); core.datasets()\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(json.dumps({'plugins': infos, 'heavy': heavy}))\n")


def statuses(venv, **env):
    proc = py(venv, LIST, **env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    return {p["name"]: p for p in out["plugins"]}, out["heavy"]


def test_discovery_statuses_and_listing_stays_light(venv):
    infos, heavy = statuses(venv)
    assert heavy == []  # listing with every plugin installed imported none of the heavy packages
    assert infos["example"]["status"] == "loaded"
    assert infos["example"]["provides"] == {"operators": ["example.swish"], "backends": ["example.swish/fused"],
                                            "models": ["swish-mlp"], "tasks": ["xor"]}
    assert infos["example"]["requires_core"] == "<0.3,>=0.2"
    assert infos["broken"]["status"] == "failed" and "missing dependency foo" in infos["broken"]["error"]
    assert infos["taken"]["status"] == "failed"
    assert ("plugin 'taken' cannot register model 'cnn': model 'cnn' is already registered by plugin 'core'"
            in infos["taken"]["error"])
    assert infos["typo"]["status"] == "loaded"
    assert infos["oldcore"]["status"] == "incompatible" and "requires hyperzoo>=9.0" in infos["oldcore"]["error"]
    for name in ("broken", "taken", "oldcore"):
        assert infos[name]["provides"] == {}
    proc = py(venv, "from hyperzoo import core; print(core.models('taken*'), core.models('from-*'))")
    assert proc.stdout.split() == ["[]", "[]"]  # all-or-nothing: nothing of theirs was kept


def test_cli_json_matches_the_python_api_field_by_field(venv):
    infos, _ = statuses(venv)
    proc = subprocess.run([venv, "-m", "hyperzoo.core", "plugins", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    cli = json.loads(proc.stdout)
    assert cli["core_version"] == infos["core"]["version"]
    assert {p["name"]: p for p in cli["plugins"]} == infos
    available = json.loads(subprocess.run([venv, "-m", "hyperzoo.core", "plugins", "--available", "--json"],
                                          capture_output=True, text=True).stdout)
    assert {p["name"] for p in available["plugins"]} >= set(infos)


def test_allow_and_deny_lists(venv):
    infos, _ = statuses(venv, HYPERZOO_PLUGINS="example")
    assert infos["core"]["status"] == "loaded" and infos["example"]["status"] == "loaded"
    assert {infos[n]["status"] for n in ("broken", "taken", "oldcore", "typo")} == {"blocked"}
    assert infos["broken"]["error"] == "not in HYPERZOO_PLUGINS"
    infos, _ = statuses(venv, HYPERZOO_DISABLE_PLUGINS="broken,example")
    assert infos["broken"]["status"] == infos["example"]["status"] == "blocked"
    assert infos["taken"]["status"] == "failed"


def hyperzoo(venv, *args, **env):
    full_env = {**os.environ, **env}
    for var in ("HYPERZOO_PLUGINS", "HYPERZOO_DISABLE_PLUGINS", "HYPERZOO_STRICT_PLUGINS"):
        if var not in env:
            full_env.pop(var, None)
    return subprocess.run([venv, "-m", "hyperzoo.core", *args], capture_output=True, text=True, env=full_env,
                          timeout=300)


def test_strict_mode_raises_naming_the_plugin(venv):
    proc = py(venv, LIST, HYPERZOO_STRICT_PLUGINS="1")
    assert proc.returncode != 0 and "PluginLoadError: plugin 'broken' (hz-broken) failed to load" in proc.stderr
    assert "ImportError: missing dependency foo" in proc.stderr  # the original, as the cause
    infos, _ = statuses(venv, HYPERZOO_STRICT_PLUGINS="1", HYPERZOO_DISABLE_PLUGINS="broken,taken,oldcore")
    assert infos["example"]["status"] == "loaded"


@pytest.mark.parametrize("disable, message", [
    ("", "hyperzoo: error: plugin 'broken' (hz-broken) failed to load (HYPERZOO_STRICT_PLUGINS=1): ImportError: "
         "missing dependency foo (pip install foo)"),
    ("broken", "hyperzoo: error: plugin 'oldcore': requires hyperzoo>=9.0"),  # plugins load in name order
    ("broken,oldcore", "hyperzoo: error: plugin 'taken' (hz-taken) failed to load (HYPERZOO_STRICT_PLUGINS=1): "
                       "RegistryError: plugin 'taken' cannot register model 'cnn'"),
])
def test_strict_mode_in_the_cli_is_one_line_and_status_2(venv, disable, message):
    proc = hyperzoo(venv, "plugins", HYPERZOO_STRICT_PLUGINS="1", HYPERZOO_DISABLE_PLUGINS=disable)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert [line for line in lines if line.startswith("hyperzoo: error:")] == [lines[-1]]
    assert lines[-1].startswith(message), proc.stderr


def test_plugins_check_finds_the_misspelled_target(venv):
    proc = hyperzoo(venv, "plugins", "--check", "--json")
    assert proc.returncode == 2
    report = {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}
    assert report["example"]["ok"] and report["example"]["checked"] == 5  # op, backend + supports, model, task
    assert report["typo"]["status"] == "loaded" and report["typo"]["checked"] == 2
    assert report["typo"]["problems"] == [
        "model 'typo-mlp' of plugin 'typo': target 'hyperzoo.core.baselines:mlpp': module 'hyperzoo.core.baselines' "
        "has no attribute 'mlpp'"]
    assert not report["broken"]["ok"] and not report["taken"]["ok"] and not report["oldcore"]["ok"]
    assert "hyperzoo: error: 4 plugin(s) have problems: broken, oldcore, taken, typo" in proc.stderr
    clean = hyperzoo(venv, "plugins", "--check", HYPERZOO_DISABLE_PLUGINS="broken,taken,oldcore,typo")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_unknown_model_names_the_plugins_that_did_not_load(venv):
    proc = hyperzoo(venv, "run", "xor", "no-such-model")
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("hyperzoo: error: unknown model 'no-such-model'.")
    assert "Plugins that did not load (one may provide it): broken (failed: ImportError: missing dependency foo" \
        in line and "oldcore (incompatible: requires hyperzoo>=9.0" in line


def test_core_run_with_the_third_party_model_and_task(venv, tmp_path):
    code = ("import json\nfrom hyperzoo import core\n"
            f"r = core.run('xor', 'swish-mlp', width=16, out_dir={str(tmp_path / 'run')!r}, progress=False)\n"
            "print(json.dumps(r.metrics))")
    proc = py(venv, code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["test_accuracy"] > 0.85
    proc = subprocess.run([venv, "-m", "hyperzoo.core", "run", "--config", str(tmp_path / "run" / "config.json"),
                           "--out", str(tmp_path / "again"), "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert json.loads(proc.stdout)["metrics"] == {k: v for k, v in saved.items() if k != "test_confusion_matrix"}


def test_the_guides_snippets_run_with_the_plugin_installed(venv, tmp_path):
    snippets = guide_snippets()
    assert len(snippets) == 3
    for i, snippet in enumerate(snippets):
        proc = subprocess.run([venv, "-c", snippet], capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, f"snippet {i} of {GUIDE.name} failed:\n{snippet}\n{proc.stderr}"


def test_hyperzoo_plugins_answers_fast(venv):
    """`hyperzoo plugins` with every plugin installed answers in under 2 s (best of three, this machine)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        proc = subprocess.run([venv, "-m", "hyperzoo.core", "plugins"], capture_output=True, text=True)
        best = min(best, time.perf_counter() - start)
        assert proc.returncode == 0
    assert best < 2.0, f"hyperzoo plugins took {best:.2f} s"
