"""A batch the scores store cannot score now (an unreadable fact object, an unreadable dataset)
is never marked done: each refresh names it and tries it again, and once it can be read its
trials are scored as if nothing had happened."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from sweeplake.lake import LocalLake
from sweeplake.samplers.space import Trial
from sweeplake.scores.store import open_scores
from tests.test_scores_store import FOREST, SVR, fact_of, write_batch


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWEEPLAKE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def scored_ids(lake: LocalLake) -> set[str]:
    """What a fresh reader of the store holds, and of it what is ranked (whole predictions)."""
    store = open_scores(str(lake.root))
    store.refresh()
    rows = store.connection.execute("SELECT hyper_id, points FROM scores").fetchall()
    return {h for h, points in rows if points == 442}


def warnings(caplog) -> list[str]:
    found = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    caplog.clear()
    return found


def damage(path: Path) -> bytes:
    body = path.read_bytes()
    path.write_bytes(body[: len(body) // 2])
    return body


@pytest.mark.parametrize("broken", ["fact", "dataset"])
def test_a_batch_not_scored_is_named_at_every_refresh_and_scored_once_readable(
    tmp_path: Path, caplog, broken: str
) -> None:

    lake = LocalLake(tmp_path / "lake")
    first = write_batch(lake, [Trial("svr", SVR, 0)])  # scored by the job
    later = write_batch(lake, [Trial("random_forest", FOREST, 2)], scores=False)
    path = fact_of(lake, later) if broken == "fact" else lake.root / "data" / "diabetes.json"
    hyper_key = f"hyper/{fact_of(lake, later).parent.name}/{fact_of(lake, later).name}"
    body = damage(path)
    caplog.set_level(logging.WARNING)

    for _ in range(2):  # skipped, so tried again: named each time
        assert scored_ids(lake) == set(first)
        named = [line for line in warnings(caplog) if hyper_key in line]
        assert len(named) == 1 and "tried again at the next refresh" in named[0], named
        if broken == "dataset":
            assert "data/diabetes.json" in named[0]
    manifest = json.loads((open_scores(str(lake.root)).cache / "manifest.json").read_text())
    assert hyper_key not in manifest["batches"]

    path.write_bytes(body)  # repaired
    assert scored_ids(lake) == set(first + later)
    assert [line for line in warnings(caplog) if hyper_key in line] == []


def test_an_unreadable_dataset_is_named_in_the_log(tmp_path: Path, caplog) -> None:

    lake = LocalLake(tmp_path / "lake")
    write_batch(lake, [Trial("svr", SVR, 0)], scores=False)
    (lake.root / "data" / "diabetes.json").write_text("not json\n")
    caplog.set_level(logging.WARNING)
    assert scored_ids(lake) == set()
    assert any("skipped data/diabetes.json" in line for line in warnings(caplog))
