"""Fault injection: SIGKILL a real training process again and again, resume each time.

A server process (``backup_worker.py serve``) imports TensorFlow once and forks one
training process per life; the test SIGKILLs each life at a chosen point: at a random
batch of each epoch, at each step of the checkpoint write (the write pauses there
through the library's ``_step_done`` seam), and at random wall-clock times. The next
life resumes from the backup. The last life is a fresh interpreter that runs to the
end. Weights, optimizer step count, stage transitions, the driver's timeline and every
epoch's logs must equal those of an uninterrupted run, bit for bit.

``UNFREEZE_KILL_SEED`` fixes the random choices (the seed is printed on failure);
``UNFREEZE_KILL_REPORT=path`` writes where each kill landed.
"""

from __future__ import annotations

import json
import os
import random
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

WORKER = Path(__file__).with_name("backup_worker.py")
ROOT = WORKER.parent.parent.parent
SAFETY = 900  # seconds: a net for a hung process on a busy machine, never what decides
EPOCHS, BATCHES = 12, 8
STEPS = 10  # backup_worker.STEPS
STALE = re.compile(
    r"warning: ProgressiveUnfreezing: took over the backup folder .* from "
    r"process \d+ on host .*, which is no longer running"
)


class Server:
    """The forking worker, spoken to by JSON lines."""

    def __init__(self, tmp: Path) -> None:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "OPENBLAS_NUM_THREADS": "1"}
        self.errors = (tmp / "server-stderr.txt").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            env=env,
            cwd=ROOT,
            text=True,
        )
        self.sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.read(SAFETY)  # {"ready": pid}

    def read(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        if not self.sel.select(timeout):
            if timeout >= SAFETY:
                raise AssertionError(f"the worker server hung: {self.stderr()}")
            return None
        line = self.proc.stdout.readline()
        assert line, f"the worker server died: {self.stderr()}"
        return dict(json.loads(line))

    def stderr(self) -> str:
        self.errors.flush()
        return Path(self.errors.name).read_text()[-3000:]

    def start(self, out: Path, backup: Path, stop_at: list[int] | None) -> int:
        assert self.proc.stdin is not None
        request = {"out": str(out), "backup": str(backup), "stop_at": stop_at}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.read(SAFETY)
        assert answer is not None
        return int(answer["pid"])

    def wait(self, pid: int) -> int:
        answer = self.read(SAFETY)
        assert answer is not None and answer["pid"] == pid
        return int(answer["status"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.errors.close()


def _last_point(out: Path) -> str:
    """The last point the latest life passed."""
    lines = (out / "progress.txt").read_text().splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("start ")]
    points = [ln for ln in lines[starts[-1] + 1 :] if not ln.startswith("warning:")]
    return points[-1] if points else "starting (imports, model, lock, restore)"


def _targets(rng: random.Random) -> list[list[int] | float]:
    """Per epoch a random batch and one step of the checkpoint write (every step at
    least once), with kills at random times in between (floats: seconds after the life
    starts; such a life stops at the next planned point at the latest, so it neither
    overtakes the plan nor completes)."""
    first = rng.randrange(STEPS - 1)  # after epoch 0 there is no old folder to remove
    rest = [s for s in range(STEPS) if s != first] + [rng.randrange(STEPS) for _ in range(2)]
    rng.shuffle(rest)
    steps = [first, *rest]
    plan: list[list[int] | float] = []
    for epoch in range(EPOCHS):
        plan.append([epoch, 0, rng.randrange(BATCHES)])
        plan.append([epoch, 1, steps[epoch]])
    for _ in range(4):
        plan.insert(rng.randrange(2, len(plan)), round(rng.uniform(0.3, 2.5), 2))
    return plan


def _next_point(plan: list[list[int] | float], i: int) -> list[int]:
    later = [t for t in plan[i + 1 :] if isinstance(t, list)]
    return later[0] if later else [EPOCHS - 1, 0, 0]


def _committed(landed: str) -> bool:
    """Whether a kill at ``landed`` came after its epoch's checkpoint was committed (a
    resume does not re-run that epoch). The first checkpoint counts once its folder is
    renamed into place: with no ``latest`` yet, a resume takes the newest intact folder."""
    return bool(
        re.search("save: (pointer-switched|pointer-synced|old-removed)", landed)
        or re.fullmatch(r"epoch 0 save: (renamed|renamed-synced|pointer-written)", landed)
    )


def test_sigkill_anywhere_resumes_to_the_same_result(tmp_path: Path) -> None:
    seed = int(os.environ.get("UNFREEZE_KILL_SEED", random.SystemRandom().randrange(10**6)))
    rng = random.Random(seed)
    ref, cut, backup = tmp_path / "ref", tmp_path / "cut", tmp_path / "backup"
    started = time.monotonic()
    server = Server(tmp_path)
    kills: list[dict[str, Any]] = []
    try:
        pid = server.start(ref, tmp_path / "ref_backup", None)
        assert server.wait(pid) == 0, server.stderr()
        plan = _targets(rng)
        for i, target in enumerate(plan):
            paused = cut / "paused"
            paused.unlink(missing_ok=True)
            # a kill at a random time stops at the next planned point at the latest
            stop = target if isinstance(target, list) else _next_point(plan, i)
            pid = server.start(cut, backup, stop)
            deadline = time.monotonic() + (target if isinstance(target, float) else SAFETY)
            ended = None
            while not paused.exists() and time.monotonic() < deadline:
                answer = server.read(0.02)
                if answer is not None:
                    ended = answer
                    break
            assert ended is None, (
                f"seed {seed}: the life ended (status {ended}) before the kill at {target}: "
                f"{server.stderr()}"
            )
            assert isinstance(target, float) or paused.exists(), f"seed {seed}: never paused"
            os.kill(pid, signal.SIGKILL)
            assert server.wait(pid) == -signal.SIGKILL
            kills.append({"target": target, "landed": _last_point(cut)})
        server.close()
        # the last life: a fresh interpreter, no fork
        subprocess.run(
            [sys.executable, str(WORKER), "run", str(cut), str(backup)],
            check=True,
            timeout=SAFETY,
            cwd=ROOT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
    finally:
        server.close()
    seconds = time.monotonic() - started
    report = {"seed": seed, "kills": kills, "seconds": round(seconds, 1)}
    if os.environ.get("UNFREEZE_KILL_REPORT"):
        Path(os.environ["UNFREEZE_KILL_REPORT"]).write_text(json.dumps(report, indent=1))
    why = f"seed {seed}, kills {kills}"

    assert len(kills) >= 20, why
    landed = " ".join(k["landed"] for k in kills)
    for step in ("weights-written", "state-written", "renamed", "pointer-switched"):
        assert f"save: {step}" in landed, why  # kills inside the checkpoint write
    done = [json.loads((d / "done.json").read_text()) for d in (ref, cut)]
    # the last life resumes after the last kill's epoch if that kill landed after the
    # epoch's checkpoint was committed, else at that epoch (after epoch 11's commit: none)
    last = kills[-1]["landed"]
    resumed = int(last.split()[1]) + (1 if _committed(last) else 0)
    assert done[1]["epochs_run"] == list(range(resumed, EPOCHS)), why
    del done[0]["epochs_run"], done[1]["epochs_run"]
    assert done[0] == done[1], why
    fa, fb = np.load(ref / "final.npz"), np.load(cut / "final.npz")
    for key in fa.files:
        np.testing.assert_array_equal(fa[key], fb[key], err_msg=why)
    # every epoch's logs, except those of epochs killed after their checkpoint was
    # committed (the record is written after the driver's save; that epoch is not re-run).
    committed = {int(k["landed"].split()[1]) for k in kills if _committed(k["landed"])}
    records = {p.name for p in (cut / "records").iterdir()}
    expected = {f"epoch-{e:03d}.json" for e in range(EPOCHS)}
    assert expected - records <= {f"epoch-{e:03d}.json" for e in committed}, why
    for name in records:
        assert json.loads((cut / "records" / name).read_text()) == json.loads(
            (ref / "records" / name).read_text()
        ), name
    warnings = [
        ln
        for ln in (cut / "progress.txt").read_text().splitlines()
        if ln.startswith("warning: ProgressiveUnfreezing")
    ]
    assert len(warnings) >= len(kills) // 2 and all(STALE.fullmatch(w) for w in warnings), warnings
    assert not backup.exists()  # removed once the run completed
