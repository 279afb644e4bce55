"""`kill -9` of a real generate job once it has committed a checkpoint (for the integration and
vllm tiers' resume tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

from vdgray.stages.generate.stage import committed_checkpoints as committed

# A job's own driver: its own local Ray, so a kill takes nothing of the test's.
MAIN = textwrap.dedent("""
    import sys
    import ray
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             object_store_memory=300_000_000, log_to_driver=False)
    from vdgray.stages.generate.stage import command
    command.main(sys.argv[1:], standalone_mode=True)
""")


def session_pids(sid: int) -> set[int]:
    """Every live process of session `sid`: the job's driver, Ray's GCS and raylet in the
    driver's process group, and Ray's workers, each of which leads a process group of its own
    (so a kill of the driver's group alone leaves them writing)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:  # "pid (comm) state ppid pgrp session ..."
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:  # a zombie no longer runs
            pids.add(int(entry))
    return pids


def signal_session(sid: int, sig: int) -> None:
    """Send `sig` to every process of session `sid`, again for any that started meanwhile."""
    sent: set[int] = set()
    while todo := session_pids(sid) - sent:
        for pid in todo:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        sent |= todo


def kill_after_first_commit(args: list[str], output: str, log: Path, *,
                            timeout_s: float) -> None:
    """Start `args` in a session of its own and SIGKILL the whole session (driver, Ray and
    its workers: a machine lost) once a checkpoint is committed under `output`; it must not
    have finished before. Returns when none of the job's processes is left."""
    with open(log, "wb") as sink:
        proc = subprocess.Popen(args, env=dict(os.environ), start_new_session=True,
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + timeout_s
        while time.time() < deadline and proc.poll() is None and committed(output) < 1:
            time.sleep(0.1)
        # Freeze the job the moment a commit shows, so a starved test process cannot let it
        # run on to the end before the kill lands.
        if proc.poll() is None:
            signal_session(proc.pid, signal.SIGSTOP)
        assert proc.poll() is None, ("the job finished before it could be killed:\n"
                                     + log.read_text(errors="replace")[-3000:])
        assert committed(output) >= 1, "no committed checkpoint within the time limit"
        signal_session(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            signal_session(proc.pid, signal.SIGKILL)
        _wait_gone(proc.pid)


def _wait_gone(sid: int, timeout_s: float = 30.0) -> None:
    """Until no process of session `sid` is left: a worker still writing would race the
    resumed run (its late data file would hold triplets the resume writes again)."""
    deadline = time.time() + timeout_s
    while (left := session_pids(sid)) and time.time() < deadline:
        signal_session(sid, signal.SIGKILL)
        time.sleep(0.1)
    assert not left, f"processes of the killed job still running: {sorted(left)}"
