"""Plugins that ship with unfreeze-core and register its built-ins."""

from . import builtins

#: The plugins every host registers first, before any installed plugin.
DEFAULT_PLUGINS = (builtins,)
