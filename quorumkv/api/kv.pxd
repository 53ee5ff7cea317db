# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class KV:
    cdef public object node, coordinator, clock_ms, max_key, max_value, ranges, initial, served, levels
