"""Typed records the catalog returns."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentrec.data.text_attributes import display_title


class ItemRecord(BaseModel):
    """One catalog item with its common attributes; dataset-specific ones sit in ``extra``."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    title: str | None
    year: int | None = None
    genres: tuple[str, ...] = ()
    popularity: int = 0
    avg_rating: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        """How the item is shown to people and to the LLM."""
        return display_title(self.title) or f"item {self.item_id}"


class TitleMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    item: ItemRecord
    score: float


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    item: ItemRecord
    rating: float | None
    ts: int | None


class AttributeInfo(BaseModel):
    """An item attribute: its name, SQL type, and a few example values."""

    name: str
    type: str
    examples: list[str]
