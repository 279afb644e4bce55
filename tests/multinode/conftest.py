"""The `multinode` tier: a Ray cluster of real raylets on this machine, built per test.

Ray's own tests simulate clusters this way (`ray.cluster_utils.Cluster`): a head and worker
nodes, each a raylet with its own logical CPUs and a custom resource naming it, so a test can
put work on a node and take the node away (`remove_node(..., allow_graceful=False)` kills its
raylet and workers as a lost spot instance would be). Each test gets its own cluster, since
each loses a node; the driver joins it with `ray.init(address=...)` and every stage run in the
test reuses that connection (`vdgray.runtime.ensure_ray`).

The tier runs in its own pytest process (`bash scripts/test.sh --multinode`, which sets
VDGRAY_MULTINODE=1): the rest of the suite shares one local Ray per session, and a driver
cannot be connected to two clusters. Elsewhere these tests skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

MULTINODE = os.environ.get("VDGRAY_MULTINODE") == "1"


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.multinode)
            if not MULTINODE:
                item.add_marker(pytest.mark.skip(
                    reason="multinode tier: run `bash scripts/test.sh --multinode`"))


@dataclass
class LocalCluster:
    """A head and worker nodes; `workers[i]` carries the custom resource `worker{i}`."""

    cluster: object
    head: object
    workers: list = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.cluster.address

    def node_id(self, node) -> str:
        return node.node_id

    def kill(self, node, wait_s: float = 90) -> None:
        """The node lost without grace: its raylet and every worker process on it die. Returns
        once the GCS has marked it dead (its health checks fail first: ~10-20 s by default)."""
        import time

        import ray

        self.cluster.remove_node(node, allow_graceful=False)
        self.workers = [w for w in self.workers if w is not node]
        deadline = time.monotonic() + wait_s
        while any(n["NodeID"] == node.node_id and n["Alive"] for n in ray.nodes()):
            assert time.monotonic() < deadline, f"node {node.node_id} still alive after {wait_s} s"
            time.sleep(0.5)

    def add_worker(self, num_cpus: float, **resources):
        node = self.cluster.add_node(num_cpus=num_cpus, resources=resources or None)
        self.cluster.wait_for_nodes()
        self.workers.append(node)
        return node


@pytest.fixture
def make_cluster(s3_server):
    """`make_cluster(head_cpus=1, worker_cpus=(1, 1))` -> a connected LocalCluster
    (`dashboard=True` for tests that read where work ran from Ray's state API).

    Started after the S3 server, so every raylet's workers inherit its AWS_* variables; the
    head has resource `head`, worker i `worker{i}` (1 each), for tests that pin work to a node.
    Torn down (driver disconnected, every raylet stopped) when the test ends."""
    import ray
    from ray.cluster_utils import Cluster

    made: list = []

    def make(head_cpus: float = 1, worker_cpus=(1, 1), object_store_memory: int = 200_000_000,
             head_resources: dict | None = None, dashboard: bool = False) -> LocalCluster:
        assert not made, "one cluster per test"
        head_args = {"num_cpus": head_cpus, "object_store_memory": object_store_memory,
                     "resources": {"head": 1, **(head_resources or {})},
                     "include_dashboard": dashboard}
        if dashboard:  # Ray's state API (`ray list actors`, ray.util.state) is served by it
            from vdgray.loopback import free_port

            head_args["dashboard_port"] = free_port()
        cluster = Cluster(initialize_head=True, head_node_args=head_args)
        made.append(cluster)
        local = LocalCluster(cluster=cluster, head=cluster.head_node)
        for i, cpus in enumerate(worker_cpus):
            node = cluster.add_node(num_cpus=cpus, object_store_memory=object_store_memory,
                                    resources={f"worker{i}": 1})
            local.workers.append(node)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        return local

    yield make
    if ray.is_initialized():
        ray.shutdown()
    for cluster in made:
        cluster.shutdown()

