"""The one hook a hyperzoo plugin implements.

A plugin is any module (or object) reachable through an entry point of group ``hyperzoo``::

    # plugins/<name>/pyproject.toml
    [project.entry-points.hyperzoo]
    <name> = "hyperzoo.<name>.plugin"

    # hyperzoo/<name>/plugin.py  -- registrations only: no math, no torch import at module level
    from hyperzoo import core

    @core.hookimpl
    def hyperzoo_register(registrar):
        registrar.operator("<name>.op", "hyperzoo.<name>.ops.op:op", doc="y = f(x)")
        registrar.model("<name>-net", "hyperzoo.<name>.models:net", fits=["sequence-classification"])

New kinds of registration are added as new ``registrar`` methods, never as new hooks.
"""

from __future__ import annotations

import pluggy

PROJECT = "hyperzoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def hyperzoo_register(registrar) -> None:
    """Register this plugin's operators, backends, models, tasks, data sets and optimisers.

    ``registrar`` is a :class:`hyperzoo.core.registry.Registrar`. Everything registered here is kept
    only if the whole call succeeds and no name collides with one already taken (all-or-nothing).
    """
