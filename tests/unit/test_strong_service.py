"""StrongService: the leader's side of a forwarded strong request, on callbacks.

Each request is answered exactly once on its channel: with the state machine's
reply, NOT_LEADER (naming the leader) for a proposal that certainly did not apply,
or an INTERNAL timeout error when the group does not answer in time.
"""

import asyncio

from quorumkv.core import messages as m
from quorumkv.core.raft.raft import ProposalDropped
from quorumkv.core.raft.types import Role
from quorumkv.core.strong import commands as c
from quorumkv.core.strong.replies import Bulk, Ok, reply_from_wire
from quorumkv.errors import ErrorCode
from quorumkv.node.raft.host import ProposalLost
from quorumkv.node.raft.strong import StrongService


class FakeMachine:
    keyspace_name = "locks"

    def read(self, command, now_ms):
        return Bulk(b"value of " + command.key, 7)


class FakeGroup:
    def __init__(self, role=Role.LEADER, leader="n1"):
        self.role, self.leader, self.machine = role, leader, FakeMachine()


class FakeHost:
    def __init__(self, group):
        self.groups = {5: group}
        self.futures = []      # what propose / read_index handed out, in order

    def loop(self):
        return asyncio.get_running_loop()

    def read_index(self, range_id):
        future = self.loop().create_future()
        self.futures.append(future)
        return future


class FakeReplicator:
    timeout_s = 0.05

    def __init__(self, host):
        self.host, self.proposed = host, []

    def clock_ms(self):
        return 1_000

    def propose(self, range_id, command, client_id, seq):
        self.proposed.append((range_id, command, client_id, seq))
        future = self.host.loop().create_future()
        self.host.futures.append(future)
        return future


class FakeChannel:
    def __init__(self):
        self.sent = []

    def send_later(self, replies):
        self.sent.extend(replies)


def request(command, client_id=b"c1", seq=3):
    return m.StrongRequest(5, 1, c.encode_command(command), client_id, seq)


def setup(group=None):
    host = FakeHost(group or FakeGroup())
    replicator = FakeReplicator(host)
    return host, replicator, StrongService(host, {"locks": replicator}), FakeChannel()


async def settle():
    for _ in range(3):
        await asyncio.sleep(0)


def test_a_write_is_answered_with_its_reply_once_applied():
    async def main():
        host, replicator, service, channel = setup()
        assert service.on_requests([(11, request(c.Set(b"k", b"v")))], channel) == []
        assert replicator.proposed == [(5, c.Set(b"k", b"v"), b"c1", 3)]
        await settle()
        assert channel.sent == []  # nothing until the entry applies
        host.futures[0].set_result(Ok(9))
        await settle()
        [(req_id, reply)] = channel.sent
        assert req_id == 11 and type(reply) is m.StrongReply
        assert reply_from_wire(reply.reply) == Ok(9)
        await asyncio.sleep(0.2)  # the deadline was cancelled: no second answer
        assert len(channel.sent) == 1
    asyncio.run(main())


def test_a_read_waits_for_its_read_index_then_reads_the_machine():
    async def main():
        host, replicator, service, channel = setup()
        service.on_requests([(12, request(c.Get(b"k")))], channel)
        assert replicator.proposed == []  # a read takes no log entry
        host.futures[0].set_result(None)
        await settle()
        [(_, reply)] = channel.sent
        assert reply_from_wire(reply.reply) == Bulk(b"value of k", 7)
    asyncio.run(main())


def test_a_lost_or_dropped_proposal_is_not_leader_naming_the_leader():
    async def main():
        host, _replicator, service, channel = setup(FakeGroup(leader="n1"))
        service.on_requests([(13, request(c.Set(b"a", b"1"))),
                             (14, request(c.Set(b"b", b"2")))], channel)
        host.groups[5].leader = "n3"  # learnt meanwhile
        host.futures[0].set_exception(ProposalLost("another leader's entry took index 4"))
        host.futures[1].set_exception(ProposalDropped("not the leader", "n3"))
        await settle()
        assert sorted(req_id for req_id, _ in channel.sent) == [13, 14]
        for _, reply in channel.sent:
            assert type(reply) is m.ErrorReply and reply.code == ErrorCode.NOT_LEADER
            assert list(reply.payload) == ["n3"]
    asyncio.run(main())


def test_a_group_that_does_not_answer_in_time_gets_a_timeout_error_once():
    async def main():
        host, _replicator, service, channel = setup()
        service.on_requests([(15, request(c.Set(b"k", b"v")))], channel)
        await asyncio.sleep(0.2)  # the timeout, rounded up to the deadlines' 50 ms slot
        [(req_id, reply)] = channel.sent
        assert req_id == 15 and reply.code == ErrorCode.INTERNAL
        assert "timed out" in reply.message
        host.futures[0].set_result(Ok(9))  # applied after all: not answered twice
        await settle()
        assert len(channel.sent) == 1
    asyncio.run(main())


def test_a_follower_refuses_at_once_and_proposes_nothing():
    async def main():
        host, replicator, service, channel = setup(FakeGroup(Role.FOLLOWER, leader="n2"))
        [(req_id, reply)] = service.on_requests([(16, request(c.Set(b"k", b"v")))], channel)
        assert req_id == 16 and reply.code == ErrorCode.NOT_LEADER
        assert list(reply.payload) == ["n2"] and replicator.proposed == []
    asyncio.run(main())


def test_an_undecodable_command_is_an_error_reply_not_a_hang():
    async def main():
        _host, replicator, service, channel = setup()
        bad = m.StrongRequest(5, 1, b"\xc1 not msgpack", b"", 0)
        [(req_id, reply)] = service.on_requests([(17, bad)], channel)
        assert req_id == 17 and type(reply) is m.ErrorReply
        assert replicator.proposed == []
    asyncio.run(main())
