# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.
# Hot: Read.__init__ and the chain from on_reply to the Reply spent most of their
# instructions in generic attribute lookups (bench/hotpath.py under callgrind).

cdef class Read:
    cdef public object ctx, tracker, keyspace, keyspace_id, key, session, truncation, spares, phase, now_ms, decision, holders, waiting
