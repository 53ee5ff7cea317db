"""Keyspace specs: what a keyspace is, and the one validation every front end uses.

A :class:`KeyspaceSpec` is a keyspace as the user declares it: name, mode
(``eventual`` or ``strong``), partitioner (``hash`` cut into ``ranges`` equal
parts, or ``range`` cut at ``split_points``), replication factor, default
consistency, tombstone grace period, hints rule and an optional Redis ``db``
number. It comes from four places, all checked by :func:`check_spec`:

* ``cluster.toml``'s ``[[keyspaces]]`` (config.py calls :func:`check_spec` on the
  settings it parsed, keeping its own error prefixes: ``keyspaces.<name>.<key>``);
* HTTP ``POST /v1/keyspaces`` (a JSON object: :func:`spec_from_fields`);
* RESP ``QKV.KEYSPACE CREATE name k v ...`` and the CLI ``quorumkv keyspace create
  name --k v ...`` (tokens: :func:`spec_from_args`).

Every bad field is a :class:`SpecError` naming the field and what it accepts. What
depends on the cluster (the replication factor against the up nodes, a db number
already taken, a name in use) is the metadata state's check, at creation
(state.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

EVENTUAL, STRONG = "eventual", "strong"
MODES = (EVENTUAL, STRONG)
HASH, RANGE = "hash", "range"
PARTITIONERS = (HASH, RANGE)
LEVELS = ("ONE", "TWO", "QUORUM", "ALL")  # a keyspace default must serve reads too
NAME_PATTERN = re.compile(r"[0-9A-Za-z_-]{1,48}")
NAME_RULE = "1 to 48 letters, digits, '_' or '-'"
DEFAULT_KEYSPACE = "default"  # always exists
MAX_KEYSPACES = 64
MAX_RANGES = 4096       # per keyspace
MAX_REPLICATION_FACTOR = 15
MAX_DB = 15             # Redis's 16 databases: SELECT 0 .. SELECT 15
MAX_GC_GRACE_MS = 10 * 365 * 86_400_000
MAX_SPLIT_POINT_BYTES = 1024
DEFAULT_RANGES = 16


class SpecError(ValueError):
    """A bad keyspace setting. ``field`` names it; ``detail`` is the message after
    the field's name, so config.py can put its own prefix (``keyspaces.u.ranges``)
    in front: ``str(err) == field + detail``."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(field + detail)
        self.field = field
        self.detail = detail


@dataclass(frozen=True, slots=True)
class KeyspaceSpec:
    """A keyspace's declared settings. For a range keyspace ``ranges`` is always
    ``len(split_points) + 1`` (the spec builders set it)."""

    name: str
    mode: str = EVENTUAL
    partitioner: str = HASH
    ranges: int = DEFAULT_RANGES
    split_points: tuple[str, ...] = ()
    replication_factor: int = 3
    default_consistency: str = "QUORUM"
    gc_grace_ms: int = 864_000_000
    hints_count_toward_consistency: str = "off"
    db: int | None = None

    def to_plain(self) -> dict:
        """The fields :func:`spec_from_fields` takes back: ``ranges`` only for a
        hash keyspace, ``split_points`` only for a range one."""
        skip = "split_points" if self.partitioner == HASH else "ranges"
        return {f: (list(v) if isinstance(v, tuple) else v)
                for f, v in ((f.name, getattr(self, f.name)) for f in fields(self))
                if f != skip}

    def tolerates(self) -> int:
        """Replicas a strong keyspace's range may lose and still commit (a Raft
        majority of ``replication_factor``)."""
        return (self.replication_factor - 1) // 2


FIELDS = tuple(f.name for f in fields(KeyspaceSpec))
INT_FIELDS = ("ranges", "replication_factor", "gc_grace_ms", "db")
# the short names the CLI and RESP take as well (``--rf 3``, ``split-points l,r``)
ALIASES = {"rf": "replication_factor", "consistency": "default_consistency",
           "hints": "hints_count_toward_consistency"}


def check_name(name) -> str:
    if type(name) is not str or not NAME_PATTERN.fullmatch(name):
        raise SpecError("name", f" {name!r} must be {NAME_RULE}")
    return name


def check_spec(spec: KeyspaceSpec) -> KeyspaceSpec:
    """``spec`` if every field is good, else SpecError for the first bad one."""
    check_name(spec.name)
    _one_of("mode", spec.mode, MODES)
    _one_of("partitioner", spec.partitioner, PARTITIONERS)
    if type(spec.default_consistency) is not str \
            or spec.default_consistency.upper() not in LEVELS:
        raise SpecError("default_consistency", f" must be one of {', '.join(LEVELS)}")
    if spec.hints_count_toward_consistency not in ("on", "off"):
        raise SpecError("hints_count_toward_consistency", " must be on or off")
    checks = [("replication_factor", spec.replication_factor, 1, MAX_REPLICATION_FACTOR),
              ("gc_grace_ms", spec.gc_grace_ms, 0, MAX_GC_GRACE_MS)]
    if spec.partitioner == HASH:
        checks.insert(0, ("ranges", spec.ranges, 1, MAX_RANGES))
    if spec.db is not None:
        checks.append(("db", spec.db, 0, MAX_DB))
    for key, value, low, high in checks:
        if type(value) is not int:
            raise SpecError(key, f": expected an integer, got {value!r}")
        if not low <= value <= high:
            raise SpecError(key, f" = {value} is out of range [{low}, {high}]")
    check_split_points(spec.partitioner, spec.split_points)
    if spec.partitioner == RANGE and spec.ranges != len(spec.split_points) + 1:
        raise SpecError("ranges", f" = {spec.ranges}: a range keyspace has its split "
                                  f"points + 1 ranges ({len(spec.split_points) + 1})")
    return spec


def _one_of(key: str, value, accepted: tuple) -> None:
    if value not in accepted:
        raise SpecError(key, f" must be {' or '.join(accepted)}, not {value!r}")


def check_split_points(partitioner: str, points) -> None:
    """Split points cut a range keyspace: non-empty strings, strictly increasing
    by their UTF-8 bytes (so no range is empty), at most MAX_RANGES - 1."""
    where = "split_points"
    if type(points) is not tuple or not all(type(p) is str for p in points):
        raise SpecError(where, f" must be a list of strings, not {points!r}")
    if partitioner == HASH and points:
        raise SpecError(where, " is for range keyspaces, not a hash keyspace")
    if len(points) > MAX_RANGES - 1:
        raise SpecError(where, f": {len(points)} split points, at most {MAX_RANGES - 1}")
    if any(p == "" for p in points):
        raise SpecError(where, ": a split point is never empty (the first range "
                               "already starts at the beginning)")
    if any(len(p.encode()) > MAX_SPLIT_POINT_BYTES for p in points):
        raise SpecError(where, f": a split point has at most {MAX_SPLIT_POINT_BYTES} bytes")
    for left, right in zip(points, points[1:]):
        if not left.encode() < right.encode():
            raise SpecError(where, f" must be strictly increasing: {left!r} is not "
                                   f"before {right!r}")


# ---- builders: a JSON object, or RESP / CLI tokens ----------------------------------

def spec_from_fields(mapping) -> KeyspaceSpec:
    """A checked spec from ``{"name": ..., "mode": ..., ...}`` (HTTP's JSON body, or
    the pairs of :func:`spec_from_args`). Integers may come as decimal strings,
    split points as a list or one comma-separated string; ``rf``,
    ``consistency`` and ``hints`` are short names. Unknown or repeated fields are
    refused."""
    if not isinstance(mapping, dict):
        raise SpecError("keyspace", f" must be an object of settings, not {mapping!r}")
    values = {}
    for raw_key, value in mapping.items():
        key = _field_name(raw_key)
        if key in values:
            raise SpecError(key, " is given twice")
        values[key] = _coerce(key, value)
    if "name" not in values:
        raise SpecError("name", f" is required ({NAME_RULE})")
    partitioner = values.get("partitioner", HASH)
    if partitioner == HASH and "split_points" in values:
        raise SpecError("split_points", " is for range keyspaces; a hash keyspace takes "
                                        "ranges = K (or set partitioner = range)")
    if partitioner == RANGE:
        if "ranges" in values:
            raise SpecError("ranges", " is for hash keyspaces; a range keyspace is cut "
                                      "at its split_points (ranges = split points + 1)")
        values["ranges"] = len(values.get("split_points", ())) + 1
    if isinstance(values.get("default_consistency"), str):
        values["default_consistency"] = values["default_consistency"].upper()
    return check_spec(KeyspaceSpec(**values))


def spec_from_args(args) -> KeyspaceSpec:
    """A checked spec from tokens: the name, then setting and value pairs, each
    setting with or without a leading ``--`` and with ``-`` or ``_``
    (``locks --mode strong --rf 3 --partitioner range --split-points l,r``)."""
    args = list(args)
    if not args or not all(type(a) is str for a in args):
        raise SpecError("name", f" is required ({NAME_RULE}), then setting value pairs")
    name, rest = args[0], args[1:]
    if name.startswith("--"):
        raise SpecError("name", f" comes first, before the settings (got {name!r})")
    if len(rest) % 2:
        raise SpecError(_field_name(rest[-1]), " has no value")
    fields_ = {"name": name}
    for key, value in zip(rest[::2], rest[1::2]):
        canonical = _field_name(key)
        if canonical == "name":
            raise SpecError("name", " is the first argument, not a setting")
        if canonical in fields_:
            raise SpecError(canonical, " is given twice")
        fields_[canonical] = value
    return spec_from_fields(fields_)


def _field_name(raw) -> str:
    if type(raw) is not str:
        raise SpecError("keyspace", f": a setting's name is a string, not {raw!r}")
    key = raw.lower().removeprefix("--").replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in FIELDS:
        raise SpecError(raw, f" is not a keyspace setting (known: {', '.join(FIELDS)}; "
                             f"short names: {', '.join(ALIASES)})")
    return key


def _coerce(key: str, value):
    if key == "split_points":
        if type(value) is str:  # "l,r" from the CLI or RESP
            return tuple(value.split(",")) if value else ()
        if type(value) in (list, tuple) and all(type(p) is str for p in value):
            return tuple(value)
        raise SpecError(key, f" must be a list of strings (or one string, "
                             f"comma-separated), not {value!r}")
    if key in INT_FIELDS:
        if key == "db" and value is None:
            return None
        if type(value) is str and re.fullmatch(r"-?[0-9]{1,20}", value):
            return int(value)
        if type(value) is not int:
            raise SpecError(key, f": expected an integer, got {value!r}")
        return value
    if type(value) is not str:
        raise SpecError(key, f": expected a string, got {value!r}")
    return value.lower() if key in ("mode", "partitioner",
                                    "hints_count_toward_consistency") else value


def spec_from_settings(settings) -> KeyspaceSpec:
    """The spec of a parsed ``[[keyspaces]]`` table (config.KeyspaceSettings, read
    by attribute: core does not import config), unchecked."""
    ranges = (settings.ranges if settings.partitioner == HASH
              else len(settings.split_points) + 1)
    return KeyspaceSpec(settings.name, settings.mode, settings.partitioner, ranges,
                        tuple(settings.split_points), settings.replication_factor,
                        settings.default_consistency, settings.gc_grace_ms,
                        settings.hints_count_toward_consistency, settings.db)
