"""An advisory lock between processes that share a file in the state home.

Evaluation and simulation workers start together and may all find the same
file missing (the re-encoded model) or unreadable (the response cache); the
first one to hold the lock repairs it, the others then find it repaired.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_path`` (created if missing) for the block."""
    import fcntl

    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
