"""A small catalog with a planted taste structure, and a workspace over it.

Two user groups: "comedy" users only watch comedies, "horror" users only horror
films. A personalised backbone must therefore fill each user's list with unseen
films of the user's own genre; the catalog also has one drama nobody watched.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agentrec.agent.policies import RunSettings
from agentrec.agent.service import AgentService, open_agent
from agentrec.agent.workspace import AgentWorkspace

N_PER_GENRE = 12
N_USERS_PER_GROUP = 15
ITEMS_PER_USER = 7

PACK = """
datasets = []
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
    return write_planted_catalog(tmp_path_factory.mktemp("planted") / "planted")


@pytest.fixture(scope="session")
def planted_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("packs") / "planted.toml"
    path.write_text(PACK)
    return path


@pytest.fixture(scope="session")
def planted_service(planted_folder: Path, planted_pack: Path) -> Iterator[AgentService]:
    service = open_agent(str(planted_folder), RunSettings(k=5, seed_pool=5, list_size=5), pack_path=planted_pack)
    yield service


@pytest.fixture
def workspace(planted_service: AgentService) -> AgentWorkspace:
    planted_service.workspace.use_stage("test")
    return planted_service.workspace
