"""Macro behaviour: what simulated users clicked, as a whole, against what the same real users consumed.

The real side is the simulated users' own held-out interactions (the random
holdout no profile saw), so both sides are the same people:

* **popularity**: the share of watches in each training-popularity decile of the catalog
  (decile 10 holds the most popular tenth of items);
* **genres**: the share of watches in each genre (an item with k genres counts 1/k to each);
* **pages**: the mean exit page and click-through rate of the sessions. MovieLens records
  no pages, so these stand beside Agent4Rec's published run (exit page 3.23, click rate
  0.33) instead of beside real data.

Each distribution is compared by its Jensen-Shannon divergence in bits (0 identical, 1
disjoint) and its largest gap.
"""

from __future__ import annotations

import duckdb
import numpy as np
import numpy.typing as npt

from agentrec.sim.items import SimItems
from agentrec.sim.rating_fidelity import jensen_shannon
from agentrec.sim.taste import popularity_percentile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DECILES = 10
AGENT4REC_EXIT_PAGE = 3.23
AGENT4REC_CLICK_RATE = 0.33


def watched_items(con: duckdb.DuckDBPyConnection, run_id: str, items: SimItems) -> IntArray:
    """Dense indices of every watch in the run (all arms, all rounds)."""
    rows = con.execute("SELECT item_id FROM events WHERE run_id = ? AND kind = 'watch'", [run_id]).fetchall()
    index = {item_id: position for position, item_id in enumerate(items.ids)}
    return np.asarray([index[row[0]] for row in rows if row[0] in index], dtype=np.int64)


def popularity_shares(watched: IntArray, items: SimItems) -> FloatArray:
    deciles = np.minimum((popularity_percentile(items.popularity) * DECILES).astype(np.int64), DECILES - 1)
    counts = np.bincount(deciles[watched], minlength=DECILES).astype(np.float64)
    shares: FloatArray = counts / max(counts.sum(), 1.0)
    return shares


def genre_shares(watched: IntArray, items: SimItems) -> FloatArray:
    flags = items.genres[watched].astype(np.float64)
    weights = flags / np.maximum(flags.sum(axis=1, keepdims=True), 1.0)
    totals = weights.sum(axis=0)
    shares: FloatArray = totals / max(float(totals.sum()), 1.0)
    return shares


def compared(simulated: FloatArray, real: FloatArray, labels: list[str]) -> dict[str, object]:
    gaps = simulated - real
    widest = int(np.argmax(np.abs(gaps))) if gaps.size else 0
    return {
        "jsd": jensen_shannon(simulated, real),
        "largest_gap": {"label": labels[widest], "simulated": float(simulated[widest]), "real": float(real[widest])},
        "simulated": simulated.round(4).tolist(),
        "real": real.round(4).tolist(),
        "labels": labels,
    }


def macro_behaviour(
    con: duckdb.DuckDBPyConnection, run_id: str, items: SimItems, real_items: IntArray, sessions: dict[str, float]
) -> dict[str, object]:
    """The ``macro`` block: popularity and genre shares of watches against real ones, and the session shape."""
    watched = watched_items(con, run_id, items)
    deciles = [f"decile {d}" for d in range(1, DECILES + 1)]
    return {
        "watches": float(watched.size),
        "real_interactions": float(real_items.size),
        "popularity": compared(popularity_shares(watched, items), popularity_shares(real_items, items), deciles),
        "genres": compared(genre_shares(watched, items), genre_shares(real_items, items), list(items.genre_names)),
        "exit_page": {"simulated": sessions.get("exit_page", float("nan")), "agent4rec": AGENT4REC_EXIT_PAGE},
        "click_rate": {"simulated": sessions.get("ctr", float("nan")), "agent4rec": AGENT4REC_CLICK_RATE},
    }
