"""Moved to :mod:`quorumkv.core.placement`; this re-export keeps old imports working
until every caller imports from there (then it goes)."""

from .placement import *  # noqa: F401,F403
from .placement import __all__  # noqa: F401
