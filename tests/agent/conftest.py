"""A workspace over the planted catalog (``planted_folder`` in tests/conftest.py) and its tool pack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentrec.agent.policies import RunSettings
from agentrec.agent.service import AgentService, open_agent
from agentrec.agent.workspace import AgentWorkspace


@pytest.fixture(scope="session")
def planted_pack(planted_pack_folder: Path) -> Path:
    return planted_pack_folder / "planted.toml"


@pytest.fixture(scope="session")
def planted_service(planted_folder: Path, planted_pack: Path) -> Iterator[AgentService]:
    service = open_agent(str(planted_folder), RunSettings(k=5, seed_pool=5, list_size=5), pack_path=planted_pack)
    yield service


@pytest.fixture
def workspace(planted_service: AgentService) -> AgentWorkspace:
    planted_service.workspace.use_stage("test")
    return planted_service.workspace
