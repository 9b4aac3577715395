"""Plugin anatomy (DESIGN.md): one module per layer family, backends beside their operators in ops/<op>_<backend>.py,
shared helpers from core instead of copies, lazy package exports, no tasks (and the docs say so)."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import hyperzoo.hyperkernels as hk
from hyperzoo import core
from hyperzoo.core import fft, validate

ROOT = Path(__file__).resolve().parents[3]
PKG = Path(hk.__path__[0])

FAMILIES = {
    "slowfast": ["SlowNet", "HyperZZW", "GroupIBS", "TerminatorBlock"],
    "butterfly": ["LongConv", "squash", "smooth"],
    "inception": ["InceptionDWConv2d"],
    "reparam": ["DilatedReparamConv", "dilate_kernel"],
    "oneway": ["OneWayConv1d", "OneWayConv2d"],
    "phnn": ["PHConv1d", "PHConv2d"],
}


def test_each_paper_family_has_its_own_module_and_layers_gathers_them():
    layers = importlib.import_module("hyperzoo.hyperkernels.layers")
    for module, names in FAMILIES.items():
        for name in names:
            obj = getattr(hk, name)
            assert obj.__module__ == f"hyperzoo.hyperkernels.{module}", name
            assert getattr(layers, name) is obj, name
    # layers.py defines nothing itself: it only gathers the families
    assert not [n for n, v in vars(layers).items() if getattr(v, "__module__", None) == layers.__name__]


def test_exports_are_lazy_and_not_shadowed_by_submodules():
    assert hk.__getattr__.__module__ == "hyperzoo.core.lazy"
    submodules = {p.stem for p in PKG.glob("*.py")} | {p.name for p in PKG.iterdir() if p.is_dir()}
    assert not set(hk.__all__) & submodules  # importing a submodule would replace the export of that name
    for name in hk.__all__:
        assert getattr(hk, name) is not None, name


def test_backends_live_beside_their_operator():
    """``registrar.backend(op, name, ...)`` targets ``hyperzoo.hyperkernels.ops.<op>_<name>``."""
    names = core.operators("hyperkernels.*")
    assert names == ["hyperkernels.dwconv", "hyperkernels.fftconv", "hyperkernels.hyperzzw"]
    for name in names:
        op = core.get_operator(name)
        short = name.split(".", 1)[1]
        assert op._entry.target == f"hyperzoo.hyperkernels.ops.{short}:{short}"
        for backend in op.backends.values():
            module = f"hyperzoo.hyperkernels.ops.{short}_{backend.name}"
            assert backend._entry.target == f"{module}:{short}", (name, backend.name)
            assert (PKG / "ops" / f"{short}_{backend.name}.py").exists()
    assert core.get_operator("hyperkernels.hyperzzw").backends["triton"]._entry.target.startswith(
        "hyperzoo.hyperkernels.ops.hyperzzw_triton:")


def test_duplicated_helpers_come_from_core():
    fftconv_mod = importlib.import_module("hyperzoo.hyperkernels.ops.fftconv")
    models = importlib.import_module("hyperzoo.hyperkernels.models")
    assert fftconv_mod.next_fast_len is fft.next_fast_len and not hasattr(fftconv_mod, "_fast_size")
    assert models._positive is validate.positive_int and models._fraction is validate.fraction
    with pytest.raises(ValueError, match="width must be a positive int, got 0"):
        core.create_model("terminator", in_channels=1, num_classes=2, seq_len=16, width=0)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        core.create_model("longconv", in_channels=1, num_classes=2, seq_len=16, dropout=1.0)


def test_the_plugin_registers_no_tasks_and_its_docs_say_so():
    assert not (PKG / "tasks.py").exists()
    assert [t for t in core.tasks() if core._registry().get("task", t).plugin == "hyperkernels"] == []
    text = (ROOT / "docs" / "plugins" / "hyperkernels.md").read_text()
    assert "registers no tasks" in text
    assert (PKG / "py.typed").exists()


def test_the_plugin_modules_do_not_import_torch_at_import_time():
    code = ("import sys, hyperzoo.hyperkernels, hyperzoo.hyperkernels.plugin; dir(hyperzoo.hyperkernels); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
