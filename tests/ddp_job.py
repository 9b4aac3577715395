"""A deterministic core.run for tests/test_ddp.py: run it plainly or under torchrun; rank 0 writes RESULT."""

import json
import sys
import types

import torch

from hyperzoo import core


class Blobs(core.ClassificationTask):
    """Four Gaussian blobs in 8-D: 512 train / 128 val / 128 test (sizes divisible by the global batch)."""

    kind = "sequence-classification"

    def load(self):
        g = torch.Generator().manual_seed(0)
        centres = torch.randn(4, 1, 8, generator=g) * 2
        y = torch.arange(768) % 4
        x = centres[y] + torch.randn(768, 1, 8, generator=g)
        return {"train": (x[:512], y[:512]), "val": (x[512:640], y[512:640]), "test": (x[640:], y[640:])}


plugin = types.ModuleType("ddp_blobs")
plugin.hyperzoo_register = core.hookimpl(lambda registrar: registrar.task("blobs", Blobs, kind=Blobs.kind))
core.register_plugin(plugin, "ddp_blobs")

result_path, out_dir = sys.argv[1], sys.argv[2]
r = core.run("blobs", "mlp", width=32, depth=2, dropout=0.0, epochs=4, batch_size=64, lr=1e-2, seed=3,
             out_dir=out_dir, progress=False)
if torch.distributed.is_available() and int(__import__("os").environ.get("RANK", "0")) == 0:
    state = {k: v.tolist() for k, v in r.model.state_dict().items()}
    with open(result_path, "w") as fh:
        json.dump({"metrics": r.metrics, "history": r.history, "state": state}, fh)
