"""Redis-style glob patterns (``*``, ``?``, ``[abc]``, ``[^a-z]``, ``\\x``) on bytes."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes) -> "re.Pattern[bytes]":
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i:i + 1]
        if c == b"*":
            out.append(b".*")
        elif c == b"?":
            out.append(b".")
        elif c == b"\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i:i + 1]))
        elif c == b"[":
            end = pattern.find(b"]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                negate = body.startswith(b"^")
                if negate:
                    body = body[1:]
                cls = b"".join(b"\\" + bytes([ch]) if ch in b"\\]^[" else bytes([ch])
                               for ch in body)
                out.append(b"[" + (b"^" if negate else b"") + cls + b"]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile(b"".join(out) + b"\\Z", re.DOTALL)


def glob_match(pattern: bytes, key: bytes) -> bool:
    if pattern == b"*":
        return True
    return compile_glob(pattern).match(key) is not None
