"""Raft, sans-IO: one group's protocol as a state machine (see types.Ready for the
order the host must follow). Modules: types (the vocabulary), quorum (majority and
joint quorum math), and the protocol itself."""
