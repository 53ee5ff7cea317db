# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class Coordinator:
    cdef public object max_skew_ms, node_id, ranges, storage, transport, hlc, clock_ms, timeout_s, metrics, is_down, hints, debug, loop, deadlines, speculation, truncated, truncations, _told

cdef class _Run:
    cdef public object coordinator, tracker, decided, on_decided, on_done, outstanding, deadline, speculation, repair_target, replies, spares, spare_request, write, session, hinted
