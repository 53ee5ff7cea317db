# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class RequestParser:
    cdef public object _fast, _buf, _pos, _max_arg, _want, _args, _skip, _reader
