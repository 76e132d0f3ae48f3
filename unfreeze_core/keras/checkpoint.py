"""The driver's backup: resume a killed run at the same stage with the full optimizer state.

Keras' ``BackupAndRestore`` saves weights and the epoch, but not the schedule's state
(stage, policy counters, best value), and it restores in its own ``on_train_begin``,
which may run before or after the driver's. So ``ProgressiveUnfreezing(backup_dir=...)``
does the whole job itself: at every epoch end it writes one checkpoint folder holding

- ``model.weights.h5``: model weights and *every* optimizer variable (moments of
  frozen groups included, ``iterations``);
- ``state.json``: the schedule state (:meth:`~unfreeze_core.ScheduleState.to_dict`),
  the epochs completed, the group names, and a format version,

then points ``latest`` at it with an atomic rename, so a process killed at any moment
leaves either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["Backup"]

FORMAT = 1


class Backup:
    """Checkpoints of one run in ``directory`` (created on first save)."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)

    @property
    def _pointer(self) -> Path:
        return self.directory / "latest"

    def latest(self) -> Path | None:
        """The folder of the newest complete checkpoint, or ``None``."""
        try:
            name = self._pointer.read_text().strip()
        except FileNotFoundError:
            return None
        folder = self.directory / name
        return folder if (folder / "state.json").exists() else None

    def save(self, model: Any, payload: dict[str, Any], *, epochs_done: int) -> Path:
        """Write a checkpoint after ``epochs_done`` epochs and make it the latest."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{epochs_done:05d}"
        folder = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        model.save_weights(str(tmp / "model.weights.h5"))
        data = {"format": FORMAT, "epochs_done": epochs_done, **payload}
        (tmp / "state.json").write_text(json.dumps(data, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        pointer_tmp = self.directory / ".latest.tmp"
        pointer_tmp.write_text(name)
        os.replace(pointer_tmp, self._pointer)
        for old in self.directory.glob("epoch-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        return folder

    def load(self) -> tuple[dict[str, Any], Path] | None:
        """The latest checkpoint's data and its weights file, or ``None`` when there is none.

        Raises:
            ValueError: the checkpoint was written by an incompatible version.
        """
        folder = self.latest()
        if folder is None:
            return None
        data = json.loads((folder / "state.json").read_text())
        if data.get("format") != FORMAT:
            raise ValueError(
                f"{folder / 'state.json'}: checkpoint format {data.get('format')!r}, this "
                f"version reads {FORMAT}; delete {self.directory} to start afresh"
            )
        return data, folder / "model.weights.h5"

    def delete(self) -> None:
        """Remove every checkpoint (after a run that completed)."""
        shutil.rmtree(self.directory, ignore_errors=True)
