# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.
# Read on every request (ctx.me, ctx.max_skew_ms; bench/hotpath.py under callgrind).

cdef class Context:
    cdef public object me, hlc, timeout_ms, max_skew_ms, notices

cdef class Notices:
    cdef public object _told
