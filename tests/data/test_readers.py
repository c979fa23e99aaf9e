"""Every reader, on the real files (when the data home has them) and on small written files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentrec.data.store import open_dataset
from agentrec.data.summary import dataset_summary


def counts(folder: Path) -> tuple[int, int, int, int]:
    summary = dataset_summary(open_dataset(str(folder)))
    return (
        summary["users"],
        summary["items"],
        summary["items_with_interactions"],
        summary["interactions"],
    )


def test_ml100k_real_counts_and_attributes(ml100k: Path) -> None:
    assert counts(ml100k) == (943, 1682, 1682, 100_000)
    catalog = open_dataset(str(ml100k)).catalog
    toy_story = catalog.item("1")
    assert toy_story.title == "Toy Story (1995)"
    assert toy_story.year == 1995
    assert set(toy_story.genres) == {"Animation", "Children's", "Comedy"}
    assert toy_story.extra["imdb_url"].startswith("http://us.imdb.com/")


def test_ml_latest_small_real_counts_tags_and_links(ml_latest_small: Path) -> None:
    assert counts(ml_latest_small) == (610, 9742, 9724, 100_836)
    catalog = open_dataset(str(ml_latest_small)).catalog
    jumanji = catalog.item("2")
    assert jumanji.year == 1995 and "Fantasy" in jumanji.genres
    assert jumanji.extra["imdb_id"] == "0113497"
    assert any(catalog.item(i).extra["tags"] for i in ("60756", "1"))


def test_ml1m_implicit_real_counts_keep_the_given_split(ml1m_implicit: Path) -> None:
    store = open_dataset(str(ml1m_implicit))
    summary = dataset_summary(store)
    assert (summary["users"], summary["items"], summary["interactions"]) == (6039, 3628, 836_478)
    assert set(summary["splits"]) == {"train", "valid", "test"}
    assert sum(summary["splits"].values()) == 836_478
    assert summary["rating_scale"] is None and summary["time_span"] is None


def test_ml1m_format_small(ml1m_folder: Path) -> None:
    store = open_dataset(str(ml1m_folder))
    assert counts(ml1m_folder) == (2, 3, 3, 4)
    matrix = store.catalog.item("20")
    assert matrix.year == 1999 and matrix.genres == ("Action", "Sci-Fi", "Thriller")
    assert store.catalog.item("30").title == "Amélie (2001)"  # latin-1 decoded
    users = dict(store.con.execute("SELECT user_id, gender FROM users").fetchall())
    assert users == {"1": "F", "2": "M"}


def test_ml100k_format_small(make_folder: Callable[..., Path]) -> None:
    flags = "|".join(["0"] * 19)
    drama = "|".join(["0"] * 8 + ["1"] + ["0"] * 10)
    folder = make_folder(
        {
            "u.data": "1\t1\t5\t881250949\n2\t2\t3\t881250950\n",
            "u.item": f"1|Café (1990)|01-Jan-1990||http://x|{flags}\n2|Heat (1995)|01-Jan-1995||http://y|{drama}\n",
            "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n",
        },
        encoding="latin-1",
    )
    store = open_dataset(str(folder))
    assert store.catalog.item("1").title == "Café (1990)"
    assert store.catalog.item("2").genres == ("Drama",)
    assert store.con.execute("SELECT age FROM users WHERE user_id = '2'").fetchone() == (53,)


def test_ml_latest_format_small_with_quoted_titles(make_folder: Callable[..., Path]) -> None:
    folder = make_folder(
        {
            "ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.5,964982703\n1,2,3.0,964982704\n",
            "movies.csv": 'movieId,title,genres\n1,"American President, The (1995)",Comedy|Drama|Romance\n'
            "2,Nothing (2003),(no genres listed)\n",
            "tags.csv": "userId,movieId,tag,timestamp\n1,1,Politics,1\n2,1,politics,2\n2,1,funny,3\n",
        }
    )
    catalog = open_dataset(str(folder)).catalog
    president = catalog.item("1")
    assert (
        president.title == "American President, The (1995)"
        and president.label == "The American President (1995)"
    )
    assert president.extra["tags"] == ["politics", "funny"]
    assert catalog.item("2").genres == ()


def test_adjacency_small(make_folder: Callable[..., Path]) -> None:
    folder = make_folder({"train.txt": "0 0 1 2\n1 2 3\n", "test.txt": "0 3\n1 0\n"})
    store = open_dataset(str(folder))
    summary = dataset_summary(store)
    assert (summary["users"], summary["items"], summary["interactions"]) == (2, 4, 7)
    assert summary["splits"] == {"test": 2, "train": 5}


@pytest.mark.parametrize("items_format", ["csv", "jsonl", "parquet"])
def test_generic_folder(make_folder: Callable[..., Path], items_format: str) -> None:
    interactions = "user_id,item_id,rating,timestamp\nu1,a,5,10\nu1,b,3,20\nu2,a,4,15\nu2,zz,1,30\n"
    folder = make_folder({"interactions.csv": interactions})
    rows = [("a", "Heat (1995)", "Action|Crime", "x|y"), ("b", "Up (2009)", "Animation", "z")]
    if items_format == "csv":
        text = "item_id,title,genres,tags\n" + "".join(",".join(r) + "\n" for r in rows)
        (folder / "items.csv").write_text(text)
    elif items_format == "jsonl":
        import json

        lines = [
            json.dumps({"item_id": r[0], "title": r[1], "genres": r[2].split("|"), "tags": r[3]})
            for r in rows
        ]
        (folder / "items.jsonl").write_text("\n".join(lines) + "\n")
    else:
        import duckdb

        con = duckdb.connect()
        con.execute("CREATE TABLE t (item_id VARCHAR, title VARCHAR, genres VARCHAR, tags VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
        con.execute(f"COPY t TO '{folder / 'items.parquet'}' (FORMAT parquet)")
    store = open_dataset(str(folder))
    heat = store.catalog.item("a")
    assert heat.genres == ("Action", "Crime") and heat.year == 1995
    assert heat.extra["tags"] == ["x", "y"]
    # an item seen only in interactions still gets a catalog row
    assert store.catalog.item("zz").title is None
    assert counts(folder) == (2, 3, 3, 4)


def test_generic_parquet_interactions_with_aliases(make_folder: Callable[..., Path]) -> None:
    import duckdb

    folder = make_folder({})
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES (1, 7, 1700000000), (2, 7, 1700000001)) v(userId, itemId, ts)"
    )
    con.execute(f"COPY t TO '{folder / 'interactions.parquet'}' (FORMAT parquet)")
    store = open_dataset(str(folder))
    data = store.interactions()
    assert len(data) == 2 and data.items.ids == ("7",)
    assert list(data.ts) == [1700000000, 1700000001]
