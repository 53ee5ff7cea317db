# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class CommandContext:
    cdef public object node, kv, client_id, resp3, keyspace, level, level_set, session, receipts_on, last_receipts, name, quit, multi_refused, peer
    cdef public object hooks, conn, laddr, created_s, last_started, reply_off, reply_skip, reply_skip_next, reply_filter, no_evict, monitor, lib_name, lib_ver
    cdef public object strong, strong_txn, strong_watches, strong_sessions, strong_redirect
