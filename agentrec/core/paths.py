"""Where agentrec reads raw data and where it writes everything it builds.

Two folders, because the raw data folder may be read-only (a shared mount, CI):

* the *data home* (``AGENTREC_DATA_HOME``) holds datasets as their publishers ship them;
* the *state home* (``AGENTREC_HOME``) holds what agentrec builds: DuckDB stores,
  fitted models, caches, traces, runs and reports.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

_APP = "agentrec"


def state_home() -> Path:
    """The folder for everything agentrec writes (default: the user cache folder)."""
    configured = os.environ.get("AGENTREC_HOME")
    root = Path(configured).expanduser() if configured else Path(platformdirs.user_cache_dir(_APP))
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_home() -> Path:
    """The folder holding raw datasets (default: ``data/`` inside the state home)."""
    configured = os.environ.get("AGENTREC_DATA_HOME")
    if configured:
        return Path(configured).expanduser().resolve()
    return state_home() / "data"


def state_dir(*parts: str) -> Path:
    """A subfolder of the state home, created on first use."""
    folder = state_home().joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
