"""Fixtures for core's tests: throwaway plugins registered in this process (the programmatic twin of an
entry point; tests/test_third_party.py covers real entry points in a fresh virtual environment)."""

import types

import pytest

from hyperzoo import core


@pytest.fixture
def register():
    """register(name, hook) -> PluginInfo; every plugin registered this way is removed after the test."""
    names = []

    def _register(name, hook):
        plugin = types.ModuleType(f"throwaway_{name}")
        plugin.hyperzoo_register = core.hookimpl(hook)
        names.append(name)
        return core.register_plugin(plugin, name)

    yield _register
    for name in names:
        try:
            core.unregister_plugin(name)
        except core.RegistryError:
            pass
