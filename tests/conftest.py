import pytest

from quorumkv import accel


def pytest_sessionstart(session):
    # a compiled module older than its source would test yesterday's code
    old = accel.stale()
    if old:
        pytest.exit("compiled modules older than their source: " + ", ".join(old)
                    + "\nrun `make install` (rebuilds them) or `python -m quorumkv.accel remove`",
                    returncode=3)
