"""Two worker processes on 127.0.0.1 train one model, data-parallel, under one schedule.

The engine is Keras 3's own ``keras.distribution.DataParallel`` on the JAX backend, with
``jax.distributed`` joining the processes (gloo collectives on CPU). Each worker trains
on its own data shard and validates on its own shard, one clean and one noisy, so the
two local validation losses differ. The test proves that both workers take every stage
decision at the same step, from the globally reduced ``val_loss`` (the decisions are
those of the global series, and neither worker's local series would have given them),
that frozen groups stay bit-identical, and that both end with identical weights.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .test_backends import required

pytestmark = [pytest.mark.keras, pytest.mark.slow]

WORKER = Path(__file__).with_name("mp_worker.py")
ROOT = WORKER.parents[2]
#: A safety net against hung workers, never what decides on a busy machine.
TIMEOUT = 900.0


def free_port() -> int:
    """A TCP port nobody listens on now (bound once to port 0, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_workers(out: Path) -> list[dict[str, Any]]:
    """Start both workers, wait for both, kill both on any failure or timeout."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    logs = [out / f"worker{i}.log" for i in range(2)]
    try:
        for i in range(2):
            with logs[i].open("wb") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, str(WORKER), str(i), str(port), str(out)],
                    env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                ))
        deadline = time.monotonic() + TIMEOUT
        while any(p.poll() is None for p in procs):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            assert not failed, f"a worker failed:\n{_tails(logs)}"
            assert time.monotonic() < deadline, f"workers timed out:\n{_tails(logs)}"
            time.sleep(0.2)
        assert [p.returncode for p in procs] == [0, 0], _tails(logs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=TIMEOUT)
    return [json.loads((out / f"worker{i}.json").read_text()) for i in range(2)]


def _tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                     for p in logs if p.exists())


def test_two_processes_decide_together_from_global_metrics(tmp_path: Path) -> None:
    if importlib.util.find_spec("jax") is None:
        if "jax" in required():
            pytest.fail("UNFREEZE_REQUIRE_BACKENDS names 'jax' but it is not installed")
        pytest.skip("'jax' is not installed")
    from .mp_worker import schedule

    w0, w1 = run_workers(tmp_path)
    epochs = len(w0["epochs"])
    assert epochs == len(w1["epochs"]) == 10

    # the same decisions at the same steps, several stages deep
    assert w0["transitions"] == w1["transitions"]
    assert len(w0["transitions"]) >= 2
    assert w0["timeline"] == w1["timeline"]
    # both see the same, global, numbers and end every epoch with the same weights
    for e0, e1 in zip(w0["epochs"], w1["epochs"], strict=True):
        local_keys = {"local_val_loss"}
        assert {k: v for k, v in e0["logs"].items() if k not in local_keys} == {
            k: v for k, v in e1["logs"].items() if k not in local_keys}
        assert e0["checksum"] == e1["checksum"]
        assert e0["iterations"] == e1["iterations"]
    assert [e["iterations"] for e in w0["epochs"]] == [4 * (k + 1) for k in range(epochs)]

    # a metric that differs between workers (a callback's, on local data) is noticed:
    # every process then decides from the same mean, and says so once
    for w in (w0, w1):
        assert len(w["warnings"]) == 1 and "differ between the training processes" in (
            w["warnings"][0])

    # the logged val_loss is the global one (equal shards: the mean of the local ones),
    # and the local ones differ a lot
    global_loss = [e["logs"]["val_loss"] for e in w0["epochs"]]
    local = [[e["local_val_loss"] for e in w["epochs"]] for w in (w0, w1)]
    for k in range(epochs):
        assert global_loss[k] == pytest.approx((local[0][k] + local[1][k]) / 2, rel=1e-4)
        assert local[1][k] > 2 * local[0][k]
    # the stages taken are what the schedule decides from the global series, and
    # neither worker's own series would have given them
    n = len(w0["groups"])

    def stages(series: list[float]) -> list[int]:
        return [r.stage for r in schedule().dry_run(n, {"val_loss": series},
                                                    steps_per_epoch=4)]

    taken = [stage for _, stage in w0["timeline"]]
    assert stages(global_loss) == taken
    assert stages(local[0]) != taken and stages(local[1]) != taken

    # frozen groups bit-identical until their stage, training afterwards
    first: dict[str, int] = {}
    for epoch, stage in w0["timeline"]:
        for i, g in enumerate(w0["groups"]):
            if i >= n - stage:
                first.setdefault(g, epoch)
    assert set(first) == set(w0["groups"]), first  # every group trained
    for w in (w0, w1):
        for epoch, e in enumerate(w["epochs"]):
            for g, start in first.items():
                assert e["moved"][g] == (epoch >= start), (g, epoch)
