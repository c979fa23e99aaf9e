"""Corrupt and missing inputs raise one clear DataError naming the file (and line); nothing else escapes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentrec.core.errors import DataError
from agentrec.data.store import open_dataset

ML1M_MOVIES_TEXT = "10::Heat (1995)::Action|Crime|Thriller\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"u.data": "1\t1\t5\t881250949\n1\t2\t5\n", "u.item": ""}, "u.data:2: too few fields"),
        (
            {"u.data": "1\t1\tfive\t881250949\n", "u.item": ""},
            "u.data:1: bad value in field 'rating'",
        ),
        (
            {"ratings.dat": "1::10::5::1\n1::x::5::2\n", "movies.dat": ML1M_MOVIES_TEXT},
            "ratings.dat:2: bad value in field 'item_id'",
        ),
        (
            {"ratings.dat": "1::10::5::1\n", "movies.dat": "10::Heat (1995)\n"},
            "movies.dat:1: expected 3 fields",
        ),
        ({"train.txt": "0 1 2\n1 x 3\n", "test.txt": "0 3\n"}, "train.txt:2: ids must be integers"),
        (
            {"interactions.csv": "user_id,item_id,rating\n1,2,5\n3,4,oops\n"},
            "interactions.csv:3: bad value in field 'rating'",
        ),
        (
            {"interactions.csv": "user,product\n1,2\n"},
            "interactions.csv:1: missing column(s) item_id",
        ),
        (
            {
                "interactions.csv": "user_id,item_id\n1,a\n",
                "items.csv": "item_id,title\na,X\na,Y\n",
            },
            "item_id 'a' appears 2 times in the items file",
        ),
    ],
)
def test_malformed_rows_name_file_and_line(
    make_folder: Callable[..., Path], files: dict[str, str], expected: str
) -> None:
    folder = make_folder(files)
    with pytest.raises(DataError) as raised:
        open_dataset(str(folder))
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_bad_genre_flags_in_u_item(make_folder: Callable[..., Path]) -> None:
    folder = make_folder(
        {"u.data": "1\t1\t5\t1\n", "u.item": "1|X (1990)|||u|" + "|".join(["2"] * 19) + "\n"}
    )
    with pytest.raises(DataError, match=r"u\.item:1: genre flags must be 0 or 1"):
        open_dataset(str(folder))


def test_missing_folder_and_unknown_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTREC_DATA_HOME", str(tmp_path))
    with pytest.raises(DataError, match="no such folder"):
        open_dataset(str(tmp_path / "nope" / "deeper"))
    with pytest.raises(DataError, match="unknown dataset 'netflix-prize'"):
        open_dataset("netflix-prize")


def test_folder_without_dataset_files_lists_what_it_expected(
    make_folder: Callable[..., Path],
) -> None:
    folder = make_folder({"notes.txt": "hello"})
    with pytest.raises(DataError, match=r"no dataset files found; expected u\.data \+ u\.item"):
        open_dataset(str(folder))


def test_a_failed_build_leaves_no_store_behind(make_folder: Callable[..., Path]) -> None:
    folder = make_folder({"u.data": "1\t1\t5\n", "u.item": ""})
    with pytest.raises(DataError):
        open_dataset(str(folder))
    import os

    stores = Path(os.environ["AGENTREC_HOME"]) / "stores"
    assert not [p for p in stores.iterdir() if p.name.startswith(folder.name)]


lines = st.text(alphabet=st.sampled_from(list("0123456789,.-ab\t ")), max_size=20)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.lists(lines, max_size=8))
def test_generic_csv_fuzz_only_raises_data_error(
    make_folder: Callable[..., Path], body: list[str]
) -> None:
    folder = make_folder({"interactions.csv": "user_id,item_id,rating\n" + "\n".join(body) + "\n"})
    try:
        store = open_dataset(str(folder))
    except DataError as error:
        assert "\n" not in str(error)
        return
    data = store.interactions()
    assert len(data) <= len(body)
