"""`vdgray submit` of a stage to a cluster of two nodes started with the real CLI, as a user
starts one: `ray start --head` and `ray start --address=...`, each its own process.

Not on `make_cluster`: that cluster's driver connection is this pytest process's, while a
submitted job is its own driver, started by the head's job server. Each `ray start` runs in
the foreground (`--block`) in a session of its own, so stopping exactly those sessions stops
this cluster only (`ray stop` would stop every Ray on the machine, other people's too)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pyarrow as pa
import pytest
from helpers.images import noise_png
from helpers.killed_job import session_pids, signal_session
from helpers.paths import BIN, ROOT

from vdgray import manifest, storage
from vdgray.loopback import free_port

N_IMAGES = 96


def _ports() -> list[str]:
    """Every port a node opens, explicit, so two nodes on one machine never collide."""
    return [f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
            f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}"]


def _start(argv: list[str], env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the `ray start` process group, then SIGKILL to whatever of its session is
    left (Ray's workers lead process groups of their own)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 30
    while session_pids(proc.pid) and time.monotonic() < deadline:
        signal_session(proc.pid, signal.SIGKILL)
        time.sleep(0.2)


def _ray(env: dict, *args: str) -> str:
    r = subprocess.run([str(BIN / "ray"), *args], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r.stdout


def _alive_nodes(env: dict, address: str) -> list[dict]:
    return [n for n in json.loads(_ray(env, "list", "nodes", "--address", address,
                                       "--format", "json"))
            if n["state"] == "ALIVE"]


@pytest.fixture
def two_nodes(tmp_path):
    """A head (1 logical CPU would starve Ray Data's 1-CPU write tasks beside an encoder
    actor, so 2) and a worker node of 2; yields (dashboard URL, env, {resource: node id})."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex + uuid.uuid4().hex}
    env.pop("RAY_ADDRESS", None)
    gcs, dash = free_port(), free_port()
    ray = str(BIN / "ray")
    procs = []
    # Ray's socket paths live under its temp dir and must stay under 107 bytes: pytest's
    # tmp_path is too deep for them
    temp = tempfile.mkdtemp(prefix="vdgray-ray-", dir="/tmp")
    with open(tmp_path / "head.log", "w") as head_log, \
            open(tmp_path / "worker.log", "w") as worker_log:
        try:
            procs.append(_start([
                ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                f"--port={gcs}", f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1",
                "--include-dashboard=true", "--num-cpus=2", "--resources={\"head\": 1}",
                "--disable-usage-stats", f"--temp-dir={temp}",
                f"--ray-client-server-port={free_port()}", *_ports()], env, head_log))
            address = f"http://127.0.0.1:{dash}"
            deadline = time.monotonic() + 300
            while True:  # the GCS is up once the dashboard answers
                assert procs[0].poll() is None, (tmp_path / "head.log").read_text()[-3000:]
                r = subprocess.run([ray, "list", "nodes", "--address", address, "--format",
                                    "json"], env=env, capture_output=True, text=True,
                                   timeout=120)
                if r.returncode == 0:
                    break
                assert time.monotonic() < deadline, r.stderr[-2000:]
                time.sleep(2)
            procs.append(_start([
                ray, "start", "--block", f"--address=127.0.0.1:{gcs}",
                "--node-ip-address=127.0.0.1", "--num-cpus=2", "--resources={\"worker0\": 1}",
                "--disable-usage-stats", *_ports()], env, worker_log))
            while len(nodes := _alive_nodes(env, address)) < 2:
                assert procs[1].poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the worker node never joined"
                time.sleep(2)
            by_resource = {next(k for k in n["resources_total"] if k in ("head", "worker0")):
                           n["node_id"] for n in nodes}
            yield address, env, by_resource
        finally:
            for p in reversed(procs):
                _stop(p)
            shutil.rmtree(temp, ignore_errors=True)


def test_submitted_embed_runs_on_both_nodes(two_nodes, tmp_path):
    address, env, nodes = two_nodes
    gallery, output = tmp_path / "gallery", tmp_path / "emb"
    ids = [f"img-{i:04d}" for i in range(N_IMAGES)]
    storage.write_parquet(str(gallery / "part-00000.parquet"), pa.table(
        {"image_id": ids,
         "image": pa.array([noise_png(i, size=32) for i in range(N_IMAGES)], pa.binary())}))
    # two encoder actors of 0.5 CPU: Ray Data SPREADs them, one on each node
    sets = {"gallery": gallery, "output": output, "model": "tiny-clip", "batch_size": 4,
            "block_rows": 8, "concurrency": 2, "num_cpus_per_actor": 0.5,
            "decode_num_cpus": 0.25, "torch_threads": 1}
    argv = [str(BIN / "vdgray"), "submit", "embed", "--address", address,
            "--working-dir", str(ROOT)]
    for k, v in sets.items():
        argv += ["--set", f"{k}={v}"]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "SUCCEEDED" in r.stdout

    table = manifest.read_dataset(str(output), "embeddings")
    assert sorted(table.column("image_id").to_pylist()) == ids
    actors = json.loads(_ray(env, "list", "actors", "--address", address, "--detail",
                             "--format", "json", "--limit", "10000"))
    encoders = [a for a in actors if a.get("repr_name") == "MapWorker(MapBatches(EmbedBatch))"]
    assert {a["node_id"] for a in encoders} == set(nodes.values()), encoders
    # each of the two did work: its tasks (the batches it embedded) are in the task table
    tasks = json.loads(_ray(env, "list", "tasks", "--address", address, "--detail",
                            "--format", "json", "--limit", "10000"))
    worked = {t["node_id"] for t in tasks if t.get("state") == "FINISHED"
              and t.get("actor_id") in {a["actor_id"] for a in encoders}
              and t.get("type") == "ACTOR_TASK"}
    assert worked == set(nodes.values()), worked
