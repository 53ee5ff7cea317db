"""Strong keyspaces' range state machine, pure: the commands a Raft log carries
(commands.py), what applying them does (machine.py), their replies (replies.py),
the stored records (record.py) and INCRBYFLOAT's long double arithmetic
(longdouble.py). The multi-Raft host (node/) drives it: it decodes nothing
itself, it hands committed entries to ``RangeMachine.apply`` and persists the
writes it gets back."""

from .commands import (  # noqa: F401
    CodecError, Proposal, decode_command, decode_proposal, encode_command, encode_proposal,
    hash_tag, is_read_only, keys_of,
)
from .machine import Applied, OverlayReader, RangeMachine  # noqa: F401
from .record import applied_index_record, parse_applied_index, snapshot_spans  # noqa: F401
