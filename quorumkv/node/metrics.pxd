# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class RequestStats:
    cdef public object outcomes, buckets, total_s
