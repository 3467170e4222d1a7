"""The scores of a whole lake, kept in a local cache that each refresh extends with what is new.

The cache is a folder of immutable Parquet parts and a manifest naming the parts and every batch
(hyper object) they cover. A refresh lists the lake's hyper objects, and for each batch not in
the manifest reads its scores object, or, where there is none (a lake written before scores, a
kill between the two puts), scores it from its facts with the same metrics module. It writes the
new rows as one more part and then the manifest, by rename, under an exclusive lock: refreshers
queue; readers never lock, since the parts a manifest names stay on disk for a grace period
after a later manifest stops naming them.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from isal import igzip, isal_zlib

from sweeplake.engines.readable import readable_objects
from sweeplake.engines.sqlfiles import duckdb_types, empty_select, sql_literal, table_schema
from sweeplake.ids import new_id
from sweeplake.lake import Lake, LocalLake, open_lake
from sweeplake.lake.base import write_durably
from sweeplake.lake.parts import PARQUET_PREFIXES, batch_object_keys
from sweeplake.paths import DEFAULT_CACHE
from sweeplake.scores.records import ndjson
from sweeplake.scores.rescore import scored_batches

log = logging.getLogger("sweeplake.scores")
MANIFEST = "manifest.json"
# Small parts are merged once there are more than this many: a rank a minute for a day would
# otherwise leave 1,440 of them.
MAX_PARTS = 8
# How long a part no manifest names stays on disk, for readers that listed it before.
GRACE_SECONDS = 3600
# DuckDB's limits in every process that reads the scores: a t3.small has 2 GiB and 2 cores.
DUCKDB_CONFIG = {"memory_limit": "256MB", "threads": 2, "preserve_insertion_order": False}
# The leaderboard's limit (engines/scores.py), once the cache is fresh. Within 256 MB its windows
# over a million trials spill 257 MiB to disk (2.3 s); within 320 MB, 110 MiB (1.5 s), for a
# process peak of 407 MiB, inside the 512 MiB a rank of a million trials may take.
QUERY_MEMORY_LIMIT = "320MB"
# Gzipped bytes of scores objects joined into one file for DuckDB (about 6 times that on disk).
# Within DUCKDB_CONFIG's 256 MB, DuckDB read 16 MB of them as one file and not 64 MB.
CHUNK_BYTES = 8 * 2**20
# A refresh that ingested this many trials (or merged or forgot parts) closes its DuckDB, so
# that a query after it starts in one holding none of that work's memory (DuckDB keeps the
# Parquet it read cached within its limit); a cron start's few trials keep the connection.
FRESH_AFTER_ROWS = 50_000
# Scores columns with a value of their own per trial (see dictionary_columns).
PER_TRIAL = ("hyper_id", "params", "created_at", "cv_fold_r2", "seed")
# The parts of an S3 lake that the scores need; facts only for batches without scores.
SCORES_PARTS = ("hyper/", "scores/", "data/")


def rewrite_parquet(connection, files: list[str], out: Path) -> None:
    """Parquet files rewritten as one, on one thread: with two, DuckDB's Parquet readers and
    writer pin more than DUCKDB_CONFIG's 256 MB (a million trials' scores ran out of memory);
    one thread rewrites them in about 4 s."""
    connection.execute("SET threads = 1")
    try:
        connection.read_parquet(files).write_parquet(str(out), compression="zstd")
    finally:
        connection.execute(f"SET threads = {DUCKDB_CONFIG['threads']}")


def gunzipped(files: list[str], out: Path) -> Path:
    """The gzip objects' lines, back to back, as the file `out` (each object ends its line).
    ISA-L's inflate (the lake's deflate already is ISA-L's): twice zlib's speed on scores
    objects, and the first rank of a million trials spends most of its time here and in
    DuckDB's reading of the lines (18 s -> 14 s, side by side)."""
    with open(out, "wb") as joined:
        for path in files:
            body = igzip.decompress(Path(path).read_bytes())  # frees the GIL as it works
            joined.write(body if body.endswith(b"\n") or not body else body + b"\n")
    return out


def dictionary_columns(names: list[str]) -> list[str]:
    """The columns of a part worth a Parquet dictionary: those whose values repeat. A double, or
    a column with a value of its own per trial, only costs time and bytes in one (a million
    trials' part: 2.2 s and 173 MiB to write, against 2.9 s and 201 MiB with every column's)."""
    doubles = {name for name, kind in scores_columns().items() if kind == "DOUBLE"}
    return [name for name in names if name not in doubles and name not in PER_TRIAL]


def chunked(files: list[str], most: int) -> Iterator[list[str]]:
    """The files in order, in groups of at most `most` bytes (a larger file alone)."""
    group: list[str] = []
    size = 0
    for path in files:
        length = os.path.getsize(path)
        if group and size + length > most:
            yield group
            group, size = [], 0
        group.append(path)
        size += length
    if group:
        yield group


def each_part(connection, files: list[str]) -> str:
    """The parts as one relation, in SQL: one Parquet scan per part, UNION ALL. A scan of several
    files knows no file's statistics, and without them DuckDB materialises every string whole in
    the leaderboard's windows: on a million trials, three small parts beside the large one made
    the query 0.35 s slower (2.0 s against 1.66 s); scanned one by one, as fast as the large
    alone. Parts of other columns or types (never written so) are read as one scan, which
    unifies them. SQL text, not DuckDB's relation API, which binds each relation on its own: a
    view over three parts took 18 ms of CPU that way, against 7 ms."""
    scans = [f"SELECT * FROM read_parquet({sql_literal(path)})" for path in files]
    paths = ", ".join(sql_literal(path) for path in files)
    if len(files) > 1:
        shapes: dict[str, list[tuple]] = {}
        columns = "file_name, name, type, logical_type"
        for name, *column in connection.execute(
            f"SELECT {columns} FROM parquet_schema([{paths}])"
        ).fetchall():
            shapes.setdefault(name, []).append(tuple(column))
        if len({tuple(shape) for shape in shapes.values()}) > 1:
            return f"SELECT * FROM read_parquet([{paths}], union_by_name = true)"
    return " UNION ALL ".join(scans)


def json_scan(files: list[str], columns: dict[str, str]) -> str:
    """read_json of NDJSON files with these DuckDB column types, in SQL."""
    types = ", ".join(f"{sql_literal(name)}: {sql_literal(kind)}" for name, kind in columns.items())
    paths = ", ".join(sql_literal(path) for path in files)
    return f"read_json([{paths}], columns={{{types}}}, format='newline_delimited')"


@functools.cache
def scores_columns() -> dict[str, str]:
    """The scores table's columns, partition included, as DuckDB types."""
    schema = table_schema("scores")
    return duckdb_types({**schema.columns, **schema.partitions})


def open_scores(lake_uri: str) -> ScoresStore:
    """The scores of the lake at `lake_uri` (a folder or s3://), cached under SWEEPLAKE_CACHE."""
    lake = open_lake(lake_uri)
    cache_root = Path(os.environ.get("SWEEPLAKE_CACHE") or DEFAULT_CACHE)
    if isinstance(lake, LocalLake):
        lake.check_readable()
        cache = cache_root / ".local" / lake.root.resolve().relative_to("/") / ".scores"
    else:
        cache = lake.cache_root / ".scores"
    return ScoresStore(lake, cache)


def scores_layout() -> str:
    """What the cache's parts must share: the scores table's columns and types, from its DDL."""
    schema = table_schema("scores")
    layout = json.dumps([list(schema.columns.items()), list(schema.partitions.items())])
    return hashlib.sha256(layout.encode()).hexdigest()[:16]


def connect(cache: Path):
    """An in-memory DuckDB within DUCKDB_CONFIG's limits, spilling to a folder of its own
    (DuckDB names its spill files alike in every process, and removes what it created)."""
    import duckdb

    spill = cache / f"spill-{os.getpid()}-{new_id()}"
    connection = duckdb.connect(config={**DUCKDB_CONFIG, "temp_directory": str(spill)})
    connection.execute("SET enable_progress_bar = false")  # a bar on stderr is no log line
    return connection


class ScoresStore:
    def __init__(self, lake: Lake, cache: Path) -> None:
        self.lake = lake
        self.cache = Path(cache)
        self.cache.mkdir(parents=True, exist_ok=True)
        self._db = None  # one DuckDB per store: a connect costs about 20 ms of CPU
        self._shown = False  # its views point at the parts of the last refresh
        self.query_memory_limit: str | None = None  # see limit_queries

    @property
    def local(self) -> LocalLake:
        """The lake itself when local; else its mirror, of the parts the scores need."""
        if isinstance(self.lake, LocalLake):
            return self.lake
        return LocalLake(self.lake.cache_root)

    @property
    def connection(self):
        """A DuckDB connection whose table `scores` holds every score of the last refresh."""
        if not self._shown:
            self._show(self.read_manifest()["parts"])
            if self.query_memory_limit is not None:
                self.db().execute(f"SET memory_limit = '{self.query_memory_limit}'")
        return self.db()

    def limit_queries(self, limit: str) -> None:
        """DuckDB's memory limit for the queries from here on, kept across a reconnect."""
        self.query_memory_limit = limit
        if self._db is not None:
            self._db.execute(f"SET memory_limit = '{limit}'")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db = None
        self._shown = False

    def db(self):
        """The store's DuckDB, for ingesting and merging parts as for the queries: one connect
        per process, where a cron start that refreshes and then queries made three."""
        if self._db is None:
            self._db = connect(self.cache)
        return self._db

    def refresh(self) -> int:
        """Ingest the batches that are new since the last refresh; returns their trial count."""
        with self.locked():
            manifest = self.read_manifest()
            local = self.sync()
            done = set(manifest["batches"])
            listed = local.keys("hyper")
            gone = done.difference(listed)
            if gone:
                manifest["parts"] = self.forget(manifest["parts"], gone)
                manifest["batches"] = [key for key in manifest["batches"] if key not in gone]
                self.write_manifest(manifest)
            new = [key for key in listed if key not in done]
            added, skipped, merged = 0, set(), False
            if new:
                part, added, skipped = self.ingest(local, new)
                if part is not None:
                    manifest["parts"].append(part)
                # A batch skipped is not done: the next refresh tries it again, and names it.
                manifest["batches"] += [key for key in new if key not in skipped]
                if len(manifest["parts"]) > MAX_PARTS:
                    manifest["parts"] = self.merge(manifest["parts"])
                    merged = True
                self.write_manifest(manifest)
            self.remove_unnamed(manifest["parts"])
        if merged or added >= FRESH_AFTER_ROWS or gone:
            self.close()  # the queries get a DuckDB that holds none of that work's memory
        if self._shown:
            self._show(manifest["parts"])
        log.info(
            "scores of %s: %d new batches, %d new trials%s",
            self.lake.uri,
            len(new) - len(skipped),
            added,
            f"; {len(skipped)} batch(es) not scored, tried again at the next refresh"
            if skipped
            else "",
        )
        return added

    def with_part(self, part: str) -> LocalLake:
        """The lake itself when local; else its mirror, with `part` (beyond the scores) synced."""
        if isinstance(self.lake, LocalLake):
            return self.lake
        return self.lake.mirror((part,))

    def sync(self) -> LocalLake:
        if isinstance(self.lake, LocalLake):
            return self.lake
        return self.lake.mirror(SCORES_PARTS)

    def ingest(self, local: LocalLake, new: list[str]) -> tuple[str | None, int, set[str]]:
        """Write the new batches' scores as one part; returns its name, its rows and the hyper
        keys of the batches it could not score."""
        connection = self.db()
        scores_keys = {k: "scores/" + k.removeprefix("hyper/") for k in new}
        # One listing per folder the new batches' scores would be in, not a stat or a Path per
        # batch: a million-trial lake's 25,000 of those took half a second.
        folders = {key.rpartition("/")[0] for key in scores_keys.values()}
        held = {key for folder in folders for key in local.keys(folder + "/")}
        scored = [k for k in new if scores_keys[k] in held]
        unscored = [k for k in new if scores_keys[k] not in held]
        files = [f"{local.root}/{scores_keys[k]}" for k in scored]
        name = f"part-{new_id()}.parquet"
        tmp = self.cache / f".{name}.tmp"
        staging = self.cache / f".rescored-{os.getpid()}.json"
        skipped: set[str] = set()
        try:
            if files and not unscored:
                # Every batch has its scores object, as a lake the job wrote holds them: one
                # pass over them, not a check and then a copy (each parses every line).
                written = self.write_joined(connection, files, tmp, name)
                if written is not None:
                    return (*written, skipped)
            files = self.readable(connection, files, unscored)
            if unscored:
                skipped = self.rescore(connection, local, unscored, staging)
                files.append(str(staging))
            if not files:
                return None, 0, skipped
            return (*self.write_part(connection, files, tmp, name, checked=True), skipped)
        finally:
            staging.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)

    def write_part(
        self, connection, files: list[str], tmp: Path, name: str, checked: bool = False
    ) -> tuple[str, int] | None:
        """The files' rows as the part `name`, with their count; None if DuckDB cannot read
        one of them, unless they were `checked` readable (then its error is raised)."""
        import duckdb

        try:
            self.typed(connection, files).write_parquet(str(tmp), compression="zstd")
        except duckdb.Error:
            if checked:
                raise
            return None
        return self.named(connection, tmp, name)

    def write_joined(
        self, connection, files: list[str], tmp: Path, name: str
    ) -> tuple[str, int] | None:
        """write_part, faster: the objects gunzipped here back to back into a few large NDJSON
        files for DuckDB, which pays a fixed cost per file it opens (a day of 1,440 objects:
        3.8 s as they stand, against 0.24 s to gunzip them here and 0.4 s to read the result).
        A thread gunzips the next file while DuckDB reads one, and each file's rows go into the
        part as they are read (one part, written once). None when an object is not whole gzip
        or DuckDB cannot read the lines: the caller then reads them object by object and finds
        which."""
        import duckdb
        import pyarrow as pa
        import pyarrow.parquet as pq

        groups = list(chunked(files, CHUNK_BYTES))
        if not groups:
            return None
        texts = [self.cache / f".ingest-{os.getpid()}-{n}.json.tmp" for n in range(2)]
        writer = None
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                joining = pool.submit(gunzipped, groups[0], texts[0])
                for n in range(len(groups)):
                    text = joining.result()
                    if n + 1 < len(groups):
                        joining = pool.submit(gunzipped, groups[n + 1], texts[(n + 1) % 2])
                    # dt as write_part gets it: from a hive path (dt=...), DuckDB types it DATE.
                    # One statement: the relation API binds each step on its own.
                    scan = json_scan([str(text)], scores_columns())
                    table = connection.sql(
                        f"SELECT * REPLACE (CAST(dt AS DATE) AS dt) FROM {scan}"
                    ).to_arrow_table()
                    if writer is None:
                        writer = pq.ParquetWriter(
                            str(tmp),
                            table.schema,
                            compression="zstd",
                            use_dictionary=dictionary_columns(table.schema.names),
                        )
                    writer.write_table(table)
            writer.close()
            writer = None
        except (OSError, EOFError, isal_zlib.error, duckdb.Error, pa.ArrowException):
            return None
        finally:
            if writer is not None:
                writer.close()
            for text in texts:
                text.unlink(missing_ok=True)
        return self.named(connection, tmp, name)

    def named(self, connection, tmp: Path, name: str) -> tuple[str, int]:
        """The written part `tmp` renamed into the cache as `name`, with its row count."""
        # fetchall: a result left unfinished blocks the connection's relations.
        [(count,)] = connection.execute(
            f"SELECT count(*) FROM read_parquet({sql_literal(tmp)})"
        ).fetchall()
        os.replace(tmp, self.cache / name)
        return name, count

    def typed(self, connection, files: list[str]):
        return connection.read_json(files, columns=scores_columns(), format="newline_delimited")

    def readable(self, connection, files: list[str], unscored: list[str]) -> list[str]:
        """The scores objects DuckDB reads whole; a batch whose object it cannot is rescored."""

        def rescored(path: str, reason: str) -> None:
            log.warning("scores object %s unreadable (%s): scoring its facts", path, reason)
            key = Path(path).relative_to(self.local.root).as_posix()
            unscored.append("hyper/" + key.removeprefix("scores/"))

        return readable_objects(files, lambda paths: self.typed(connection, paths), rescored)

    def rescore(self, connection, local: LocalLake, unscored: list[str], out: Path) -> set[str]:
        """Score the batches from their facts into one NDJSON file for ingesting; the hyper keys
        of those it could not score (each named in a warning)."""
        if local is not self.lake:
            tails = [k.removeprefix("hyper/") for k in unscored]
            parts = ("fact", "oof", *PARQUET_PREFIXES.values())
            self.lake.mirror((), [k for t in tails for k in batch_object_keys(self.lake, t, parts)])
        skipped = set()
        with open(out, "w") as handle:
            for key, rows in scored_batches(connection, local.root, unscored):
                if rows is None:
                    skipped.add(key)
                else:
                    handle.write(ndjson(rows))
        return skipped

    def forget(self, parts: list[str], gone: set[str]) -> list[str]:
        """The parts rewritten as one without the batches deleted from the lake since."""
        log.warning(
            "%d batch(es) gone from %s: their trials leave the scores", len(gone), self.lake.uri
        )
        if not parts:
            return parts
        name = f"part-{new_id()}.parquet"
        tmp = self.cache / f".{name}.tmp"
        connection = self.db()  # closed by the refresh after this
        connection.execute("CREATE OR REPLACE TEMP TABLE gone (batch_id VARCHAR)")
        ids = [[Path(key).name.removesuffix(".json.gz")] for key in gone]
        connection.executemany("INSERT INTO gone VALUES (?)", ids)
        held = connection.read_parquet([str(self.cache / p) for p in parts])
        kept = held.filter("batch_id NOT IN (SELECT * FROM gone)")
        kept.write_parquet(str(tmp), compression="zstd")
        os.replace(tmp, self.cache / name)
        return [name]

    def merge(self, parts: list[str]) -> list[str]:
        """Merge every part but the largest into one: each merge costs what is recent."""
        largest = max(parts, key=lambda p: (self.cache / p).stat().st_size)
        small = [str(self.cache / p) for p in parts if p != largest]
        name = f"part-{new_id()}.parquet"
        tmp = self.cache / f".{name}.tmp"
        rewrite_parquet(self.db(), small, tmp)
        os.replace(tmp, self.cache / name)
        return [largest, name]

    def _show(self, parts: list[str]) -> None:
        """Point the connection's `scores` at these parts and `data` at the lake's datasets."""
        db = self.db()
        if parts:
            scores = each_part(db, [str(self.cache / p) for p in parts])
        else:  # empty, of the same shape
            scores = empty_select(scores_columns())
        db.execute(f"CREATE OR REPLACE VIEW scores AS {scores}")
        # The name sql/rank_scores.sql reads; on Athena a view over two tables (compact.py).
        db.execute("CREATE OR REPLACE VIEW all_scores AS SELECT * FROM scores")
        data = [str(p) for p in sorted(self.local.root.glob("data/*.json"))]
        columns = duckdb_types(table_schema("data").columns)
        source = f"FROM {json_scan(data, columns)}" if data else empty_select(columns)
        db.execute(f"CREATE OR REPLACE VIEW data AS {source}")
        self._shown = True

    def read_manifest(self) -> dict:
        """The manifest, or an empty one when there is none or its parts have another layout
        (a cache written by a release with other scores columns): then every batch is scored
        again into parts of this layout, and the old parts go once unnamed."""
        empty = {"parts": [], "batches": [], "layout": scores_layout()}
        try:
            manifest = json.loads((self.cache / MANIFEST).read_text())
        except FileNotFoundError:
            return empty
        if manifest.get("layout") != empty["layout"]:
            log.info("scores cache %s holds another layout of scores: rebuilding it", self.cache)
            return empty
        return manifest

    def write_manifest(self, manifest: dict) -> None:
        tmp = self.cache / f".{MANIFEST}.{os.getpid()}.tmp"
        write_durably(tmp, json.dumps(manifest).encode())
        os.replace(tmp, self.cache / MANIFEST)

    def remove_unnamed(self, parts: list[str]) -> None:
        """Delete parts no manifest names once the grace period has passed."""
        named = set(parts)
        cutoff = time.time() - GRACE_SECONDS
        for path in self.cache.glob("part-*.parquet"):
            if path.name not in named and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        for path in self.cache.glob(".*.tmp"):
            if path.stat().st_mtime < cutoff:  # left by a killed refresher
                path.unlink(missing_ok=True)

    @contextmanager
    def locked(self) -> Iterator[None]:
        with open(self.cache / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
