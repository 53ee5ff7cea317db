"""Kernel-level faults between node processes on their own loopback addresses.

Partitions are nftables rules in one dedicated table (``inet qkv_faults``) that
drop packets between two sets of addresses in both directions; the table is
removed on close (and a stale one from an interrupted run on open). Nodes must
bind their outgoing peer sockets to their own address (they do: net/transport.py),
or every packet would leave from 127.0.0.1 and no rule would match.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess

TABLE = "qkv_faults"


def nft(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["nft", *args], capture_output=True, text=True, check=check)


def available() -> str | None:
    """Why fault tests cannot run here, or None."""
    import os
    if os.geteuid() != 0:
        return "kernel-level fault tests need root (nftables rules)"
    if shutil.which("nft") is None:
        return "kernel-level fault tests need nftables (apt-get install nftables)"
    return None


class Nemesis:
    def __init__(self, cluster) -> None:
        self.cluster = cluster
        nft("delete", "table", "inet", TABLE, check=False)
        nft("add", "table", "inet", TABLE)
        nft("add", "chain", "inet", TABLE, "out",
            "{ type filter hook output priority 0; policy accept; }")
        self.paused: set[str] = set()

    def host(self, node_id: str) -> str:
        return self.cluster.address(node_id).host

    def partition(self, side_a: list[str], side_b: list[str]) -> None:
        for a in side_a:
            for b in side_b:
                for src, dst in ((a, b), (b, a)):
                    nft("add", "rule", "inet", TABLE, "out", "ip", "saddr", self.host(src),
                        "ip", "daddr", self.host(dst), "drop")

    def isolate(self, node_id: str) -> None:
        others = [a.id for a in self.cluster.addresses if a.id != node_id]
        self.partition([node_id], others)

    def heal(self) -> None:
        nft("flush", "chain", "inet", TABLE, "out")
        for node_id in list(self.paused):
            self.resume(node_id)

    def pause(self, node_id: str) -> None:
        self.cluster.procs[node_id].send_signal(signal.SIGSTOP)
        self.paused.add(node_id)

    def resume(self, node_id: str) -> None:
        if node_id in self.paused:
            self.cluster.procs[node_id].send_signal(signal.SIGCONT)
            self.paused.discard(node_id)

    def close(self) -> None:
        try:
            self.heal()
        finally:
            nft("delete", "table", "inet", TABLE, check=False)


def reachable(src_host: str, dst_host: str, port: int, timeout_s: float = 1.0) -> bool:
    """A TCP connect from ``src_host`` to ``dst_host:port`` succeeds."""
    s = socket.socket()
    s.settimeout(timeout_s)
    try:
        s.bind((src_host, 0))
        s.connect((dst_host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()
