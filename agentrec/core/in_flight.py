"""Work that mostly waits (requests to a remote LLM provider), kept in flight by threads of this process.

A remote provider's calls spend their time on the network, so threads keep many
of them in flight at once; work that computes goes to the processes of
``worker_pool.py`` instead. Whatever happens to the caller (an error in one item,
an interrupt, a consumer that stops reading), queued items are cancelled and the
running ones are waited for, so nothing keeps calling the provider afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import closing
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_threads(
    work: Callable[[Item], Result], items: Sequence[Item], threads: int, name: str = "in-flight"
) -> Generator[tuple[int, Result], None, None]:
    """``(index, work(items[index]))`` as each finishes, with at most ``threads`` running at once.

    The first error is raised here, after the items still queued are cancelled.
    """
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
    try:
        futures = {pool.submit(work, item): index for index, item in enumerate(items)}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def in_item_order(finished: Iterable[tuple[int, Result]]) -> Iterator[Result]:
    """The results of ``map_in_threads`` in the order of its items, each as soon as every earlier one is in."""
    waiting: dict[int, Result] = {}
    next_index = 0
    for index, result in finished:
        waiting[index] = result
        while next_index in waiting:
            yield waiting.pop(next_index)
            next_index += 1


def ordered_in_threads(
    work: Callable[[Item], Result], items: Sequence[Item], threads: int, name: str = "in-flight"
) -> Iterator[Result]:
    """``work(item)`` for each item, in the order of ``items``, up to ``threads`` at once.

    With one thread (or one item) the work runs here, in this thread, one item after another.
    """
    if threads <= 1 or len(items) <= 1:
        yield from (work(item) for item in items)
        return
    # closed explicitly: a consumer that stops early must cancel the queued items now, not when collected
    with closing(map_in_threads(work, items, threads, name)) as finished:
        yield from in_item_order(finished)
