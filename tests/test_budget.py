"""A start with a time budget ships what it finished, whole, however high the --trials cap."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import sweeplake

from sweeplake.paths import DEFAULT_DATASET
from sweeplake.samplers.space import SampledTrials, load_space

CAP = 10_000_000  # drawn up front, this many trials alone would take minutes


def read_lines(paths: list[Path]) -> list[dict]:
    return [
        json.loads(line) for p in paths for line in gzip.decompress(p.read_bytes()).splitlines()
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_budget_stops_a_huge_batch_early_and_ships_it_whole(lake, workers):
    # Generous timeout: this checks that the budget stops the batch, not how fast the box is.
    done = sweeplake(
        "run", "--model", "svr", "--trials", str(CAP), "--budget", "3", "--workers", workers,
        "--lake", str(lake), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    hypers = read_lines(sorted(lake.glob("hyper/dt=*/*.json.gz")))
    facts = read_lines(sorted(lake.glob("fact/dt=*/*.json.gz")))
    assert 0 < len(hypers) < CAP
    assert len({h["hyper_id"] for h in hypers}) == len(hypers)
    assert all(h["status"] == "ok" for h in hypers)
    points = [json.loads(line)["point_id"] for line in DEFAULT_DATASET.read_text().splitlines()]
    # Every trial that has a hyper record has every point's prediction, once; nothing else.
    per_trial = Counter((f["hyper_id"], f["point_id"]) for f in facts)
    assert set(per_trial.values()) == {1}
    assert set(per_trial) == {(h["hyper_id"], p) for h in hypers for p in points}


def test_sampled_trials_are_drawn_on_demand_and_match_a_full_sample():
    space = load_space()
    lazy = SampledTrials(space, ["svr", "random_forest"], 10**12, seed=4)
    assert len(lazy) == 10**12
    assert [lazy[i] for i in range(6)] == space.sample(["svr", "random_forest"], 6, seed=4)
    with pytest.raises(IndexError):
        SampledTrials(space, ["svr"], 3, seed=4)[3]
