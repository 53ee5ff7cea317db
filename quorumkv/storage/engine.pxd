# Cython declarations for the compiled build (quorumkv/accel.py): these classes
# become extension types, their attributes struct fields. Plain Python ignores this.

cdef class Storage:
    cdef public object engine, _get, path, durability, periodic_sync_ms, _sync_waiters, _sync_task, _periodic_task, _closed, _soon, _soon_callbacks, _soon_raw, _soon_cache, _soon_drop, _soon_spans, _soon_scheduled, _loop, watermark, truncated, unswept, cache
