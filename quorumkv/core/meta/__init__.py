"""Cluster metadata: the state machine of the metadata Raft group (pure).

* spec.py: KeyspaceSpec and its one validation (config, CLI, HTTP, RESP).
"""
