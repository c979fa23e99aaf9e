"""Shared test setup: no network beyond loopback, a private state home, and the real-data switch.

Tests that need MovieLens read it from ``AGENTREC_DATA_HOME``. Offline and
without the data, they skip with a reason that says how to get it; with
``AGENTREC_REQUIRE_DATA=1`` (as CI sets) a missing dataset fails instead.

Real components every test folder shares live here too, one per session: the
embedded SmolLM2 model, a llama.cpp server on loopback serving the same GGUF,
and a small catalog with a planted taste structure.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    from agentrec.llm.local import LocalChatModel

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
        raise ConnectionRefusedError(f"tests may not reach the network: blocked connect to {address!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise ConnectionRefusedError(f"tests may not reach the network: blocked connect to {address!r}")
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
    "geobench": ("stsdata_cameras.jsonl", "ragdoll_cordless_drill.jsonl"),
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def local_model() -> LocalChatModel:
    """The embedded SmolLM2 model (loaded once for the whole session)."""
    from agentrec.llm.local import LocalChatModel

    return LocalChatModel()


# llama.cpp's server, started as ``python -m llama_cpp.server`` is, after the same fix agentrec's own
# loads get: no AMX buffers, which segfault in VMs that do not grant the AMX state (agentrec/llm/local.py).
LLAMA_SERVER_BOOT = (
    "import runpy; from agentrec.llm.local import disable_extra_buffer_types; disable_extra_buffer_types(); "
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)"
)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``llama_cpp.server`` on loopback serving the bundled GGUF; yields its /v1 URL."""
    from agentrec.llm.local import bundled_gguf_path

    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "llama_server.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                LLAMA_SERVER_BOOT,
                "--model",
                str(bundled_gguf_path()),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--n_threads",
                "1",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(base, process, log)
        yield f"{base}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/v1/models", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"llama_cpp.server not ready after 90 s:\n{log.read_text()[-2000:]}")


# A catalog with a planted taste structure. Two user groups: "comedy" users only
# watch comedies, "horror" users only horror films. A personalised backbone must
# therefore fill each user's list with unseen films of the user's own genre; the
# catalog also has one drama nobody watched.
N_PER_GENRE = 12
N_USERS_PER_GROUP = 15
ITEMS_PER_USER = 7


# A tool pack for the planted catalog: EASE and ItemKNN only (no MiniLM), so tests stay fast.
PLANTED_PACK = """
datasets = ["planted"]
item_noun = "film"
tools = ["retrieve", "filter", "similar", "rank", "item_info", "finish"]
[models]
backbone = "ease"
similar = "itemknn"
text = ""
[attributes]
genre = "genres"
decade = "decade"
"""


@pytest.fixture(scope="session")
def planted_pack_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the planted pack, for ``AGENTREC_TOOLS`` or an explicit pack path."""
    folder = tmp_path_factory.mktemp("planted-packs")
    (folder / "planted.toml").write_text(PLANTED_PACK)
    return folder


def write_planted_catalog(folder: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    items = ["item_id,title,genres,year"]
    for i in range(N_PER_GENRE):
        items.append(f"c{i},Comedy Film {i} ({1980 + i}),Comedy,{1980 + i}")
        items.append(f"h{i},Horror Film {i} ({1990 + i}),Horror|Thriller,{1990 + i}")
    items.append("d0,Lonely Drama (1975),Drama,1975")
    rows = ["user_id,item_id,rating,timestamp"]
    for group, prefix in (("cu", "c"), ("hu", "h")):
        for u in range(N_USERS_PER_GROUP):
            chosen = rng.choice(N_PER_GENRE, size=ITEMS_PER_USER, replace=False)
            for t, i in enumerate(chosen):
                rows.append(f"{group}{u},{prefix}{i},{int(rng.integers(3, 6))},{1000 + 10 * t}")
    (folder / "items.csv").write_text("\n".join(items) + "\n")
    (folder / "interactions.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="session")
def planted_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted catalog as a dataset folder named ``planted`` (its store name)."""
    return write_planted_catalog(tmp_path_factory.mktemp("planted") / "planted")


LOAD_PROVIDER_PATH = Path(__file__).resolve().parents[1] / "bench" / "load_provider.py"


def load_bench_script(path: Path) -> ModuleType:
    """A script under bench/ as a module (bench/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # registered, so its dataclasses can resolve their own names
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_provider() -> ModuleType:
    """bench/load_provider.py as a module."""
    return load_bench_script(LOAD_PROVIDER_PATH)


@pytest.fixture
def start_load_provider(load_provider: ModuleType) -> Iterator[Callable[..., str]]:
    """Start load providers on free loopback ports (their ``/v1`` URL returned); all stopped after the test.

    Options are ``LoadOptions`` fields; the median latency defaults to 5 ms.
    """
    stops: list[Callable[[], None]] = []

    def start(**options: Any) -> str:
        options.setdefault("median_ms", 5.0)
        base_url, stop = load_provider.serve_in_thread(port=0, **options)
        stops.append(stop)
        return str(base_url)

    yield start
    for stop in stops:
        stop()
