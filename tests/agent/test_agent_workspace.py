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


def test_prefetched_scores_are_each_users_own_and_are_dropped_after(workspace: AgentWorkspace) -> None:
    from agentrec.agent.context import ToolContext

    users = [int(u) for u in workspace.evaluable_users()[:5]]
    alone = {u: ToolContext.for_user(workspace, u).scores("backbone") for u in users}
    with workspace.scores_prefetched(users):
        for user in users:
            batched = ToolContext.for_user(workspace, user).scores("backbone")
            np.testing.assert_allclose(batched, alone[user], rtol=1e-5, atol=1e-6)
            assert workspace.prefetched_scores("backbone", user) is not None
    assert workspace.prefetched_scores("backbone", users[0]) is None
    assert 1 <= workspace.prefetch_batch_size(bytes_per_model=1) <= workspace.prefetch_batch_size()
