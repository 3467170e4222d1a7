"""Reading a local lake directly, independently of the code under test's readers."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path


def records(lake: Path, table: str) -> list[dict]:
    """Every line of every object under hyper/ or fact/."""
    return [
        r for path in sorted(lake.glob(f"{table}/dt=*/*.json.gz")) for r in object_records(path)
    ]


def object_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def parse_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def holdout_r2_by_trial(lake: Path, dataset_path: Path) -> dict[str, float]:
    """The oracle for a trial's score: scikit-learn's r2_score of its facts on the test points."""
    import numpy as np
    from sklearn.metrics import r2_score

    points = [json.loads(line) for line in dataset_path.read_text().splitlines()]
    y_true = {p["point_id"]: p["y_true"] for p in points if not p["is_train"]}
    pairs: dict[str, list[tuple[float, float]]] = {}
    for fact in records(lake, "fact"):
        if fact["point_id"] in y_true:
            pairs.setdefault(fact["hyper_id"], []).append(
                (y_true[fact["point_id"]], fact["y_pred"])
            )
    return {h: r2_score(*np.array(p).T) for h, p in pairs.items()}


def cv_r2_by_trial(lake: Path, dataset_path: Path) -> dict[str, float]:
    """The oracle for a trial's cv_r2: the mean over folds of scikit-learn's r2_score of its
    out-of-fold facts."""
    import numpy as np
    from sklearn.metrics import r2_score

    points = [json.loads(line) for line in dataset_path.read_text().splitlines()]
    y_true = {p["point_id"]: p["y_true"] for p in points if p["is_train"]}
    folds: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for fact in records(lake, "oof"):
        pair = (y_true[fact["point_id"]], fact["y_pred"])
        folds.setdefault(fact["hyper_id"], {}).setdefault(fact["fold"], []).append(pair)
    return {
        h: float(np.mean([r2_score(*np.array(pairs).T) for pairs in by_fold.values()]))
        for h, by_fold in folds.items()
    }


def sklearn_estimator(model: str, params: dict, seed: int):
    """A trial's estimator built straight from scikit-learn, as a user would build it: the
    oracle that sweeplake's own model families are held to."""
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.svm import SVR

    if model == "svr":
        return SVR(kernel="rbf", gamma=params["gamma"], C=params["c"], epsilon=params["epsilon"])
    if model == "random_forest":
        return RandomForestRegressor(**params, random_state=seed)
    if model == "hist_gradient_boosting":
        return HistGradientBoostingRegressor(**params, early_stopping=False, random_state=seed)
    raise AssertionError(f"no oracle for model {model!r}")
