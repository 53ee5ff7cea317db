"""Cluster metadata: the state machine of the metadata Raft group (pure).

* spec.py: KeyspaceSpec and its one validation (config, CLI, HTTP, RESP);
* commands.py: the metadata commands and their msgpack encoding;
* state.py: MetaState, which applies them: nodes, keyspaces, range descriptors;
* view.py: MetaView, the copy a node outside the group follows.
"""

from .commands import (AddNode, Bootstrap, CreateKeyspace, DecodeError, DropKeyspace, NodeInfo,
                       RemoveNode, SetNodeState, UpdateDescriptor, bootstrap_from_config,
                       decode, encode)
from .spec import KeyspaceSpec, SpecError, check_spec, spec_from_args, spec_from_fields
from .state import Changes, MetaState, Result, choose_replicas, runtime_keyspace
from .view import MetaView, refresh_cache

__all__ = [
    "AddNode", "Bootstrap", "Changes", "CreateKeyspace", "DecodeError", "DropKeyspace",
    "KeyspaceSpec", "MetaState", "MetaView", "NodeInfo", "RemoveNode", "Result",
    "SetNodeState", "SpecError", "UpdateDescriptor", "bootstrap_from_config", "check_spec",
    "choose_replicas", "decode", "encode", "refresh_cache", "runtime_keyspace",
    "spec_from_args", "spec_from_fields",
]
