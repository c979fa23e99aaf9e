"""The workspace's item services on the planted catalog: one way to name an item, and items like an item."""

from __future__ import annotations

import numpy as np
import pytest

from agentrec.agent.workspace import AgentWorkspace
from agentrec.core.errors import DataError


def test_an_item_is_named_by_id_title_or_a_near_miss(workspace: AgentWorkspace) -> None:
    c3 = workspace.split.train.items.index("c3")
    for reference in ("c3", "  c3 ", "Comedy Film 3 (1983)", "comedy film 3 (1983)", "Comedy Film 3", "Comedy Flm 3"):
        assert workspace.item_index(reference) == c3, reference
    with pytest.raises(DataError, match="no item matches"):
        workspace.item_index("Completely Unknown Picture")


def test_similar_items_keep_to_the_allowed_items_and_never_return_the_item(workspace: AgentWorkspace) -> None:
    c3 = workspace.item_index("c3")
    everything = np.ones(workspace.n_items, dtype=bool)
    similar = workspace.similar_items(c3, 5, everything)
    assert len(similar) == 5 and c3 not in similar.tolist()
    assert all(workspace.records[i].genres == ("Comedy",) for i in similar)  # ItemKNN on the planted blocks
    horror_only = np.array(["Horror" in record.genres for record in workspace.records])
    assert all(horror_only[i] for i in workspace.similar_items(c3, 5, horror_only))


def test_warm_up_without_a_text_model_does_nothing(workspace: AgentWorkspace) -> None:
    assert workspace.models.text is None  # the planted pack has no text model
    workspace.warm_up()
