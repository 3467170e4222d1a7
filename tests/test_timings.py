"""Each batch's phase timings: one object per batch, in the DDL's columns, agreeing with the
trials' own times and the clock outside the process, and shown by `report`."""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, sweeplake
from lakeread import records
from test_report import tables_of

from sweeplake.engines.sqlfiles import table_schema
from sweeplake.timings import PHASES


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("timings") / "lake"
    for seed in ("1", "2"):
        done = sweeplake("run", "--lake", str(lake), "--trials", "4", "--seed", seed)
        assert done.returncode == 0, done.stderr
    return lake


def timings(lake: Path) -> list[dict]:
    found = []
    for path in sorted(lake.glob("timings/dt=*/*.json.gz")):
        (line,) = gzip.decompress(path.read_bytes()).decode().splitlines()
        found.append({**json.loads(line), "key": str(path.relative_to(lake))})
    return found


def test_one_timings_object_per_batch_in_the_ddl_columns(lake: Path) -> None:
    hyper = records(lake, "hyper")
    found = timings(lake)
    assert sorted(t["batch_id"] for t in found) == sorted({h["batch_id"] for h in hyper})
    for record in found:
        batch = [h for h in hyper if h["batch_id"] == record["batch_id"]]
        assert (
            record["key"]
            == f"timings/dt={batch[0]['created_at'][:10]}/{record['batch_id']}.json.gz"
        )
        assert list(record)[:-1] == list(table_schema("timings").columns)
        assert (record["runner"], record["cold"], record["trials"]) == ("cli", None, len(batch))
        for part in ("fit", "predict", "cv"):
            assert record[f"{part}_ms"] == pytest.approx(sum(h[f"{part}_ms"] for h in batch))
        assert record["cv_ms"] > 0
        phases = [record[f"{p}_ms"] for p in PHASES]
        assert all(p > 0 for p in phases)
        assert record["wall_ms"] == pytest.approx(sum(phases))
        # The workers' summed fit time fits in the fitting phase's wall time, times the workers.
        cores = len(os.sched_getaffinity(0))
        assert record["fit_ms"] + record["predict_ms"] + record["cv_ms"] <= (
            record["fitting_ms"] * cores
        )


def test_start_up_is_the_process_age_as_the_parent_sees_it() -> None:
    code = (
        "import time; time.sleep(0.5); from sweeplake.timings import process_age_ms; "
        "print(process_age_ms())"
    )
    before = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    outside = (time.monotonic() - before) * 1000
    age = float(done.stdout)
    assert 500 <= age <= outside + 20  # /proc counts in 10 ms ticks


def test_the_report_shows_where_the_time_goes(lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    env = {"SWEEPLAKE_CACHE": str(tmp_path / "cache")}
    done = sweeplake("report", "--lake", str(lake), "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    (row,) = tables_of(out.read_text())["timings"]
    found = timings(lake)
    wall = sum(t["wall_ms"] for t in found) / len(found)
    expected = ["cli", "", str(len(found)), f"{sum(t['trials'] for t in found) / len(found):.1f}"]
    for phase in PHASES:
        mean = sum(t[f"{phase}_ms"] for t in found) / len(found)
        expected.append(f"{mean:,.0f} ({mean / wall:.0%})")
    cpu = sum(t["cpu_ms"] for t in found) / len(found)
    assert row == [*expected, f"{wall:,.0f}", f"{cpu:,.0f}"]


def test_cpu_is_the_processes_cpu_as_the_parent_sees_it(tmp_path: Path) -> None:
    """The batch's cpu_ms against getrusage(RUSAGE_CHILDREN) of the process that started it:
    at most that (the record is written before the process exits), and most of it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = sweeplake("run", "--lake", str(tmp_path / "lake"), "--trials", "40", "--model", "svr")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr
    outside = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    (record,) = timings(tmp_path / "lake")
    assert 0.8 * outside <= record["cpu_ms"] <= outside, (record["cpu_ms"], outside)
