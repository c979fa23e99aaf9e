"""Work kept in flight by threads: results in item order, and nothing left queued after an error or an early stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from agentrec.core.in_flight import map_in_threads, ordered_in_threads


def test_items_run_side_by_side_and_come_out_in_item_order() -> None:
    second_done = threading.Event()

    def work(item: int) -> int:
        if item == 0:
            assert second_done.wait(timeout=10), "item 1 never ran beside item 0"
        else:
            second_done.set()
        return item * 10

    assert sorted(map_in_threads(work, [0, 1], threads=2)) == [(0, 0), (1, 10)]
    second_done.clear()
    assert list(ordered_in_threads(work, [0, 1], threads=2)) == [0, 10]


def test_one_thread_runs_the_items_here_one_after_another() -> None:
    threads = list(ordered_in_threads(lambda _: threading.current_thread(), [1, 2, 3], threads=1))
    assert threads == [threading.current_thread()] * 3


def started_items() -> tuple[list[int], Callable[[int], int]]:
    started: list[int] = []

    def work(item: int) -> int:
        started.append(item)
        if item == 0:
            raise ValueError("item 0 fails")
        time.sleep(0.01)  # long enough that the queue is still full when the caller stops
        return item

    return started, work


def test_an_error_cancels_the_items_still_queued() -> None:
    started, work = started_items()
    with pytest.raises(ValueError, match="item 0 fails"):
        list(ordered_in_threads(work, list(range(40)), threads=2))
    assert len(started) < 40


def test_a_consumer_that_stops_early_leaves_nothing_running() -> None:
    started, work = started_items()
    results = ordered_in_threads(work, list(range(1, 41)), threads=2)
    assert next(results) == 1
    results.close()
    count = len(started)
    time.sleep(0.05)
    assert count == len(started) < 40  # queued items were cancelled, running ones awaited before close returned
