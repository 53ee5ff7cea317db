"""Heartbeats' peer set as the metadata changes it: a node that joined is pinged
and alive; a removed one is not alive any more (quiet Raft groups it led are then
ticked and elect another leader, node/assembly.py), even though nothing holds it
down: forgetting it must not make it look up. And when a peer is *back* (its
first answer, one after it was down, or one from a new run of it)."""

from __future__ import annotations

import asyncio

from quorumkv.core import messages as m
from quorumkv.core.failure import FailureDetector
from quorumkv.net.transport import PeerUnavailable
from quorumkv.node.heartbeat import Heartbeats


def test_joined_peers_are_alive_and_removed_ones_are_not():
    async def scenario():
        hb = Heartbeats(["n2"], transport=None, detector=FailureDetector(1000.0),
                        interval_s=1.0)
        assert hb.is_alive("n2") and not hb.is_alive("n4")  # n4: not known yet
        hb.add_peer("n4")
        assert hb.is_alive("n4") and hb.peers == ["n2", "n4"]
        hb._down.add("n4")  # the detector's verdict at a tick
        assert not hb.is_alive("n4") and hb.is_down("n4")
        hb.remove_peer("n4")
        assert not hb.is_down("n4")  # forgotten...
        assert not hb.is_alive("n4")  # ...but not alive: its groups elect again
        assert hb.peers == ["n2"]

    asyncio.run(scenario())


def test_a_peer_is_back_on_its_first_answer_after_a_restart_or_after_being_down():
    async def scenario():
        hb = Heartbeats(["n2"], transport=None, detector=FailureDetector(1000.0),
                        interval_s=1.0)
        back = []
        hb.on_back.append(back.append)
        hb._answered("n2", m.Pong("n2", 7), None)
        assert back == ["n2"]                   # first answer
        hb._answered("n2", m.Pong("n2", 7), None)
        assert back == ["n2"]                   # the same run: nothing new
        hb._answered("n2", m.Pong("n2", 8), None)
        assert back == ["n2", "n2"]             # restarted between two pings
        hb._answered("n2", None, PeerUnavailable("refused"))
        assert hb.is_down("n2") and back == ["n2", "n2"]
        hb._answered("n2", m.Pong("n2", 8), None)
        assert back == ["n2"] * 3 and not hb.is_down("n2")  # up again
        hb.remove_peer("n2")
        hb._answered("n2", m.Pong("n2", 9), None)   # a ping out when it was removed
        assert back == ["n2"] * 3 and not hb.is_alive("n2")

    asyncio.run(scenario())
