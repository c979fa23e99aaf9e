"""Readers turn a publisher's folder layout into the store's raw tables.

Every reader creates three tables in the DuckDB connection it is given:
``raw_items`` (item_id, title, genres, ...), ``raw_users`` (user_id, ...) and
``raw_interactions`` (user_id, item_id, rating, ts, split). The store then
derives the final tables from them, whatever the layout was.
"""
