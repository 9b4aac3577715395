"""What a plugin author hits: `plugins --check` / core.check_plugins(), which plugin provides an unknown name,
`ops PATTERN` that matches nothing."""

import json

import pytest

from hyperzoo import core
from hyperzoo.core import discovery
from hyperzoo.core.cli import main
from hyperzoo.core.discovery import PluginInfo


def test_the_installed_first_party_plugins_check_clean():
    results = {r.name: r for r in core.check_plugins()}
    first_party = ["core", *(n for n in discovery.catalogue() if n in results)]  # core alone in a core-only env
    for name in first_party:
        r = results[name]
        assert r.status == "loaded" and r.ok and r.checked > 0, f"{name}: {r.problems}"


def test_check_reports_every_bad_lazy_target(register, capsys):
    def hook(registrar):
        registrar.model("typo-model", "hyperzoo.core.baselinez:mlp", fits=["x"])  # misspelled module
        registrar.task("typo-task", "hyperzoo.core.builtin_tasks:DigitSeq", kind="x")  # misspelled attribute
        registrar.dataset("not-callable", "hyperzoo.core.registry:KINDS")  # a tuple
        registrar.operator("typo.op", "hyperzoo.core.ops.rms_norm:rms_norm")  # fine
        registrar.backend("typo.op", "fast", "hyperzoo.core.ops.rms_norm:rms_norm",
                          supports="hyperzoo.core.ops.rms_norm:supportz")

    info = register("typo", hook)
    assert info.status == "loaded"  # nothing is imported at registration: only the check finds these
    check = {r.name: r for r in core.check_plugins()}["typo"]
    assert not check.ok and check.checked == 6 and len(check.problems) == 4, check.problems
    text = "\n".join(check.problems)
    assert ("model 'typo-model' of plugin 'typo': target 'hyperzoo.core.baselinez:mlp': cannot import "
            "'hyperzoo.core.baselinez'") in text
    assert "task 'typo-task' of plugin 'typo': target 'hyperzoo.core.builtin_tasks:DigitSeq': module" in text
    assert "has no attribute 'DigitSeq'" in text
    assert ("dataset 'not-callable' of plugin 'typo': target 'hyperzoo.core.registry:KINDS' is a tuple, "
            "not callable") in text
    assert "backend 'typo.op/fast' of plugin 'typo': supports 'hyperzoo.core.ops.rms_norm:supportz'" in text

    assert main(["plugins", "--check"]) == 2
    out, err = capsys.readouterr()
    assert "BAD" in out and "cannot import 'hyperzoo.core.baselinez'" in out
    assert [line for line in err.splitlines() if line.startswith("hyperzoo: error:")] == [
        "hyperzoo: error: 1 plugin(s) have problems: typo (each is listed above with what is wrong)"]
    assert main(["plugins", "--check", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert {p["name"]: p for p in doc["plugins"]}["typo"] == check.to_dict()


def test_plugins_check_passes_without_bad_targets(capsys):
    assert main(["plugins", "--check"]) == 0, capsys.readouterr()


def test_unknown_name_says_which_plugin_provides_it(monkeypatch):
    fake = {"ghost": {"distribution": "hyperzoo-ghost", "path": "plugins/ghost",
                      "provides": {"models": ["ghost-model"], "tasks": ["ghost-task"], "operators": ["ghost.op"]}}}
    monkeypatch.setattr(discovery, "catalogue", lambda: fake)
    with pytest.raises(core.RegistryError, match=r"unknown model 'ghost-model'.* The ghost plugin provides it and is "
                                                 r"not installed: pip install hyperzoo-ghost \(in a checkout: pip "
                                                 r"install ./plugins/ghost\)\.$"):
        core.create_model("ghost-model")
    with pytest.raises(core.RegistryError, match="The ghost plugin provides it and is not installed"):
        core.get_operator("ghost.op")
    monkeypatch.setitem(discovery._state.infos, "ghost",
                        PluginInfo("ghost", "0.2.0", "failed", error="ImportError: No module named 'ghostlib'"))
    with pytest.raises(core.RegistryError, match=r"unknown task 'ghost-task'.* The ghost plugin provides it; it is "
                                                 r"installed but failed: ImportError: No module named 'ghostlib'$"):
        core.get_task("ghost-task")
    with pytest.raises(core.RegistryError) as exc:  # a name nobody provides: the failed plugin is still named
        core.create_model("nobody-has-this")
    assert "Plugins that did not load (one may provide it): ghost (failed: ImportError" in str(exc.value)
    assert "uninstalled plugin may provide it" in str(exc.value)


def test_unknown_name_of_a_blocked_plugin(monkeypatch):
    fake = {"ghost": {"provides": {"models": ["ghost-model"]}}}
    monkeypatch.setattr(discovery, "catalogue", lambda: fake)
    monkeypatch.setitem(discovery._state.infos, "ghost", PluginInfo("ghost", None, "blocked",
                                                                    error="in HYPERZOO_DISABLE_PLUGINS"))
    with pytest.raises(core.RegistryError, match=r"provides it but is blocked \(in HYPERZOO_DISABLE_PLUGINS\)"):
        core.create_model("ghost-model")


def test_ops_pattern_that_matches_nothing_is_an_error(capsys):
    assert main(["ops", "nomatch*"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("hyperzoo: error: no operator matches 'nomatch*'; the ")
    assert "core.rms_norm" in err and len(err.strip().splitlines()) == 1
    assert main(["ops", "core.*"]) == 0 and "core.rms_norm" in capsys.readouterr().out


def test_core_run_without_out_dir_writes_nothing(tmp_path, monkeypatch):
    """docs/plugin-authors.md: without out_dir there is no run directory (and no checkpoint in the cwd)."""
    monkeypatch.chdir(tmp_path)
    result = core.run("digits-2d", "mlp", epochs=1, width=8, progress=False)
    assert result.run_dir is None and list(tmp_path.iterdir()) == []


def test_unknown_terminator_names_hyperkernels_with_the_real_catalogue():
    """A core + kde install asking for 'terminator' (issue 10): the catalogue knows hyperkernels provides it."""
    import os
    import subprocess
    import sys

    assert "terminator" in discovery.catalogue()["hyperkernels"]["provides"]["models"]
    code = ("from hyperzoo import core\nfrom hyperzoo.core import discovery\ncore.plugins()\n"
            "for phase in ('blocked', 'not installed'):\n"
            "    try:\n        core.create_model('terminator')\n"
            "    except core.RegistryError as exc:\n        print(exc)\n"
            "    discovery._state.infos.pop('hyperkernels', None)  # as if it were not installed at all\n")
    env = {**os.environ, "HYPERZOO_PLUGINS": "kde"}
    env.pop("HYPERZOO_DISABLE_PLUGINS", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    blocked, missing = proc.stdout.strip().splitlines()
    installed = "hyperkernels" in {p.name for p in core.plugins()}
    assert blocked.startswith("unknown model 'terminator'.") and blocked.endswith(
        "The hyperkernels plugin provides it but is blocked (not in HYPERZOO_PLUGINS)." if installed else missing)
    assert missing.endswith("The hyperkernels plugin provides it and is not installed: pip install "
                            "hyperzoo-hyperkernels (in a checkout: pip install ./plugins/hyperkernels).")
