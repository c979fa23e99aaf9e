"""Plant text in one item's description: what a seller controls, for visibility audits.

Every reader of item text sees the planted text while it is in place: the item
records the LLM is shown (histories, tool results, the LLM re-rank) and the text
model's vector (search and text similarity). Collaborative models never read
item text, so their scores do not move; that is what an audit of the fusion
modes measures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from agentrec.agent.workspace import AgentWorkspace, item_text
from agentrec.core.errors import ConfigError
from agentrec.data.records import ItemRecord
from agentrec.recsys.text_similarity import TextSimilarity


def planted_record(record: ItemRecord, text: str) -> ItemRecord:
    """``record`` with ``text`` appended to its title: the last thing shown of it, as in the STS paper."""
    title = (record.title or f"item {record.item_id}").rstrip()
    return record.model_copy(update={"title": f"{title} {text.strip()}"})


@contextmanager
def planted_text(workspace: AgentWorkspace, item: int, text: str) -> Iterator[ItemRecord]:
    """Within the block, item ``item`` carries ``text`` everywhere item text is read; restored after."""
    if not 0 <= item < workspace.n_items:
        raise ConfigError(f"item index {item} is outside the catalog (0..{workspace.n_items - 1})")
    original = workspace.records[item]
    planted = planted_record(original, text)
    text_model = workspace.models.text
    previous_vector = None
    workspace.records[item] = planted
    try:
        if isinstance(text_model, TextSimilarity):
            vector = text_model.embed([item_text(planted)])[0]
            previous_vector = text_model.replace_item_vector(item, vector, workspace.stage_history())
        yield planted
    finally:
        workspace.records[item] = original
        if isinstance(text_model, TextSimilarity) and previous_vector is not None:
            text_model.replace_item_vector(item, previous_vector, workspace.stage_history())
