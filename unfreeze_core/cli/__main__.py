"""``python -m unfreeze_core.cli``: the same as the ``unfreeze`` command."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    main(prog_name="unfreeze")
