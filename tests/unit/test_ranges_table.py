"""The ``quorumkv ranges`` table (cli/ranges.py)."""

from quorumkv.cli.ranges import format_ranges, readable_bounds


def test_range_keyspace_bounds_are_the_keys_with_open_ends_blank():
    assert readable_bounds("range", "", b"l".hex()) == "[ , l)"
    assert readable_bounds("range", b"l".hex(), b"r".hex()) == "[l, r)"
    assert readable_bounds("range", b"r".hex(), "") == "[r, )"
    assert readable_bounds("range", b"a\x00,".hex(), "") == "[a\\x00\\x2c, )"


def test_hash_bounds_are_hash_intervals():
    assert readable_bounds("hash", "", (0x40 << 56).to_bytes(8, "big").hex()) == \
        "#[00000000, 40000000)"
    assert readable_bounds("hash", (0xC0 << 56).to_bytes(8, "big").hex(), "") == \
        "#[c0000000, end)"


def test_table_lists_rows_in_the_order_given_with_unknown_sizes_as_question_marks():
    view = {"keyspaces": [{"name": "users", "partitioner": "range"}], "window_s": 60,
            "ranges": [
                {"keyspace": "users", "range_id": 18, "start": b"l".hex(),
                 "end": b"r".hex(), "replicas": ["n1", "n2"], "keys": 1200,
                 "bytes": 4096, "reads_per_s": 250.0, "writes_per_s": 12.5},
                {"keyspace": "users", "range_id": 17, "start": "", "end": b"l".hex(),
                 "replicas": ["n2", "n3"], "keys": None, "bytes": None,
                 "reads_per_s": 0.0, "writes_per_s": 0.0}],
            "unanswered": ["n3"]}
    lines = format_ranges(view).splitlines()
    assert lines[0].split() == ["Keyspace", "Range", "Bounds", "Replicas", "Keys", "Bytes",
                                "Reads/s", "Writes/s"]
    assert lines[1].split() == ["users", "18", "[l,", "r)", "n1,n2", "1200", "4.0", "KiB",
                                "250.0", "12.5"]
    assert lines[2].split()[:6] == ["users", "17", "[", ",", "l)", "n2,n3"]
    assert "?" in lines[2].split()
    assert "Not answering (their figures are missing): n3" in lines[-1]
