# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class Coordinator:
    cdef public object max_skew_ms, node_id, ranges, storage, transport, hlc, clock_ms, timeout_s, metrics, is_down, hints, debug, loop, deadlines, speculation, truncated, truncations, ctx, replicators, range_reads, range_writes, lagging_logged

cdef class EventualReplicator:
    cdef public object coordinator, keyspace, name, keyspace_id

cdef class _Run:
    cdef public object replicator, coordinator, machine, on_done, result_too, timed, outstanding, deadline, speculation, replied, pkey
    # called from the class's own methods and closures: C calls in the compiled build
    cpdef execute(self, actions)
    cpdef answer(self, reply)
    cpdef _release_if_finished(self)
