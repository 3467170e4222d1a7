"""The fixed dataset: exported once from scikit-learn, then read and checked by every run."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweeplake.canonical import without_folds
from sweeplake.errors import BadInput
from sweeplake.outfile import write_user_file
from sweeplake.paths import SPLIT_RANDOM_STATE, SPLIT_TEST_SIZE
from sweeplake.textio import as_float, read_text, strict_json

FOLDS = 5  # KFold over the training points in point_id order, shuffled with the split's seed
RESERVED_KEYS = ("dataset", "point_id", "is_train", "fold", "y_true")
REQUIRED_KEYS = {"point_id", "is_train", "y_true"}
DATASET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
FEATURE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
INT64 = 2**63
INT32 = 2**31
NO_FOLD = -1  # a test point's fold: it is never fitted on nor predicted out of fold


@dataclass(frozen=True)
class Dataset:
    name: str
    features: tuple[str, ...]
    point_ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    is_train: np.ndarray
    # Each training point's cross-validation fold (0, 1, ...); NO_FOLD for test points.
    fold: np.ndarray
    canonical: bytes
    # A time series (sweeplake.timeseries.meta.TimeSeries): its series, times and fold scheme.
    timeseries: Any = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()

    @property
    def folds(self) -> int:
        return len(np.unique(self.fold[self.is_train & (self.fold != NO_FOLD)]))

    @property
    def sha256_without_folds(self) -> str:
        """The sha256 this dataset had before folds were data: what lakes written then hold."""
        return hashlib.sha256(without_folds(self.canonical)).hexdigest()


def encode_points(name: str, features, point_ids, x, y, is_train, fold, timeseries=None) -> bytes:
    """The canonical NDJSON of a dataset: the bytes that go to the lake and get hashed. A time
    series' first line holds its `timeseries` object, and every line its series and time; its
    training points before the first validation window have a null fold."""
    lines = []
    for i, (pid, row, target, train, k) in enumerate(
        zip(point_ids, x, y, is_train, fold, strict=True)
    ):
        record = {"dataset": name}
        if timeseries is not None and i == 0:
            record["timeseries"] = timeseries.meta
        record["point_id"] = int(pid)
        if timeseries is not None:
            record["series"], record["time"] = str(timeseries.series[i]), str(timeseries.time[i])
        record["is_train"] = bool(train)
        record["fold"] = int(k) if train and k != NO_FOLD else None
        record.update(zip(features, (float(v) for v in row), strict=True))
        record["y_true"] = float(target)
        lines.append(json.dumps(record, allow_nan=False))
    return ("\n".join(lines) + "\n").encode()


def derive_folds(point_ids: np.ndarray, is_train: np.ndarray) -> np.ndarray:
    """KFold(FOLDS, shuffle=True, random_state=44) over the training points in point_id order."""
    from sklearn.model_selection import KFold

    fold = np.full(len(point_ids), NO_FOLD, dtype=np.int64)
    train = np.flatnonzero(is_train)
    train = train[np.argsort(point_ids[train], kind="stable")]
    # A dataset of fewer training points than FOLDS leaves one out at a time.
    splitter = KFold(n_splits=min(FOLDS, len(train)), shuffle=True, random_state=SPLIT_RANDOM_STATE)
    for k, (_, held_out) in enumerate(splitter.split(train)):
        fold[train[held_out]] = k
    return fold


def export_diabetes(out: Path) -> Path:
    """Write scikit-learn's diabetes data with the previous system's split, byte for byte."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    bunch = load_diabetes()
    indices = np.arange(len(bunch.target))
    train, _ = train_test_split(
        indices, test_size=SPLIT_TEST_SIZE, random_state=SPLIT_RANDOM_STATE, shuffle=True
    )
    is_train = np.isin(indices, train)
    fold = derive_folds(indices, is_train)
    payload = encode_points(
        "diabetes", tuple(bunch.feature_names), indices, bunch.data, bunch.target, is_train, fold
    )
    return write_user_file(out, payload, "--out")


def load_dataset(path: Path | str) -> Dataset:
    """Read and check an NDJSON dataset, or a Parquet one (a .parquet file, a folder of them,
    or s3://...) with the same columns; every problem is a BadInput naming the file and line
    (the row, in Parquet)."""
    from sweeplake.parquet import is_parquet, parquet_records

    unit = "row" if is_parquet(path) else "line"
    if unit == "row":
        numbered = list(enumerate(parquet_records(path), 1))
    else:
        text = read_text(path, "dataset")
        numbered = [
            (n, _parse_line(path, n, line))
            for n, line in enumerate(text.splitlines(), 1)
            if line.strip()
        ]
    records = [record for _, record in numbered]
    if not records:
        raise BadInput(f"dataset {path}: holds no points")

    names = {r.get("dataset") for r in records}
    if len(names) > 1:
        raise BadInput(f"dataset {path}: lines name more than one dataset")
    name = names.pop()
    if name is None:
        name = Path(path).name.split(".")[0]
    if not isinstance(name, str) or not DATASET_NAME.fullmatch(name):
        raise BadInput(f"dataset {path}: name {name!r} must be letters, digits, '_', '.' or '-'")

    timeseries = records[0].pop("timeseries", None)
    if timeseries is not None:
        from sweeplake.timeseries import meta

        timeseries = meta.check_meta(f"dataset {path} line {numbered[0][0]}", timeseries)
    skipped = RESERVED_KEYS + (() if timeseries is None else meta.POINT_KEYS)
    features = tuple(k for k in records[0] if k not in skipped)
    check_features(f"dataset {path}", features)
    x = np.empty((len(records), len(features)))
    y = np.empty(len(records))
    point_ids = np.empty(len(records), dtype=np.int64)
    is_train = np.empty(len(records), dtype=bool)
    fold = np.full(len(records), NO_FOLD, dtype=np.int64)
    has_folds = "fold" in records[0] or timeseries is not None
    series, times = [], []
    for i, (number, record) in enumerate(numbered):
        where = f"dataset {path} {unit} {number}"
        if timeseries is not None:
            s, t = meta.point_values(where, record)
            series.append(s)
            times.append(t)
        keys = set(record) - {"dataset"} - set(skipped[len(RESERVED_KEYS) :])
        if keys != set(features) | REQUIRED_KEYS | ({"fold"} if has_folds else set()):
            raise BadInput(f"{where}: {_key_problem(keys, features, has_folds)}")
        pid = record["point_id"]
        if type(pid) is not int or not -INT64 <= pid < INT64:
            raise BadInput(f"{where}: point_id must be a 64-bit integer, got {pid!r:.40}")
        if type(record["is_train"]) is not bool:
            raise BadInput(f"{where}: is_train must be true or false")
        point_ids[i] = pid
        is_train[i] = record["is_train"]
        if has_folds:
            fold[i] = _fold(where, record["fold"], is_train[i], timeseries is not None)
        y[i] = _finite(where, "y_true", record["y_true"])
        x[i] = [_finite(where, f, record[f]) for f in features]

    if len(np.unique(point_ids)) != len(point_ids):
        raise BadInput(f"dataset {path}: point_id values repeat")
    if is_train.all() or not is_train.any():
        raise BadInput(f"dataset {path}: needs both train and test points")
    if not has_folds and is_train.sum() < 2:
        raise BadInput(f"dataset {path}: needs at least two training points, for two folds")
    if not has_folds:
        fold = derive_folds(point_ids, is_train)
    elif len(np.unique(fold[is_train & (fold != NO_FOLD)])) < 2:
        raise BadInput(f"dataset {path}: the training points need at least two folds")
    if timeseries is not None:
        timeseries = meta.TimeSeries(timeseries, np.array(series), np.array(times))
        meta.check_order(path, point_ids, timeseries.series, timeseries.time)
    canonical = encode_points(name, features, point_ids, x, y, is_train, fold, timeseries)
    return Dataset(name, features, point_ids, x, y, is_train, fold, canonical, timeseries)


def check_features(where: str, features: tuple[str, ...]) -> None:
    """BadInput unless there is a feature and each is named in lowercase SQL."""
    if not features:
        raise BadInput(f"{where}: no feature besides {', '.join(RESERVED_KEYS)}")
    for feature in features:
        if not FEATURE_NAME.fullmatch(feature):
            raise BadInput(
                f"{where}: feature name {feature!r:.40} must be a lowercase SQL name (a-z, 0-9, _)"
            )


def _parse_line(path: Path, number: int, line: str) -> dict:
    where = f"dataset {path} line {number}"
    record = strict_json(line, where)
    if not isinstance(record, dict):
        raise BadInput(f"{where}: not a JSON object")
    return record


def _fold(where: str, value: object, train: bool, timeseries: bool = False) -> int:
    if value is None and train and timeseries:
        return NO_FOLD  # before the first validation window: only ever fitted on
    if not train:
        if value is not None:
            raise BadInput(f"{where}: a test point's fold must be null, got {value!r:.40}")
        return NO_FOLD
    if type(value) is not int or not 0 <= value < INT32:
        raise BadInput(
            f"{where}: a training point's fold must be an integer >= 0, got {value!r:.40}"
        )
    return value


def _key_problem(keys: set[str], features: tuple[str, ...], has_folds: bool) -> str:
    missing = sorted(REQUIRED_KEYS - keys)
    if missing:
        return (
            f"lacks {', '.join(missing)}: every line needs point_id, is_train and y_true "
            "besides its features (see the dataset file in docs/lake.md)"
        )
    wanted = set(features) | ({"fold"} if has_folds else set())
    absent, extra = sorted(wanted - keys), sorted(keys - wanted - REQUIRED_KEYS)
    problems = [f"lacks {', '.join(absent)}"] if absent else []
    problems += [f"has {', '.join(extra)} as well"] if extra else []
    return (
        f"{' and '.join(problems)}: every line holds exactly the features of the first line "
        f"({', '.join(features)}), and a fold if the first line has one"
    )


def _finite(where: str, key: str, value: object) -> float:
    number = as_float(where, key, value)
    if not math.isfinite(number):
        raise BadInput(f"{where}: {key} must be finite, got {value!r:.40}")
    return number
