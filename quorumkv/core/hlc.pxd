# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class HLC:
    cdef public object _last
