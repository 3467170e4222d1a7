"""The history a model-based sampler learns from: the lake's scored trials, every machine's."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from sweeplake.engines.sqlfiles import read_sql
from sweeplake.lake import params as lake_params
from sweeplake.models.registry import family

# TPE models the best trials apart from the rest, and never more than 25 best ones (Optuna's
# default gamma). What it is fed is those 25 plus the most recent trials: its "good" density is
# then exactly that of the whole history, its "bad" one is drawn from a recent window, and the
# cost of a start stays flat as the lake grows.
BEST = 25
RECENT = 500


@dataclass(frozen=True)
class PastTrial:
    """One trial of the history: its parameters and its cv_r2, None when it failed; a pruned
    trial's is over the folds it got, `pruned_after` of them."""

    params: dict[str, float | int]
    value: float | None
    pruned_after: int | None = None


@dataclass(frozen=True)
class PastTrials:
    trials: list[PastTrial]  # oldest first
    seen: int  # trials of the history in the lake, of which `trials` is the window
    # Parameters of trials other batches are fitting now (the lake's pending trials).
    pending: list[dict[str, float | int]] = field(default_factory=list)


class History(ABC):
    """Trials of one dataset already in the lake, by model and search space."""

    @abstractmethod
    def past(self, model: str, space_sha256: str) -> PastTrials: ...

    @abstractmethod
    def seen(self, model: str, space_sha256: str) -> int:
        """How many trials of `model` in that space the history holds (PastTrials.seen)."""


class ScoresHistory(History):
    """The history as the per-trial scores store holds it: each start reads only what is new
    since this machine's last start, from a local lake or S3 alike."""

    def __init__(self, lake: str, dataset_sha256: str, store=None) -> None:
        """`store`: the lake's ScoresStore, when the caller holds one (default: one of its own)."""
        from sweeplake.lake import open_lake
        from sweeplake.lake.pending import pending_trials
        from sweeplake.scores.store import open_scores

        self.store = open_scores(lake) if store is None else store
        self.store.refresh()
        self.dataset_sha256 = dataset_sha256
        pending = pending_trials(open_lake(lake), dataset_sha256)
        batches = sorted({t.batch_id for t in pending})
        committed = {
            row[0]
            for row in self.store.connection.execute(
                read_sql("committed_batches.sql"), {"batch_ids": batches}
            ).fetchall()
        }
        self.pending = [t for t in pending if t.batch_id not in committed][-RECENT:]

    def seen(self, model: str, space_sha256: str) -> int:
        query = {
            "dataset_sha256": self.dataset_sha256,
            "model": model,
            "space_sha256": space_sha256,
        }
        # fetchall: a result left unfinished would block the store's next refresh.
        [(count,)] = self.store.connection.execute(read_sql("history_seen.sql"), query).fetchall()
        return count

    def past(self, model: str, space_sha256: str) -> PastTrials:
        query = {
            "dataset_sha256": self.dataset_sha256,
            "model": model,
            "space_sha256": space_sha256,
            "best": BEST,
            "recent": RECENT,
        }
        cursor = self.store.connection.execute(read_sql("sampler_history.sql"), query)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        trials = [
            PastTrial(
                lake_params.decode(row, family(model).params),
                row["cv_r2"] if row["status"] != "failed" else None,
                len(json.loads(row["cv_fold_r2"])) if row["status"] == "pruned" else None,
            )
            for row in rows
        ]
        pending = [
            t.params for t in self.pending if t.model == model and t.space_sha256 == space_sha256
        ]
        return PastTrials(trials, rows[0]["seen"] if rows else 0, pending)
