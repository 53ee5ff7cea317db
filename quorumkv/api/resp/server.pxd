# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class RespServer:
    cdef public object node, kv, ids, connections, server, max_arg, max_clients, _by_name, _dirty, _flush_scheduled, unknown_stats, monitors, slow_s, commands, next_sample, net_in, net_out, hooks, debug

cdef class Started:
    cdef public object conn, args, stats, started, keys, alone, reply, elapsed, task

cdef class RespConnection:
    cdef public object server, parser, queue, in_flight, busy_keys, alone_running, out, out_bytes, draining, drain_scheduled, transport, paused, broken, closing, ctx
