"""Every registered model family, held to the same checks: a family is one module, and its
trials' facts are what scikit-learn's own estimator predicts, folds included."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from sweeplake.dataset import load_dataset
from sweeplake.models.registry import FAMILY_MODULES, families, fitting
from sweeplake.paths import DEFAULT_DATASET, PACKAGE
from tests.conftest import sweeplake
from tests.lakeread import records, sklearn_estimator

FAMILIES = sorted(families())
# The families that fit the default (tabular) dataset: the lakes below are made of it.
TABULAR = sorted(fitting(load_dataset(DEFAULT_DATASET)))


@pytest.mark.parametrize("name", FAMILIES)
def test_a_family_is_named_in_its_own_module_and_the_registry_alone(name: str) -> None:
    module = next(m for m in FAMILY_MODULES if families()[name].__module__ == m)
    own = PACKAGE / (module.removeprefix("sweeplake.").replace(".", "/") + ".py")
    word = re.compile(rf"\b{re.escape(name)}\b")
    named = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*")
        if path.suffix in (".py", ".sql", ".json") and word.search(path.read_text())
    )
    assert named == sorted([str(own.relative_to(PACKAGE)), "models/registry.py"])


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small cross-validated batch of each family, each in a lake of its own."""
    made = {}
    for name in TABULAR:
        lake = tmp_path_factory.mktemp(name) / "lake"
        done = sweeplake(
            "run", "--lake", str(lake), "--model", name, "--trials", "3", "--seed", "5",
            "--workers", "2", "--budget", "600",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        made[name] = lake
    return made


@pytest.mark.parametrize("name", TABULAR)
def test_facts_and_out_of_fold_facts_are_sklearns_own_refits(lakes, name: str) -> None:
    dataset = load_dataset(DEFAULT_DATASET)
    train = dataset.is_train
    hyper = records(lakes[name], "hyper")
    assert len(hyper) == 3 and {h["status"] for h in hyper} == {"ok"}
    facts, oof = records(lakes[name], "fact"), records(lakes[name], "oof")
    for h in hyper:
        params = json.loads(h["params"])
        assert set(params) == set(families()[name].params)
        model = sklearn_estimator(name, params, h["seed"])
        expected = model.fit(dataset.x[train], dataset.y[train]).predict(dataset.x)
        mine = {f["point_id"]: f["y_pred"] for f in facts if f["hyper_id"] == h["hyper_id"]}
        got = np.array([mine[int(p)] for p in dataset.point_ids])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
        # Each training point predicted by the same estimator fitted on the other folds.
        held = {f["point_id"]: f for f in oof if f["hyper_id"] == h["hyper_id"]}
        assert sorted(held) == sorted(int(p) for p in dataset.point_ids[train])
        folds = dataset.fold[train]
        x, y = dataset.x[train], dataset.y[train]
        ids = dataset.point_ids[train]
        for k in np.unique(folds):
            fitted = sklearn_estimator(name, params, h["seed"]).fit(x[folds != k], y[folds != k])
            expected_k = fitted.predict(x[folds == k])
            got_k = np.array([held[int(p)]["y_pred"] for p in ids[folds == k]])
            assert {held[int(p)]["fold"] for p in ids[folds == k]} == {int(k)}
            np.testing.assert_allclose(got_k, expected_k, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", TABULAR)
def test_rank_shows_every_family_with_its_params(lakes, name: str) -> None:
    done = sweeplake("rank", "--lake", str(lakes[name]), "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 3 and {r["model"] for r in rows} == {name}
    for row in rows:
        assert set(json.loads(row["params"])) == set(families()[name].params)
    table = sweeplake("rank", "--lake", str(lakes[name]))
    assert table.returncode == 0, table.stderr
    first = families()[name].params[0]
    assert table.stdout.count(f"{first}=") == 3
