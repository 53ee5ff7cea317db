"""bench/strong's hand-written wire formats and its figures, checked against bytes
built by hand from the protocols' definitions (etcd 3.4's rpc.proto and kv.proto,
ZooKeeper's jute records, RESP2). The benchmark itself runs real servers
(bench/strong/run.sh); these pin the encoders so that a wrong field number or
offset cannot pass as a fast server."""

from __future__ import annotations

import importlib.util
import os
import struct

import pytest

STRONG = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "strong")


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"strong_bench_{name}", os.path.join(STRONG, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


etcd = _module("etcd_target")
zk = _module("zk_target")
resp = _module("resp_target")
load = _module("load")


# -- etcd: protobuf wire format ----------------------------------------------


def test_etcd_put_and_range_requests_carry_etcds_field_numbers():
    # PutRequest: key = 1, value = 2 (length-delimited: tag = num << 3 | 2)
    assert etcd.put_request(b"k1", b"v") == b"\x0a\x02k1\x12\x01v"
    # RangeRequest: key = 1; serializable = 7 (varint: tag 0x38), absent when false
    assert etcd.range_request(b"k1") == b"\x0a\x02k1"
    assert etcd.range_request(b"k1", serializable=True) == b"\x0a\x02k1\x38\x01"


def test_etcd_varints_past_one_byte():
    assert etcd._varint(300) == b"\xac\x02"
    assert etcd._read_varint(b"\xac\x02", 0) == (300, 2)
    value = b"x" * 200  # a length over 127 takes two bytes
    assert etcd.put_request(b"k", value)[:5] == b"\x0a\x01k\x12\xc8" and len(etcd.put_request(b"k", value)) == 3 + 3 + 200


def test_etcd_cas_txn_compares_mod_revision_and_reads_on_failure():
    txn = etcd.cas_txn(b"c1", 300, b"8")
    fields = list(etcd._fields(txn))
    assert [num for num, _ in fields] == [1, 2, 3]  # compare, success, failure
    compare = dict(etcd._fields(fields[0][1]))
    # result EQUAL is 0 (omitted); target MOD = 2; key = 3; mod_revision = 6
    assert compare == {2: 2, 3: b"c1", 6: 300}
    success = dict(etcd._fields(fields[1][1]))
    assert success == {2: etcd.put_request(b"c1", b"8")}  # RequestOp.request_put = 2
    failure = dict(etcd._fields(fields[2][1]))
    assert failure == {1: etcd.range_request(b"c1")}      # RequestOp.request_range = 1


def _kv(key: bytes, mod_revision: int, value: bytes) -> bytes:
    # mvccpb.KeyValue: key 1, create_revision 2, mod_revision 3, version 4, value 5
    return (b"\x0a" + bytes([len(key)]) + key + b"\x10\x05" + b"\x18" + etcd._varint(mod_revision)
            + b"\x20\x02" + b"\x2a" + bytes([len(value)]) + value)


def test_etcd_range_reply_gives_value_and_mod_revision():
    header = b"\x0a\x04\x18\x07\x20\x02"  # ResponseHeader {revision 7, raft_term 2}
    kv = _kv(b"k1", 300, b"hello")
    reply = header + b"\x12" + bytes([len(kv)]) + kv + b"\x20\x01"  # kvs = 2, count = 4
    assert etcd.range_kv(reply) == (b"hello", 300)
    assert etcd.range_kv(header + b"\x20\x00") is None  # no kvs: the key is absent


def test_etcd_txn_reply_succeeded_or_the_failure_branchs_range():
    assert etcd.txn_result(b"\x10\x01") == (True, None)
    kv = _kv(b"c1", 9, b"41")
    range_response = b"\x12" + bytes([len(kv)]) + kv
    op = b"\x0a" + bytes([len(range_response)]) + range_response  # ResponseOp.response_range
    succeeded, ranged = etcd.txn_result(b"\x1a" + bytes([len(op)]) + op)
    assert succeeded is False and etcd.range_kv(ranged) == (b"41", 9)


# -- ZooKeeper: jute records -------------------------------------------------


def test_zookeeper_get_data_reply_gives_data_and_the_stats_version():
    # Stat: czxid mzxid ctime mtime (longs), version cversion aversion (ints),
    # ephemeralOwner (long), dataLength numChildren (ints), pzxid (long)
    stat = struct.pack(">qqqqiiiqiiq", 1, 2, 3, 4, 7, 0, 0, 0, 2, 0, 5)
    assert len(stat) == 68
    assert zk._data_and_version(struct.pack(">i", 2) + b"41" + stat) == (b"41", 7)
    assert zk._data_and_version(struct.pack(">i", -1) + stat) == (b"", 7)  # null data


def test_zookeeper_set_data_and_create_layouts():
    assert zk._set_data("/a", b"xy", 3) == b"\x00\x00\x00\x02/a" + b"\x00\x00\x00\x02xy" + b"\x00\x00\x00\x03"
    create = zk._create("/a", b"")
    # path, empty data, one ACL (perms 31, world:anyone), flags 0 (persistent)
    assert create == (b"\x00\x00\x00\x02/a" + b"\x00\x00\x00\x00" + struct.pack(">ii", 1, 31)
                      + b"\x00\x00\x00\x05world" + b"\x00\x00\x00\x06anyone" + b"\x00\x00\x00\x00")


def test_zookeeper_multi_is_headed_ops_then_a_done_header():
    body = zk._multi_create([("/a", b"1")])
    one = zk._create("/a", b"1")
    assert body == struct.pack(">i?i", 1, False, -1) + one + struct.pack(">i?i", -1, True, -1)


# -- RESP --------------------------------------------------------------------


def test_resp_encode_and_parse():
    assert resp.encode(b"SET", b"k", b"a\r\nb") == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n"
    buf = bytearray(b"+OK\r\n:42\r\n$4\r\na\r\nb\r\n$-1\r\n-ERR no\r\n*2\r\n:1\r\n$1\r\nx\r\n")
    replies, i = [], 0
    while i < len(buf):
        reply, i = resp.parse(buf, i)
        replies.append(reply)
    assert replies[:3] == [b"OK", 42, b"a\r\nb"]
    assert replies[3] is resp.NIL
    assert isinstance(replies[4], resp.RespError) and str(replies[4]) == "ERR no"
    assert replies[5] == [1, b"x"]


@pytest.mark.parametrize("partial", [b"", b"+OK", b"$5\r\nab", b"$2\r\nab\r", b"*2\r\n:1\r\n"])
def test_resp_an_incomplete_reply_is_none_not_a_value(partial):
    assert resp.parse(bytearray(partial)) is None


# -- the figures -------------------------------------------------------------


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert load.percentile(values, 0.50) == 50
    assert load.percentile(values, 0.99) == 99
    assert load.percentile([7], 0.99) == 7


def test_split_hands_out_every_op_once():
    assert [load.split(10, 3, i) for i in range(3)] == [4, 3, 3]
    assert sum(load.split(200_000, 7, i) for i in range(7)) == 200_000


def _incr(ok, warm_ok, errors=0, warm_err=0):
    return {"phases": {"incr": {"ok": ok, "warm_ok": warm_ok, "errors": {"x": errors} if errors else {},
                                "warm_err": warm_err}}}


def test_incr_check_catches_lost_and_extra_increments():
    results = [_incr(100, 10), _incr(50, 5, errors=2)]
    assert load.incr_check(165, results)["ok"]       # all acknowledged ones applied
    assert load.incr_check(167, results)["ok"]       # plus the two that failed
    assert not load.incr_check(164, results)["ok"]   # one acknowledged increment lost
    assert not load.incr_check(168, results)["ok"]   # more than was ever sent


def test_merge_counts_ops_over_the_union_of_the_processes_windows():
    def part(ok, t0, t1, lat):
        return {"phases": {"write": {"ok": ok, "t0": t0, "t1": t1, "latencies_us": lat, "errors": {},
                                     "retries": 0, "cpu_s": 0.5, "warm_ok": 0, "warm_err": 0}}}
    merged = load.merge([part(100, 10.0, 12.0, [1000] * 100), part(300, 10.5, 14.0, [3000] * 300)],
                        ["write"])["write"]
    assert merged["ok"] == 400 and merged["window_s"] == 4.0 and merged["ops_per_s"] == 100.0
    assert merged["p50_ms"] == 3.0 and merged["client_cpu_s"] == 1.0
