"""`run --prune`: which trials stop after which fold, checked against scikit-learn's fold scores
and numpy's medians; a pruned trial recorded, never ranked or promoted, read by the sampler."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pytest
from sklearn.model_selection import PredefinedSplit, cross_val_score

from sweeplake.dataset import load_dataset
from sweeplake.fitting.prune import MIN_HISTORY
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
    """A lake of 24 random SVR trials, then a --prune batch of 20 more."""
    lake = tmp_path_factory.mktemp("prune") / "lake"
    env = {"SWEEPLAKE_CACHE": str(lake.parent / "cache")}
    common = ("run", "--lake", str(lake), "--model", "svr", "--budget", "3600", "--trials")
    first = sweeplake(*common, "24", "--seed", "1", "--prune", env=env)
    assert first.returncode == 0, first.stderr
    assert f"fewer than {MIN_HISTORY} ok ones" in first.stderr  # an empty lake prunes nothing
    second = sweeplake(*common, "20", "--seed", "2", "--prune", env=env)
    assert second.returncode == 0, second.stderr
    return lake, env


def test_the_trials_below_the_median_after_a_fold_stop_there(pruned_lake) -> None:
    lake, _ = pruned_lake
    hypers = sorted(records(lake, "hyper"), key=lambda h: h["hyper_id"])
    first, second = sorted({h["batch_id"] for h in hypers})
    history = [sklearn_folds(h) for h in hypers if h["batch_id"] == first]
    assert {h["status"] for h in hypers if h["batch_id"] == first} == {"ok"}
    folds = len(history[0])
    cumulative = np.cumsum(history, axis=1) / np.arange(1, folds + 1)
    medians = np.median(cumulative, axis=0)[:-1]
    scores = {s["hyper_id"]: s for s in records(lake, "scores")}
    expected = Counter()
    for hyper in (h for h in hypers if h["batch_id"] == second):
        fold_scores = sklearn_folds(hyper)
        got = np.cumsum(fold_scores) / np.arange(1, folds + 1)
        below = np.flatnonzero(got[:-1] < medians)
        rungs = int(below[0]) + 1 if len(below) else folds
        status = "pruned" if rungs < folds else "ok"
        expected[status] += 1
        assert hyper["status"] == status, hyper["hyper_id"]
        line = scores[hyper["hyper_id"]]
        fold_r2 = json.loads(line["cv_fold_r2"])
        assert np.allclose(fold_r2, fold_scores[:rungs], rtol=0, atol=1e-9)
        assert abs(line["cv_r2"] - got[rungs - 1]) < 1e-9
        if status == "pruned":
            assert line["test_r2"] is None and hyper["fit_ms"] is None
    assert expected["pruned"] >= 5 and expected["ok"] >= 2, expected  # both kinds happen


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
    assert "2 trials (0 failed)" in done.stderr
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
