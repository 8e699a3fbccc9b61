"""A two-node Ray cluster on this machine (`ray.cluster_utils.Cluster`: two raylets, one logical GPU slot
each), run as its own process so that its nodes get exactly the environment the test gives it.

    python two_node_ray_cluster.py CPUS_PER_NODE

prints one JSON line `{"address": ..., "nodes": [head id, worker id]}` once both nodes are up, answers each
`actors` line on stdin with a JSON line listing the cluster's actors (class, name, node id, state), and shuts
the cluster down when stdin closes or on SIGTERM/SIGINT (Ray's reaper ends the nodes if this process dies)."""

from __future__ import annotations

import json
import signal
import sys


def _stop(signum, frame):
    raise SystemExit(128 + signum)


def _actors(cluster) -> list[dict]:
    return [
        {
            "class": actor.get("ActorClassName", ""),
            "name": actor.get("Name", ""),
            "node": actor.get("Address", {}).get("NodeID", ""),
            "state": actor.get("State", ""),
        }
        for actor in cluster.global_state.actor_table(None).values()
    ]


def main(cpus_per_node: int) -> None:
    from ray.cluster_utils import Cluster

    node = {"num_cpus": cpus_per_node, "num_gpus": 1, "object_store_memory": 256 << 20}
    cluster = Cluster()
    try:
        head = cluster.add_node(include_dashboard=False, **node)
        worker = cluster.add_node(**node)
        print(json.dumps({"address": cluster.address, "nodes": [head.node_id, worker.node_id]}), flush=True)
        for line in sys.stdin:
            if line.strip() == "actors":
                print(json.dumps(_actors(cluster)), flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    main(int(sys.argv[1]))
