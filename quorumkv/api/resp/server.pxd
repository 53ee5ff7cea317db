# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.
# This is the former api/resp_server.pxd (RespServer, RespConnection: f503990, from
# the callgrind profile of bench/hotpath.py); Started, one per command on the request
# path, joined with the pipelined loop, measured the same way (docs/benchmarks.md,
# "The hot path after issue 10's changes").

cdef class RespServer:
    cdef public object node, kv, ids, connections, server, max_arg, max_clients, _by_name, _dirty, _flush_scheduled, unknown_stats, monitors, slow_s, commands, next_sample, net_in, net_out, hooks, debug

cdef class Started:
    cdef public object conn, args, stats, started, keys, alone, reply, elapsed, task

cdef class RespConnection:
    cdef public object server, parser, queue, in_flight, busy_keys, alone_running, out, out_bytes, draining, drain_scheduled, transport, paused, broken, closing, ctx
