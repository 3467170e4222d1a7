"""The query-engine interface: DuckDB (embedded) and Athena each run the files in sql/ behind it."""

from __future__ import annotations

from abc import ABC, abstractmethod


class Engine(ABC):
    """Runs one statement from sql/ as it stands and yields its rows."""

    @abstractmethod
    def query(
        self, sql: str, within: int | None = None, ranked_by: str = "rank"
    ) -> tuple[list[str], list[tuple]]:
        """The statement's columns and rows; given `within`, a ranking's rows whose `ranked_by`
        column is past it may be left out."""

    def leaderboard_top(self, within: int, by: str) -> tuple[list[str], list[tuple]] | None:
        """The leaderboard's first `within` trials of each dataset by `by` ("test" or "cv"),
        where the engine has a statement for them faster than the whole leaderboard filtered;
        None where it has not (the caller then filters the whole one)."""
        return None
