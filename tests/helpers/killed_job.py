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


def kill_after_first_commit(args: list[str], output: str, log: Path, *,
                            timeout_s: float) -> None:
    """Start `args` in a session of its own and SIGKILL its process group once a checkpoint
    is committed under `output`; it must not have finished before."""
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
            os.killpg(proc.pid, signal.SIGSTOP)
        assert proc.poll() is None, ("the job finished before it could be killed:\n"
                                     + log.read_text(errors="replace")[-3000:])
        assert committed(output) >= 1, "no committed checkpoint within the time limit"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
