# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.
# Hot path, measured: bench/hotpath.py under callgrind (compiled, SET and GET at
# -c 32) showed generic attribute lookups in Read.__init__ and the on_reply ->
# Reply chain; as extension types SET went 229,307 -> 221,559 and GET 182,163 ->
# 170,551 instructions per request (947beac).
# Read on every request (ctx.me, ctx.max_skew_ms; bench/hotpath.py under callgrind).

cdef class Context:
    cdef public object me, hlc, timeout_ms, max_skew_ms, notices

cdef class Notices:
    cdef public object _told
