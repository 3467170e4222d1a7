"""The scale table of `make bench`: rank on local lakes of 10 k, 100 k and 1 M synthetic trials.

The lakes are synthesised with numpy in the job's exact format (the real dataset object; hyper
and scores lines with every key the job writes; fact lines through the job's own encoder), one
batch per 40 trials and 1,440 batches a day, as the default schedule writes them. Each rank is
a whole `python -m sweeplake rank --limit 10` process with a cache of its own, timed from spawn
to exit, its peak RSS read from the kernel (wait4).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from sweeplake.dataset import Dataset
from sweeplake.engines.sqlfiles import read_sql
from sweeplake.fitting.fit import encode_facts
from sweeplake.ids import new_id
from sweeplake.lake import Gzipped, LocalLake, dataset_key, gzip_text
from sweeplake.lake import params as lake_params
from sweeplake.scores.metrics import score
from sweeplake.scores.records import ndjson, scores_record

REPO = Path(__file__).resolve().parent.parent
BATCH = 40  # trials a cron start writes by default
BATCHES_A_DAY = 1440  # one start a minute
FIRST_DAY = date(2026, 1, 1)
# Each rank's time is the best of this many runs (scale_rows).
ROUNDS = 3
# A search space's sha256 per model, as a default batch records it.
SPACES = {m: hashlib.sha256(m.encode()).hexdigest() for m in ("svr", "random_forest")}
PLAIN_SCRIPT = (
    "import sys\n"
    "from sweeplake.engines.duckdb import DuckDBEngine\n"
    "from sweeplake.rank import AUDIT_SQL, leaderboard\n"
    "print(len(leaderboard(DuckDBEngine(sys.argv[1]), sql=AUDIT_SQL)[1]))\n"
)


@dataclass(frozen=True)
class Timed:
    seconds: float
    peak_rss: int  # bytes


@dataclass(frozen=True)
class ScaleRow:
    trials: int
    made: float  # seconds to synthesise the lake
    first: Timed
    again: Timed
    plain: Timed | None
    batch: Path  # the real batch's hyper object


def synthesise(
    root: Path, dataset: Dataset, trials: int, facts: bool, seed: int = 0, cv: bool = True
) -> None:
    """A lake of `trials` trials, half SVR and half forest, 2% of them failed (with `cv`, the
    drawn trials have cross-validated scores).

    With `facts`, each ok trial predicts every point (truth plus noise) and its scores are those
    predictions' metrics; without, the facts are left out and the metrics drawn at random, which
    changes no byte count of what rank reads. Written without fsync: a bench needs no durability.
    """
    rng, sha256 = np.random.default_rng(seed), dataset.sha256
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / dataset_key(dataset)).write_bytes(dataset.canonical)
    for number in range(trials // BATCH):
        dt = (FIRST_DAY + timedelta(days=number // BATCHES_A_DAY)).isoformat()
        batch_id = new_id()
        hyper, scores, packed = [], [], Gzipped()
        for n in range(BATCH):
            record = trial(rng, dataset, sha256, batch_id, n % 2 == 0)
            metrics = None
            if record["status"] == "ok" and facts:
                y_pred = dataset.y + rng.normal(0, rng.uniform(45, 80), len(dataset.y))
                metrics = score(dataset.y, y_pred, dataset.is_train)
                packed.write(encode_facts(record["hyper_id"], dataset.point_ids, y_pred))
            elif record["status"] == "ok":
                metrics = drawn_metrics(rng, len(dataset.y), cv)
            hyper.append(record)
            scores.append(scores_record(record, dt, metrics))
        objects = {"hyper": gzip_text(ndjson(hyper)), "scores": gzip_text(ndjson(scores))}
        if facts:
            objects["fact"] = packed.close()
        for prefix, body in objects.items():
            folder = root / prefix / f"dt={dt}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{batch_id}.json.gz").write_bytes(body)


def drawn_metrics(rng, points: int, cv: bool) -> dict:
    """Metrics at random; with `cv`, the cross-validated ones a default (5-fold CV) batch
    records too."""
    test_r2, train_r2 = rng.uniform(-0.5, 0.56), rng.uniform(0.0, 1.0)
    folds = [float(r) for r in test_r2 + rng.normal(0, 0.05, 5)]
    mean = sum(folds) / 5
    crossed = {
        "cv_r2": mean,
        "cv_r2_std": (sum((r - mean) ** 2 for r in folds) / 5) ** 0.5,
        "cv_oof_r2": float(test_r2 + rng.normal(0, 0.01)),
        "cv_fold_r2": json.dumps(folds),
    }
    return {
        **(crossed if cv else {}),
        "test_r2": test_r2,
        "train_r2": train_r2,
        "test_rmse": 74.0 * (1 - test_r2) ** 0.5,
        "test_mae": 60.0 * (1 - test_r2) ** 0.5,
        "test_mape": float(rng.uniform(30, 60)),
        "points": points,
    }


def trial(rng, dataset: Dataset, sha256: str, batch_id: str, svr: bool) -> dict:
    if svr:
        params = {"gamma": 10 ** rng.uniform(-2, 2), "c": 10 ** rng.uniform(-2, 2)}
        params["epsilon"] = 10 ** rng.uniform(-2, 0)
    else:
        params = dict(
            n_estimators=int(rng.integers(10, 201)),
            max_depth=int(rng.integers(2, 17)),
            min_samples_split=int(rng.integers(2, 21)),
            min_samples_leaf=int(rng.integers(1, 21)),
            max_features=float(rng.uniform(0.1, 1.0)),
        )
    failed = rng.random() < 0.02
    record = {
        "hyper_id": new_id(),
        "model": "svr" if svr else "random_forest",
        **lake_params.encode(params),
        "status": "failed" if failed else "ok",
        "error": "ValueError: synthetic failure" if failed else None,
        "dataset": dataset.name,
        "dataset_sha256": sha256,
        "sampler": "random",
        "space_sha256": SPACES["svr" if svr else "random_forest"],
        "history": 0,
        "seed": int(rng.integers(0, 2**32)),
        "batch_id": batch_id,
        "created_at": f"2026-01-01T00:00:{rng.uniform(0, 59):09.6f}Z",
        "fit_ms": None if failed else float(rng.uniform(5, 500)),
        "predict_ms": None if failed else float(rng.uniform(0.1, 5)),
        "cv_ms": None if failed else float(rng.uniform(5, 2500)),
        "host": "bench",
        "version": "0.1.0",
    }
    return record


def timed(command: list[str], env: dict[str, str]) -> Timed:
    """Wall clock from spawn to exit, and the child's own peak resident set."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        sys.exit(f"bench: {' '.join(command[2:4])} failed: {stderr.decode()[-500:]}")
    return Timed(seconds, usage.ru_maxrss * 1024)


def rank(lake: Path, env: dict[str, str]) -> Timed:
    return timed([sys.executable, "-m", "sweeplake", "rank", "--lake", str(lake)], env)


def plain_duckdb(lake: Path, env: dict[str, str]) -> Timed:
    return timed([sys.executable, "-c", PLAIN_SCRIPT, str(lake)], env)


def one_more_batch(lake: Path, env: dict[str, str], seed: int = 1) -> Path:
    """A real 40-trial batch of both models, as cron writes it; returns its hyper object."""
    before = set(lake.glob("hyper/dt=*/*.json.gz"))
    command = [sys.executable, "-m", "sweeplake", "run", "--lake", str(lake), "--seed", str(seed)]
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    (added,) = set(lake.glob("hyper/dt=*/*.json.gz")) - before
    return added


def lake_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPLAKE_", "AWS_"))}
    return {**env, "SWEEPLAKE_CACHE": str(cache)}


def best_of(runs: list[Timed]) -> Timed:
    """The fastest run's seconds (other load only ever slows a process down) and the highest
    peak RSS of any (load does not make a process smaller)."""
    return Timed(min(r.seconds for r in runs), max(r.peak_rss for r in runs))


def scale_rows(
    work: Path, dataset: Dataset, sizes: list[int], facts_up_to: int, rounds: int = ROUNDS
) -> list[ScaleRow]:
    """One row per lake size: synthesis, first rank, rank after one more batch, plain DuckDB.
    The first rank is the best of `rounds`, each with a cache of its own; the rank after one
    more batch the best of `rounds` batches, each followed by a rank."""
    rows = []
    for size in sizes:
        lake = work / f"lake-{size}"
        started = time.perf_counter()
        synthesise(lake, dataset, size, facts=size <= facts_up_to)
        made = time.perf_counter() - started
        caches = [lake_env(work / f"cache-{size}-{n}") for n in range(rounds)]
        first = best_of([rank(lake, env) for env in caches])
        batches, again = [], []
        for n in range(rounds):
            batches.append(one_more_batch(lake, caches[-1], seed=n + 1))
            again.append(rank(lake, caches[-1]))
        plain = plain_duckdb(lake, caches[-1]) if size <= facts_up_to else None
        rows.append(ScaleRow(size, made, first, best_of(again), plain, batches[0]))
    return rows


def athena_bytes(lake: Path, batch: Path, dataset: Dataset) -> dict[str, float]:
    """Bytes Athena reads over one month of the default schedule (43,200 batches of BATCH
    trials), for the leaderboard query and for the full query over the facts.

    The full query (sql/rank_runs.sql) reads JSON objects whole: every fact, out-of-fold and
    hyper object, each counted per trial from one real batch and scaled to BATCH trials (a batch
    cut short by its budget would otherwise shrink the month). The leaderboard
    (sql/rank_scores.sql) reads all_scores once per scan in the statement: of the compacted
    days' Parquet, only the column chunks that scan reads (Athena, like DuckDB, reads a Parquet
    file's columns, not the whole file), as DuckDB's own plan of the statement lists them; of the
    days not compacted yet, every per-batch JSON scores object whole."""
    from sweeplake.scores.compact import CLOSED_AFTER_DAYS, daily_parquet

    key = batch.relative_to(lake / "hyper")
    trials = len(gzip.decompress((lake / "hyper" / key).read_bytes()).splitlines())
    per_trial = {
        part: (lake / part / key).stat().st_size / trials if (lake / part / key).exists() else 0
        for part in ("fact", "oof", "hyper")
    }
    first_day = sorted(lake.glob("scores/dt=*"))[0]
    day_objects = sorted(first_day.glob("*.json.gz"))
    assert len(day_objects) == BATCHES_A_DAY, len(day_objects)
    scores_object = sum(p.stat().st_size for p in day_objects) / BATCHES_A_DAY
    day_keys = [str(p.relative_to(lake)) for p in day_objects]
    parquet_day = daily_parquet(LocalLake(lake), day_keys)
    data = len(dataset.canonical)
    scans = parquet_scans(parquet_day, read_sql("rank_scores.sql"))
    # The plan scans all_scores as often as the statement names it: no scan was planned away.
    assert len(scans) == table_reads(read_sql("rank_scores.sql"))["all_scores"], scans
    chunks = column_bytes(parquet_day)
    # Just before the daily compact, the days not yet compacted are today, yesterday and the
    # day before: all three are per-batch JSON.
    recent = CLOSED_AFTER_DAYS + 1
    days = 30
    json_days = recent * BATCHES_A_DAY * scores_object
    scores_reads = [(days - recent) * sum(chunks[c] for c in columns) for columns in scans]
    data_reads = table_reads(read_sql("rank_scores.sql"))["data"]
    leaderboard = sum(scores_reads) + len(scans) * json_days + data_reads * data
    full = days * BATCHES_A_DAY * BATCH * sum(per_trial.values()) + data
    return {
        **{part: BATCH * size for part, size in per_trial.items()},
        "scores_object": scores_object,
        "parquet_day": len(parquet_day),
        "scan_columns": [len(columns) for columns in scans],
        "scan_bytes_day": [sum(chunks[c] for c in columns) for columns in scans],
        "leaderboard": leaderboard,
        "full": full,
        "json_only": len(scans) * days * BATCHES_A_DAY * scores_object + data_reads * data,
        "all_scores_reads": len(scans),
    }


def column_bytes(parquet: bytes) -> dict[str, int]:
    """Each column's compressed bytes in the Parquet body, over every row group."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(io.BytesIO(parquet)).metadata
    sizes: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            sizes[chunk.path_in_schema] = sizes.get(chunk.path_in_schema, 0) + (
                chunk.total_compressed_size
            )
    return sizes


def parquet_scans(parquet: bytes, sql: str) -> list[set[str]]:
    """The columns each scan of all_scores in the statement reads, all_scores being one day's
    Parquet: the projections and filter columns of each READ_PARQUET in DuckDB's plan."""
    import duckdb

    with tempfile.TemporaryDirectory(prefix="bench-athena-") as folder:
        path = Path(folder) / "day.parquet"
        path.write_bytes(parquet)
        connection = duckdb.connect()
        names = [f'"{n}"' for n in pq_names(parquet)]
        connection.execute(
            f"CREATE VIEW all_scores AS SELECT {', '.join(names)} FROM read_parquet('{path}')"
        )
        # The datasets the day holds: a name the Parquet statistics rule out plans no scan.
        connection.execute("CREATE TABLE data AS SELECT DISTINCT dataset FROM all_scores")
        nodes = parquet_scan_nodes(connection, sql)
        connection.close()
    columns = set(pq_names(parquet))
    scans: list[set[str]] = []
    for node in nodes:
        info = node.get("extra_info", {})
        listed = info.get("Projections", [])
        listed = [listed] if isinstance(listed, str) else listed
        filters = str(info.get("Filters", ""))
        read = {c for c in listed if c in columns}
        read |= {c for c in columns if re.search(rf"\b{c}\b", filters)}
        scans.append(read)
    return scans


def parquet_scan_nodes(connection, sql: str) -> list[dict]:
    """The READ_PARQUET nodes of DuckDB's plan of the statement (its plan as JSON), in order."""
    (_, plan), *_ = connection.execute("EXPLAIN (FORMAT JSON) " + sql).fetchall()
    nodes: list[dict] = []

    def walk(node: dict) -> None:
        if node.get("name") == "READ_PARQUET":
            nodes.append(node)
        for child in node.get("children", []):
            walk(child)

    for node in json.loads(plan):
        walk(node)
    return nodes


def pq_names(parquet: bytes) -> list[str]:
    import pyarrow.parquet as pq

    return pq.ParquetFile(io.BytesIO(parquet)).schema_arrow.names


def table_reads(sql: str) -> dict[str, int]:
    """How many times the statement reads each table (a FROM or JOIN naming it): Athena scans
    a table once for each."""
    return {
        table: len(re.findall(rf"\b(?:FROM|JOIN)\s+{table}\b", sql, re.IGNORECASE))
        for table in ("all_scores", "data")
    }
