"""Redis-style glob matching (KEYS, SCAN MATCH) against two oracles.

* For patterns made of letters, ``*`` and ``?`` the semantics are those of
  ``fnmatch.fnmatchcase``.
* For the full syntax, patterns are generated as token lists (literal, ``?``, ``*``,
  escaped byte, bracket class) and matched by a small backtracking matcher over the
  tokens, following Redis's ``stringmatchlen``: inside brackets ``\\x`` is the
  literal ``x``, ``]`` closes, ``a-c`` is a range whose ends may come in either
  order, ``[]`` matches nothing and ``[^]`` matches any one byte. The oracle never
  parses the pattern text, so it cannot share a parsing bug with the code under test.
"""

from __future__ import annotations

import fnmatch
from functools import lru_cache

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from quorumkv.core.glob import glob_match

# ---- oracle 1: fnmatch for the simple subset -------------------------------------

simple_patterns = st.text(alphabet="ab*?", max_size=8)
simple_keys = st.text(alphabet="abc", max_size=8)


@settings(max_examples=300)
@given(simple_patterns, simple_keys)
def test_simple_patterns_match_like_fnmatch(pattern, key):
    assert glob_match(pattern.encode(), key.encode()) == fnmatch.fnmatchcase(key, pattern)


@given(simple_keys)
def test_star_matches_everything(key):
    assert glob_match(b"*", key.encode())
    assert glob_match(b"**", key.encode())


# ---- explicit cases --------------------------------------------------------------

@pytest.mark.parametrize("pattern, key, matches", [
    (b"h[abc]llo", b"hallo", True),
    (b"h[abc]llo", b"hcllo", True),
    (b"h[abc]llo", b"hdllo", False),
    (b"h[abc]llo", b"hllo", False),
    (b"h[^a]llo", b"hallo", False),
    (b"h[^a]llo", b"hbllo", True),
    (b"h[^a]llo", b"hllo", False),
    (b"h[a-c]llo", b"hbllo", True),
    (b"h[a-c]llo", b"hdllo", False),
    (b"h[^a-c]llo", b"hdllo", True),
    (b"a\\*", b"a*", True),
    (b"a\\*", b"ab", False),
    (b"a\\?", b"a?", True),
    (b"a\\?", b"ab", False),
    (b"\\[a]", b"[a]", True),
    (b"user:*:name", b"user:42:name", True),
    (b"user:*:name", b"user:42:age", False),
    (b"*", b"", True),
    (b"?", b"", False),
    (b"a*", b"a\nb", True),  # '*' spans newlines: keys are bytes, not lines
    (b"a?c", b"a\nc", True),
    (b"a.c", b"abc", False),  # regex metacharacters are literal
    (b"a+", b"aa", False),
])
def test_glob_cases(pattern, key, matches):
    assert glob_match(pattern, key) is matches


# Bracket corner cases where the current translation to ``re`` goes wrong.
# (Core bug; see the report.) Each is Redis's answer.
@pytest.mark.parametrize("pattern, key, matches", [
    pytest.param(b"[]", b"a", False, id="empty-class-matches-nothing"),
    pytest.param(b"[^]", b"a", True, id="negated-empty-class-matches-any"),
    pytest.param(b"[c-a]", b"b", True, id="reversed-range"),
    pytest.param(b"[\\]]", b"]", True, id="escaped-close-bracket-in-class"),
    pytest.param(b"[a\\]]", b"a", True, id="escaped-close-bracket-after-literal"),
    pytest.param(b"[\\-z]", b"-", True, id="escaped-dash-is-literal"),
    pytest.param(b"[\\-z]", b"a", False, id="escaped-dash-is-not-a-range"),
    pytest.param(b"[\\a]", b"\\", False, id="backslash-escapes-inside-class"),
])
def test_bracket_corner_cases(pattern, key, matches):
    assert glob_match(pattern, key) is matches


# ---- oracle 2: token-level matcher for the full syntax ----------------------------

LETTERS = b"abc"
SPECIALS = b"*?[]\\^-"


def lit(b: int):
    return ("lit", b)


@st.composite
def bracket_class(draw):
    """A class token and its pattern text: ``[`` [``^``] items ``]``."""
    negate = draw(st.booleans())
    members: set[int] = set()
    text = b"[" + (b"^" if negate else b"")
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["letter", "escaped", "range"]))
        if kind == "letter":
            c = draw(st.sampled_from(LETTERS))
            members.add(c)
            text += bytes([c])
        elif kind == "escaped":
            c = draw(st.sampled_from(LETTERS + SPECIALS))
            members.add(c)
            text += b"\\" + bytes([c])
        else:
            lo, hi = draw(st.sampled_from(LETTERS)), draw(st.sampled_from(LETTERS))
            members.update(range(min(lo, hi), max(lo, hi) + 1))
            text += bytes([lo]) + b"-" + bytes([hi])
    return ("class", negate, frozenset(members)), text + b"]"


@st.composite
def glob_patterns(draw):
    tokens, text = [], b""
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["letter", "any", "star", "escaped", "class"]))
        if kind == "letter":
            c = draw(st.sampled_from(LETTERS))
            tokens.append(lit(c))
            text += bytes([c])
        elif kind == "any":
            tokens.append(("any",))
            text += b"?"
        elif kind == "star":
            tokens.append(("star",))
            text += b"*"
        elif kind == "escaped":
            c = draw(st.sampled_from(LETTERS + SPECIALS))
            tokens.append(lit(c))
            text += b"\\" + bytes([c])
        else:
            token, class_text = draw(bracket_class())
            tokens.append(token)
            text += class_text
    return tuple(tokens), text


def oracle_match(tokens: tuple, key: bytes) -> bool:
    @lru_cache(maxsize=None)
    def at(t: int, k: int) -> bool:
        if t == len(tokens):
            return k == len(key)
        token = tokens[t]
        if token[0] == "star":
            return any(at(t + 1, j) for j in range(k, len(key) + 1))
        if k == len(key):
            return False
        c = key[k]
        if token[0] == "lit":
            ok = c == token[1]
        elif token[0] == "any":
            ok = True
        else:
            _, negate, members = token
            ok = (c in members) != negate
        return ok and at(t + 1, k + 1)

    return at(0, 0)


keys = st.lists(st.sampled_from(LETTERS + b"d" + SPECIALS), max_size=6).map(bytes)


def test_the_oracle_itself():
    star, any_ = ("star",), ("any",)
    assert oracle_match((lit(ord("a")), star), b"abc")
    assert not oracle_match((any_,), b"")
    assert oracle_match((("class", True, frozenset()),), b"x")
    assert not oracle_match((("class", False, frozenset()),), b"x")


@settings(max_examples=300)
@given(glob_patterns(), keys)
@example(((("class", False, frozenset(b"abc")),), b"[c-a]"), b"b")
def test_full_syntax_matches_the_token_oracle(generated, key):
    tokens, pattern = generated
    assert glob_match(pattern, key) == oracle_match(tokens, key), pattern


@settings(max_examples=300)
@given(st.binary(max_size=10) | st.lists(st.sampled_from(b"ab" + SPECIALS), max_size=10).map(bytes),
       st.binary(max_size=6))
def test_any_pattern_matches_or_not_but_never_raises(pattern, key):
    # KEYS and SCAN MATCH take the pattern from the client: it must never crash.
    assert glob_match(pattern, key) in (True, False)
