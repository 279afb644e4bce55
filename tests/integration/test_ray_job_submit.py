"""The demo pipeline as a Ray job on a real head process: `ray start --head` on loopback,
`ray job submit` to its dashboard, then `vdgray submit` again, which skips finished stages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import pytest
from helpers.paths import BIN, ROOT

from vdgray.loopback import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY = [  # the first four stages of the demo pipeline, at toy sizes
    "stages=[synth, train-encoder, embed, mine]", "settings.synth.n_gallery=240", "settings.synth.n_train=60", "settings.synth.n_val=36",
    "settings.synth.n_test=36", "settings.train-encoder.epochs=20",
    "settings.train-encoder.hidden=64", "settings.train-encoder.layers=2",
]


def _wait_until_jobs_run(address: str, env: dict, proc, timeout: float = 300) -> None:
    """A fresh head accepts jobs only once its dashboard agent is up: submit `true` until one runs."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, "ray start --head exited"
        r = subprocess.run([str(BIN / "ray"), "job", "submit", "--address", address, "--", "true"],
                           env=env, capture_output=True, text=True, timeout=120)
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the head at {address} never accepted a job: {r.stderr[-2000:]}")
        time.sleep(3)


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A Ray head started as its own process, as on a cluster; yields the dashboard URL."""
    # Token authentication, as Ray 2.60 clusters use by default; every client gets the token.
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex + uuid.uuid4().hex}
    env.pop("RAY_ADDRESS", None)
    gcs, dash = free_port(), free_port()
    # Every port explicit, so this head never collides with the test session's own Ray.
    start = [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
             f"--port={gcs}", f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1",
             "--include-dashboard=true", "--num-cpus=2", "--disable-usage-stats",
             f"--dashboard-agent-listen-port={free_port()}",
             f"--dashboard-agent-grpc-port={free_port()}",
             f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
             f"--ray-client-server-port={free_port()}", f"--node-manager-port={free_port()}",
             f"--object-manager-port={free_port()}"]
    # --block keeps `ray start` in the foreground; stopping its process group stops this
    # cluster only (`ray stop` would stop every Ray on the machine).
    log = open(tmp_path_factory.mktemp("head") / "ray-start.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(start, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        address = f"http://127.0.0.1:{dash}"
        _wait_until_jobs_run(address, env, proc)
        yield address, env, gcs
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()


def test_pipeline_job_runs_then_resubmission_skips_finished_stages(head, tmp_path):
    address, env, _ = head
    out = tmp_path / "pipeline"
    sets = [f"output={out}", *TINY]
    argv = [str(BIN / "ray"), "job", "submit", "--address", address, "--working-dir", str(ROOT),
            "--", "python", "jobs/pipeline.py", "--config", "jobs/configs/demo.yaml"]
    for s in sets:
        argv += ["--set", s]
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1500)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "succeeded" in first.stdout.lower()
    for stage in ("world", "encoder", "embeddings", "pairs"):
        doc = json.loads((out / stage / "_manifest.json").read_text())
        assert doc["stage"] in ("synth", "model", "embeddings", "pairs")
    pairs = json.loads((out / "pairs" / "_manifest.json").read_text())
    assert pairs["counts"]["pairs"] > 0

    again = [str(BIN / "vdgray"), "submit", "pipeline", "--address", address,
             "--working-dir", str(ROOT), "--config", str(ROOT / "jobs/configs/demo.yaml")]
    for s in sets:
        again += ["--set", s]
    second = subprocess.run(again, env=env, capture_output=True, text=True, timeout=900,
                            cwd=ROOT)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert second.stdout.count("already finished") == 4, second.stdout[-3000:]
    assert "SUCCEEDED" in second.stdout
