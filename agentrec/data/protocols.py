"""Make the split a protocol name asks for, from an opened dataset store."""

from __future__ import annotations

from agentrec.core.errors import ConfigError
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


def has_given_split(store: DatasetStore) -> bool:
    row = store.con.execute("SELECT count(*) FROM interactions WHERE split IS NOT NULL").fetchone()
    return bool(row and row[0])


def make_split(store: DatasetStore, protocol: str, seed: int = 0) -> Split:
    """The split named ``protocol`` (loo, temporal, random, given) for ``store``."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if protocol == "given":
        if not has_given_split(store):
            raise ConfigError(
                f"{store.name} has no published split; use --protocol loo, temporal or random"
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
