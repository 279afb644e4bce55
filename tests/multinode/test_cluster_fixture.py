"""The tier's own cluster: work spreads over its nodes, and a node lost without grace is gone."""

from __future__ import annotations

import ray


def test_a_map_runs_on_every_node_and_a_killed_node_leaves_the_cluster(make_cluster):
    cluster = make_cluster(head_cpus=1, worker_cpus=(1, 1))

    @ray.remote(num_cpus=1)
    def where(_):
        import time

        time.sleep(0.5)
        return ray.get_runtime_context().get_node_id()

    nodes = set(ray.get([where.remote(i) for i in range(12)]))
    assert nodes == {cluster.head.node_id, *(w.node_id for w in cluster.workers)}
    lost = cluster.workers[0]
    cluster.kill(lost)
    alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert lost.node_id not in alive and cluster.head.node_id in alive
