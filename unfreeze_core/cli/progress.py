"""Progress for the long commands: bars on a terminal, plain lines elsewhere.

On a terminal, :meth:`Reporter.task` shows a rich progress bar with a counter, the time
spent and an estimate of the time left; lines printed meanwhile go above it, and the bar
disappears when the work is done (the command then prints what came of it). Elsewhere
(CI logs, pipes, files) it prints one plain line when the work starts, never control
characters.

:func:`process_seconds` is the time the user has waited: since the process started,
imports included. :func:`finish` ends a command that loaded TensorFlow without waiting
for its slow teardown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["Reporter", "Task", "finish", "process_seconds"]

_IMPORTED = time.monotonic()


def process_seconds() -> float:
    """Seconds since this process started (read from ``/proc`` on Linux; elsewhere since
    this module was imported, which misses the interpreter's start, about 0.1-0.5 s).

    Example:
        >>> 0 < process_seconds() < 24 * 3600
        True
    """
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        # fields after the command name, which is in parentheses and may hold spaces
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - _IMPORTED


class Task:
    """One piece of work in progress: :meth:`advance` after each unit of it."""

    def __init__(self, progress: Progress | None, task: TaskID | None):
        self._progress = progress
        self._task = task

    def advance(self, units: int = 1, *, description: str | None = None) -> None:
        """Count ``units`` more done; optionally change the description."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=units, description=description)

    def describe(self, description: str) -> None:
        """Change the description (what is being done right now)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=description)


class Reporter:
    """Progress on ``console``: bars when it is a terminal, plain lines otherwise.

    Args:
        console: where to print.
        live: force bars on (``True``) or off (``False``); default: the console is an
            interactive terminal.
    """

    def __init__(self, console: Console, *, live: bool | None = None):
        self.console = console
        self.live = (console.is_terminal and not console.is_dumb_terminal
                     if live is None else live)

    @contextmanager
    def task(
        self, description: str, total: int | None = None, unit: str = "", *, announce: bool = True
    ) -> Iterator[Task]:
        """Show progress of ``description`` while the block runs.

        ``total`` units (``None``: unknown, a spinner and the time spent). Without a
        terminal, prints ``description...`` once (unless ``announce`` is false: the block
        prints lines of its own as it goes).
        """
        if not self.live:
            if not announce:
                yield Task(None, None)
                return
            count = f" ({total} {unit})" if total is not None and unit else ""
            self.console.print(f"{description}{count}...", soft_wrap=True, highlight=False)
            yield Task(None, None)
            return
        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(bar_width=16), MofNCompleteColumn(), TextColumn(unit),
                        TextColumn("[dim]ETA[/]"), TimeRemainingColumn()]
        else:
            columns += [TimeElapsedColumn()]
        with Progress(*columns, console=self.console, transient=True) as progress:
            yield Task(progress, progress.add_task(description, total=total))


def finish(code: int = 0) -> None:
    """Flush everything and end the process now, when it is the ``unfreeze`` program.

    After TensorFlow has loaded, the interpreter's own teardown takes 2-5 s (in
    TensorFlow's C++ destructors) after the last line is printed: a silent wait with
    nothing left to do, since every file is written and closed. Elsewhere (the command
    called from Python, or from click's test runner) this returns and nothing ends.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    program = Path(getattr(main, "__file__", "") or "").name
    if program not in ("unfreeze", "unfreeze.exe") and getattr(spec, "name", "") != (
        "unfreeze_core.cli.__main__"
    ):
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to say there
            stream.flush()
    os._exit(code)
