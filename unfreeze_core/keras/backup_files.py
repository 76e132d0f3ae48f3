"""The files of a backup folder: reading a checkpoint with every check, durable writes.

Used by :class:`~.checkpoint.Backup`; see its module for the layout and the order of
the writes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..schedule_state import ScheduleState

__all__ = [
    "FORMAT",
    "NAME",
    "POINTER",
    "READS",
    "STATE",
    "WEIGHTS",
    "Damaged",
    "clear_debris",
    "digest",
    "fsync_dir",
    "fsync_file",
    "mismatch",
    "read_checkpoint",
    "remove_tree",
    "shapes",
    "write_durably",
]

FORMAT = 2
READS = (1, 2)  # format 1 (no checksum, no shapes) is still read
WEIGHTS = "model.weights.h5"
STATE = "state.json"
POINTER = "latest"
NAME = re.compile(r"epoch-(\d+)(?:-(\d+))?")


class Damaged(Exception):
    """One checkpoint folder cannot be used; the message says why."""


def read_checkpoint(folder: Path) -> tuple[dict[str, Any], ScheduleState]:
    """The checked contents of one checkpoint folder (its weights are not loaded)."""
    try:
        raw = (folder / STATE).read_bytes()
    except FileNotFoundError:
        raise Damaged(f"{STATE} is missing") from None
    except OSError as exc:
        raise Damaged(f"{STATE} cannot be read ({exc})") from None
    if not raw.strip():
        raise Damaged(f"{STATE} is empty")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise Damaged(f"{STATE} is not valid JSON, truncated or overwritten ({exc})") from None
    if not isinstance(data, dict) or data.get("format") not in READS:
        fmt = data.get("format") if isinstance(data, dict) else None
        raise Damaged(
            f"{STATE} is not a checkpoint this version reads (format {fmt!r}; it reads "
            f"{' and '.join(map(str, READS))})"
        )
    epochs, groups = data.get("epochs_done"), data.get("groups")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise Damaged(f"{STATE} has no valid 'epochs_done' (got {epochs!r})")
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise Damaged(f"{STATE} has no valid 'groups' (got {groups!r:.60})")
    timeline = data.get("timeline", [])
    if not isinstance(timeline, list) or not all(
        isinstance(t, list) and len(t) == 2 and all(isinstance(x, int) for x in t) for t in timeline
    ):
        raise Damaged(f"{STATE} has no valid 'timeline'")
    try:
        saved: Any = data.get("state")
        state = ScheduleState.from_dict(saved)
    except ConfigError as exc:
        raise Damaged(f"{STATE} holds no valid schedule state ({exc})") from None
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise Damaged(f"{WEIGHTS} is missing")
    if data["format"] >= 2:
        info, shapes = data.get("weights"), data.get("shapes")
        if not (
            isinstance(info, dict)
            and isinstance(info.get("bytes"), int)
            and isinstance(info.get("sha256"), str)
        ):
            raise Damaged(f"{STATE} has no valid 'weights' record")
        if not isinstance(shapes, list) or not all(
            isinstance(s, list) and len(s) == 2 and isinstance(s[1], list) for s in shapes
        ):
            raise Damaged(f"{STATE} has no valid 'shapes'")
        size = weights.stat().st_size
        if size != info["bytes"]:
            raise Damaged(
                f"{WEIGHTS} has {size} bytes where {info['bytes']} were written "
                "(truncated or overwritten)"
            )
        if digest(weights) != info["sha256"]:
            raise Damaged(f"{WEIGHTS} does not match its SHA-256 (damaged)")
    return data, state


def mismatch(data: dict[str, Any], model: Any, groups: list[str]) -> str | None:
    """How a checked checkpoint's model differs from ``model``: ``"for groups ..."``."""
    if data["groups"] != groups:
        return f"for groups {data['groups']}, but this model and schedule give {groups}"
    saved = data.get("shapes")
    if saved is None:  # format 1
        return None
    current = shapes(model)
    if len(saved) != len(current):
        return (
            f"for another model: it holds {len(saved)} model variables, this model "
            f"has {len(current)}"
        )
    for (_, shape), (path, mine) in zip(saved, current, strict=True):
        if list(shape) != list(mine):
            return (
                f"for a model of another shape: {path} is {tuple(mine)} in this model "
                f"and {tuple(shape)} in the backup"
            )
    return None


def shapes(model: Any) -> list[list[Any]]:
    return [[str(v.path), [int(n) for n in v.shape]] for v in model.weights]


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_durably(path: Path, data: bytes) -> None:
    """Write, flush and fsync one file."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename, a new file) durable. Windows cannot; some
    network and FUSE filesystems refuse (EINVAL), and are then as durable as they are."""
    if os.name == "nt":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def is_debris(name: str) -> bool:
    return name == f".{POINTER}.tmp" or (name.startswith(".epoch-") and name.endswith(".tmp"))


def clear_debris(directory: Path) -> None:
    """Remove what an interrupted save left (temporary folders and pointer)."""
    for entry in directory.iterdir():
        if is_debris(entry.name):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def remove_tree(folder: Path) -> None:
    """Rename out of sight first, so that a crash mid-removal leaves only debris."""
    doomed = folder.with_name(f".{folder.name}.del.tmp")
    try:
        os.rename(folder, doomed)
    except OSError:
        return
    shutil.rmtree(doomed, ignore_errors=True)
