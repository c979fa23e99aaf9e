"""Shared test setup: no network beyond loopback, a private state home, and the real-data switch.

Tests that need MovieLens read it from ``AGENTREC_DATA_HOME``. Offline and
without the data, they skip with a reason that says how to get it; with
``AGENTREC_REQUIRE_DATA=1`` (as CI sets) a missing dataset fails instead.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: object) -> bool:
    if isinstance(address, str):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise ConnectionRefusedError(
            f"tests may not reach the network: blocked connect to {address!r}"
        )
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise ConnectionRefusedError(
            f"tests may not reach the network: blocked connect to {address!r}"
        )
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True, scope="session")
def _private_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Stores, models and caches built by tests go to a temporary folder, not the user's cache."""
    previous = os.environ.get("AGENTREC_HOME")
    home = tmp_path_factory.mktemp("agentrec-home")
    os.environ["AGENTREC_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("AGENTREC_HOME", None)
    else:
        os.environ["AGENTREC_HOME"] = previous


REAL_DATASETS = {
    "ml-100k": ("u.data", "u.item"),
    "ml-latest-small": ("ratings.csv", "movies.csv"),
    "ml-1m-implicit": ("train.txt", "test.txt"),
}


def real_dataset(name: str) -> Path:
    """The folder of a real dataset under AGENTREC_DATA_HOME, or skip (fail when data is required)."""
    configured = os.environ.get("AGENTREC_DATA_HOME")
    folder = Path(configured).expanduser().resolve() / name if configured else None
    if folder is not None and all((folder / f).is_file() for f in REAL_DATASETS[name]):
        return folder
    reason = (
        f"needs {name} under AGENTREC_DATA_HOME ({configured or 'not set'}); set AGENTREC_DATA_HOME "
        f"to a folder holding {name}/ (in this workspace: ../shared/data), or download it from GroupLens"
    )
    if os.environ.get("AGENTREC_REQUIRE_DATA") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def ml100k() -> Path:
    return real_dataset("ml-100k")


@pytest.fixture
def ml_latest_small() -> Path:
    return real_dataset("ml-latest-small")


@pytest.fixture
def ml1m_implicit() -> Path:
    return real_dataset("ml-1m-implicit")
