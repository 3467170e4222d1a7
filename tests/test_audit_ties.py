"""`rank --audit` on a healthy lake where the same trials ran more than once: every rank it
compares takes ties as ties, so it agrees."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import sweeplake
from tests.lakeread import records


def test_the_audit_agrees_on_a_lake_where_the_same_seed_ran_three_times(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for _ in range(3):  # the docs call this normal: the same trials, three times over
        result = sweeplake("run", "--lake", str(lake), "--trials", "4", "--seed", "1")
        assert result.returncode == 0, result.stderr
    hyper = records(lake, "hyper")
    assert len(hyper) == 12 and len({h["hyper_id"] for h in hyper}) == 12
    assert len({(h["model"], h["gamma"], h["c"], h["n_estimators"]) for h in hyper}) == 4
    result = sweeplake("rank", "--lake", str(lake), "--audit")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the scores agree" in result.stdout and "12 ranked trials" in result.stdout
