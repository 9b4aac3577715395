"""Plugin anatomy: lazy exports, registrations, listing without torch, py.typed."""

import subprocess
import sys
from pathlib import Path

import hyperzoo.kernels as kn
from hyperzoo import core

PKG = Path(kn.__path__[0])


def test_exports_are_lazy_and_resolve():
    assert kn.__getattr__.__module__ == "hyperzoo.core.lazy"
    submodules = {p.stem for p in PKG.glob("*.py")} | {p.name for p in PKG.iterdir() if p.is_dir()}
    assert not set(kn.__all__) & submodules
    for name in kn.__all__:
        assert getattr(kn, name) is not None, name
    assert (PKG / "py.typed").exists()


def test_operators_are_registered_with_their_references():
    names = core.operators("kernels.*")
    assert names == ["kernels.empirical_ntk", "kernels.gsmp", "kernels.nngp_ntk", "kernels.quantum_zz_kernel"]
    for name in names:
        short = name.split(".", 1)[1]
        assert core.get_operator(name)._entry.target == f"hyperzoo.kernels.ops.{short}:{short}"


def test_listing_and_importing_the_plugin_do_not_import_torch():
    code = ("import sys, hyperzoo.kernels, hyperzoo.kernels.plugin; dir(hyperzoo.kernels); "
            "from hyperzoo import core; core.models(); core.tasks(); core.operators(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
