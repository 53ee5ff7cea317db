"""core/lcs.py against Redis's own procedure: the full table of LCS lengths and the
walk back from its corner (redis src/t_string.c, lcsCommand), written out naively."""

from hypothesis import given, settings, strategies as st

from quorumkv.core.lcs import LCS, MAX_CELLS, Match, cells, lcs


def redis_lcs(a: bytes, b: bytes) -> LCS:
    """The oracle: Redis's table and walk, step by step."""
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            table[i][j] = (table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1]
                           else max(table[i - 1][j], table[i][j - 1]))
    out, matches, run = bytearray(), [], None
    i, j = n, m
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            if run is None:
                run = [i - 1, i - 1, j - 1, j - 1]
            elif run[0] == i and run[2] == j:
                run[0], run[2] = i - 1, j - 1
            else:
                emit = True
            if run[0] == 0 or run[2] == 0:
                emit = True
            i, j = i - 1, j - 1
        else:
            if table[i - 1][j] > table[i][j - 1]:
                i -= 1
            else:
                j -= 1
            emit = run is not None
        if emit:
            matches.append(Match(*run))
            run = None
    out.reverse()
    return LCS(table[n][m], bytes(out), matches)


# a small alphabet gives long matches and many ties, where the walk's choices show
strings = st.binary(max_size=40) | st.text("abc", max_size=40).map(str.encode)


@settings(max_examples=600, deadline=None)
@given(strings, strings)
def test_lcs_walks_exactly_as_redis(a, b):
    assert lcs(a, b) == redis_lcs(a, b)


@settings(max_examples=300, deadline=None)
@given(strings, strings)
def test_length_alone_agrees_with_the_walk(a, b):
    assert lcs(a, b, walk=False) == LCS(redis_lcs(a, b).length, None, None)


@settings(max_examples=200, deadline=None)
@given(st.text("ab", min_size=1, max_size=12).map(str.encode),
       st.text("ab", min_size=30, max_size=90).map(str.encode))
def test_both_orientations_of_the_walk_agree_with_redis(short, long):
    """The rows run along the shorter string: try it both as the first and second."""
    assert lcs(short, long) == redis_lcs(short, long)
    assert lcs(long, short) == redis_lcs(long, short)


def test_redis_documentation_example():
    result = lcs(b"ohmytext", b"mynewtext")
    assert result.string == b"mytext" and result.length == 6
    assert result.matches == [Match(4, 7, 5, 8), Match(2, 3, 0, 1)]
    assert [m.length for m in result.matches] == [4, 2]


def test_empty_strings():
    assert lcs(b"", b"abc") == LCS(0, b"", [])
    assert lcs(b"abc", b"", walk=False) == LCS(0, None, None)


def test_the_cell_limit_is_the_product_of_the_lengths():
    assert cells(b"x" * 4096, b"y" * 4096) == MAX_CELLS
    big = lcs(b"ab" * 2048, b"ba" * 2048)  # at the limit: answers, with the right length
    assert big.length == 4095 and len(big.string) == 4095
