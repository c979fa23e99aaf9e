"""Finding datasets, and downloading known ones from a GroupLens-shaped server on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentrec.core.errors import DataError
from agentrec.data.home import resolve_dataset
from agentrec.data.store import open_dataset

FLAGS = "|".join(["0"] * 18 + ["1"])


def build_archive(folder: Path, name: str = "ml-100k") -> None:
    with zipfile.ZipFile(folder / f"{name}.zip", "w") as bundle:
        bundle.writestr(f"{name}/u.data", "1\t1\t5\t881250949\n2\t1\t4\t881250950\n")
        bundle.writestr(f"{name}/u.item", f"1|Shane (1953)|01-Jan-1953||http://x|{FLAGS}\n")
        bundle.writestr(f"{name}/u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n")


@pytest.fixture
def grouplens(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server serving archives built by the test, like files.grouplens.org."""
    served = tmp_path / "served"
    served.mkdir()
    build_archive(served)
    (served / "ml-1m.zip").write_bytes(b"this is not a zip")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_known_dataset_is_downloaded_and_unpacked_in_place(
    grouplens: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("AGENTREC_DATA_HOME", str(home))
    monkeypatch.setenv("AGENTREC_MOVIELENS_URL", grouplens)
    folder = resolve_dataset("ml-100k")
    assert folder == (home / "ml-100k").resolve()
    assert (folder / "u.data").is_file()
    assert not [p for p in home.iterdir() if p.name.startswith(".download")]
    store = open_dataset("ml-100k")
    assert store.catalog.item("1").genres == ("Western",)
    # once present, it is not fetched again
    monkeypatch.setenv("AGENTREC_MOVIELENS_URL", f"http://127.0.0.1:{closed_port()}")
    assert resolve_dataset("ml-100k") == folder


def test_offline_names_the_folder_and_expected_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTREC_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("AGENTREC_MOVIELENS_URL", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(DataError) as raised:
        resolve_dataset("ml-100k")
    message = str(raised.value)
    assert str(tmp_path / "ml-100k") in message
    assert "u.data, u.item, u.user" in message and "\n" not in message


def test_a_corrupt_download_is_reported_and_leaves_nothing(
    grouplens: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTREC_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("AGENTREC_MOVIELENS_URL", grouplens)
    with pytest.raises(DataError, match="not a valid zip"):
        resolve_dataset("ml-1m")
    assert not (tmp_path / "ml-1m").exists()


def test_default_network_is_blocked_in_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real GroupLens URL is unreachable from tests: the error still names folder and files."""
    monkeypatch.setenv("AGENTREC_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("AGENTREC_MOVIELENS_URL", raising=False)
    with pytest.raises(
        DataError, match=r"ml-latest-small not found: expected ratings\.csv, movies\.csv"
    ):
        resolve_dataset("ml-latest-small")
