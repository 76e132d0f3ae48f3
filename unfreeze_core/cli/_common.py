"""What the subcommands share: exit statuses, error reporting, loading a schedule.

Exit statuses: 0 ok, 1 the run failed, 2 bad input (click's own usage errors are 2 too).
Bad input is reported as one paragraph, never a traceback; an unexpected failure names
the exception and says how to see the traceback (``UNFREEZE_DEBUG=1``).
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from ..errors import ConfigError, UnfreezeError
from ..loading import load_schedule
from ..replay import watched_metrics
from ..schedule import Schedule

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_OK",
    "BadInput",
    "RunFailed",
    "describe_component",
    "describe_schedule",
    "guarded",
    "import_keras",
    "make_console",
    "load_schedule_file",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

DEBUG_ENV = "UNFREEZE_DEBUG"

F = TypeVar("F", bound=Callable[..., Any])


class BadInput(click.ClickException):
    """Bad input: exit status 2, the message printed as ``Error: ...``."""

    exit_code = EXIT_BAD_INPUT


class RunFailed(click.ClickException):
    """The run itself failed: exit status 1."""

    exit_code = EXIT_FAILED


_TF_NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
)


def import_keras() -> Any:
    """Import Keras (TensorFlow backend) without TensorFlow's start-up chatter.

    TensorFlow 2.21 prints two INFO lines from C++ at import and at the first operation
    whatever ``TF_CPP_MIN_LOG_LEVEL`` says (an absl logging quirk). Both happen while
    standard error is held here; those lines are dropped and anything else it printed is
    passed on.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" in sys.modules:
        return sys.modules["keras"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            # Keras (and TensorFlow) load only here, for the commands that need them
            import keras

            keras.ops.convert_to_numpy(keras.ops.zeros((1,)))
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", errors="replace")
            rest = [line for line in text.splitlines() if not any(n in line for n in _TF_NOISE)]
            if rest:
                sys.stderr.write("\n".join(rest) + "\n")
    return keras


def make_console(*, stderr: bool = False) -> Console:
    """A rich console; 120 columns when the output is not a terminal (files, pipes, tests)
    unless ``COLUMNS`` says otherwise, so tables are not squeezed to 80."""
    console = Console(highlight=False, stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120
    return console


def config_message(exc: ConfigError, what: str = "") -> str:
    """Every problem of ``exc``, one per line, under a heading naming ``what``."""
    where = exc.source or what
    problems = [str(p) for p in exc.problems]
    head = f"{where}: " if where else ""
    if len(problems) == 1:
        text = head + problems[0]
    else:
        text = f"{head}{len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems)
    if any("unknown" in p and " type " in p for p in problems) and "unfreeze plugins" not in text:
        text += "\nRun 'unfreeze plugins' to see the installed policies, rules and groupings."
    return text


def guarded(func: F) -> F:
    """Turn the package's errors into exit statuses: bad input 2, anything else 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except (click.exceptions.Exit, click.exceptions.Abort, SystemExit, KeyboardInterrupt):
            raise
        except ConfigError as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise BadInput(config_message(exc)) from None
        except UnfreezeError as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise BadInput(str(exc)) from None
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise RunFailed(
                f"the run failed: {type(exc).__name__}: {exc}\n"
                f"(set {DEBUG_ENV}=1 to see the traceback)"
            ) from None

    return wrapper  # type: ignore[return-value]


def load_schedule_file(path: str | Path) -> Schedule:
    """:func:`~unfreeze_core.load_schedule` on a file, bad input turned into :class:`BadInput`."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path}: no such file; give a schedule as a .toml or .json file")
    if path.is_dir():
        raise BadInput(f"{path} is a folder; give a schedule as a .toml or .json file")
    try:
        return load_schedule(path)
    except ConfigError as exc:
        raise BadInput(config_message(exc, str(path))) from None


def describe_component(data: Any) -> str:
    """A config entry as one short expression: ``plateau(patience=2)``.

    Example:
        >>> describe_component({"type": "plateau", "patience": 2})
        'plateau(patience=2)'
        >>> describe_component({"any_of": [{"type": "fixed_epoch", "every": 3}]})
        'any_of(fixed_epoch(every=3))'
    """
    if isinstance(data, Mapping):
        if "type" in data:
            args = ", ".join(f"{k}={describe_component(v)}" for k, v in data.items() if k != "type")
            return f"{data['type']}({args})"
        if len(data) == 1:
            ((name, children),) = data.items()
            if isinstance(children, list):
                return f"{name}({', '.join(describe_component(c) for c in children)})"
        return "{" + ", ".join(f"{k}: {describe_component(v)}" for k, v in data.items()) + "}"
    if isinstance(data, list):
        return "[" + ", ".join(describe_component(v) for v in data) + "]"
    if isinstance(data, str):
        return repr(data)
    return str(data)


def describe_schedule(schedule: Schedule) -> list[str]:
    """A few lines saying what ``schedule`` does, from its config."""
    config = schedule.to_config()
    lines = [f"policy: {describe_component(config['policy'])}"]
    monitors = watched_metrics(schedule)
    if monitors:
        lines[0] += f"  [watches {', '.join(monitors)}]"
    rules = config.get("rules", [])
    lines.append(
        "rules:  " + (", ".join(describe_component(r) for r in rules) if rules else "(none: every "
                      "trainable group learns at the optimizer's rate)")
    )
    defaults = {"initial": 1, "advance_by": 1, "final": "continue", "groups": "auto",
                "batchnorm": "frozen", "monitor": None, "mode": "auto"}
    options = [
        f"{k}={describe_component(config.get(k, v))}"
        for k, v in defaults.items()
        if v is not None or k in config
    ]
    lines.append("options: " + ", ".join(options))
    return lines
