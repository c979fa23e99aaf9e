"""Catalog queries over a dataset store: items, fuzzy titles, attribute filters, popularity, history."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from agentrec.core.errors import DataError
from agentrec.data.attribute_filter import AttributeFilter, compile_filter, genre_key
from agentrec.data.records import AttributeInfo, HistoryEntry, ItemRecord, TitleMatch
from agentrec.data.text_attributes import bare_title

_NUMERIC = ("INTEGER", "BIGINT", "DOUBLE", "FLOAT", "SMALLINT", "HUGEINT", "DECIMAL")
_CORE_COLUMNS = ("item_idx", "item_id", "title", "year", "genres", "popularity", "avg_rating")


class Catalog:
    """Read-only queries over the ``items``, ``users`` and ``interactions`` tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    @cached_property
    def columns(self) -> dict[str, str]:
        rows = self._con.execute("SELECT column_name, column_type FROM (DESCRIBE items)").fetchall()
        return {name: kind for name, kind in rows}

    @cached_property
    def genres(self) -> dict[str, str]:
        """Genre key -> the catalog's spelling, for every genre in the catalog."""
        rows = self._con.execute("SELECT DISTINCT unnest(genres) FROM items").fetchall()
        return {genre_key(g): g for (g,) in rows if g}

    @cached_property
    def n_items(self) -> int:
        row = self._con.execute("SELECT count(*) FROM items").fetchone()
        return int(row[0]) if row else 0

    def _records(self, where: str, params: list[Any], tail: str = "") -> list[ItemRecord]:
        cursor = self._con.execute(f"SELECT * FROM items WHERE {where} {tail}", params)
        names = [d[0] for d in cursor.description]
        return [_to_record(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]

    def item(self, item_id: str | int) -> ItemRecord:
        """The item with id ``item_id``, or a ``DataError``."""
        found = self._records("item_id = ?", [str(item_id)])
        if not found:
            raise DataError(f"unknown item id {item_id!r}")
        return found[0]

    def items(self, item_ids: list[str]) -> list[ItemRecord]:
        """Items in the order of ``item_ids`` (unknown ids are skipped)."""
        by_id = {
            r.item_id: r
            for r in self._records(
                "list_contains(?::VARCHAR[], item_id)", [[str(i) for i in item_ids]]
            )
        }
        return [by_id[str(i)] for i in item_ids if str(i) in by_id]

    def items_by_index(self, indices: list[int]) -> list[ItemRecord]:
        """Items at dense indices (a model's output), in the order given; unknown indices are skipped."""
        cursor = self._con.execute(
            "SELECT item_idx, item_id FROM items WHERE list_contains(?::INTEGER[], item_idx)", [list(indices)]
        )
        ids = dict(cursor.fetchall())
        return self.items([ids[i] for i in indices if i in ids])

    @cached_property
    def _title_index(self) -> tuple[list[str], list[str], npt.NDArray[np.float64]]:
        rows = self._con.execute(
            "SELECT item_id, title, popularity FROM items WHERE title IS NOT NULL ORDER BY item_idx"
        ).fetchall()
        ids = [r[0] for r in rows]
        names = [bare_title(r[1]) for r in rows]
        popularity = np.log1p(np.asarray([r[2] for r in rows], dtype=np.float64))
        return ids, names, popularity

    def search_titles(self, text: str, k: int = 10) -> list[TitleMatch]:
        """Items whose title best matches ``text`` ("matrix" finds The Matrix), best first."""
        query = bare_title(text) or text.strip().lower()
        ids, names, popularity = self._title_index
        if not query or not names:
            return []
        # WRatio rewards partial matches; a whole-title ratio and popularity break its many ties.
        weighted = process.extract(query, names, scorer=fuzz.WRatio, limit=max(50, k * 5))
        scored = [
            (
                score
                + 0.2 * fuzz.ratio(query, names[i])
                + 2.0 * popularity[i] / (popularity.max() or 1.0),
                i,
            )
            for _, score, i in weighted
        ]
        scored.sort(reverse=True)
        top = scored[:k]
        records = {r.item_id: r for r in self.items([ids[i] for _, i in top])}
        return [TitleMatch(item=records[ids[i]], score=round(s, 2)) for s, i in top]

    def resolve(self, reference: str | int) -> ItemRecord:
        """An item from an id or a (fuzzy) title; a ``DataError`` with suggestions otherwise."""
        text = str(reference).strip()
        if self._records("item_id = ?", [text]):
            return self.item(text)
        matches = self.search_titles(text, k=3)
        if matches and _close_enough(
            bare_title(text) or text.lower(), bare_title(matches[0].item.title)
        ):
            return matches[0].item
        hint = "; did you mean " + ", ".join(repr(m.item.label) for m in matches) if matches else ""
        raise DataError(f"no item matches {text!r}{hint}")

    def filter(self, spec: AttributeFilter, limit: int | None = None) -> list[ItemRecord]:
        """Items satisfying ``spec``, most popular first."""
        where, params = compile_filter(spec, self.columns, self.genres)
        tail = "ORDER BY popularity DESC, item_idx" + (" LIMIT ?" if limit else "")
        return self._records(where, params + ([limit] if limit else []), tail)

    def filter_mask(self, spec: AttributeFilter) -> npt.NDArray[np.bool_]:
        """A boolean array over dense item indices: True where the item satisfies ``spec``."""
        where, params = compile_filter(spec, self.columns, self.genres)
        rows = self._con.execute(f"SELECT item_idx FROM items WHERE {where}", params).fetchnumpy()
        mask = np.zeros(self.n_items, dtype=bool)
        mask[np.asarray(rows["item_idx"], dtype=np.int64)] = True
        return mask

    def popular(self, k: int = 10) -> list[ItemRecord]:
        """The ``k`` items with the most interactions."""
        return self._records("TRUE", [k], "ORDER BY popularity DESC, item_idx LIMIT ?")

    def history(self, user_id: str | int, limit: int | None = None) -> list[HistoryEntry]:
        """A user's interactions in time order (the last ``limit`` when given)."""
        if not self._con.execute(
            "SELECT 1 FROM users WHERE user_id = ?", [str(user_id)]
        ).fetchone():
            raise DataError(f"unknown user id {user_id!r}")
        rows = self._con.execute(
            "SELECT item_id, rating, ts FROM interactions WHERE user_id = ? ORDER BY COALESCE(ts, seq), seq",
            [str(user_id)],
        ).fetchall()
        rows = rows[-limit:] if limit else rows
        items = {r.item_id: r for r in self.items(list({r[0] for r in rows}))}
        return [HistoryEntry(item=items[i], rating=r, ts=t) for i, r, t in rows]

    def attributes(self, examples: int = 3) -> list[AttributeInfo]:
        """Every item attribute with a few of its most common values."""
        infos = []
        for name, kind in self.columns.items():
            if name in ("item_idx", "item_id"):
                continue
            if kind in _NUMERIC:
                low, high = self._con.execute(
                    f'SELECT min("{name}"), max("{name}") FROM items'
                ).fetchone() or (None, None)
                shown = (
                    []
                    if low is None
                    else [
                        f"{low:.3g} .. {high:.3g}" if isinstance(low, float) else f"{low} .. {high}"
                    ]
                )
                infos.append(AttributeInfo(name=name, type=kind, examples=shown))
                continue
            values = f'unnest("{name}")' if kind.endswith("[]") else f'CAST("{name}" AS VARCHAR)'
            rows = self._con.execute(
                f"SELECT v FROM (SELECT {values} AS v FROM items) WHERE v IS NOT NULL "
                "GROUP BY v ORDER BY count(*) DESC, v LIMIT ?",
                [examples],
            ).fetchall()
            infos.append(AttributeInfo(name=name, type=kind, examples=[str(r[0]) for r in rows]))
        return infos


def _close_enough(query: str, name: str) -> bool:
    """Accept a fuzzy title only when it is nearly the same text, or the query's words all appear in it."""
    return fuzz.ratio(query, name) >= 80 or fuzz.token_set_ratio(query, name) >= 95


def _to_record(row: dict[str, Any]) -> ItemRecord:
    extra = {k: v for k, v in row.items() if k not in _CORE_COLUMNS}
    return ItemRecord(
        item_id=row["item_id"],
        title=row["title"],
        year=row["year"],
        genres=tuple(row["genres"] or ()),
        popularity=row["popularity"],
        avg_rating=row["avg_rating"],
        extra=extra,
    )
