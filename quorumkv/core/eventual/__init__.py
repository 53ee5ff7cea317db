"""The eventual (Dynamo-style) replication protocol as pure state machines.

One object per coordinated request: ``write.Write`` (and ``write.Truncate``),
``read.Read`` and ``scan.SpanScan``. Each takes events (``start``, ``on_reply``
with the purpose the reply answers, ``on_failure``, ``on_timeout``, and for reads
``on_local`` and ``on_slow``) and returns the actions of ``actions`` for its
driver to execute: sends, local storage operations, hints, read repairs, the
client's reply. Time, liveness and connectedness come in as arguments; nothing
here does I/O or reads a clock. ``node/coordinator.py`` is the driver.

Every request of one node shares a ``context.Context`` (its id, HLC and limits).
"""
