"""Plugins that ship with unfreeze-core and register its built-ins."""

DEFAULT_PLUGINS = ("unfreeze_core.default_plugins.builtins",)
