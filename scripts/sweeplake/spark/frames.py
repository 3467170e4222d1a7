"""A dataset as a Spark DataFrame, for the model families Spark fits: read, checked and hashed
by Spark, never collected into the driver's Python process.

The file (JSON lines, or Parquet: a file, a folder, an s3:// prefix Spark can read) passes the
checks `load_dataset` makes, as aggregations, and the lake gets the same `data/<name>.json`: the
canonical lines (sweeplake.dataset.encode_points), here in point_id order, which is the file's
order for every dataset sweeplake writes (export-data, import-data). One Spark task encodes and
hashes them in order, streaming, and writes the object when the lake does not hold it yet.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweeplake.dataset import (
    DATASET_NAME,
    INT32,
    NO_FOLD,
    REQUIRED_KEYS,
    RESERVED_KEYS,
    check_features,
    encode_points,
)
from sweeplake.errors import BadInput, LakeUnreachable, SparkFailed
from sweeplake.lake import open_lake
from sweeplake.parquet import is_parquet

FEATURES = "features"  # the assembled feature vector, what every pyspark.ml estimator reads
LABEL = "y_true"


@dataclass(frozen=True)
class FrameDataset:
    """A checked dataset held by Spark: what the driver knows of it is these few numbers."""

    name: str
    features: tuple[str, ...]
    points: int
    train: int
    # The training points' fold values, sorted; empty when the file has no fold column.
    folds: tuple[int, ...]
    frame: Any  # DataFrame: point_id, is_train, fold, the features, y_true, typed
    sha256: str = ""

    @property
    def key(self) -> str:
        return f"data/{self.name}.json"


def spark_path(source: str | Path) -> str:
    text = str(source)
    return text if "://" in text else str(Path(text).absolute())


def read_frame(spark, source: str | Path) -> FrameDataset:
    """The dataset at `source` as a typed DataFrame, checked; BadInput naming any problem."""
    from pyspark.sql import functions as F

    where = f"dataset {source}"
    if not str(source).startswith("s3://") and not Path(source).exists():
        raise BadInput(f"{where}: no such file or folder")
    try:
        if is_parquet(source):
            frame = spark.read.parquet(spark_path(source))
            columns = frame.columns
        else:
            columns = first_line_keys(spark, source)
            # Spark's own inference reads every line's keys: a key beyond the first line's.
            inferred = set(spark.read.json(spark_path(source)).columns)
            if "_corrupt_record" in inferred:
                raise BadInput(f"{where}: a line is not a JSON object")
            extra = sorted(inferred - set(columns))
            if extra:
                raise BadInput(
                    f"{where}: a line has {', '.join(extra)[:80]} as well: every line holds "
                    "exactly the keys of the first line"
                )
            frame = spark.read.json(
                spark_path(source), schema=json_schema(columns), mode="FAILFAST"
            )
    except BadInput:
        raise
    except Exception as exc:  # Spark's own error: the path, the format, the scheme; or a fault
        if starved(exc):
            raise SparkFailed(f"{where}: Spark failed reading it ({spark_cause(exc)})") from None
        raise BadInput(f"{where}: Spark cannot read it ({first_line(exc)})") from None
    features = tuple(c for c in columns if c not in RESERVED_KEYS)
    check_columns(where, columns, features, dict(frame.dtypes))
    typed = frame.select(
        *([frame["dataset"].cast("string")] if "dataset" in columns else []),
        frame["point_id"].cast("long"),
        frame["is_train"],
        (frame["fold"] if "fold" in columns else F.lit(None)).cast("long").alias("fold"),
        *(frame[f].cast("double") for f in features),
        frame[LABEL].cast("double"),
    )
    return checked(where, source, typed, features, "fold" in columns)


def first_line_keys(spark, source: str | Path) -> list[str]:
    """The keys of the file's first line, in order: what names the features, as in
    load_dataset (Spark's own schema inference would sort them)."""
    from sweeplake.textio import strict_json

    if "://" in str(source):
        lines = spark.read.text(str(source)).where("trim(value) != ''").limit(1).collect()
        first = lines[0][0] if lines else None
    else:  # one line, read here: a Spark job costs more
        with open(source, encoding="utf-8", errors="replace") as handle:
            first = next((line for line in handle if line.strip()), None)
    if first is None:
        raise BadInput(f"dataset {source}: holds no points")
    record = strict_json(first, f"dataset {source} line 1")
    if not isinstance(record, dict):
        raise BadInput(f"dataset {source} line 1: not a JSON object")
    if "timeseries" in record:
        raise BadInput(
            f"dataset {source} is a time series: the models Spark fits take tabular datasets"
        )
    return list(record)


def json_schema(columns: list[str]):
    from pyspark.sql.types import (
        BooleanType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    kinds = {"dataset": StringType(), "point_id": LongType(), "is_train": BooleanType()}
    kinds["fold"] = LongType()
    return StructType([StructField(c, kinds.get(c, DoubleType())) for c in columns])


def check_columns(where: str, columns: list[str], features: tuple[str, ...], types: dict) -> None:
    missing = sorted(REQUIRED_KEYS - set(columns))
    if missing:
        raise BadInput(
            f"{where}: lacks {', '.join(missing)}: every point needs point_id, is_train and "
            "y_true besides its features (see the dataset file in docs/lake.md)"
        )
    check_features(where, features)
    integral = ("bigint", "int", "smallint", "tinyint")
    wanted = {"point_id": integral, "is_train": ("boolean",), "fold": integral}
    numeric = (*integral, "double", "float")
    for column in (*features, LABEL):
        wanted[column] = numeric
    for column, kinds in wanted.items():
        if column in types and types[column] not in kinds:
            raise BadInput(f"{where}: column {column} is {types[column]}, not {kinds[0]}")


def checked(
    where: str, source: str | Path, typed, features: tuple[str, ...], has_folds: bool
) -> FrameDataset:
    """The dataset once every check (one Spark aggregation) passes."""
    from pyspark.sql import functions as F

    col, train = F.col, F.col("is_train")

    def count_if(condition):
        return F.sum(F.when(condition, 1).otherwise(0))

    def not_finite(c):
        return col(c).isNull() | F.isnan(col(c)) | (F.abs(col(c)) == float("inf"))

    numbers = (*features, LABEL)
    names = typed.columns
    checks = {
        "points": F.count(F.lit(1)),
        "distinct": F.count_distinct("point_id"),
        "train": count_if(train),
        "no_point_id": count_if(col("point_id").isNull()),
        "no_is_train": count_if(train.isNull()),
        **{f"bad_{c}": count_if(not_finite(c)) for c in numbers},
        "names": F.count_distinct("dataset") if "dataset" in names else F.lit(0),
        "name": F.min("dataset") if "dataset" in names else F.lit(None),
        "train_without_fold": count_if(train & col("fold").isNull()),
        "test_with_fold": count_if(~train & col("fold").isNotNull()),
        "bad_fold": count_if((col("fold") < 0) | (col("fold") >= INT32)),
        "folds": F.array_sort(F.collect_set(F.when(train, col("fold")))),
    }
    try:
        found = typed.agg(*(value.alias(key) for key, value in checks.items())).first()
    except Exception as exc:  # py4j's error for the job: a line FAILFAST refused, or a fault
        if "MALFORMED_RECORD" in str(exc) or "Malformed records" in str(exc):
            # a line FAILFAST refused: a value of the wrong type, bad JSON
            raise BadInput(f"{where}: not readable ({first_line(exc)})") from None
        raise SparkFailed(f"{where}: Spark failed reading it ({spark_cause(exc)})") from None
    if found["points"] == 0:
        raise BadInput(f"{where}: holds no points")
    if found["names"] > 1:
        raise BadInput(f"{where}: lines name more than one dataset")
    name = found["name"] or Path(str(source).rstrip("/")).name.split(".")[0]
    if not DATASET_NAME.fullmatch(name):
        raise BadInput(f"{where}: name {name!r:.40} must be letters, digits, '_', '.' or '-'")
    for column in ("point_id", "is_train"):
        if found[f"no_{column}"]:
            raise BadInput(f"{where}: {found[f'no_{column}']} point(s) without {column}")
    for column in numbers:
        if found[f"bad_{column}"]:
            raise BadInput(
                f"{where}: {column} of {found[f'bad_{column}']} point(s) is missing or not a "
                "finite number"
            )
    if found["distinct"] != found["points"]:
        raise BadInput(f"{where}: point_id values repeat")
    if found["train"] in (0, found["points"]):
        raise BadInput(f"{where}: needs both train and test points")
    folds: tuple[int, ...] = ()
    if has_folds:
        if found["test_with_fold"]:
            raise BadInput(f"{where}: a test point's fold must be null ({found['test_with_fold']})")
        if found["train_without_fold"] or found["bad_fold"]:
            raise BadInput(
                f"{where}: a training point's fold must be an integer >= 0 "
                f"({found['train_without_fold'] + found['bad_fold']} are not)"
            )
        folds = tuple(int(k) for k in found["folds"])
        if len(folds) < 2:
            raise BadInput(f"{where}: the training points need at least two folds")
    ordered = typed.select("point_id", "is_train", "fold", *features, LABEL)
    return FrameDataset(name, features, found["points"], found["train"], folds, ordered)


def spark_errors() -> tuple[type[Exception], ...]:
    """What a failed Spark job raises in the driver: py4j's errors (a Java exception, a lost
    JVM), pyspark's captured Java exceptions, a refused connection. Never a Python bug of the
    driver's own."""
    from py4j.protocol import Py4JError
    from pyspark.errors.exceptions.captured import CapturedException

    return (Py4JError, CapturedException, ConnectionError)


def starved(exc: Exception) -> bool:
    """Whether Spark failed for want of memory or lost its JVM: a fault, never bad input."""
    return jvm_lost(exc) or "OutOfMemoryError" in str(exc)


def jvm_lost(exc: Exception) -> bool:
    """Whether the JVM died under the driver. py4j says so three ways: a Py4JNetworkError, a
    refused connection, or (when the broken call is not retried) a bare Py4JError "An error
    occurred while calling o17.setJobGroup" with no Java trace; the gateway's own process
    having exited settles it."""
    lost = any(kind.__name__ == "Py4JNetworkError" for kind in type(exc).__mro__)
    if lost or isinstance(exc, ConnectionError):
        return True
    bare = BROKEN_CALL.fullmatch(str(exc).strip()) is not None
    return bare or gateway_exited()


BROKEN_CALL = re.compile(r"An error occurred while calling [\w$:.]+")


def gateway_exited() -> bool:
    """Whether the JVM this driver launched (pyspark's gateway process) has exited."""
    from pyspark import SparkContext

    process = getattr(SparkContext._gateway, "proc", None)
    return process is not None and process.poll() is not None


def spark_cause(exc: Exception) -> str:
    """The Java error at the root of a failed job (as java.lang.OutOfMemoryError: Java heap
    space), else its first line."""
    if jvm_lost(exc):
        return f"its JVM is gone: {first_line(exc)}"[:200]
    lines = (ln.strip().removeprefix("Caused by: ") for ln in str(exc).splitlines())
    causes = [ln for ln in lines if ln.startswith("java.")]
    return (causes[-1] if causes else first_line(exc))[:200]


def first_line(exc: Exception) -> str:
    """Spark's error as one short line (py4j's message starts with the Java exception)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


def identify(data: FrameDataset, lake_uri: str, held: str | None) -> FrameDataset:
    """The dataset with its sha256, computed by one Spark task that encodes every point in
    point_id order; that task also writes the lake's data object when `held` (the sha256 of
    the object the lake holds under the name) is None. BadInput if the lake holds another."""
    spec = Canonical(lake_uri, data.key, data.name, data.features, held)
    one_task = data.frame.repartition(1).sortWithinPartitions("point_id")
    try:
        (row,) = one_task.mapInArrow(spec.encode, "sha256 string").collect()
    except Exception as exc:  # py4j's error: the task failed past Spark's retries
        raise LakeUnreachable(
            f"cannot hash the dataset {data.name} or write {lake_uri}/{data.key}: its Spark "
            f"job failed ({first_line(exc)})"
        ) from None
    if held is not None and held != row["sha256"]:
        raise BadInput(
            f"the lake {lake_uri} already holds a different dataset named {data.name!r}; "
            "rename yours (its 'dataset' column or its file name)"
        )
    return FrameDataset(**{**data.__dict__, "sha256": row["sha256"]})


@dataclass(frozen=True)
class Canonical:
    """The canonical lines of one sorted partition: hashed, and written when not held yet."""

    lake: str
    key: str
    name: str
    features: tuple[str, ...]
    held: str | None

    def lines(self, batch) -> bytes:
        columns = {name: batch.column(name) for name in batch.schema.names}
        fold = columns["fold"].fill_null(NO_FOLD).to_numpy()
        x = np.column_stack([columns[f].to_numpy(zero_copy_only=False) for f in self.features])
        return encode_points(
            self.name,
            self.features,
            columns["point_id"].to_numpy(),
            x,
            columns[LABEL].to_numpy(zero_copy_only=False),
            columns["is_train"].to_numpy(zero_copy_only=False),
            fold,
        )

    def encode(self, batches):
        import pyarrow as pa

        digest = hashlib.sha256()
        with tempfile.TemporaryDirectory(prefix="sweeplake-data-") as folder:
            path = Path(folder) / "data.json"
            with open(path, "wb") as out:
                for batch in batches:
                    if batch.num_rows:
                        body = self.lines(batch)
                        digest.update(body)
                        if self.held is None:
                            out.write(body)
            if self.held is None:
                open_lake(self.lake).put_file(self.key, path, digest.hexdigest())
        yield pa.RecordBatch.from_pydict({"sha256": [digest.hexdigest()]})
