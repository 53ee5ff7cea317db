"""The etcd target: etcd's v3 gRPC KV service (Range, Put, Txn) over grpcio's asyncio
API, one channel (one HTTP/2 connection) per client.

No generated stubs: the few messages the benchmark sends are encoded here by hand in
protobuf's wire format, with the field numbers of etcd 3.4's
etcdserver/etcdserverpb/rpc.proto and mvcc/mvccpb/kv.proto, and the replies are
decoded only as far as the benchmark needs (the value and mod_revision of a key,
a Txn's `succeeded`). That keeps the client cheap (the machine has two cores the
servers need too) and free of a protobuf runtime version to match.

Workloads: `write` (Put), `read` (Range, linearizable: etcd's default,
serializable=false: the member confirms its commit index with the leader, ReadIndex),
`read-serializable` (Range served from the member's own state, may be stale), `incr`
(Range, then a Txn that puts value+1 if the key's mod_revision is unchanged; on a
conflict the Txn's failure branch returns the key again and the loop retries: the
optimistic read-compare-write that etcd's STM and clientv3 `concurrency` use).
"""

from __future__ import annotations

WORKLOADS = {
    "write": "Put",
    "read": "Range, linearizable (serializable=false, the default)",
    "read-serializable": "Range, serializable=true (member-local, may be stale)",
    "incr": "Range + Txn(mod_revision unchanged ? Put v+1 : Range), retried",
}
DEFAULT_WORKLOADS = ("write", "read", "incr")
MAX_TXN_OPS = 128  # etcd's --max-txn-ops default


class MissingKey(Exception):
    """A read found no value: the preload did not cover the key."""


# -- protobuf wire format: just what these messages use ----------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len_field(num: int, data: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _int_field(num: int, n: int) -> bytes:
    return _varint(num << 3) + _varint(n)


def _fields(buf: bytes):
    """(field number, value) for each field: an int for varints, bytes for the rest."""
    i, end = 0, len(buf)
    while i < end:
        key, i = _read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire == 2:
            size, i = _read_varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wire} not expected in an etcd reply")
        yield num, value


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n, i
        shift += 7


# -- etcdserverpb messages ---------------------------------------------------


def put_request(key: bytes, value: bytes) -> bytes:
    return _len_field(1, key) + _len_field(2, value)


def range_request(key: bytes, serializable: bool = False) -> bytes:
    return _len_field(1, key) + (_int_field(7, 1) if serializable else b"")


def cas_txn(key: bytes, mod_revision: int, value: bytes) -> bytes:
    """Txn: if mod_revision(key) == mod_revision then Put(key, value) else Range(key)."""
    # Compare: result EQUAL (0, the default, omitted), target MOD (2), key, mod_revision
    compare = _int_field(2, 2) + _len_field(3, key) + _int_field(6, mod_revision)
    success = _len_field(2, put_request(key, value))  # RequestOp.request_put
    failure = _len_field(1, range_request(key))       # RequestOp.request_range
    return _len_field(1, compare) + _len_field(2, success) + _len_field(3, failure)


def put_txn(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """Txn with no compare: every Put in one Raft entry (the preload's batch)."""
    return b"".join(_len_field(2, _len_field(2, put_request(k, v))) for k, v in pairs)


def range_kv(reply: bytes) -> tuple[bytes, int] | None:
    """(value, mod_revision) of the first key in a RangeResponse, None if it has none."""
    for num, kv in _fields(reply):
        if num == 2:  # kvs
            value, mod = b"", 0
            for f, v in _fields(kv):
                if f == 3:
                    mod = v
                elif f == 5:
                    value = v
            return value, mod
    return None


def txn_result(reply: bytes) -> tuple[bool, bytes | None]:
    """(succeeded, the failure branch's RangeResponse or None) of a TxnResponse."""
    succeeded, ranged = False, None
    for num, v in _fields(reply):
        if num == 2:
            succeeded = bool(v)
        elif num == 3:  # ResponseOp
            for f, inner in _fields(v):
                if f == 1:  # response_range
                    ranged = inner
    return succeeded, ranged


# -- the target --------------------------------------------------------------


class Conn:
    """One client: its own channel to one member."""

    def __init__(self, endpoint: str) -> None:
        import grpc  # here, so that the wire format above imports without grpcio

        self.channel = grpc.aio.insecure_channel(endpoint)
        call = self.channel.unary_unary  # bytes in, bytes out: no (de)serializers
        self.range = call("/etcdserverpb.KV/Range")
        self.put = call("/etcdserverpb.KV/Put")
        self.txn = call("/etcdserverpb.KV/Txn")


class Target:
    name = "etcd"
    workloads = WORKLOADS
    default_workloads = DEFAULT_WORKLOADS

    def __init__(self, options) -> None:
        self.timeout = options.request_timeout

    async def connect(self, endpoint: str) -> Conn:
        conn = Conn(endpoint)
        await conn.channel.channel_ready()
        return conn

    async def close(self, conn: Conn) -> None:
        await conn.channel.close()

    def key(self, i: int, width: int) -> bytes:
        return b"k%0*d" % (width, i)

    def counter(self, i: int, width: int) -> bytes:
        return b"c%0*d" % (width, i)

    async def preload(self, conn: Conn, pairs: list[tuple[bytes, bytes]]) -> None:
        for i in range(0, len(pairs), MAX_TXN_OPS):
            await conn.txn(put_txn(pairs[i:i + MAX_TXN_OPS]), timeout=self.timeout)

    async def read_int(self, conn: Conn, key: bytes) -> int:
        found = range_kv(await conn.range(range_request(key), timeout=self.timeout))
        return int(found[0]) if found is not None else 0

    async def op(self, workload: str, conn: Conn, key: bytes, value: bytes) -> int:
        """Run one operation; the number of retries it needed (incr only)."""
        if workload == "write":
            await conn.put(put_request(key, value), timeout=self.timeout)
            return 0
        if workload in ("read", "read-serializable"):
            reply = await conn.range(range_request(key, workload == "read-serializable"),
                                     timeout=self.timeout)
            if range_kv(reply) is None:
                raise MissingKey(key.decode())
            return 0
        if workload == "incr":
            return await self._incr(conn, key)
        raise AssertionError(workload)

    async def _incr(self, conn: Conn, key: bytes) -> int:
        found = range_kv(await conn.range(range_request(key), timeout=self.timeout))
        retries = 0
        while True:
            value, mod = found if found is not None else (b"0", 0)
            txn = cas_txn(key, mod, b"%d" % (int(value) + 1))
            succeeded, ranged = txn_result(await conn.txn(txn, timeout=self.timeout))
            if succeeded:
                return retries
            retries += 1
            found = range_kv(ranged) if ranged is not None else None
