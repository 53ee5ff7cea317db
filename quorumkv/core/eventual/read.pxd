# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.
# Hot path, measured: bench/hotpath.py under callgrind (compiled, SET and GET at
# -c 32) showed generic attribute lookups in Read.__init__ and the on_reply ->
# Reply chain; as extension types SET went 229,307 -> 221,559 and GET 182,163 ->
# 170,551 instructions per request (947beac).
# Hot: Read.__init__ and the chain from on_reply to the Reply spent most of their
# instructions in generic attribute lookups (bench/hotpath.py under callgrind).

cdef class Read:
    cdef public object ctx, tracker, keyspace, keyspace_id, key, session, truncation, spares, phase, now_ms, decision, holders, waiting, rng, retried
    # called from the class's own methods: C calls in the compiled build
    cpdef _get(self, digest)
    cpdef _answered(self, node, version, digest)
    cpdef _on_decision(self, decision)
    cpdef _finish(self)
    cpdef _repairs(self)
    cpdef _reply_newest(self)
    cpdef _ask_spare(self)
