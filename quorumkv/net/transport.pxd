# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class _PeerLink:
    cdef public object proto, pending, _connecting, _retry_after, owner, peer_id, host, port
    cdef public object refusal, _refused_backoff, removed

cdef class PeerTransport:
    cdef public object handlers, connect_timeout_s, _links, _ids, _server, _inbound, bind_host, port
    cdef public object hello, check_hello, protocol_version, max_queued_bytes, streams, _removed
    cdef public object on_join

cdef class FrameProtocol:
    cdef public object _on_messages, _on_lost, _buf, _out, _out_bytes, _flush_scheduled, transport, closed
    cdef public object max_queued_bytes, pause_reads, paused, _held, _held_bytes, _room
