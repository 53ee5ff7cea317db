# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class Quorum:
    cdef public object level, replicas, answered, failed, decision, hints_count, required

cdef class ReadQuorum(Quorum):
    cdef public object newest, newest_id, _newest_full_id, _seen, _ids, _repaired
