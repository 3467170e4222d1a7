"""The scores store: its leaderboard is sql/rank_runs.sql's over the facts, row for row; it
reads only what is new; refreshers at once neither corrupt nor block it; old lakes rank."""

from __future__ import annotations

import gzip
import json
import logging
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

import pytest

from bench.scale import parquet_scan_nodes
from sweeplake.dataset import load_dataset
from sweeplake.engines.duckdb import DuckDBEngine
from sweeplake.ids import new_id
from sweeplake.lake import LocalLake
from sweeplake.paths import DEFAULT_DATASET
from sweeplake.rank import AUDIT_SQL, leaderboard
from sweeplake.run import encode_batch, fit_batch, trial_lineage
from sweeplake.samplers.space import Trial, load_space
from sweeplake.scores.store import MAX_PARTS, open_scores
from tests.conftest import REPO, sweeplake
from tests.lakeread import object_records, parse_csv

DATASET = load_dataset(DEFAULT_DATASET)
SVR = {"gamma": 0.8, "c": 30.0, "epsilon": 0.1}
FOREST = {
    "n_estimators": 15,
    "max_depth": 5,
    "min_samples_split": 4,
    "min_samples_leaf": 2,
    "max_features": 0.6,
}
METRICS = ("test_r2", "train_r2", "test_rmse", "test_mae", "test_mape")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWEEPLAKE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_batch(lake: LocalLake, trials: list[Trial], scores: bool = True) -> list[str]:
    """Fit and write one batch (without its scores object: as a lake before scores); its ids."""
    outcomes, facts = fit_batch(
        DATASET, trials, {t.model for t in trials}, 2, time.monotonic() + 60
    )
    batch = encode_batch(
        new_id(), DATASET, outcomes, trial_lineage(load_space(), "params", {}), facts
    )
    if not scores:
        batch = replace(batch, objects={k: v for k, v in batch.objects.items() if k != "scores"})
    lake.write_batch(batch, None if lake.get("data/diabetes.json") else DATASET)
    return [o.hyper_id for o in outcomes]


def fact_of(lake: LocalLake, ids: list[str]) -> Path:
    (fact,) = [p for p in lake.root.glob("fact/*/*") if object_records(p)[0]["hyper_id"] in ids]
    return fact


def rewrite(path: Path, change) -> None:
    lines = [change(r) for r in object_records(path)]
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in lines).encode()))


def assert_same_leaderboard(scores: list[dict], facts: list[dict]) -> None:
    """Row for row, in the same order, metrics within 1e-12, everything else equal: but for
    trials of equal score, which the facts' sums (in DuckDB's order) may split by the last bit
    and so rank one after the other, where the scores give them one rank."""

    def close(a: float | None, b: float | None) -> bool:
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)

    assert len(scores) == len(facts)
    assert {r["hyper_id"] for r in scores} == {r["hyper_id"] for r in facts}
    for ours, theirs in zip(scores, facts, strict=True):
        assert list(ours) == list(theirs)
        assert ours["dataset"] == theirs["dataset"] and close(ours["test_r2"], theirs["test_r2"])
    by_id = {r["hyper_id"]: r for r in facts}
    for ours in scores:
        theirs = by_id[ours["hyper_id"]]
        tie = [r for r in scores if r["rank"] == ours["rank"]]
        model_tie = [r for r in tie if r["model"] == ours["model"]]
        assert ours["rank"] <= theirs["rank"] < ours["rank"] + len(tie)
        assert ours["model_rank"] <= theirs["model_rank"] < ours["model_rank"] + len(model_tie)
        for key, value in ours.items():
            if key in METRICS:
                assert close(value, theirs[key]), key
            elif key not in ("rank", "model_rank"):
                assert value == theirs[key], key


@pytest.fixture(scope="module")
def mixed_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both models, failed trials, equal scores, a null prediction, unreadable objects, and
    batches with and without scores objects."""
    lake = LocalLake(tmp_path_factory.mktemp("mixed") / "lake")
    svr, forest = Trial("svr", SVR, 0), Trial("random_forest", FOREST, 5)
    refused = Trial("svr", {**SVR, "gamma": -1.0}, 0)  # scikit-learn refuses it: failed
    write_batch(lake, [svr, forest, refused, svr])  # the two svr trials score the same
    write_batch(lake, [Trial("svr", {**SVR, "c": 3.0}, 0), Trial("random_forest", FOREST, 6)])
    nulled = write_batch(lake, [Trial("svr", {**SVR, "gamma": 0.3}, 0), refused], scores=False)
    rewrite(fact_of(lake, nulled), lambda r: {**r, "y_pred": None} if r["point_id"] == 17 else r)
    fact = fact_of(lake, write_batch(lake, [svr, forest]))
    scores = lake.root / "scores" / fact.parent.name / fact.name
    scores.write_bytes(scores.read_bytes()[:100])  # unreadable: scored from its facts instead
    fact = fact_of(lake, write_batch(lake, [Trial("random_forest", FOREST, 7)], scores=False))
    fact.write_bytes(fact.read_bytes()[:300])  # a truncated gzip: not scored, tried again
    day = fact.parent.name
    (lake.root / "hyper" / day / "01GARBAGE.json.gz").write_bytes(gzip.compress(b'{"hyper_id": '))
    return lake.root


def test_the_leaderboard_from_scores_is_rank_runs_sql_over_the_facts(mixed_lake: Path) -> None:
    store = open_scores(str(mixed_lake))
    store.refresh()
    scores = leaderboard_of(store)
    _, facts = leaderboard(DuckDBEngine(mixed_lake), sql=AUDIT_SQL)
    assert_same_leaderboard(scores, facts)
    # 3 + 2 + 2 ok trials with whole facts; the nulled one and the truncated one left out
    assert len(scores) == 7
    twins = [n for n, r in enumerate(scores) if r["gamma"] == SVR["gamma"] and r["c"] == SVR["c"]]
    assert len(twins) == 3 and twins == list(range(twins[0], twins[0] + 3))
    assert len({(scores[n]["rank"], scores[n]["test_r2"]) for n in twins}) == 1
    ids = [scores[n]["hyper_id"] for n in twins]
    assert ids == sorted(ids)  # equal scores in hyper_id order
    assert {r["model"] for r in scores} == {"svr", "random_forest"}
    held = store.connection.execute("SELECT status, count(*) FROM scores GROUP BY 1").fetchall()
    # every trial of every batch it could score: not the one whose facts are truncated
    assert dict(held) == {"ok": 8, "failed": 2}


def test_a_scores_object_with_a_value_of_the_wrong_type_is_scored_from_its_facts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Counting the rows reads no value, so such an object once passed the check and then
    failed the whole ingest; every value is now read."""
    lake = LocalLake(tmp_path / "lake")
    write_batch(lake, [Trial("svr", SVR, 0)])
    ids = write_batch(lake, [Trial("svr", {**SVR, "c": 3.0}, 0), Trial("svr", SVR, 0)])
    fact = fact_of(lake, ids)
    scores = lake.root / "scores" / fact.parent.name / fact.name
    rewrite(scores, lambda r: {**r, "test_r2": "high"} if r["hyper_id"] == ids[0] else r)
    store = open_scores(str(lake.root))
    with caplog.at_level(logging.WARNING, logger="sweeplake.scores"):
        store.refresh()
    assert f"scores object {scores} unreadable" in caplog.text
    _, facts = leaderboard(DuckDBEngine(lake.root), sql=AUDIT_SQL)
    assert_same_leaderboard(leaderboard_of(store), facts)
    assert len(facts) == 3


def truncated(body: bytes) -> bytes:
    return body[:-20]  # cut short: not whole gzip


def flipped(body: bytes) -> bytes:
    """A byte of the deflate stream changed: whole gzip in length, not inflatable."""
    return body[:30] + bytes([body[30] ^ 0xFF]) + body[31:]


@pytest.mark.parametrize("damage", [truncated, flipped])
@pytest.mark.parametrize("chunk", [1, 16 * 2**20])
def test_objects_joined_for_duckdb_give_its_rows_and_a_damaged_one_is_scored_again(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    chunk: int,
    damage: Callable[[bytes], bytes],
) -> None:
    """A refresh gunzips the objects into a few files for DuckDB (one object per file at the
    smallest chunk); a truncated or corrupt object sends it back to reading them one by one."""
    from sweeplake.scores import store as module

    monkeypatch.setattr(module, "CHUNK_BYTES", chunk)
    lake = LocalLake(tmp_path / "lake")
    write_batch(lake, [Trial("svr", SVR, 0), Trial("random_forest", FOREST, 5)])
    ids = write_batch(lake, [Trial("svr", {**SVR, "c": 3.0}, 0)])
    write_batch(lake, [Trial("svr", {**SVR, "epsilon": 0.3}, 0)])
    store = open_scores(str(lake.root))
    assert store.refresh() == 4
    _, facts = leaderboard(DuckDBEngine(lake.root), sql=AUDIT_SQL)
    assert_same_leaderboard(leaderboard_of(store), facts)
    fact = fact_of(lake, ids)
    scores = lake.root / "scores" / fact.parent.name / fact.name
    scores.write_bytes(damage(scores.read_bytes()))
    again = open_scores(str(lake.root))
    shutil.rmtree(again.cache)  # every batch read again, the cut one among them
    again = open_scores(str(lake.root))
    with caplog.at_level(logging.WARNING, logger="sweeplake.scores"):
        assert again.refresh() == 4
    assert f"scores object {scores} unreadable" in caplog.text
    assert_same_leaderboard(leaderboard_of(again), facts)
    assert not list(again.cache.glob(".*.tmp"))


def leaderboard_of(store) -> list[dict]:
    from sweeplake.engines.scores import ScoresEngine

    return leaderboard(ScoresEngine(store))[1]


def test_two_identical_lakes_give_byte_identical_csv(mixed_lake: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(mixed_lake, twin)
    shutil.rmtree(twin / "scores")  # every score of the twin comes from its facts
    printed = [
        sweeplake("rank", "--lake", str(lake), "--format", "csv", "--limit", "100")
        for lake in (mixed_lake, twin)
    ]
    assert all(p.returncode == 0 for p in printed), printed[1].stderr
    assert printed[0].stdout == printed[1].stdout
    assert len(parse_csv(printed[0].stdout)) == 7


def test_the_audit_agrees_on_a_sound_lake_and_names_a_nulled_prediction(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    ids = write_batch(lake, [Trial("svr", SVR, 0), Trial("random_forest", FOREST, 1)])
    result = sweeplake("rank", "--lake", str(lake.root), "--audit")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("audit: the scores agree with rank_runs.sql over the facts:")
    assert "2 ranked trials" in result.stdout
    (fact,) = lake.root.glob("fact/*/*")
    rewrite(fact, lambda r: {**r, "y_pred": None} if r["hyper_id"] == ids[0] else r)
    result = sweeplake("rank", "--lake", str(lake.root), "--audit")
    assert result.returncode == 1
    assert f"only in the scores: {ids[0]}" in result.stdout


def test_a_refresh_reads_only_the_batches_that_are_new(tmp_path: Path, caplog) -> None:
    lake = LocalLake(tmp_path / "lake")
    first = write_batch(lake, [Trial("svr", SVR, 0), Trial("svr", {**SVR, "c": 2.0}, 0)])
    store = open_scores(str(lake.root))
    assert store.refresh() == 2
    # Were the ingested objects read again, these would now be skipped as unreadable.
    for path in lake.root.glob("*/dt=*/*.json.gz"):
        path.write_bytes(b"not gzip")
    assert store.refresh() == 0
    second = write_batch(lake, [Trial("random_forest", FOREST, 3)], scores=False)
    caplog.set_level(logging.WARNING)
    assert open_scores(str(lake.root)).refresh() == 1
    assert caplog.records == []
    held = store.connection.execute("SELECT hyper_id FROM scores ORDER BY 1").fetchall()
    assert [h for (h,) in held] == sorted(first + second)


def test_parts_are_merged_and_nothing_is_lost(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    written = write_batch(lake, [Trial("svr", SVR, 0)])
    store = open_scores(str(lake.root))
    assert store.refresh() == 1
    for n in range(MAX_PARTS + 2):
        written += write_batch(lake, [Trial("svr", {**SVR, "c": 1.0 + n}, 0)])
        assert store.refresh() == 1
        manifest = json.loads((store.cache / "manifest.json").read_text())
        assert len(manifest["parts"]) <= MAX_PARTS
    held = store.connection.execute("SELECT hyper_id FROM scores ORDER BY 1").fetchall()
    assert [h for (h,) in held] == sorted(written)


REFRESHER = """
import sys
from sweeplake.scores.store import open_scores
store = open_scores(sys.argv[1])
for _ in range(int(sys.argv[2])):
    store.refresh()
    ids = [h for (h,) in store.connection.execute("SELECT hyper_id FROM scores").fetchall()]
    assert len(ids) == len(set(ids)), "a trial twice"
print(len(ids))
"""


def test_refreshers_at_once_neither_corrupt_nor_block_the_store(tmp_path: Path, cache) -> None:
    lake = LocalLake(tmp_path / "lake")
    ids = write_batch(lake, [Trial("svr", SVR, 0)])
    env = {"SWEEPLAKE_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
    refreshers = [
        subprocess.Popen(
            [sys.executable, "-c", REFRESHER, str(lake.root), "6"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for n in range(MAX_PARTS + 2):  # batches arrive while they refresh, and parts get merged
        ids += write_batch(lake, [Trial("svr", {**SVR, "c": 2.0 + n}, 0)], scores=n % 2 == 0)
    for refresher in refreshers:
        out, err = refresher.communicate(timeout=300)
        assert refresher.returncode == 0, err
        assert 1 <= int(out) <= len(ids)
    store = open_scores(str(lake.root))
    store.refresh()
    held = store.connection.execute("SELECT hyper_id FROM scores ORDER BY 1").fetchall()
    assert [h for (h,) in held] == sorted(ids)


def test_a_lake_without_scores_objects_still_ranks(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    write_batch(lake, [Trial("svr", SVR, 0), Trial("random_forest", FOREST, 1)], scores=False)
    assert not (lake.root / "scores").exists()
    result = sweeplake("rank", "--lake", str(lake.root), "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert len(parse_csv(result.stdout)) == 2
    _, facts = leaderboard(DuckDBEngine(lake.root), sql=AUDIT_SQL)
    assert [r["hyper_id"] for r in parse_csv(result.stdout)] == [r["hyper_id"] for r in facts]


def test_rescore_writes_the_missing_scores_objects_the_job_would_have(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    write_batch(lake, [Trial("svr", SVR, 0), Trial("svr", {**SVR, "gamma": -1.0}, 0)])
    write_batch(lake, [Trial("random_forest", FOREST, 4)])
    written = {p: p.read_bytes() for p in lake.root.glob("scores/*/*")}
    first = sorted(written)[0]
    first.unlink()
    day = first.parent.name
    (lake.root / "hyper" / day / "01GARBAGE.json.gz").write_bytes(gzip.compress(b'{"hyper_id": '))
    result = sweeplake("rescore", "--lake", str(lake.root))
    assert result.returncode == 0, result.stderr
    assert "1 scores objects written" in result.stderr
    assert f"skipped hyper/{day}/01GARBAGE.json.gz" in result.stderr
    assert {p: p.read_bytes() for p in lake.root.glob("scores/*/*")} == written


def test_an_s3_lake_ranks_without_its_facts_but_where_scores_are_missing(
    aws, bucket, env, proxy
) -> None:
    lake = f"s3://{bucket}/lake"
    for seed in ("1", "2"):
        run = ("run", "--lake", lake, "--trials", "3", "--workers", "1", "--seed", seed)
        assert sweeplake(*run, env=env).returncode == 0
    client = aws.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix="lake/scores/")["Contents"]
    lost = sorted(item["Key"] for item in listed)[0]
    client.delete_object(Bucket=bucket, Key=lost)  # as a kill between the two puts leaves it
    proxy.passed.clear()
    result = sweeplake("rank", "--lake", lake, "--format", "csv", env=env)
    assert result.returncode == 0, result.stderr
    assert len(parse_csv(result.stdout)) == 6
    fetched = [unquote(p) for method, p in proxy.passed if method == "GET" and "?" not in p]
    assert [p for p in fetched if "/fact/" in p] == [f"/{bucket}/{lost.replace('scores', 'fact')}"]
    audit = sweeplake("rank", "--lake", lake, "--audit", env=env)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "6 ranked trials" in audit.stdout


def test_a_cache_from_a_release_with_other_scores_columns_is_rebuilt(tmp_path: Path) -> None:
    """A cache whose parts lack a column of today's scores (written before `params`, say) is
    scored again, not read as it is: ranking it failed with DuckDB's binder error before."""
    import duckdb

    lake, cache = tmp_path / "lake", tmp_path / "cache"
    env = {"SWEEPLAKE_CACHE": str(cache)}
    done = sweeplake("run", "--lake", str(lake), "--trials", "3", "--seed", "2", env=env)
    assert done.returncode == 0, done.stderr
    expected = sweeplake("rank", "--lake", str(lake), "--format", "csv", env=env)
    assert expected.returncode == 0, expected.stderr
    # Rewrite the cache as the previous release left it: parts without params, no layout.
    (manifest_path,) = cache.rglob("manifest.json")
    manifest = json.loads(manifest_path.read_text())
    for part in manifest["parts"]:
        path = manifest_path.parent / part
        older = path.with_name("older.parquet")
        duckdb.read_parquet(str(path)).select("* EXCLUDE (params)").write_parquet(str(older))
        older.replace(path)
    manifest.pop("layout")
    manifest_path.write_text(json.dumps(manifest))
    ranked = sweeplake("rank", "--lake", str(lake), "--format", "csv", env=env)
    assert ranked.returncode == 0, ranked.stderr
    assert "holds another layout of scores: rebuilding it" in ranked.stderr
    assert parse_csv(ranked.stdout) == parse_csv(expected.stdout)


def test_parts_are_scanned_one_by_one_with_the_rows_of_one_scan(tmp_path: Path) -> None:
    """Each part its own Parquet scan (so DuckDB keeps each file's statistics), with the rows a
    scan of all the files gives; parts of other types fall back to that one scan."""
    import duckdb

    from sweeplake.scores.store import each_part

    connection = duckdb.connect()
    files = []
    for n, (start, count) in enumerate([(0, 1000), (1000, 3), (1003, 2)]):
        files.append(str(tmp_path / f"part-{n}.parquet"))
        rows = f"range({start}, {start + count}) t(i)"
        connection.sql(
            f"SELECT 'h' || i AS hyper_id, i * 0.5 AS test_r2 FROM {rows}"
        ).write_parquet(files[-1])
    whole = sorted(connection.read_parquet(files).fetchall())
    parts = each_part(connection, files)
    assert sorted(connection.sql(parts).fetchall()) == whole and len(whole) == 1005
    assert len(parquet_scan_nodes(connection, parts)) == 3
    odd = str(tmp_path / "odd.parquet")  # test_r2 as text: not a part this store writes
    connection.sql("SELECT 'x' AS hyper_id, '1.5' AS test_r2").write_parquet(odd)
    mixed = each_part(connection, [*files, odd])
    assert len(connection.sql(mixed).fetchall()) == 1006
    assert len(parquet_scan_nodes(connection, mixed)) == 1
    renamed = str(tmp_path / "renamed.parquet")  # the same types, another name: by name too
    connection.sql("SELECT 'y' AS hyper_id, 2.5 AS cv_r2").write_parquet(renamed)
    assert len(connection.sql(each_part(connection, [*files, renamed])).fetchall()) == 1006
    quote = tmp_path / "it's"  # a cache under a path with a quote in it
    quote.mkdir()
    (quote / "part.parquet").write_bytes(Path(files[1]).read_bytes())
    assert connection.sql(each_part(connection, [str(quote / "part.parquet")])).fetchall() == [
        ("h1000", 500.0), ("h1001", 500.5), ("h1002", 501.0)
    ]  # fmt: skip
