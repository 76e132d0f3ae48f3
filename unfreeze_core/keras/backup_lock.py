"""The lock of a backup folder: one training run owns it at a time.

The lock is a file ``lock`` in the folder holding its owner as JSON: pid, host, the
time it was taken, the process's start time (so that a reused pid is not mistaken for
the owner) and a random token (so that only the holder removes it). It is written to a
temporary file, synced, then hard-linked into place, which fails if a lock exists: a
lock file is never seen half-written. A lock whose owner is a dead process on this host
is stale and may be taken over; one from another host cannot be checked and is never
taken over automatically. Takeovers on one host are serialized by ``flock`` on the
folder, so two processes cannot both take over the same stale lock.

This module only reads, writes and judges lock files; :mod:`.checkpoint` turns what it
finds into errors and warnings.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "LOCK_NAME",
    "Contended",
    "Held",
    "acquire",
    "Owner",
    "create",
    "describe",
    "myself",
    "read",
    "remove",
    "running",
    "take_over",
]

LOCK_NAME = "lock"


@attrs.frozen
class Owner:
    """Who holds a backup folder."""

    pid: int
    host: str
    started: str
    token: str
    process_start: int | None = None

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self))

    @property
    def is_this_process(self) -> bool:
        return self.host == socket.gethostname() and self.pid == os.getpid()


def myself() -> Owner:
    """An owner record for this process, with a fresh token."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Owner(
        os.getpid(), socket.gethostname(), now, uuid.uuid4().hex, _process_start(os.getpid())
    )


def describe(owner: Owner) -> str:
    """``process 123 on host 'h' (since 2026-01-01 10:00:00 UTC)``."""
    return f"process {owner.pid} on host {owner.host!r} (since {owner.started})"


def read(path: Path) -> Owner | str | None:
    """The owner in the lock file at ``path``; ``None`` when there is none; the raw text
    (shortened) when the file cannot be read as a lock."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        return Owner(
            int(data["pid"]),
            str(data["host"]),
            str(data["started"]),
            str(data["token"]),
            data.get("process_start"),
        )
    except (ValueError, KeyError, TypeError):
        text = raw[:40].decode("utf-8", "replace")
        return text + ("..." if len(raw) > 40 else "")


def running(owner: Owner) -> bool | None:
    """Whether the owner process is alive: ``None`` when it is on another host."""
    if owner.host != socket.gethostname():
        return None
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    stat = _stat(owner.pid)
    if stat is None:
        return True
    state, start = stat
    if state == "Z":  # killed, not yet reaped by its parent
        return False
    return owner.process_start is None or start == owner.process_start


class Held(Exception):
    """The lock belongs to a process that is running, or to one on another host."""

    def __init__(self, owner: Owner):
        super().__init__(describe(owner))
        self.owner = owner


class Contended(Exception):
    """The lock kept changing while this process tried to take it."""


def acquire(path: Path) -> tuple[Owner, str | None]:
    """Take the lock at ``path``: this process's owner record, and what to tell the user
    when a stale or unreadable lock was taken over. A lock left by this very process (a
    ``fit`` that ended with an exception) is taken over silently.

    Raises:
        Held: another running process (or one on another host) holds it.
        Contended: it kept changing (several processes starting at once).
    """
    me = myself()
    for _ in range(10):
        if create(path, me):
            return me, None
        seen = read(path)
        if seen is None:
            continue  # released meanwhile
        note = None
        if isinstance(seen, str):
            note = f"the lock file {path} was unreadable ({seen!r}); took it over"
        elif not seen.is_this_process:
            if running(seen) is not False:
                raise Held(seen)
            note = (
                f"took over the backup folder {path.parent} from {describe(seen)}, which "
                "is no longer running"
            )
        if take_over(path, seen, me):
            return me, note
    raise Contended(str(path))


def create(path: Path, owner: Owner) -> bool:
    """Write the lock if none exists; ``False`` when one does."""
    tmp = path.with_name(f".{LOCK_NAME}.{owner.token}.tmp")
    _write(tmp, owner)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def take_over(path: Path, seen: Owner | str, owner: Owner) -> bool:
    """Replace the lock if it still holds ``seen``; ``False`` when it changed meanwhile."""
    with _mutex(path.parent):
        if read(path) != seen:
            return False
        tmp = path.with_name(f".{LOCK_NAME}.{owner.token}.tmp")
        _write(tmp, owner)
        os.replace(tmp, path)
    return True


def remove(path: Path, token: str) -> None:
    """Remove the lock if ``token`` holds it."""
    found = read(path)
    if isinstance(found, Owner) and found.token == token:
        path.unlink(missing_ok=True)


def _write(path: Path, owner: Owner) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(owner.to_json())
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def _mutex(directory: Path) -> Iterator[None]:
    """``flock`` on the folder itself: no extra file to leave behind."""
    if sys.platform == "win32":  # pragma: no cover - no flock; takeovers are not serialized
        yield
        return
    import fcntl

    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _stat(pid: int) -> tuple[str, int] | None:
    """State letter and start time (clock ticks after boot) of ``pid``, on Linux."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields: list[Any] = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[19])


def _process_start(pid: int) -> int | None:
    stat = _stat(pid)
    return None if stat is None else stat[1]
