# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class RespServer:
    cdef public object node, kv, ids, connections, server, max_arg, max_clients, _by_name, _dirty, _flush_scheduled, debug

cdef class RespConnection:
    cdef public object server, parser, queue, out, out_bytes, waiting, draining, current, task, transport, paused, closing, ctx
