"""Item attributes the agent conditions on (genre, decade, tags, ...), as precomputed masks.

A tool call must cost far less than an LLM step, so every attribute value's item
mask is built once per workspace from the store, and a call is an array lookup.
Values are matched loosely (case, punctuation): "sci-fi" finds "Sci-Fi".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agentrec.core.errors import ConfigError, ToolRetry
from agentrec.data.attribute_filter import genre_key

BoolArray = npt.NDArray[np.bool_]
DECADE = "decade"


def decade_label(year: int | None) -> str | None:
    """1994 becomes "1990s"."""
    return None if year is None else f"{year // 10 * 10}s"


@dataclass
class ItemAttributes:
    """For each attribute, each item's values; masks are built on first use and kept."""

    n_items: int
    values_per_item: dict[str, list[frozenset[str]]]

    def __post_init__(self) -> None:
        self._masks: dict[tuple[str, str], BoolArray] = {}
        self._spelling: dict[str, dict[str, str]] = {}
        self._ordered: dict[str, list[str]] = {}
        for name, rows in self.values_per_item.items():
            counts = Counter(value for row in rows for value in row)
            ordered = sorted(counts, key=lambda value: (-counts[value], value))
            self._ordered[name] = ordered
            self._spelling[name] = {genre_key(value): value for value in ordered}

    @classmethod
    def from_store(cls, con: object, attributes: Mapping[str, str]) -> ItemAttributes:
        """Read attributes (name the LLM sees -> ``items`` column; ``decade`` derives from year)."""
        import duckdb

        assert isinstance(con, duckdb.DuckDBPyConnection)
        columns = {row[0]: row[1] for row in con.execute("DESCRIBE items").fetchall()}
        n_items = int((con.execute("SELECT count(*) FROM items").fetchone() or (0,))[0])
        values: dict[str, list[frozenset[str]]] = {}
        for name, column in attributes.items():
            if column == DECADE:
                rows = con.execute("SELECT year FROM items ORDER BY item_idx").fetchall()
                values[name] = [frozenset(filter(None, [decade_label(row[0])])) for row in rows]
                continue
            if column not in columns:
                raise ConfigError(f"the tool pack maps {name!r} to column {column!r}, which the catalog lacks")
            # The column name is checked against DESCRIBE above; values are never spliced into SQL.
            rows = con.execute(f'SELECT "{column}" FROM items ORDER BY item_idx').fetchall()
            values[name] = [_as_values(row[0]) for row in rows]
        return cls(n_items, values)

    @property
    def names(self) -> list[str]:
        return list(self.values_per_item)

    def values(self, attribute: str) -> list[str]:
        """Every value of ``attribute``, most common first."""
        return list(self._ordered[self._attribute(attribute)])

    def canonical(self, attribute: str, value: str) -> str:
        """The catalog's spelling of ``value``; ``ToolRetry`` lists the valid ones."""
        name = self._attribute(attribute)
        spelled = self._spelling[name].get(genre_key(str(value)))
        if spelled is None:
            shown = ", ".join(self._ordered[name][:30])
            raise ToolRetry(f"{value!r} is not a {name}; valid values: {shown}")
        return spelled

    def attribute_of(self, value: str) -> str | None:
        """The one attribute that has ``value``, if exactly one does (lets "Comedy" imply genre)."""
        owners = [name for name, spelling in self._spelling.items() if genre_key(str(value)) in spelling]
        return owners[0] if len(owners) == 1 else None

    def mask(self, attribute: str, value: str) -> BoolArray:
        """True for items whose ``attribute`` has ``value``."""
        name = self._attribute(attribute)
        spelled = self.canonical(name, value)
        key = (name, spelled)
        if key not in self._masks:
            self._masks[key] = np.fromiter(
                (spelled in row for row in self.values_per_item[name]), dtype=bool, count=self.n_items
            )
        return self._masks[key]

    def of_item(self, attribute: str, item: int) -> frozenset[str]:
        return self.values_per_item[self._attribute(attribute)][item]

    def top_values(self, attribute: str, items: Iterable[int], n: int) -> list[str]:
        """The ``n`` values of ``attribute`` most frequent among ``items`` (ties: catalog order)."""
        name = self._attribute(attribute)
        counts = Counter(value for item in items for value in self.values_per_item[name][int(item)])
        rank = {value: i for i, value in enumerate(self._ordered[name])}
        return sorted(counts, key=lambda value: (-counts[value], rank[value]))[:n]

    def _attribute(self, attribute: str) -> str:
        if attribute in self.values_per_item:
            return attribute
        raise ToolRetry(f"unknown attribute {attribute!r}; use one of: {', '.join(self.values_per_item)}")


def _as_values(raw: object) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if isinstance(raw, list | tuple):
        return frozenset(str(value) for value in raw if value is not None)
    return frozenset([str(raw)])
