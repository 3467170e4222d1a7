"""DuckDB over the lake's per-trial scores: what `rank` reads instead of every fact."""

from __future__ import annotations

from sweeplake.engines.base import Engine
from sweeplake.engines.duckdb import fetch
from sweeplake.scores.store import QUERY_MEMORY_LIMIT, ScoresStore


class ScoresEngine(Engine):
    """Runs statements on the store's connection (tables `scores` and `data`), refreshed once."""

    def __init__(self, store: ScoresStore) -> None:
        store.refresh()
        store.limit_queries(QUERY_MEMORY_LIMIT)
        self.store = store

    def query(
        self, sql: str, within: int | None = None, ranked_by: str = "rank"
    ) -> tuple[list[str], list[tuple]]:
        return fetch(self.store.connection, sql, within, ranked_by)
