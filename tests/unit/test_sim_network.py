"""The simulated network carries real frames: the messages of one loop turn travel
as one frame through the real codec, the replica's acks come back as one PutAcks,
and a node going down fails the requests waiting on it."""

from __future__ import annotations

import asyncio
import random

from quorumkv.core import messages as m
from quorumkv.core.version import Version
from quorumkv.errors import PeerUnavailable
from quorumkv.sim.loop import SimLoop
from quorumkv.sim.network import SimNetwork


class Sim:
    def __init__(self) -> None:
        self.rnd = random.Random(1)
        self.loop = SimLoop()
        self.network = SimNetwork(self)

    def trace(self, text: str) -> None:
        pass


def two_nodes(handle_puts):
    sim = Sim()
    a, b = sim.network.transport_for("a"), sim.network.transport_for("b")
    b.handle(m.Put, handle_puts)
    sim.network.up("a", a.handlers)
    sim.network.up("b", b.handlers)
    return sim, a, b


def test_one_turns_puts_are_one_frame_and_their_acks_one_putacks():
    batches, frames = [], []

    def puts(items, channel):
        batches.append([req_id for req_id, _ in items])
        channel.send_later([(req_id, m.PUT_ACK) for req_id, _ in items])

    sim, a, b = two_nodes(puts)
    answers: list = []

    async def scenario():
        for i in range(3):
            a.send_request("b", m.Put("default", b"k%d" % i, Version(i + 1, "a"), 1, 1),
                           lambda reply, error: answers.append((reply, error)))
        link = sim.network.links[("a", "b")]
        received = link.out._on_messages
        link.out._on_messages = lambda p, items: (frames.append(items), received(p, items))
        for _ in range(100):  # bounded, in virtual time
            if len(answers) == 3:
                break
            await asyncio.sleep(0.001)

    sim.loop.run_until_complete(scenario())
    assert batches == [[1, 2, 3]]                      # one frame, one batch
    assert frames == [[(0, m.PutAcks((1, 2, 3)))]]    # one PutAcks back
    assert answers == [(m.PUT_ACK, None)] * 3
    assert sim.network.sent == 2                       # two frames in all


def test_a_node_going_down_fails_the_requests_waiting_on_it():
    held: list = []
    sim, a, b = two_nodes(lambda items, channel: held.extend(items))
    outcome: list = []

    async def scenario():
        a.send_request("b", m.Put("default", b"k", Version(1, "a"), 1, 1),
                       lambda reply, error: outcome.append(error))
        await asyncio.sleep(0.01)  # virtual time: the request is at b
        assert held
        sim.network.down("b")
        await asyncio.sleep(0.01)
        a.send_request("b", m.Ping(), lambda reply, error: outcome.append(error))
        await asyncio.sleep(0.01)

    sim.loop.run_until_complete(scenario())
    assert isinstance(outcome[0], PeerUnavailable) and "lost" in str(outcome[0])
    assert isinstance(outcome[1], PeerUnavailable) and "down" in str(outcome[1])
    assert ("a", "b") not in sim.network.links


def test_a_forgotten_request_is_not_failed_when_its_connection_breaks():
    sim, a, b = two_nodes(lambda items, channel: None)
    outcome: list = []

    async def scenario():
        req_id = a.send_request("b", m.Put("default", b"k", Version(1, "a"), 1, 1),
                                lambda reply, error: outcome.append(error))
        await asyncio.sleep(0.01)
        sim.network.down("b")
        a.forget("b", req_id)
        await asyncio.sleep(0.01)

    sim.loop.run_until_complete(scenario())
    assert outcome == []
