# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class Deadlines:
    cdef public object delay_s, loop, on_due, slot_s, _queue, _armed
