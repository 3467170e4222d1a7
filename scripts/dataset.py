"""The fixed dataset: exported once from scikit-learn, then read and checked by every run."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scripts.errors import BadInput
from scripts.outfile import write_user_file
from scripts.textio import as_float, read_text, strict_json

SPLIT_TEST_SIZE = 0.2
SPLIT_RANDOM_STATE = 44
RESERVED_KEYS = ("dataset", "point_id", "is_train", "y_true")
REQUIRED_KEYS = {"point_id", "is_train", "y_true"}
DATASET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
FEATURE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
INT64 = 2**63


@dataclass(frozen=True)
class Dataset:
    name: str
    features: tuple[str, ...]
    point_ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    is_train: np.ndarray
    canonical: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()


def encode_points(name: str, features, point_ids, x, y, is_train) -> bytes:
    """The canonical NDJSON of a dataset: the bytes that go to the lake and get hashed."""
    lines = []
    for pid, row, target, train in zip(point_ids, x, y, is_train, strict=True):
        record = {"dataset": name, "point_id": int(pid), "is_train": bool(train)}
        record.update(zip(features, (float(v) for v in row), strict=True))
        record["y_true"] = float(target)
        lines.append(json.dumps(record, allow_nan=False))
    return ("\n".join(lines) + "\n").encode()


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
    payload = encode_points(
        "diabetes", tuple(bunch.feature_names), indices, bunch.data, bunch.target, is_train
    )
    return write_user_file(out, payload, "--out")


def load_dataset(path: Path) -> Dataset:
    """Read and check an NDJSON dataset; every problem is a BadInput naming the file and line."""
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

    features = tuple(k for k in records[0] if k not in RESERVED_KEYS)
    if not features:
        raise BadInput(f"dataset {path}: no feature besides {', '.join(RESERVED_KEYS)}")
    for feature in features:
        if not FEATURE_NAME.fullmatch(feature):
            raise BadInput(
                f"dataset {path}: feature name {feature!r:.40} must be a lowercase SQL name "
                "(a-z, 0-9, _)"
            )
    x = np.empty((len(records), len(features)))
    y = np.empty(len(records))
    point_ids = np.empty(len(records), dtype=np.int64)
    is_train = np.empty(len(records), dtype=bool)
    for i, (number, record) in enumerate(numbered):
        where = f"dataset {path} line {number}"
        keys = set(record) - {"dataset"}
        if keys != set(features) | REQUIRED_KEYS:
            raise BadInput(f"{where}: {_key_problem(keys, features)}")
        pid = record["point_id"]
        if type(pid) is not int or not -INT64 <= pid < INT64:
            raise BadInput(f"{where}: point_id must be a 64-bit integer, got {pid!r:.40}")
        if type(record["is_train"]) is not bool:
            raise BadInput(f"{where}: is_train must be true or false")
        point_ids[i] = pid
        is_train[i] = record["is_train"]
        y[i] = _finite(where, "y_true", record["y_true"])
        x[i] = [_finite(where, f, record[f]) for f in features]

    if len(np.unique(point_ids)) != len(point_ids):
        raise BadInput(f"dataset {path}: point_id values repeat")
    if is_train.all() or not is_train.any():
        raise BadInput(f"dataset {path}: needs both train and test points")
    canonical = encode_points(name, features, point_ids, x, y, is_train)
    return Dataset(name, features, point_ids, x, y, is_train, canonical)


def _parse_line(path: Path, number: int, line: str) -> dict:
    where = f"dataset {path} line {number}"
    record = strict_json(line, where)
    if not isinstance(record, dict):
        raise BadInput(f"{where}: not a JSON object")
    return record


def _key_problem(keys: set[str], features: tuple[str, ...]) -> str:
    missing = sorted(REQUIRED_KEYS - keys)
    if missing:
        return (
            f"lacks {', '.join(missing)}: every line needs point_id, is_train and y_true "
            "besides its features (see the dataset format in the README)"
        )
    absent, extra = sorted(set(features) - keys), sorted(keys - set(features) - REQUIRED_KEYS)
    problems = [f"lacks {', '.join(absent)}"] if absent else []
    problems += [f"has {', '.join(extra)} as well"] if extra else []
    return (
        f"{' and '.join(problems)}: every line holds exactly the features of the first line "
        f"({', '.join(features)})"
    )


def _finite(where: str, key: str, value: object) -> float:
    number = as_float(where, key, value)
    if not math.isfinite(number):
        raise BadInput(f"{where}: {key} must be finite, got {value!r:.40}")
    return number
