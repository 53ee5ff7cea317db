"""The cluster identity recorded in a node's data directory (rules: core/identity.py).

``<data_dir>/cluster-identity.json`` holds the cluster id, the node id and the layout
the data was written under. It is written once, atomically, before the database is
opened the first time (or adopted by a database written before identities existed),
and checked at every start: ``node start`` and ``cluster up`` refuse, with one line
naming both identities, a data directory of another cluster, node or layout.
"""

from __future__ import annotations

import json
import logging
import os

from ..config import Config, write_atomic
from ..core.identity import (EXTEND, NEW, OK, REFUSE, Identity, KeyspaceLayout, Layout,
                             StartDecision, decide_start)
from ..errors import ConfigError

IDENTITY_FILE = "cluster-identity.json"
ROCKSDB_MARKER = "CURRENT"  # RocksDB writes it when it creates a database
log = logging.getLogger(__name__)


def configured(config: Config) -> Identity:
    """The identity a node of this configuration runs under."""
    c = config.cluster
    default, *others = config.keyspaces
    keyspaces = [KeyspaceLayout(k.name, k.keyspace_id, k.partitioner, k.range_count,
                                k.replication_factor, k.split_points, k.mode) for k in others]
    layout = Layout.of([(n.id, n.host, n.peer_port) for n in c.nodes], default.range_count,
                       default.replication_factor, default.partitioner,
                       default.split_points, keyspaces)
    return Identity(c.id, config.node.id, layout)


def path_of(data_dir: str) -> str:
    return os.path.join(data_dir, IDENTITY_FILE)


def read(data_dir: str) -> Identity | None:
    """The recorded identity, None if there is none; ConfigError if unreadable."""
    path = path_of(data_dir)
    try:
        with open(path) as f:
            raw = json.load(f)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}): it records which cluster "
                          f"this data belongs to; restore it or move the data away") from None
    try:
        return Identity.from_json(raw)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def check(config: Config, advice: str = "") -> StartDecision:
    """May this node start over its data directory? Reads only; ConfigError if not
    (ending with ``advice``, if given, on what to do)."""
    data_dir = config.data_dir
    has_data = os.path.exists(os.path.join(data_dir, ROCKSDB_MARKER))
    decision = decide_start(read(data_dir), configured(config), data_dir, has_data, advice)
    if decision.action == REFUSE:
        raise ConfigError(decision.message)
    return decision


def establish(config: Config) -> Identity:
    """:func:`check`, then record the identity if the data directory has none (or
    none with a cluster id); logged either way. Run before storage is opened."""
    decision = check(config)
    if decision.action != OK:
        os.makedirs(config.data_dir, exist_ok=True)
        text = json.dumps(decision.identity.to_json(), indent=2, sort_keys=True) + "\n"
        try:
            write_atomic(path_of(config.data_dir), text)
        except OSError as exc:
            raise ConfigError(f"cannot write {path_of(config.data_dir)}: "
                              f"{exc.strerror}") from None
    if decision.action in (OK, NEW, EXTEND):
        log.info("%s", decision.message)
    else:  # adopting is worth noticing: it happens once per data directory
        log.warning("%s", decision.message)
    return decision.identity
