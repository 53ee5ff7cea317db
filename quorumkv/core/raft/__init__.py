"""Raft, sans-IO: one group's protocol as a state machine (see types.Ready for the
order the host must follow). Modules: types (the vocabulary), quorum (majority and
joint quorum math), confchange (membership changes), codec (the wire form), log
(the log over a LogStorage plus its unstable part), storage (MemoryStorage),
progress (flow control and the tracker), readonly (ReadIndex rounds), raft (the
protocol) and rawnode (the host's handle: RawNode)."""
