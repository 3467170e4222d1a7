"""A lake holding garbage: rank and its audit name what they skipped and why, and rank the rest."""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.conftest import sweeplake
from tests.lakeread import object_records, parse_csv, records


def batch_run(lake: Path, seed: str) -> set[str]:
    before = {h["hyper_id"] for h in records(lake, "hyper")} if lake.exists() else set()
    result = sweeplake(
        "run", "--lake", str(lake), "--trials", "3", "--seed", seed, "--workers", "1"
    )
    assert result.returncode == 0, result.stderr
    return {h["hyper_id"] for h in records(lake, "hyper")} - before


def test_rank_skips_unreadable_objects_names_them_and_ranks_the_rest(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    good = batch_run(lake, "1") | batch_run(lake, "2")
    damaged = batch_run(lake, "3")
    (fact,) = [
        p for p in lake.glob("fact/dt=*/*.json.gz") if object_records(p)[0]["hyper_id"] in damaged
    ]
    fact.write_bytes(fact.read_bytes()[: len(fact.read_bytes()) // 2])
    day = fact.parent.name
    (lake / "fact" / day / "WRONGTYPE.json.gz").write_bytes(
        gzip.compress(b'{"hyper_id": "x", "point_id": "one", "y_pred": 1.0}\n')
    )
    (lake / "hyper" / day / "MALFORMED.json.gz").write_bytes(
        gzip.compress(b'{"hyper_id": "y", "model": \n')
    )
    (lake / "hyper" / day / "EXTRAKEYS.json.gz").write_bytes(
        gzip.compress(b'{"hyper_id": "z", "model": "svr", "status": "ok", "colour": "red"}\n')
    )

    # rank reads the scores the job wrote before the damage; the batches it cannot score (a
    # hyper it cannot read, one without facts) it skips, naming them each time it refreshes.
    result = sweeplake("rank", "--lake", str(lake), "--format", "csv", "--limit", "100")
    assert result.returncode == 0, result.stderr
    assert {r["hyper_id"] for r in parse_csv(result.stdout)} == good | damaged
    store_lines = [line for line in result.stderr.splitlines() if "sweeplake.scores WARN" in line]
    assert len(store_lines) == 2 and all("tried again" in line for line in store_lines)
    named = " ".join(store_lines)
    assert "skipped hyper/" in named and "MALFORMED.json.gz: " in named, result.stderr
    assert "EXTRAKEYS.json.gz: it has no fact object" in named, result.stderr

    # The audit reads every fact: it skips what it cannot read and finds the damage.
    result = sweeplake("rank", "--lake", str(lake), "--audit")
    assert result.returncode == 1, result.stderr
    assert "DISAGREE" in result.stdout and "only in the scores" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if "sweeplake.engine WARN" in line]
    assert len(warnings) == 3 and all("skipped" in line for line in warnings), result.stderr
    named = " ".join(warnings)
    (cut,) = [line for line in warnings if f"skipped fact/{day}/{fact.name}: " in line]
    assert "Malformed JSON" in cut, cut  # DuckDB 1.5 reads a cut stream to where it stops
    assert "WRONGTYPE.json.gz" in named and "MALFORMED.json.gz" in named
    assert "EXTRAKEYS" not in named


def test_hidden_temporaries_are_never_read(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    good = batch_run(lake, "5")
    day = next(lake.glob("fact/dt=*")).name
    partial = gzip.compress(b'{"hyper_id": "half", "point_id": 1, "y_pred": 2.0}\n')[:20]
    (lake / "fact" / day / ".01ABC.json.gz.4242.tmp").write_bytes(partial)
    result = sweeplake("rank", "--lake", str(lake), "--format", "csv")
    assert result.returncode == 0 and "skipped" not in result.stderr
    assert {r["hyper_id"] for r in parse_csv(result.stdout)} == good
