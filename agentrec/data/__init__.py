"""Datasets: readers for publishers' layouts, the DuckDB store, catalog queries and splits."""
