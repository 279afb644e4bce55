"""Where a stage's Ray actors ran, from Ray's state API (what `ray list actors` shows a user),
and a node killed without grace while a stage is truly mid-run, for the multinode tier."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable


def map_actors(udf: str) -> list[dict]:
    """Every Ray Data actor (alive or dead) that ran the callable class `udf` in a
    `map_batches`: its `node_id`, `state` and `actor_id`."""
    from ray.util.state import list_actors

    name = f"MapWorker(MapBatches({udf}))"
    return [{"node_id": a.node_id, "state": a.state, "actor_id": a.actor_id, "pid": a.pid}
            for a in list_actors(filters=[("repr_name", "=", name)], detail=True,
                                 limit=10_000, raise_on_missing_output=False)]


class NodeKiller(threading.Thread):
    """`with NodeKiller(cluster, udf, progress) as killer: run(...)`. Once `progress()` (output committed so far) is at least 1, freeze the `udf` actors alive
    on a worker node (SIGSTOP: a starved test thread cannot let the run end first) and kill
    that node without grace; `progress()` at that moment and the node
    are kept (`at_kill`, `node_id`) so the test can assert the kill landed mid-run."""

    def __init__(self, cluster, udf: str, progress: Callable[[], int], timeout_s: float = 600):
        super().__init__(daemon=True)
        self.cluster, self.udf, self.progress, self.timeout_s = cluster, udf, progress, timeout_s
        self.at_kill: int | None = None
        self.node_id: str | None = None
        self.actor_ids: set[str] = set()  # the `udf` actors alive on that node at the kill
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.seconds = 0.0  # how long the `with` block (the lossy run) took

    def __enter__(self) -> NodeKiller:
        self._t0 = time.monotonic()
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.join(timeout=120)
        self.seconds = time.monotonic() - self._t0

    def assert_killed_mid_run(self, total: int) -> None:
        """The kill landed: a worker node was lost with some, not all, of `total` done."""
        print(f"killed {self.node_id} with {self.at_kill} of {total} committed; the run took "
              f"{self.seconds:.0f} s")
        assert self.error is None, self.error
        assert self.node_id is not None, "the run ended before a worker node could be killed"
        assert 0 < self.at_kill < total, f"{self.at_kill} of {total} done at the kill"

    def assert_restarted_elsewhere(self) -> None:
        """Ray restarted the killed node's `udf` actors on another node (where they finished)."""
        now = {a["node_id"] for a in map_actors(self.udf) if a["actor_id"] in self.actor_ids}
        assert now and self.node_id not in now, (self.node_id, map_actors(self.udf))

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # surfaced by the test through `error`
            self.error = e

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        workers = {w.node_id: w for w in self.cluster.workers}
        while not self.stop.is_set() and time.monotonic() < deadline:
            done = self._progress()
            if done >= 1:
                alive = [a for a in map_actors(self.udf) if a["state"] == "ALIVE"]
                victim = next((workers[a["node_id"]] for a in alive
                               if a["node_id"] in workers), None)
                if victim is not None:
                    on_it = [a for a in alive if a["node_id"] == victim.node_id]
                    for a in on_it:  # frozen, so the run cannot end before the kill lands
                        _signal(a["pid"], signal.SIGSTOP)
                    self.at_kill, self.node_id = self._progress(), victim.node_id
                    self.actor_ids = {a["actor_id"] for a in on_it}
                    # a lost node's processes die with it; a frozen one would outlive its raylet
                    # (a stopped process cannot exit) and hang every call still open to it
                    for a in on_it:
                        _signal(a["pid"], signal.SIGKILL)
                    self.cluster.kill(victim)
                    return
            time.sleep(0.2)

    def _progress(self) -> int:
        try:
            return self.progress()
        except Exception:  # a file being written as we read: count it next time
            return 0


def _signal(pid: int | None, sig: int) -> None:
    if pid:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:  # it died meanwhile: the kill below is what matters
            pass
