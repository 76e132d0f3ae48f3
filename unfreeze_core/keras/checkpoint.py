"""The driver's backup: resume a killed run at the same stage with the full optimizer state.

Keras' ``BackupAndRestore`` saves weights and the epoch, but not the schedule's state
(stage, policy counters, best value), and it restores in its own ``on_train_begin``,
which may run before or after the driver's. So ``ProgressiveUnfreezing(backup_dir=...)``
does the whole job itself. At every epoch end it writes one checkpoint folder
``epoch-NNNNN`` holding

- ``model.weights.h5``: model weights and *every* optimizer variable (moments of
  frozen groups included, ``iterations``);
- ``state.json``: the schedule state (:meth:`~unfreeze_core.ScheduleState.to_dict`),
  the epochs completed, the group names, the shapes of the model's variables, the size
  and SHA-256 of the weights file, and a format version,

and then switches the pointer file ``latest`` to it. The write is durable, in the
order SQLite and etcd use: the files are written into a temporary folder and fsynced,
the folder is fsynced and renamed into place, the backup folder is fsynced, and only
then is ``latest`` replaced (a temporary pointer, fsynced, renamed, folder fsynced).
The previous checkpoint is removed only after that. A process killed, or a machine
losing power, at any moment leaves the previous checkpoint or the new one, never half
of one; ``docs/failures.md`` walks through each step.

Reading trusts nothing: a damaged pointer, state or weights file makes the run fall
back to the newest intact checkpoint (with a warning), or stop with a
:class:`BackupError` that names the folder, the damage and what to do. A ``lock`` file
(:mod:`.backup_lock`) keeps two runs from sharing a folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
import weakref
from pathlib import Path
from typing import Any

import attrs

from ..errors import BackupError, UnfreezeWarning
from ..schedule_state import ScheduleState
from . import backup_files as files
from . import backup_lock

__all__ = ["Backup", "BackupError", "Checkpoint"]


@attrs.frozen
class Checkpoint:
    """What a checkpoint gives back (its weights are already in the model)."""

    folder: Path
    epochs_done: int
    state: ScheduleState
    timeline: tuple[tuple[int, int], ...]


def _step_done(step: str) -> None:
    """A seam between the steps of a checkpoint write; does nothing. The fault-injection
    test (``tests/keras/test_backup_kill.py``) replaces it to stop a process exactly
    there, as etcd's failpoints do."""


class Backup:
    """Checkpoints of one run in ``directory`` (created when the run takes its lock)."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)
        self._release: weakref.finalize | None = None
        self._created = False

    @property
    def lock_file(self) -> Path:
        return self.directory / backup_lock.LOCK_NAME

    def _tail(self) -> str:
        return f"Delete {self.directory} to start afresh, or point backup_dir elsewhere"

    # --- the lock -----------------------------------------------------------------------

    def acquire(self) -> None:
        """Own the folder for this run (it is created if missing).

        A lock left by this process (a ``fit`` that ended with an exception) is reused.

        Raises:
            BackupError: another running process owns the folder.

        Warns:
            UnfreezeWarning: a lock left by a process that is no longer running (on this
                host), or an unreadable lock file, was taken over.
        """
        if self._release is not None:
            return
        try:
            self._created = self._make_dir()
            me, note = backup_lock.acquire(self.lock_file)
        except backup_lock.Held as held:
            raise BackupError(self._held(held.owner)) from None
        except backup_lock.Contended:
            raise BackupError(
                f"could not lock the backup folder {self.directory}: its lock file keeps "
                "changing (several runs starting on one folder?). Give each run its own "
                "backup_dir"
            ) from None
        except OSError as exc:
            raise BackupError(
                f"cannot use the backup folder {self.directory}: {type(exc).__name__}: "
                f"{exc}. Point backup_dir at a folder this process can write"
            ) from exc
        if note:
            warnings.warn(f"ProgressiveUnfreezing: {note}", UnfreezeWarning, stacklevel=3)
        self._release = weakref.finalize(self, backup_lock.remove, self.lock_file, me.token)

    def _make_dir(self) -> bool:
        """Create the folder if missing, durably (its entry in the parent fsynced)."""
        if self.directory.is_dir():
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        files.fsync_dir(self.directory.parent)
        return True

    def _held(self, owner: backup_lock.Owner) -> str:
        return (
            f"the backup folder {self.directory} is in use by {backup_lock.describe(owner)}: "
            "two runs must not share a backup_dir. Stop the other run, or give this one "
            "its own backup_dir (with several training processes, one per process, e.g. "
            f'f"backup/{{process_index}}"). If that process is not running, delete '
            f"{self.lock_file}"
        )

    def release(self) -> None:
        """Give up the lock (at train end, or when ``fit`` fails); idempotent."""
        if self._release is not None:
            self._release()
            self._release = None
            if self._created:
                with contextlib.suppress(OSError):
                    self.directory.rmdir()  # only if the lock was all this run wrote

    # --- writing ------------------------------------------------------------------------

    def save(self, model: Any, payload: dict[str, Any], *, epochs_done: int) -> Path:
        """Write a checkpoint after ``epochs_done`` epochs, durably, and make it the latest.

        Raises:
            BackupError: the checkpoint could not be written (a full disk...); the
                previous one is left intact.
        """
        d = self.directory
        self._make_dir()
        previous = self._pointer_target()
        files.clear_debris(d)
        name = self._free_name(epochs_done)
        tmp, folder, pointer_tmp = d / f".{name}.tmp", d / name, d / f".{files.POINTER}.tmp"
        try:
            tmp.mkdir()
            weights = tmp / files.WEIGHTS
            model.save_weights(str(weights))
            _step_done("weights-written")
            files.fsync_file(weights)
            _step_done("weights-synced")
            data = {
                "format": files.FORMAT,
                "epochs_done": epochs_done,
                "weights": {"bytes": weights.stat().st_size, "sha256": files.digest(weights)},
                "shapes": files.shapes(model),
                **payload,
            }
            files.write_durably(tmp / files.STATE, json.dumps(data, indent=1).encode())
            _step_done("state-written")
            files.fsync_dir(tmp)
            _step_done("folder-synced")
            os.rename(tmp, folder)
            _step_done("renamed")
            files.fsync_dir(d)
            _step_done("renamed-synced")
            files.write_durably(pointer_tmp, name.encode())  # no newline, as before
            _step_done("pointer-written")
            os.replace(pointer_tmp, d / files.POINTER)
            _step_done("pointer-switched")
            files.fsync_dir(d)
            _step_done("pointer-synced")
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            pointer_tmp.unlink(missing_ok=True)
            if previous is not None:
                kept = (
                    f"The previous checkpoint ({previous.name}) is intact: free some space "
                    "(or point backup_dir elsewhere) and run the same script again to "
                    "resume from it"
                )
            else:
                kept = "No earlier checkpoint exists; free some space or point backup_dir elsewhere"
            raise BackupError(
                f"could not write the checkpoint after epoch {epochs_done} in {d}: "
                f"{type(exc).__name__}: {exc}. {kept}"
            ) from exc
        for old in self._folders():
            if old.name != name:  # superseded by the durable checkpoint just written
                files.remove_tree(old)
                _step_done("old-removed")
        return folder

    def _free_name(self, epochs_done: int) -> str:
        base = f"epoch-{epochs_done:05d}"
        name, k = base, 1
        while (self.directory / name).exists():
            k += 1
            name = f"{base}-{k}"
        return name

    def delete(self) -> None:
        """Remove every checkpoint and the lock (after a run that completed); the folder
        too when nothing else is in it. The pointer goes first: a crash meanwhile leaves
        intact checkpoints without a pointer, which the next run still reads."""
        d = self.directory
        if d.is_dir():
            (d / files.POINTER).unlink(missing_ok=True)
            for folder in self._folders():
                files.remove_tree(folder)
            files.clear_debris(d)
            for stray in d.glob(f".{backup_lock.LOCK_NAME}.*.tmp"):  # a lock write cut short
                stray.unlink(missing_ok=True)
        self.release()
        with contextlib.suppress(OSError):
            d.rmdir()

    # --- reading ------------------------------------------------------------------------

    def _folders(self) -> list[Path]:
        """Checkpoint folders, newest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for entry in self.directory.iterdir():
            m = files.NAME.fullmatch(entry.name)
            if m and entry.is_dir():
                found.append(((int(m[1]), int(m[2] or 1)), entry))
        return [entry for _, entry in sorted(found, reverse=True)]

    def _read_pointer(self) -> tuple[Path | None, str | None]:
        """The folder ``latest`` names, or what is wrong with it (both ``None``: no pointer)."""
        try:
            raw = (self.directory / files.POINTER).read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"cannot be read ({exc})"
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return None, "is empty"
        if not files.NAME.fullmatch(text):
            shown = text[:40] + ("..." if len(text) > 40 else "")
            return None, f"does not name a checkpoint folder (it holds {shown!r})"
        folder = self.directory / text
        if not folder.is_dir():
            return None, f"names {text}, which does not exist"
        return folder, None

    def _pointer_target(self) -> Path | None:
        return self._read_pointer()[0]

    def restore(self, model: Any, groups: list[str]) -> Checkpoint | None:
        """Load the newest intact checkpoint into ``model``; ``None`` when there is none.

        The checkpoint ``latest`` names comes first; when it is damaged, or ``latest``
        is, the newest intact one is used and an :class:`UnfreezeWarning` says so.

        Raises:
            BackupError: checkpoints exist but none is intact, or they were written for
                another model (other groups, other variable shapes).
        """
        target, pointer_problem = self._read_pointer()
        folders = self._folders()
        if target is None and pointer_problem is None and not folders:
            return None
        pointer = self.directory / files.POINTER
        problems = [f"{pointer} {pointer_problem}"] if pointer_problem else []
        for folder in [*([target] if target else []), *[f for f in folders if f != target]]:
            try:
                data, state = files.read_checkpoint(folder)
                self._check_model(folder, data, model, groups)
                self._load(folder, model)
            except files.Damaged as exc:
                problems.append(
                    f"{folder.name}: {exc}"
                    if folder != target
                    else f"{pointer} names {folder.name}, which is damaged: {exc}"
                )
                continue
            epochs = int(data["epochs_done"])
            if problems:
                warnings.warn(
                    f"ProgressiveUnfreezing: resuming from {folder} (after epoch {epochs}), "
                    f"the newest intact checkpoint: {'; '.join(problems)}. The damaged "
                    "files are removed at the next save",
                    UnfreezeWarning,
                    stacklevel=3,
                )
            timeline = tuple((int(e), int(s)) for e, s in data.get("timeline", []))
            return Checkpoint(folder, epochs, state, timeline)
        raise BackupError(
            f"cannot resume from the backup in {self.directory}: it holds no intact "
            f"checkpoint ({'; '.join(problems)}). {self._tail()}"
        )

    def _check_model(
        self, folder: Path, data: dict[str, Any], model: Any, groups: list[str]
    ) -> None:
        """Refuse a checkpoint of another model (no fallback: older ones are of it too)."""
        problem = files.mismatch(data, model, groups)
        if problem is not None:
            raise BackupError(self._other(folder, problem))

    def _other(self, folder: Path, problem: str) -> str:
        return (
            f"the backup in {self.directory} ({folder.name}) was written {problem}. Build "
            f"the model, optimizer and schedule it was written for, or: {self._tail()}"
        )

    def _load(self, folder: Path, model: Any) -> None:
        """Load the weights; refuse a backup of another optimizer, which Keras would only
        warn about before resuming with a fresh optimizer state."""
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            try:
                model.load_weights(str(folder / files.WEIGHTS))
            except Exception as exc:
                raise files.Damaged(
                    f"{files.WEIGHTS} cannot be loaded ({type(exc).__name__}: {exc})"
                ) from None
        for w in said:
            if "Skipping variable loading for optimizer" in str(w.message):
                raise BackupError(self._other(folder, f"with another optimizer ({w.message})"))
        for w in said:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
