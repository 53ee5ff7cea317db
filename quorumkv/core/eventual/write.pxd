# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.
# Hot path, measured: bench/hotpath.py under callgrind (compiled, SET and GET at
# -c 32) showed generic attribute lookups in Read.__init__ and the on_reply ->
# Reply chain; as extension types SET went 229,307 -> 221,559 and GET 182,163 ->
# 170,551 instructions per request (947beac).
# Hot on every SET (bench/hotpath.py under callgrind).

cdef class Write:
    cdef public object ctx, tracker, message, key, pkey, version, session, hinted, retried
    cpdef _decided(self, decision)
    cpdef _local(self)
    cpdef _hint(self, node)

cdef class Truncate(Write):
    cdef public object sync
    cpdef _local(self)
    cpdef _hint(self, node)
