"""Make the split a protocol name asks for, from an opened dataset store."""

from __future__ import annotations

from agentrec.core.errors import ConfigError, InvalidParameter
from agentrec.data.interactions_table import load_interactions
from agentrec.data.splits import (
    PROTOCOLS,
    Split,
    given_split,
    leave_one_out,
    random_ratio,
    temporal_global,
)
from agentrec.data.store import DatasetStore

# Not a split of its own: the dataset's given split when it has one, else loo.
AUTO = "auto"


def has_given_split(store: DatasetStore) -> bool:
    row = store.con.execute("SELECT count(*) FROM interactions WHERE split IS NOT NULL").fetchone()
    return bool(row and row[0])


def resolve_protocol(store: DatasetStore, protocol: str) -> str:
    """``auto`` is the split the dataset ships with (``given``) when it has one, else ``loo``.

    A published split is what the dataset's papers report on; leave-one-out over it would
    give numbers no one can compare with (issue 16, point 11).
    """
    if protocol != AUTO:
        return protocol
    return "given" if has_given_split(store) else "loo"


def make_split(store: DatasetStore, protocol: str, seed: int = 0) -> Split:
    """The split named ``protocol`` (auto, loo, temporal, random, given) for ``store``."""
    protocol = resolve_protocol(store, protocol)
    if protocol not in PROTOCOLS:
        raise InvalidParameter("protocol", f"must be one of {', '.join((AUTO, *PROTOCOLS))}, got {protocol!r}")
    if protocol == "given":
        if not has_given_split(store):
            raise ConfigError(
                f"{store.name} has no published split; use the protocol loo, temporal or random"
            )
        vocabularies = (store.interactions().users, store.interactions().items)
        train, valid, test = (
            load_interactions(store.con, s, vocabularies) for s in ("train", "valid", "test")
        )
        return given_split(train, valid if len(valid) else None, test)
    data = store.interactions()
    if protocol == "loo":
        return leave_one_out(data)
    if protocol == "temporal":
        return temporal_global(data)
    return random_ratio(data, seed=seed)
