"""One node assembly (node/assembly.py): the CLI's node and the simulation's nodes
are built by the same function, so they have the same parts, the same background
loops and the same range map, and neither wires a part by hand."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import inspect
import re
import socket

from quorumkv.config import ClusterSection, Config, NodeAddress, NodeSection
from quorumkv.node import node as node_module
from quorumkv.node.assembly import Parts
from quorumkv.node.node import Node
from quorumkv.sim import cluster as sim_cluster
from quorumkv.sim.run import NODES, Sim


def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def real_config(data_dir: str) -> Config:
    """Node n1 of the simulation's cluster (same nodes, same keyspaces) on free
    ports, with a real node's default settings."""
    ports = free_ports(3 * len(NODES))
    nodes = tuple(NodeAddress(n, "127.0.0.1", peer_port=ports[3 * i],
                              resp_port=ports[3 * i + 1], http_port=ports[3 * i + 2])
                  for i, n in enumerate(NODES))
    return Config(NodeSection(id="n1", data_dir=data_dir), ClusterSection(nodes=nodes),
                  keyspaces=sim_cluster.KEYSPACES)


def started_real_node(data_dir: str) -> dict:
    """Start a real node (RocksDB, PeerTransport, listeners; its peers are not
    running), note what it was built of, stop it."""
    threshold = gc.get_threshold()

    async def run() -> dict:
        node = Node(real_config(data_dir))
        await node.start()
        try:
            return {"parts": node.parts, "ranges": node.ranges.to_json(),
                    "attrs": {name: getattr(node, name) for name in Parts.part_names()}}
        finally:
            await node.stop()
    try:
        return asyncio.run(run())
    finally:  # Node.start tunes the collector for a server process
        gc.unfreeze()
        gc.set_threshold(*threshold)


def started_sim_node():
    """Node n1 of a simulated cluster, started and caught up (its peers are not
    running, so it learns nothing from them)."""
    sim = Sim(0)
    node = sim.nodes["n1"]

    async def start() -> None:
        node.start()
        while not node.serving:
            await asyncio.sleep(0.01)
    sim.loop.run_until_complete(asyncio.wait_for(start(), 5.0))
    return sim, node


def stop(sim) -> None:
    for task in asyncio.all_tasks(sim.loop):
        task.cancel()
    sim.loop.run_until_complete(asyncio.sleep(0))
    sim.loop.close()


def test_the_real_node_and_a_simulated_node_have_the_same_parts(tmp_path):
    real = started_real_node(str(tmp_path / "n1"))
    sim, simulated = started_sim_node()
    try:
        mine, theirs = real["parts"], simulated.parts
        assert type(mine) is type(theirs) is Parts
        for name in Parts.part_names():
            assert type(getattr(mine, name)) is type(getattr(theirs, name)), name
            assert real["attrs"][name] is getattr(mine, name)       # node.coordinator, ...
            assert getattr(simulated, name) is getattr(theirs, name)
        assert list(mine.background()) == list(theirs.background()) == [
            "heartbeats", "hints", "range_stats", "anti_entropy", "tombstone_gc",
            "meta", "raft", "raft_ticks"]
        assert real["ranges"] == simulated.ranges.to_json()  # the same bootstrap map
        assert mine.peers == theirs.peers == ["n2", "n3"]
    finally:
        stop(sim)


def test_the_simulation_changes_only_the_settings_it_declares():
    """Both paths read one settings object; the simulation overrides a few named
    settings (faster timers), every other one is a real node's default."""
    sim, node = started_sim_node()
    try:
        default = NodeSection(id="n1")
        changed = {f.name for f in dataclasses.fields(NodeSection)
                   if getattr(node.parts.settings, f.name) != getattr(default, f.name)}
        assert changed == set(sim_cluster.SETTINGS)
        assert node.parts.anti_entropy.depth == sim_cluster.SETTINGS["anti_entropy_depth"]
        assert node.parts.coordinator.timeout_s == 0.5
    finally:
        stop(sim)


def test_neither_the_node_nor_the_simulation_builds_a_part_by_hand():
    part_types = {type_name(f.type) for f in dataclasses.fields(Parts)
                  if f.name in Parts.part_names()} | {"FailureDetector"}
    assert "Coordinator" in part_types and "Replica" in part_types
    for module in (node_module, sim_cluster):
        source = inspect.getsource(module)
        built = {t for t in part_types if re.search(rf"\b{t}\(", source)}
        assert not built, f"{module.__name__} builds {built} itself"


def type_name(annotation) -> str:
    return annotation if isinstance(annotation, str) else annotation.__name__
