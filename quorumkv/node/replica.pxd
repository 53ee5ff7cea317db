# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class Replica:
    cdef public object max_skew_ms, node_id, ranges, storage, hlc, clock_ms, metrics, truncations
