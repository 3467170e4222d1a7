"""`run --prune`: which trials stop after which fold, checked against scikit-learn's fold scores
and numpy's medians; a pruned trial recorded, never ranked or promoted, read by the sampler."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from itertools import combinations
from pathlib import Path

import duckdb
import numpy as np
import pytest
from sklearn.model_selection import PredefinedSplit, cross_val_score

from sweeplake.dataset import load_dataset
from sweeplake.fitting.prune import MIN_HISTORY
from sweeplake.fitting.workers import IN_FLIGHT
from sweeplake.models.registry import family
from sweeplake.paths import DEFAULT_DATASET
from sweeplake.samplers.history import ScoresHistory
from sweeplake.samplers.space import load_space
from sweeplake.samplers.tpe import distribution, study_of
from sweeplake.scores.rescore import Unscorable, batch_scores, read_points
from tests.conftest import sweeplake
from tests.lakeread import object_records, records

DATASET = load_dataset(DEFAULT_DATASET)
SPACE = load_space()


def sklearn_folds(hyper: dict) -> list[float]:
    """Each fold's R², in fold order, as cross_val_score gives it on the dataset's own folds."""
    train = DATASET.is_train
    params = {p: hyper[p] for p in ("gamma", "c", "epsilon")}
    estimator = family("svr").build(params, hyper["seed"])
    split = PredefinedSplit(DATASET.fold[train])
    return list(cross_val_score(estimator, DATASET.x[train], DATASET.y[train], cv=split))


@pytest.fixture(scope="module")
def pruned_lake(tmp_path_factory) -> tuple[Path, dict]:
    """A --prune batch of 24 random SVR trials on an empty lake, then one of 20 more; one
    worker each, so that every trial is judged against exactly the ok trials before it."""
    lake = tmp_path_factory.mktemp("prune") / "lake"
    env = {"SWEEPLAKE_CACHE": str(lake.parent / "cache")}
    common = ("run", "--lake", str(lake), "--model", "svr", "--budget", "3600", "--workers", "1")
    first = sweeplake(*common, "--trials", "24", "--seed", "1", "--prune", env=env)
    assert first.returncode == 0, first.stderr
    assert "the lake holds 0 ok ones with their folds, and pruning starts at" in first.stderr
    second = sweeplake(*common, "--trials", "20", "--seed", "2", "--prune", env=env)
    assert second.returncode == 0, second.stderr
    return lake, env


def median_rule(history: list[list[float]], folds: list[float]) -> int:
    """How many folds a trial gets when judged against the ok trials' folds in `history`:
    numpy's median of their partial means after each fold but the last."""
    if len(history) < MIN_HISTORY:
        return len(folds)
    steps = np.arange(1, len(folds) + 1)
    medians = np.median(np.cumsum(history, axis=1) / steps, axis=0)[:-1]
    below = np.flatnonzero((np.cumsum(folds) / steps)[:-1] < medians)
    return int(below[0]) + 1 if len(below) else len(folds)


def test_each_trial_stops_below_the_median_of_the_ok_trials_before_it(pruned_lake) -> None:
    """From the first batch on an empty lake on: the first MIN_HISTORY trials get every fold,
    and each later one is judged against every ok trial before it, its own batch's included."""
    lake, _ = pruned_lake
    hypers = sorted(records(lake, "hyper"), key=lambda h: h["hyper_id"])
    scores = {s["hyper_id"]: s for s in records(lake, "scores")}
    history: list[list[float]] = []
    expected = Counter()
    for index, hyper in enumerate(hypers):
        fold_scores = sklearn_folds(hyper)
        folds = len(fold_scores)
        got = median_rule(history, fold_scores)
        status = "pruned" if got < folds else "ok"
        expected[hyper["batch_id"], status] += 1
        assert hyper["status"] == status, (index, hyper["hyper_id"])
        line = scores[hyper["hyper_id"]]
        fold_r2 = json.loads(line["cv_fold_r2"])
        assert np.allclose(fold_r2, fold_scores[:got], rtol=0, atol=1e-9)
        assert abs(line["cv_r2"] - np.mean(fold_scores[:got])) < 1e-9
        if status == "pruned":
            assert line["test_r2"] is None and hyper["fit_ms"] is None
        else:
            history.append(fold_scores)
    first, second = sorted({h["batch_id"] for h in hypers})
    # Both kinds happen in both batches: the first prunes once it has its own history.
    assert min(expected[first, "pruned"], expected[second, "pruned"]) >= 3, expected
    assert min(expected[first, "ok"], expected[second, "ok"]) >= 2, expected


def test_with_two_workers_each_trial_is_judged_by_the_ok_trials_finished_before_it(
    tmp_path: Path,
) -> None:
    """Two workers: a trial is judged against the ok trials finished when it was handed out.
    Those are the ok trials before it but the few still in flight then (at most the workers'
    queues, less its own place), so for each trial some such set gives exactly its folds."""
    lake = tmp_path / "lake"
    env = {"SWEEPLAKE_CACHE": str(tmp_path / "cache")}
    flags = ("--model", "svr", "--budget", "3600", "--workers", "2", "--trials", "40")
    done = sweeplake("run", "--lake", str(lake), *flags, "--seed", "5", "--prune", env=env)
    assert done.returncode == 0, done.stderr
    hypers = sorted(records(lake, "hyper"), key=lambda h: h["hyper_id"])
    scores = {s["hyper_id"]: s for s in records(lake, "scores")}
    in_flight = 2 * IN_FLIGHT - 1
    ok: list[list[float]] = []
    for hyper in hypers:
        fold_scores = sklearn_folds(hyper)
        got = len(json.loads(scores[hyper["hyper_id"]]["cv_fold_r2"]))
        candidates = (
            [f for i, f in enumerate(ok) if i not in missing]
            for n in range(min(in_flight, len(ok)) + 1)
            for missing in combinations(range(len(ok)), n)
        )
        assert any(median_rule(known, fold_scores) == got for known in candidates), hyper
        if hyper["status"] == "ok":
            ok.append(fold_scores)
    assert sum(h["status"] == "pruned" for h in hypers) >= 5


def test_a_pruned_trial_has_the_oof_facts_of_its_folds_alone(pruned_lake) -> None:
    lake, _ = pruned_lake
    statuses = {h["hyper_id"]: h for h in records(lake, "hyper")}
    scores = {s["hyper_id"]: s for s in records(lake, "scores")}
    facts = Counter(f["hyper_id"] for f in records(lake, "fact"))
    oof = records(lake, "oof")
    folds_of = {}
    for line in oof:
        folds_of.setdefault(line["hyper_id"], Counter())[line["fold"]] += 1
    sizes = Counter(DATASET.fold[DATASET.is_train].tolist())
    for hyper_id, hyper in statuses.items():
        got = len(json.loads(scores[hyper_id]["cv_fold_r2"]))
        assert folds_of[hyper_id] == {k: sizes[k] for k in sorted(sizes)[:got]}
        if hyper["status"] == "pruned":
            assert facts[hyper_id] == 0
        else:
            assert facts[hyper_id] == len(DATASET.y)


def test_scores_rebuilt_from_the_facts_agree_for_pruned_trials(pruned_lake) -> None:
    lake, _ = pruned_lake
    (hyper,) = [p for p in sorted(lake.glob("hyper/dt=*/*.json.gz"))[-1:]]
    rest = hyper.relative_to(lake / "hyper")
    connection = duckdb.connect()
    datasets = read_points(connection, sorted(lake.glob("data/*.json")))
    rebuilt = batch_scores(
        connection, hyper, lake / "fact" / rest, "x", datasets, lake / "oof" / rest
    )
    written = {s["hyper_id"]: s for s in object_records(lake / "scores" / rest)}
    assert any(r["status"] == "pruned" for r in rebuilt)
    for row in rebuilt:
        line = written[row["hyper_id"]]
        for key in ("cv_r2", "cv_r2_std", "cv_oof_r2", "cv_fold_r2", "test_r2", "points"):
            assert row[key] == line[key], (key, row["status"])


def test_a_batch_of_pruned_trials_alone_is_not_scored_without_its_dataset(
    pruned_lake, tmp_path: Path
) -> None:
    """Its cv scores need the dataset's points: without them the batch is Unscorable (tried
    again later), never scored with null cv columns."""
    lake, _ = pruned_lake
    hyper = sorted(lake.glob("hyper/dt=*/*.json.gz"))[-1]
    rest = hyper.relative_to(lake / "hyper")
    lines = gzip.decompress(hyper.read_bytes()).splitlines(keepends=True)
    pruned_only = tmp_path / "hyper.json.gz"
    pruned_only.write_bytes(gzip.compress(b"".join(x for x in lines if b'"pruned"' in x)))
    connection = duckdb.connect()
    objects = (lake / "fact" / rest, "x")
    datasets = read_points(connection, sorted(lake.glob("data/*.json")))
    rows = batch_scores(connection, pruned_only, *objects, datasets, lake / "oof" / rest)
    assert rows and all(r["status"] == "pruned" and r["cv_r2"] is not None for r in rows)
    with pytest.raises(Unscorable, match="its dataset is not readable"):
        batch_scores(connection, pruned_only, *objects, {}, lake / "oof" / rest)


def test_pruned_trials_are_never_ranked_or_promoted_and_the_sampler_reads_them(
    pruned_lake, monkeypatch
) -> None:
    lake, env = pruned_lake
    pruned = {h["hyper_id"] for h in records(lake, "hyper") if h["status"] == "pruned"}
    for by in ("test", "cv"):
        board = sweeplake("rank", "--lake", str(lake), "--by", by, "--format", "json", env=env)
        assert board.returncode == 0, board.stderr
        ranked = {row["hyper_id"] for row in json.loads(board.stdout)}
        assert ranked and not ranked & pruned
    refused = sweeplake("promote", "--lake", str(lake), "--hyper-id", min(pruned), env=env)
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith("pruned; only an ok trial can be promoted")

    monkeypatch.setenv("SWEEPLAKE_CACHE", env["SWEEPLAKE_CACHE"])
    past = ScoresHistory(str(lake), DATASET.sha256).past("svr", SPACE.sha256("svr"))
    assert sum(t.pruned_after is not None for t in past.trials) == len(pruned)
    space = {p.name: distribution(p) for p in SPACE.models["svr"]}
    states = Counter(t.state.name for t in study_of(space, past.trials, 0).trials)
    assert states == {"PRUNED": len(pruned), "COMPLETE": 44 - len(pruned)}


def test_a_batch_whose_every_trial_is_pruned_succeeds(pruned_lake, tmp_path: Path) -> None:
    """Pruned is not failed: a batch of hopeless trials, all pruned, exits 0 (exit 4 is for a
    batch whose every trial failed)."""
    lake = tmp_path / "lake"
    shutil.copytree(pruned_lake[0], lake)
    hopeless = tmp_path / "hopeless.jsonl"
    line = {"model": "svr", "gamma": 0.01, "c": 0.01, "epsilon": 1.0}
    hopeless.write_text(f"{json.dumps(line)}\n{json.dumps({**line, 'c': 0.02})}\n")
    env = {"SWEEPLAKE_CACHE": str(tmp_path / "cache")}
    done = sweeplake("run", "--lake", str(lake), "--params", str(hopeless), "--prune", env=env)
    assert done.returncode == 0, done.stderr
    assert "2 trials (0 failed, 2 pruned)" in done.stderr
    batch = [h for h in records(lake, "hyper") if h["sampler"] == "params"]
    assert [h["status"] for h in batch] == ["pruned", "pruned"]


@pytest.mark.parametrize(
    "flags, says",
    [(("--cv", "0"), "it needs --cv"), (("--groves", "2"), "--prune and --groves")],
)
def test_prune_without_cv_or_with_groves_is_refused(tmp_path: Path, flags, says) -> None:
    done = sweeplake("run", "--lake", str(tmp_path / "lake"), "--prune", *flags)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("sweeplake: error: ") and says in line
    assert not (tmp_path / "lake").exists()
