"""The driver's backup under damage: every corruption kind, a foreign owner, a full disk.

Most tests drive :class:`Backup` directly on a small built model (fast); a few run
``fit`` with ``ProgressiveUnfreezing(backup_dir=...)`` end to end. The kill loop is in
``test_backup_kill.py``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from unfreeze_core import FixedEpoch, Schedule
from unfreeze_core.errors import UnfreezeWarning
from unfreeze_core.keras import ProgressiveUnfreezing, backup_lock
from unfreeze_core.keras import backup_files as files
from unfreeze_core.keras.checkpoint import Backup, BackupError

from .helpers import data, mlp, snapshot

pytestmark = pytest.mark.keras

GROUPS = ["l0", "l1", "head"]
SCHEDULE = Schedule(FixedEpoch(at=[1, 2]))


def _payload(epochs_done: int) -> dict[str, Any]:
    state = SCHEDULE.start(3)
    return {"state": state.to_dict(), "groups": GROUPS, "timeline": [[epochs_done - 1, 1]]}


def _model(widths: tuple[int, int] = (8, 8)) -> Any:
    model = mlp(widths=widths)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


@pytest.fixture
def two(tmp_path: Path) -> tuple[Backup, dict[int, dict[str, np.ndarray]]]:
    """A backup holding epoch-00001 and epoch-00002 (latest), and each one's weights."""
    backup, model, saved = Backup(tmp_path / "b"), _model(), {}
    for epochs in (1, 2):
        for v in model.weights:
            v.assign(np.full(v.shape, float(epochs), dtype="float32"))
        backup.save(model, _payload(epochs), epochs_done=epochs)
        saved[epochs] = snapshot(model)
        if epochs == 1:  # saving epoch 2 removes epoch 1: keep a copy, put it back
            shutil.copytree(backup.directory / "epoch-00001", tmp_path / "keep")
    shutil.copytree(tmp_path / "keep", backup.directory / "epoch-00001")
    return backup, saved


def _restore(backup: Backup, model: Any | None = None) -> tuple[int, Any]:
    model = model if model is not None else _model()
    found = backup.restore(model, GROUPS)
    assert found is not None
    return found.epochs_done, model


def _same(model: Any, values: dict[str, np.ndarray]) -> bool:
    return all(np.array_equal(v.numpy(), values[v.path]) for v in model.weights)


# --- the pointer ----------------------------------------------------------------------

POINTERS = {
    "garbage": (b"\x00\xffnot a folder\n", r"latest does not name a checkpoint folder"),
    "empty": (b"", r"latest is empty"),
    "missing folder": (b"epoch-00009\n", r"latest names epoch-00009, which does not exist"),
    "path outside": (b"../../etc\n", r"latest does not name a checkpoint folder"),
}


@pytest.mark.parametrize("kind", list(POINTERS))
def test_a_bad_pointer_falls_back_to_the_newest_intact_checkpoint_and_says_so(two, kind) -> None:
    backup, saved = two
    content, said = POINTERS[kind]
    (backup.directory / "latest").write_bytes(content)
    with pytest.warns(UnfreezeWarning, match=said) as caught:
        epochs, model = _restore(backup)
    assert epochs == 2 and _same(model, saved[2])
    assert f"resuming from {backup.directory / 'epoch-00002'} (after epoch 2)" in str(
        caught[0].message
    )


def test_no_pointer_but_a_checkpoint_is_the_crash_before_the_first_switch(two) -> None:
    backup, saved = two
    (backup.directory / "latest").unlink()
    epochs, model = _restore(backup)  # no warning: a normal crash window
    assert epochs == 2 and _same(model, saved[2])


# --- the state and the weights --------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "state empty": (lambda f: (f / "state.json").write_bytes(b""), r"state.json is empty"),
    "state truncated": (lambda f: _truncate(f / "state.json"), r"state.json is not valid JSON"),
    "state missing": (lambda f: (f / "state.json").unlink(), r"state.json is missing"),
    "state wrong format": (
        lambda f: (f / "state.json").write_text('{"format": 7}'),
        r"state.json is not a checkpoint this version reads \(format 7; it reads 1 and 2\)",
    ),
    "state not a table": (
        lambda f: (f / "state.json").write_text("[1, 2]"),
        r"state.json is not a checkpoint this version reads \(format None",
    ),
    "state without schedule state": (
        lambda f: (f / "state.json").write_text(
            json.dumps({**json.loads((f / "state.json").read_text()), "state": {"stage": 1}})
        ),
        r"state.json holds no valid schedule state \(not a saved schedule state",
    ),
    "weights missing": (
        lambda f: (f / "model.weights.h5").unlink(),
        r"model.weights.h5 is missing",
    ),
    "weights truncated": (
        lambda f: _truncate(f / "model.weights.h5"),
        r"model.weights.h5 has \d+ bytes where \d+ were written \(truncated or overwritten\)",
    ),
    "weights overwritten": (
        lambda f: (f / "model.weights.h5").write_bytes(
            bytes(len((f / "model.weights.h5").read_bytes()))
        ),
        r"model.weights.h5 does not match its SHA-256 \(damaged\)",
    ),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_checkpoint_falls_back_to_an_older_intact_one(two, kind) -> None:
    backup, saved = two
    damage, said = DAMAGE[kind]
    damage(backup.directory / "epoch-00002")
    with pytest.warns(UnfreezeWarning) as caught:
        epochs, model = _restore(backup)
    assert epochs == 1 and _same(model, saved[1])
    message = str(caught[0].message)
    assert re.search(f"latest names epoch-00002, which is damaged: {said}", message), message
    assert f"resuming from {backup.directory / 'epoch-00001'} (after epoch 1)" in message


@pytest.mark.parametrize("kind", ["state truncated", "weights truncated", "weights missing"])
def test_no_intact_checkpoint_is_refused_with_what_to_do_and_nothing_is_touched(two, kind) -> None:
    backup, _ = two
    damage, said = DAMAGE[kind]
    for name in ("epoch-00001", "epoch-00002"):
        damage(backup.directory / name)
    before = sorted(p.name for p in backup.directory.iterdir())
    model = _model()
    values = snapshot(model)
    with pytest.raises(BackupError) as caught:
        backup.restore(model, GROUPS)
    message = str(caught.value)
    assert message.startswith(
        f"cannot resume from the backup in {backup.directory}: it holds no intact checkpoint ("
    )
    assert re.search(
        f"latest names epoch-00002, which is damaged: {said}.*; epoch-00001: {said}", message
    ), message
    assert message.endswith(
        f"Delete {backup.directory} to start afresh, or point backup_dir elsewhere"
    )
    assert sorted(p.name for p in backup.directory.iterdir()) == before
    assert _same(model, values)


# --- another model --------------------------------------------------------------------


def test_a_backup_of_a_model_of_another_shape_is_refused(two) -> None:
    backup, _ = two
    model = _model(widths=(16, 8))
    values = snapshot(model)
    with pytest.raises(
        BackupError,
        match=re.escape(
            f"the backup in {backup.directory} (epoch-00002) was written for a model of another "
            "shape: mlp/l0/kernel is (6, 16) in this model and (6, 8) in the backup. Build the "
            "model, optimizer and schedule it was written for, or: Delete"
        ),
    ):
        backup.restore(model, GROUPS)
    assert _same(model, values)  # nothing loaded


def test_a_backup_of_other_groups_is_refused(two) -> None:
    backup, _ = two
    with pytest.raises(
        BackupError,
        match=re.escape(
            "was written for groups ['l0', 'l1', 'head'], but this model and schedule give "
            "['a', 'head']"
        ),
    ):
        backup.restore(_model(), ["a", "head"])


def test_a_backup_of_another_optimizer_is_refused_not_resumed_with_a_fresh_state(two) -> None:
    backup, _ = two
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
    model.optimizer.build(model.trainable_variables)
    with pytest.raises(
        BackupError,
        match=re.escape(
            f"the backup in {backup.directory} (epoch-00002) was written with another optimizer "
            "(Skipping variable loading for optimizer 'sgd', because it has 2 variables whereas "
            "the saved optimizer has 14 variables."
        ),
    ):
        backup.restore(model, GROUPS)


def test_a_format_1_checkpoint_is_still_read(two) -> None:
    backup, saved = two
    state = backup.directory / "epoch-00002" / "state.json"
    old = json.loads(state.read_text())
    del old["weights"], old["shapes"]
    state.write_text(json.dumps({**old, "format": 1}))
    epochs, model = _restore(backup)
    assert epochs == 2 and _same(model, saved[2])


# --- the lock -------------------------------------------------------------------------


def _lock(backup: Backup, pid: int, host: str | None = None) -> None:
    backup.directory.mkdir(parents=True, exist_ok=True)
    owner = backup_lock.Owner(pid, host or socket.gethostname(), "2026-01-01 10:00:00 UTC", "x")
    backup.lock_file.write_text(owner.to_json())


def test_a_folder_held_by_a_live_process_is_refused(tmp_path: Path) -> None:
    backup = Backup(tmp_path / "b")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock(backup, other.pid)
        with pytest.raises(BackupError) as caught:
            backup.acquire()
    finally:
        other.kill()
        other.wait()
    assert str(caught.value) == (
        f"the backup folder {backup.directory} is in use by process {other.pid} on host "
        f"{socket.gethostname()!r} (since 2026-01-01 10:00:00 UTC): two runs must not share "
        "a backup_dir. Stop the other run, or give this one its own backup_dir (with several "
        'training processes, one per process, e.g. f"backup/{process_index}"). If that '
        f"process is not running, delete {backup.lock_file}"
    )
    assert json.loads(backup.lock_file.read_text())["pid"] == other.pid  # left alone


def test_a_lock_from_another_host_is_never_taken_over(tmp_path: Path) -> None:
    backup = Backup(tmp_path / "b")
    _lock(backup, 1, host="elsewhere.example")
    with pytest.raises(BackupError, match="in use by process 1 on host 'elsewhere.example'"):
        backup.acquire()


def test_a_stale_lock_is_taken_over_with_a_warning_and_released_at_the_end(
    tmp_path: Path,
) -> None:
    backup = Backup(tmp_path / "b")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _lock(backup, dead.pid)
    with pytest.warns(
        UnfreezeWarning,
        match=re.escape(
            f"took over the backup folder {backup.directory} from process {dead.pid} on host "
            f"{socket.gethostname()!r} (since 2026-01-01 10:00:00 UTC), which is no longer running"
        ),
    ):
        backup.acquire()
    mine = json.loads(backup.lock_file.read_text())
    assert mine["pid"] == os.getpid() and mine["host"] == socket.gethostname()
    backup.release()
    assert not backup.lock_file.exists()


def test_an_unreadable_lock_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    backup = Backup(tmp_path / "b")
    backup.directory.mkdir()
    backup.lock_file.write_text("{garbage")
    with pytest.warns(UnfreezeWarning, match="was unreadable \\('\\{garbage'\\); took it over"):
        backup.acquire()
    backup.release()


def test_a_lock_left_by_this_process_is_reused_and_only_the_holder_removes_it(
    tmp_path: Path,
) -> None:
    first, second = Backup(tmp_path / "b"), Backup(tmp_path / "b")
    first.acquire()  # a fit that ended with an exception never released it
    second.acquire()  # no warning, no error
    first.release()  # the old holder no longer holds it: the lock stays
    assert json.loads(second.lock_file.read_text())["pid"] == os.getpid()
    second.release()
    assert not second.lock_file.exists()


def test_the_folder_made_for_the_lock_goes_with_it(tmp_path: Path) -> None:
    backup = Backup(tmp_path / "b")
    backup.acquire()
    backup.release()  # e.g. setup failed before any checkpoint
    assert not backup.directory.exists()


def test_a_folder_that_cannot_be_made_is_a_backup_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    backup = Backup(tmp_path / "file" / "b")
    with pytest.raises(
        BackupError,
        match=re.escape(f"cannot use the backup folder {backup.directory}: NotADirectoryError: "),
    ) as caught:
        backup.acquire()
    assert str(caught.value).endswith("Point backup_dir at a folder this process can write")


# --- writing --------------------------------------------------------------------------


def test_the_writes_are_durable_and_in_order(tmp_path: Path, monkeypatch) -> None:
    backup, model, log = Backup(tmp_path / "b"), _model(), []
    backup.save(model, _payload(1), epochs_done=1)
    d = backup.directory

    def rec(name: str, real: Any) -> Any:
        def wrapper(*args: Any) -> Any:
            log.append((name, *[os.path.relpath(a, d) for a in args if not isinstance(a, bytes)]))
            return real(*args)

        return wrapper

    for name in ("write_durably", "fsync_file", "fsync_dir", "remove_tree"):
        monkeypatch.setattr(files, name, rec(name, getattr(files, name)))
    monkeypatch.setattr(os, "rename", rec("rename", os.rename))
    monkeypatch.setattr(os, "replace", rec("replace", os.replace))
    backup.save(model, _payload(2), epochs_done=2)
    assert log == [
        ("fsync_file", ".epoch-00002.tmp/model.weights.h5"),
        ("write_durably", ".epoch-00002.tmp/state.json"),
        ("fsync_dir", ".epoch-00002.tmp"),
        ("rename", ".epoch-00002.tmp", "epoch-00002"),
        ("fsync_dir", "."),
        ("write_durably", ".latest.tmp"),
        ("replace", ".latest.tmp", "latest"),
        ("fsync_dir", "."),
        ("remove_tree", "epoch-00001"),
        ("rename", "epoch-00001", ".epoch-00001.del.tmp"),
    ]


def test_a_full_disk_leaves_the_previous_checkpoint_and_no_debris(two, monkeypatch) -> None:
    backup, saved = two
    d = backup.directory

    def full(path: Path, data: bytes) -> None:
        path.write_bytes(data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "write_durably", full)
    with pytest.raises(BackupError) as caught:
        backup.save(_model(), _payload(3), epochs_done=3)
    assert str(caught.value) == (
        f"could not write the checkpoint after epoch 3 in {d}: OSError: [Errno 28] No space "
        "left on device. The previous checkpoint (epoch-00002) is intact: free some space "
        "(or point backup_dir elsewhere) and run the same script again to resume from it"
    )
    assert sorted(p.name for p in d.iterdir()) == ["epoch-00001", "epoch-00002", "latest"]
    monkeypatch.undo()
    epochs, model = _restore(backup)
    assert epochs == 2 and _same(model, saved[2])
    # debris of a killed save goes at the next successful one
    (d / ".epoch-00003.tmp").mkdir()
    (d / ".epoch-00003.tmp" / "model.weights.h5").write_bytes(b"half")
    (d / ".latest.tmp").write_text("epoch-0")
    (d / ".epoch-00001.del.tmp").mkdir()
    backup.save(model, _payload(3), epochs_done=3)
    assert sorted(p.name for p in d.iterdir()) == ["epoch-00003", "latest"]


def test_a_name_in_use_gets_a_fresh_folder_and_the_pointer_target_is_kept(two) -> None:
    backup, _ = two
    (backup.directory / "latest").write_text("epoch-00001\n")  # epoch-00002: never committed
    epochs, model = _restore(backup)
    assert epochs == 1
    folder = backup.save(model, _payload(2), epochs_done=2)
    assert folder.name == "epoch-00002-2"
    assert sorted(p.name for p in backup.directory.iterdir()) == ["epoch-00002-2", "latest"]
    assert _restore(backup)[0] == 2


# --- end to end through the callback ---------------------------------------------------


def _fit(backup_dir: Path, epochs: int, widths: tuple[int, int] = (8, 8)) -> Any:
    keras.utils.set_random_seed(3)
    model = mlp(widths=widths)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x, y = data(16)
    return model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=8,
        verbose=0,
        shuffle=False,
        callbacks=[ProgressiveUnfreezing(SCHEDULE, backup_dir=backup_dir, delete_backup=False)],
    )


@pytest.mark.slow
def test_a_garbage_pointer_never_restarts_the_run_nor_deletes_the_checkpoint(
    tmp_path: Path,
) -> None:
    d = tmp_path / "b"
    _fit(d, 2)
    assert sorted(p.name for p in d.iterdir()) == ["epoch-00002", "latest"]
    (d / "latest").write_text("}{ garbage")
    with pytest.warns(UnfreezeWarning, match="latest does not name a checkpoint folder"):
        history = _fit(d, 3)
    assert history.epoch == [2]  # resumed after epoch 2, not from epoch 0
    assert sorted(p.name for p in d.iterdir()) == ["epoch-00003", "latest"]
    assert not (d / "lock").exists()
    # a backup of another shape stops fit before the first batch, touching nothing
    with pytest.raises(BackupError, match="was written for a model of another shape"):
        _fit(d, 4, widths=(4, 8))
    assert sorted(p.name for p in d.iterdir()) == ["epoch-00003", "latest"]  # lock released
