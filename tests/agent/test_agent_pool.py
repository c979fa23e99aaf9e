"""The candidate pool keeps provenance and obeys hard constraints."""

from __future__ import annotations

import numpy as np

from agentrec.agent.pool import RRF_OFFSET, CandidatePool


def test_lists_keep_order_provenance_and_constraints() -> None:
    allowed = np.ones(10, dtype=bool)
    allowed[0] = False  # seen
    pool = CandidatePool(allowed)
    assert pool.add("retrieve", {"k": 3}, [0, 1, 2, 3], step=1) == (1, 2, 3)
    pool.add("similar", {"item": "x"}, [3, 4], step=2)
    assert pool.items().tolist() == [1, 2, 3, 4]
    stats = pool.list_statistics(np.array([3, 4]))
    assert stats["lists"].tolist() == [2, 1]
    assert stats["best_rank"].tolist() == [1, 2]
    assert np.isclose(stats["rrf"][0], 1 / (RRF_OFFSET + 3) + 1 / (RRF_OFFSET + 1))
    provenance = pool.provenance(3)
    assert provenance.source == "similar(item=x)" and provenance.rank == 1 and provenance.lists == 2

    mask = np.ones(10, dtype=bool)
    mask[[2, 3]] = False
    pool.constrain(mask)
    assert pool.items().tolist() == [1, 4]
    assert pool.add("rank", {}, [2, 5], step=3) == (5,)
    assert pool.provenance(9).source == "backbone fallback"
