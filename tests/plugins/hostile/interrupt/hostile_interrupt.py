"""Stands for a user pressing Ctrl-C while plugins load: that must still stop the process."""

raise KeyboardInterrupt
