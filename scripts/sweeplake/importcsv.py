"""A dataset file from any numeric CSV with a header: what `sweeplake import-data` writes."""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from pathlib import Path

import numpy as np

from sweeplake.dataset import (
    DATASET_NAME,
    RESERVED_KEYS,
    SPLIT_RANDOM_STATE,
    SPLIT_TEST_SIZE,
    derive_folds,
    encode_points,
)
from sweeplake.errors import BadInput
from sweeplake.outfile import write_user_file
from sweeplake.textio import read_text

log = logging.getLogger("sweeplake.import")
# Five training points at least, so that five cross-validation folds each hold one; two test
# points at least, so that test R² is defined.
MIN_TRAIN, MIN_TEST = 5, 2


def import_csv(
    source: Path,
    target: str,
    test_size: float = SPLIT_TEST_SIZE,
    seed: int = SPLIT_RANDOM_STATE,
    out: Path | None = None,
) -> Path:
    """Write `source` as a dataset file: `target` becomes y_true, every other column a feature,
    and a shuffled train/test split (scikit-learn's train_test_split) is recorded in is_train."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_size < 1:
        raise BadInput(f"--test-size must be between 0 and 1, got {test_size}")
    if not 0 <= seed < 2**32:
        raise BadInput(f"--seed must be in [0, 2**32), got {seed}")
    out, name = out_path(source, out, "CSV")

    header, rows = read_rows(source)
    features, names = feature_columns(f"CSV {source}", header, target)
    table = np.array([[number(source, line, c, cells[c]) for c in header] for line, cells in rows])
    points = len(rows)
    tests = math.ceil(test_size * points)
    if points - tests < MIN_TRAIN or tests < MIN_TEST:
        raise BadInput(
            f"CSV {source}: {points} rows give {points - tests} train and {tests} test points; "
            f"at least {MIN_TRAIN} and {MIN_TEST} are needed (more rows, or another --test-size)"
        )
    point_ids = np.arange(points)
    train, _ = train_test_split(point_ids, test_size=test_size, random_state=seed, shuffle=True)
    is_train = np.isin(point_ids, train)
    x = table[:, [header.index(c) for c in features]]
    y = table[:, header.index(target)]
    fold = derive_folds(point_ids, is_train)  # MIN_TRAIN points give every fold one at least
    payload = encode_points(name, names, point_ids, x, y, is_train, fold)
    written = write_user_file(out, payload, "--out")
    log.info(
        "wrote %s: dataset %s, %d points (%d train, %d test), %d features, y_true from %s",
        written,
        name,
        points,
        int(is_train.sum()),
        points - int(is_train.sum()),
        len(names),
        target,
    )
    return written


def out_path(source: Path, out: Path | None, what: str) -> tuple[Path, str]:
    """The dataset file to write (default: beside the source, as .json) and its dataset name."""
    out = Path(source).with_suffix(".json") if out is None else Path(out)
    if out.absolute() == Path(source).absolute():
        raise BadInput(f"--out {out} is the {what} itself: give another path")
    name = out.name.split(".")[0]
    if not DATASET_NAME.fullmatch(name):
        raise BadInput(
            f"--out {out}: the file's name names the dataset, and {name!r:.40} is not one "
            "(letters, digits, '_' and '-')"
        )
    return out, name


def read_rows(source: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and each non-empty row, with its line number, keyed by column."""
    reader = csv.reader(io.StringIO(read_text(source, "CSV"), newline=""))
    try:
        header = [column.strip() for column in next(reader, [])]
        if not header:
            raise BadInput(f"CSV {source}: empty; its first line must name the columns")
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise BadInput(f"CSV {source}: column {repeated[0]!r:.40} appears more than once")
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                raise BadInput(
                    f"CSV {source} line {reader.line_num}: {len(cells)} fields where the header "
                    f"has {len(header)}"
                )
            rows.append((reader.line_num, dict(zip(header, cells, strict=True))))
    except csv.Error as exc:
        raise BadInput(f"CSV {source} line {reader.line_num}: not CSV ({exc})") from None
    return header, rows


def feature_columns(source: str, header: list[str], target: str) -> tuple[list[str], tuple]:
    """The columns besides `target` and their names as features; BadInput naming `source` if
    `target` is not a column or is the only one."""
    if target not in header:
        shown = ", ".join(header[:20]) + (", ..." if len(header) > 20 else "")
        raise BadInput(f"{source}: no column {target!r:.40} for --target; it has {shown}")
    features = [column for column in header if column != target]
    if not features:
        raise BadInput(f"{source}: no column besides the target {target!r:.40}")
    return features, feature_names(source, features)


def feature_names(source: str, columns: list[str]) -> tuple[str, ...]:
    """Each column as a lowercase SQL name ("Blood Pressure" -> blood_pressure), all distinct."""
    names = []
    for column in columns:
        name = re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")[:60]
        if not name or name[0].isdigit():
            name = f"x_{name}"
        if name in RESERVED_KEYS or name in names:
            raise BadInput(
                f"{source}: column {column!r:.40} would be named {name!r}, which is "
                "taken; rename the column"
            )
        names.append(name)
    return tuple(names)


def number(source: Path, line: int, column: str, cell: str) -> float:
    where = f"CSV {source} line {line}: column {column!r:.40}"
    if not cell.strip():
        raise BadInput(f"{where} is empty: fill in or drop missing values first")
    try:
        value = float(cell)
    except ValueError:
        raise BadInput(
            f"{where} holds {cell.strip()!r:.40}, not a number: every column must be numeric "
            "(encode or drop it first)"
        ) from None
    if not math.isfinite(value):
        raise BadInput(f"{where} holds {cell.strip()!r:.40}: every value must be a finite number")
    return value
