# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.
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
