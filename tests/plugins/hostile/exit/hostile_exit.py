"""Ends the process at import, as a script's stray ``sys.exit()`` would."""

raise SystemExit(3)
