"""Ends what is left of a local Ray cluster once the process that started it is gone.

``ray.init`` ties the cluster's main processes to the driver that started them (the
kernel kills them with it), and their workers follow. Ray's two agents per node do
not: when their raylet dies unexpectedly they first try to tell the GCS, which died
too, and give up only after a minute. This small process, started beside the
cluster, waits for the driver and then kills every process that still has a file of
the cluster's session folder open, so a killed driver leaves nothing behind.

Run as ``python -m agentrec.core.session_reaper DRIVER_PID SESSION_FOLDER``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

_REAPERS: list[subprocess.Popen[bytes]] = []  # referenced, so no reaper is collected (and warned about) while it runs
_ROUNDS = 10  # a dying process may still start another; look again a few times


def start_reaper(session_folder: Path) -> None:
    """Watch this process; when it is gone, kill what still runs of the session in ``session_folder``."""
    reaper = subprocess.Popen(
        [sys.executable, "-m", "agentrec.core.session_reaper", str(os.getpid()), str(session_folder)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C meant for the driver must not end the reaper before it has reaped
    )
    _REAPERS.append(reaper)


def session_processes(folder: Path) -> list[int]:
    """Processes (not this one) holding a file under ``folder`` open: each Ray process keeps its logs there."""
    prefix = str(folder.resolve()) + os.sep
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            targets = [os.readlink(descriptor) for descriptor in (entry / "fd").iterdir()]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if any(target.startswith(prefix) for target in targets):
            found.append(int(entry.name))
    return found


def reap_when_gone(driver: int, folder: Path, poll_seconds: float = 0.5) -> None:
    """Wait until ``driver``, this process's parent, has died; then kill the session's processes."""
    while os.getppid() == driver:
        time.sleep(poll_seconds)
    for _ in range(_ROUNDS):
        left = session_processes(folder)
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


if __name__ == "__main__":
    reap_when_gone(int(sys.argv[1]), Path(sys.argv[2]))
