"""Samplers: random, blind to the lake; tpe, learning from every machine's trials in it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from sweeplake.dataset import load_dataset
from sweeplake.fitting.fit import Outcome, utc_now
from sweeplake.fitting.workers import WORKER_DIED
from sweeplake.ids import new_id
from sweeplake.lake import LocalLake
from sweeplake.models.registry import fitting
from sweeplake.paths import DEFAULT_DATASET
from sweeplake.run import THIN_HISTORY, encode_batch, fit_batch, trial_lineage
from sweeplake.samplers.history import ScoresHistory
from sweeplake.samplers.space import load_space
from sweeplake.samplers.tpe import TPESearch, distribution, study_of
from tests.conftest import REPO, sweeplake
from tests.lakeread import records

SPACE = load_space()


def hyper_records(lake: Path) -> list[dict]:
    return records(lake, "hyper")


def proposed(lake: Path, batch: int | None = None) -> list[tuple]:
    """(model, parameters, seed) of each trial, in proposal order, of every batch or one."""
    hypers = hyper_records(lake)
    batches = sorted({h["batch_id"] for h in hypers})
    chosen = [h for h in hypers if batch is None or h["batch_id"] == batches[batch]]
    return [
        (h["model"], tuple(json.loads(h["params"]).values()), h["seed"])
        for h in sorted(chosen, key=lambda h: h["hyper_id"])
    ]


def writers(lake: str, env: dict, count: int, trials: int) -> None:
    """`count` processes at once, each one random batch into the same lake."""
    command = ["run", "--lake", lake, "--model", "svr", "--trials", str(trials), "--workers", "1"]
    command += ["--budget", "3600"]  # every trial, however busy the machine
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "sweeplake", *command], cwd=REPO, env=env, stderr=subprocess.PIPE
        )
        for _ in range(count)
    ]
    for process in started:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr


@pytest.mark.parametrize("where", ["local", "s3"])
def test_tpe_learns_from_every_writer_and_reads_only_what_is_new(
    where: str, request, tmp_path: Path
) -> None:
    if where == "s3":
        aws = request.getfixturevalue("aws")
        lake, reader = f"s3://{aws.new_bucket()}/sweeps", aws.env()
    else:
        lake, reader = str(tmp_path / "lake"), {}
    # Writers and the reader are different machines: each has its own cache and spool.
    others = {
        **reader,
        "SWEEPLAKE_CACHE": str(tmp_path / "wc"),
        "SWEEPLAKE_SPOOL": str(tmp_path / "ws"),
    }
    writers(lake, {**clean_env(), **others}, count=3, trials=4)
    reader = {
        **reader,
        "SWEEPLAKE_CACHE": str(tmp_path / "rc"),
        "SWEEPLAKE_SPOOL": str(tmp_path / "rs"),
    }
    tpe = ("run", "--lake", lake, "--model", "svr", "--trials", "3", "--sampler", "tpe")
    tpe += ("--budget", "3600")

    first = sweeplake(*tpe, env=reader)
    assert first.returncode == 0, first.stderr
    assert "3 new batches, 12 new trials" in first.stderr
    writers(lake, {**clean_env(), **others}, count=1, trials=2)
    second = sweeplake(*tpe, env=reader)
    assert second.returncode == 0, second.stderr
    assert "2 new batches, 5 new trials" in second.stderr  # its own last batch and the writer's

    local = mirror(lake, tmp_path / "mirror", request)
    tpe_trials = [h for h in hyper_records(local) if h["sampler"] == "tpe"]
    histories = sorted(h["history"] for h in tpe_trials)
    assert histories == [12, 12, 12, 17, 17, 17]
    assert {h["space_sha256"] for h in tpe_trials} == {SPACE.sha256("svr")}
    assert {h["history"] for h in hyper_records(local) if h["sampler"] == "random"} == {0}


def clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}


def mirror(lake: str, folder: Path, request) -> Path:
    """A local copy of the lake's hyper objects, read by the test, not by the code under test."""
    if not lake.startswith("s3://"):
        return Path(lake)
    aws = request.getfixturevalue("aws")
    bucket, prefix = lake.removeprefix("s3://").split("/", 1)
    client = aws.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            target = folder / item["Key"].removeprefix(prefix + "/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    return folder


def test_failed_trials_are_known_to_tpe_as_failed(tmp_path: Path, monkeypatch) -> None:
    """A batch whose worker died: its trials are in the history, as FAIL, and counted."""
    dataset = load_dataset(DEFAULT_DATASET)
    good = SPACE.sample(["svr"], 12, seed=3)
    lost = SPACE.sample(["svr"], 3, seed=4)
    outcomes, facts = fit_batch(dataset, good, {"svr"}, 1, time.monotonic() + 120, cv=True)
    outcomes += [Outcome(new_id(), t, utc_now(), None, None, None, WORKER_DIED) for t in lost]
    lake = LocalLake(tmp_path / "lake")
    lineage = trial_lineage(SPACE, "random", {})
    lake.write_batch(encode_batch(new_id(), dataset, outcomes, lineage, facts), dataset)

    monkeypatch.setenv("SWEEPLAKE_CACHE", str(tmp_path / "cache"))
    history = ScoresHistory(str(lake.root), dataset.sha256)
    past = history.past("svr", SPACE.sha256("svr"))
    assert past.seen == 15
    failed = [t.params for t in past.trials if t.value is None]
    assert sorted(map(sorted_items, failed)) == sorted(sorted_items(t.params) for t in lost)
    space = {p.name: distribution(p) for p in SPACE.models["svr"]}
    states = [t.state for t in study_of(space, past.trials, seed=0).trials]
    assert states.count(TrialState.FAIL) == 3 and states.count(TrialState.COMPLETE) == 12
    proposal = TPESearch(history).propose(SPACE, ["svr"], 5, seed=1)
    assert proposal.history == {"svr": 15} and len(proposal.trials) == 5


def sorted_items(params: dict) -> tuple:
    return tuple(sorted(params.items()))


@pytest.fixture(scope="module")
def scored_lake(tmp_path_factory) -> Path:
    """A lake of 30 random SVR trials and 10 forests, scored with cross-validation."""
    lake = tmp_path_factory.mktemp("scored") / "lake"
    cache = {"SWEEPLAKE_CACHE": str(lake.parent / "cache")}
    for model, trials in (("svr", "30"), ("random_forest", "10")):
        args = ("run", "--lake", str(lake), "--model", model, "--trials", trials, "--seed", "11")
        args += ("--budget", "3600")  # every trial, however busy the machine
        done = sweeplake(*args, env=cache)
        assert done.returncode == 0, done.stderr
    return lake


def test_a_batchs_proposals_are_distinct_and_machines_differ(
    scored_lake: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SWEEPLAKE_CACHE", str(tmp_path / "cache"))
    history = ScoresHistory(str(scored_lake), load_dataset(DEFAULT_DATASET).sha256)
    one = TPESearch(history).propose(SPACE, ["svr", "random_forest"], 40, seed=1)
    other = TPESearch(history).propose(SPACE, ["svr", "random_forest"], 40, seed=2)
    assert one.history == {"svr": 30, "random_forest": 10}
    assert [t.model for t in one.trials] == ["svr", "random_forest"] * 20
    for proposal in (one, other):
        # Rounded to 3 digits, still 20 apart: the constant liar spreads them out.
        for model in ("svr", "random_forest"):
            rounded = {
                tuple(f"{v:.3g}" for v in t.params.values())
                for t in proposal.trials
                if t.model == model
            }
            assert len(rounded) == 20
    assert not {sorted_items(t.params) for t in one.trials} & {
        sorted_items(t.params) for t in other.trials
    }


def test_the_same_seed_and_history_give_the_same_proposals(scored_lake: Path, tmp_path) -> None:
    runs = []
    for copy, seed in (("a", "9"), ("b", "9"), ("c", "10")):
        lake = tmp_path / copy
        shutil.copytree(scored_lake, lake)
        args = ("run", "--lake", str(lake), "--trials", "6", "--sampler", "tpe", "--seed", seed)
        done = sweeplake(*args, env={"SWEEPLAKE_CACHE": str(tmp_path / f"{copy}-cache")})
        assert done.returncode == 0, done.stderr
        runs.append(proposed(lake)[40:])  # the lake's 40 trials first, then this start's
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    # Models take turns over the whole start, across its rounds (of 3 trials).
    assert [model for model, _, _ in runs[0]] == fitting(load_dataset(DEFAULT_DATASET)) * 2


def test_params_and_a_bad_sampler(scored_lake: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(scored_lake, lake)
    before = sorted(p for p in lake.rglob("*"))
    bad = sweeplake("run", "--lake", str(lake), "--sampler", "grid")
    assert bad.returncode == 2
    assert bad.stderr == "sweeplake: error: unknown sampler 'grid': choose random or tpe\n"
    blind = sweeplake("run", "--lake", str(lake), "--sampler", "tpe", "--cv", "0")
    assert (blind.returncode, blind.stderr.count("\n")) == (2, 1)
    assert "--sampler tpe optimises cv_r2" in blind.stderr
    assert sorted(p for p in lake.rglob("*")) == before
    line = '{"model": "svr", "gamma": 16.39, "c": 40.45, "epsilon": 0.1757}\n'
    (tmp_path / "params.jsonl").write_text(line)
    args = ("run", "--lake", str(lake), "--params", str(tmp_path / "params.jsonl"))
    done = sweeplake(*args, "--sampler", "tpe", env={"SWEEPLAKE_CACHE": str(tmp_path / "c")})
    assert done.returncode == 0, done.stderr
    (record,) = [h for h in hyper_records(lake) if h["sampler"] == "params"]
    assert (record["gamma"], record["history"]) == (16.39, 0)


def test_a_start_on_a_thin_history_fits_in_rounds_each_learning_from_the_last(
    tmp_path: Path,
) -> None:
    """On an empty lake a tpe start of 10 trials, one worker, is four batches, of 3, 3, 3 and 1:
    each round proposed its trials knowing every trial of the rounds before it. The same seed
    gives the same trials on another empty lake."""
    runs = []
    for copy in ("a", "b"):
        lake = tmp_path / copy
        args = ("run", "--lake", str(lake), "--model", "svr", "--trials", "10", "--workers", "1")
        args += ("--sampler", "tpe", "--seed", "4", "--budget", "3600")
        done = sweeplake(*args, env={"SWEEPLAKE_CACHE": str(tmp_path / f"{copy}-cache")})
        assert done.returncode == 0, done.stderr
        hypers = sorted(hyper_records(lake), key=lambda h: h["hyper_id"])
        batches = [h["batch_id"] for h in hypers]
        assert [batches.count(b) for b in dict.fromkeys(batches)] == [3, 3, 3, 1]
        assert [h["history"] for h in hypers] == [0] * 3 + [3] * 3 + [6] * 3 + [9]
        assert f"4 batches, {batches[0]} to {batches[-1]}: 10 trials (0 failed)" in done.stderr
        runs.append(proposed(lake))
    assert runs[0] == runs[1]


def test_a_start_on_a_history_of_a_hundred_trials_is_one_batch(tmp_path: Path) -> None:
    """Random search, which learns from nothing, is one batch however thin the lake; tpe on a
    history of THIN_HISTORY trials is one batch too."""
    lake = tmp_path / "lake"
    env = {"SWEEPLAKE_CACHE": str(tmp_path / "cache")}
    common = ("run", "--lake", str(lake), "--model", "svr", "--budget", "3600", "--trials")
    done = sweeplake(*common, str(THIN_HISTORY), "--seed", "1", env=env)
    assert done.returncode == 0, done.stderr
    assert len({h["batch_id"] for h in hyper_records(lake)}) == 1
    done = sweeplake(*common, "12", "--seed", "2", "--sampler", "tpe", env=env)
    assert done.returncode == 0, done.stderr
    tpe = [h for h in hyper_records(lake) if h["sampler"] == "tpe"]
    assert len(tpe) == 12 and len({h["batch_id"] for h in tpe}) == 1
    assert {h["history"] for h in tpe} == {THIN_HISTORY}


def test_a_start_reads_its_history_through_one_duckdb_however_many_rounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--prune's history and each round's tpe sampler share the start's scores store: a start
    of 10 trials on an empty lake, four rounds, connects DuckDB once, and its rounds still see
    each other's trials."""
    from sweeplake.run import run
    from sweeplake.scores import store

    opened = []
    connect = store.connect
    monkeypatch.setattr(store, "connect", lambda cache: opened.append(cache) or connect(cache))
    monkeypatch.setenv("SWEEPLAKE_CACHE", str(tmp_path / "cache"))
    lake = tmp_path / "lake"
    run(str(lake), model="svr", trials=10, workers=1, seed=4, sampler="tpe", prune=True)
    hypers = sorted(hyper_records(lake), key=lambda h: h["hyper_id"])
    assert [h["history"] for h in hypers] == [0] * 3 + [3] * 3 + [6] * 3 + [9]
    assert len(opened) == 1
