"""Trials as data: the search space file, sampling, ids, and a failing trial that is recorded."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest

from sweeplake.dataset import load_dataset
from sweeplake.engines.duckdb import DuckDBEngine
from sweeplake.errors import BadInput
from sweeplake.ids import new_id
from sweeplake.lake import LocalLake
from sweeplake.paths import DEFAULT_DATASET
from sweeplake.rank import AUDIT_SQL, leaderboard
from sweeplake.run import encode_batch, fit_batch, trial_lineage
from sweeplake.samplers.space import Trial, default_space_doc, load_space
from tests.lakeread import records

SPACE = default_space_doc()


def test_samples_stay_inside_the_declared_ranges() -> None:
    space = load_space()
    trials = space.sample(["svr", "random_forest"], 400, seed=3)
    assert [t.model for t in trials[:4]] == ["svr", "random_forest", "svr", "random_forest"]
    for trial in trials:
        for name, value in trial.params.items():
            spec = SPACE[trial.model][name]
            assert spec["low"] <= value <= spec["high"]
            assert isinstance(value, int) == (spec["type"] == "int")
    gammas = sorted(t.params["gamma"] for t in trials if t.model == "svr")
    # Log-uniform over [1e-2, 1e2]: about half the draws fall below 1.
    assert 70 < sum(g < 1 for g in gammas) < 130


def mutate(path: list[str], value: object) -> dict:
    doc = copy.deepcopy(SPACE)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (mutate(["svr", "gamma", "low"], -1.0), "a log range needs low > 0"),
        (mutate(["svr", "gamma", "low"], 1000.0), "low must not exceed high"),
        (mutate(["svr", "gamma", "type"], "str"), "type must be 'int', 'float' or 'categorical'"),
        (mutate(["svr", "gamma", "log"], "yes"), "log must be true or false"),
        (mutate(["svr", "gamma", "valid"], "positive"), "valid must be an interval"),
        (mutate(["svr", "gamma"], KeyError), "svr must declare exactly gamma, c, epsilon"),
        (mutate(["svr", "kernel"], {}), "svr must declare exactly"),
        (mutate(["lasso"], {}), "unknown model 'lasso'"),
        (mutate(["random_forest", "n_estimators", "low"], 1.5), "finite int values"),
        (mutate(["random_forest", "max_features", "high"], 2.0), "leaves the valid interval"),
        (mutate(["svr", "c", "extra"], 1), "must have exactly the keys"),
        ([], "must be a JSON object of models"),
    ],
)
def test_a_bad_search_space_is_refused(tmp_path: Path, doc: object, message: str) -> None:
    path = tmp_path / "space.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInput, match=message):
        load_space(path)


def test_ids_are_unique_and_sort_by_time() -> None:
    ids = [new_id() for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    time.sleep(0.002)
    later = new_id()
    assert later > ids[-1] and len(later) == 26


def test_a_trial_that_raises_is_recorded_as_failed_and_the_batch_goes_on(tmp_path: Path) -> None:
    dataset = load_dataset(DEFAULT_DATASET)
    good = Trial("svr", {"gamma": 1.0, "c": 10.0, "epsilon": 0.1}, 0)
    bad = Trial("svr", {"gamma": -1.0, "c": 10.0, "epsilon": 0.1}, 0)  # scikit-learn refuses it
    outcomes, facts = fit_batch(
        dataset, [good, bad, good], {"svr"}, workers=2, deadline=time.monotonic() + 60
    )
    assert [o.ok for o in outcomes] == [True, False, True]
    lake = LocalLake(tmp_path / "lake")
    lake.put("data/diabetes.json", dataset.canonical)
    lineage = trial_lineage(load_space(), "params", {})
    lake.write_batch(encode_batch(new_id(), dataset, outcomes, lineage, facts))
    hyper = records(lake.root, "hyper")
    assert [h["status"] for h in hyper] == ["ok", "failed", "ok"]
    assert "gamma" in hyper[1]["error"] and hyper[1]["fit_ms"] is None
    assert len(records(lake.root, "fact")) == 2 * 442
    _, ranked = leaderboard(DuckDBEngine(lake.root), sql=AUDIT_SQL)
    assert {r["hyper_id"] for r in ranked} == {hyper[0]["hyper_id"], hyper[2]["hyper_id"]}


def test_a_bound_past_a_doubles_range_is_refused_in_one_line(tmp_path: Path) -> None:
    # math.isfinite raised OverflowError on this int before the size was checked first.
    path = tmp_path / "space.json"
    path.write_text(json.dumps(mutate(["svr", "gamma", "high"], 10**400)))
    with pytest.raises(BadInput, match="low and high must be finite float values"):
        load_space(path)
