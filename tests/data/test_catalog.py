"""Catalog queries: by id, fuzzy title, parameterised attribute filters, popularity, history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentrec.core.errors import DataError, ToolRetry
from agentrec.data.attribute_filter import AttributeFilter
from agentrec.data.catalog import Catalog
from agentrec.data.store import open_dataset


@pytest.fixture(scope="module")
def latest(request: pytest.FixtureRequest) -> Catalog:
    folder: Path = request.getfixturevalue("ml_latest_small")
    return open_dataset(str(folder)).catalog


@pytest.fixture
def ml_latest_small_module(ml_latest_small: Path) -> Path:
    return ml_latest_small


def test_fuzzy_title_search_finds_the_matrix(ml_latest_small: Path) -> None:
    catalog = open_dataset(str(ml_latest_small)).catalog
    assert catalog.search_titles("matrix", k=3)[0].item.title == "Matrix, The (1999)"
    assert catalog.search_titles("the matrx", k=1)[0].item.title == "Matrix, The (1999)"
    assert catalog.search_titles("toy story", k=1)[0].item.title == "Toy Story (1995)"
    assert catalog.resolve("Heat").title == "Heat (1995)"
    assert catalog.resolve("2571").title == "Matrix, The (1999)"
    with pytest.raises(DataError, match="no item matches"):
        catalog.resolve("qqqqxxxxzzzz")


def test_attribute_filter(ml_latest_small: Path) -> None:
    catalog = open_dataset(str(ml_latest_small)).catalog
    spec = AttributeFilter(genres_any=["sci-fi"], genres_none=["Animation"], year_min=1990, year_max=1999,
                           min_avg_rating=4.0, min_popularity=20)  # fmt: skip
    found = catalog.filter(spec)
    assert found, "some 90s sci-fi is highly rated"
    for item in found:
        assert "Sci-Fi" in item.genres and "Animation" not in item.genres
        assert item.year is not None and 1990 <= item.year <= 1999
        assert item.avg_rating is not None and item.avg_rating >= 4.0 and item.popularity >= 20
    assert [i.popularity for i in found] == sorted((i.popularity for i in found), reverse=True)
    mask = catalog.filter_mask(spec)
    assert mask.sum() == len(found) and mask.dtype == np.bool_


def test_filter_values_are_parameters_not_sql(ml_latest_small: Path) -> None:
    store = open_dataset(str(ml_latest_small))
    hostile = "x'); DROP TABLE items; --"
    assert store.catalog.filter(AttributeFilter(title_contains=hostile)) == []
    assert store.catalog.filter(AttributeFilter(equals={"tags": hostile})) == []
    assert store.con.execute("SELECT count(*) FROM items").fetchone() == (9742,)


def test_unknown_genre_or_attribute_is_a_retry_hint(ml_latest_small: Path) -> None:
    catalog = open_dataset(str(ml_latest_small)).catalog
    with pytest.raises(ToolRetry, match="known genres: Action"):
        catalog.filter(AttributeFilter(genres_any=["telenovela"]))
    with pytest.raises(ToolRetry, match="unknown attribute 'colour; drop'"):
        catalog.filter(AttributeFilter(equals={"colour; drop": "red"}))


def test_equals_on_list_and_scalar_attributes(ml_latest_small: Path) -> None:
    catalog = open_dataset(str(ml_latest_small)).catalog
    tagged = catalog.filter(AttributeFilter(equals={"tags": "Pixar"}), limit=5)
    assert tagged and all("pixar" in item.extra["tags"] for item in tagged)
    by_year = catalog.filter(AttributeFilter(equals={"year": 1995}), limit=5)
    assert by_year and all(item.year == 1995 for item in by_year)


def test_popularity_and_history(ml100k: Path) -> None:
    catalog = open_dataset(str(ml100k)).catalog
    top = catalog.popular(3)
    assert top[0].title == "Star Wars (1977)" and top[0].popularity == 583
    assert top[0].popularity >= top[1].popularity >= top[2].popularity
    history = catalog.history("1")
    assert len(history) == 272
    times = [h.ts for h in history]
    assert times == sorted(times)  # type: ignore[type-var]
    assert len(catalog.history("1", limit=10)) == 10
    assert catalog.history("1", limit=10)[-1] == history[-1]
    with pytest.raises(DataError, match="unknown user id"):
        catalog.history("99999")


def test_attributes_list_examples(ml100k: Path) -> None:
    attributes = {a.name: a for a in open_dataset(str(ml100k)).catalog.attributes()}
    assert {"title", "year", "genres", "popularity", "avg_rating"} <= set(attributes)
    assert "Drama" in attributes["genres"].examples


def test_items_by_dense_index_keep_the_order_given(ml100k: Path) -> None:
    catalog = open_dataset(str(ml100k)).catalog
    labels = [item.label for item in catalog.items_by_index([49, 0, 99_999])]
    assert labels == ["Star Wars (1977)", "Toy Story (1995)"]
