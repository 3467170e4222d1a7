"""Parts of `make bench` that can break without anyone running the whole bench (a long run):
each run here as the bench runs it, from the repository, in a process of its own."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, cli_env, sweeplake


def python(code: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -c CODE ARGS` from the repository, where `python -m bench.bench` runs."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO, env=cli_env(env), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_plain_duckdb_rank_ranks_every_trial_of_a_real_lake(lake: Path) -> None:
    done = sweeplake("run", "--lake", str(lake), "--trials", "3", "--model", "svr")
    assert done.returncode == 0, done.stderr
    script = python("from bench.scale import PLAIN_SCRIPT; print(PLAIN_SCRIPT)")
    assert script.returncode == 0, script.stderr
    ranked = python(script.stdout, str(lake))
    assert ranked.returncode == 0, ranked.stderr
    assert ranked.stdout.split() == ["3"]


HISTORY = """
import sys
from pathlib import Path
from bench.bench import DATASET, run_process
from bench.search import history_seconds
from sweeplake.dataset import load_dataset
lake, space = Path(sys.argv[1]), Path(sys.argv[2])
print(history_seconds(run_process, lake, 3, load_dataset(DATASET), rounds=2, space_file=space))
"""


def test_the_history_section_proposes_from_every_trial_of_every_model_in_its_lake(
    tmp_path: Path,
) -> None:
    """The big-lake history section with 3 copies and 2 rounds: its lake holds every model
    `--model all` fits here (three since histogram gradient boosting), and in each round the
    sampler must have seen each one's trials, one more batch of them than the round before,
    or the section ends the bench. Its forests and boosted trees are small (the default space's
    200 trees and 300 iterations are most of a minute here); the section is the same."""
    from sweeplake.samplers.space import default_space_doc

    spec = copy.deepcopy(default_space_doc())
    spec["random_forest"]["n_estimators"].update(low=2, high=10)
    spec["hist_gradient_boosting"]["max_iter"].update(low=5, high=20)
    space = tmp_path / "space.json"
    space.write_text(json.dumps(spec))
    lake, cache = tmp_path / "lake", tmp_path / "cache"
    done = python(HISTORY, str(lake), str(space), env={"SWEEPLAKE_CACHE": str(cache)})
    assert done.returncode == 0, done.stderr[-600:]
    assert float(done.stdout) > 0


SCALE = """
import json, sys
from pathlib import Path
from bench.bench import DATASET
from bench.scale import scale_rows
from sweeplake.dataset import load_dataset
work = Path(sys.argv[1])
(row,) = scale_rows(work, load_dataset(DATASET), [80], 80, rounds=2)
print(json.dumps({"trials": row.trials, "batch": row.batch.name, "plain": row.plain is not None}))
"""


def test_the_scale_section_times_each_rank_in_rounds_of_its_own(tmp_path: Path) -> None:
    """Two rounds: two first ranks, each with a cache of its own, then two real batches, each
    ranked after it arrived, in the last cache; every rank saw every trial then in the lake."""
    done = python(SCALE, str(tmp_path))
    assert done.returncode == 0, done.stderr[-600:]
    row = json.loads(done.stdout)
    assert row["trials"] == 80 and row["plain"]
    caches = sorted(p.name for p in tmp_path.glob("cache-80-*"))
    assert caches == ["cache-80-0", "cache-80-1"]
    batches = {p.name for p in (tmp_path / "lake-80").glob("hyper/dt=*/*.json.gz")}
    assert row["batch"] in batches
    for cache in caches:
        (manifest,) = (tmp_path / cache).glob(".local/**/.scores/manifest.json")
        held = json.loads(manifest.read_text())["batches"]
        # The first cache ranked the synthetic lake alone; the last, after both batches.
        assert len(held) == len(batches) - (2 if cache.endswith("0") else 0)


SEEDS_OF_STUDIES = """
import json, sys
from bench import search
from sweeplake.samplers.space import load_space

space = load_space()
seen = []
def objective(model, params, seed):
    seen.append(seed)
    return search.Scored(params, seed, 0.0, 0.0)
for study in map(int, sys.argv[1:]):
    seen.clear()
    search.optuna_run(objective, space, "random_forest", "random", study, 6)
    print(json.dumps(seen))
"""


def test_optuna_studies_seed_their_forests_from_their_own_seed() -> None:
    """Not 0, 1, 2, ... in every study: each study's forests get seeds of its own, the same
    again for the same study seed."""
    done = python(SEEDS_OF_STUDIES, "0", "0", "1")
    assert done.returncode == 0, done.stderr
    first, again, other = (json.loads(line) for line in done.stdout.splitlines())
    assert first == again
    assert len(set(first)) == len(first) == 6
    assert not set(first) & set(other)
    assert first != list(range(6))


GENERATE = """
import sys
from pathlib import Path
from bench.spark import generate_dataset
generate_dataset(Path(sys.argv[1]), int(sys.argv[2]))
"""


def test_the_spark_forest_benchs_dataset_passes_the_dataset_checks(tmp_path: Path) -> None:
    from sweeplake.dataset import load_dataset

    path = tmp_path / "generated.parquet"
    done = python(GENERATE, str(path), "3000")
    assert done.returncode == 0, done.stderr
    dataset = load_dataset(path)
    assert dataset.name == "generated" and len(dataset.point_ids) == 3000
    assert dataset.folds == 5 and 0.75 < dataset.is_train.mean() < 0.85
    assert list(dataset.point_ids) == list(range(3000))


def test_the_paired_verdict_agrees_with_scipys_bootstrap() -> None:
    """The bench's paired interval against scipy.stats.bootstrap's percentile interval of the
    median of the same differences: the resampling differs, the interval must not."""
    import numpy as np
    from scipy.stats import bootstrap

    from bench.verdicts import paired

    rng = np.random.default_rng(4)
    theirs = rng.normal(0.47, 0.01, 30)
    ours = theirs + rng.normal(-0.003, 0.004, 30)
    verdict = paired(list(ours), list(theirs))
    oracle = bootstrap(
        (ours - theirs,),
        np.median,
        confidence_level=0.9,
        method="percentile",
        n_resamples=20_000,
        random_state=9,
    ).confidence_interval
    assert verdict.median == np.median(ours - theirs)
    assert abs(verdict.low - oracle.low) < 2e-5 and abs(verdict.high - oracle.high) < 2e-5
    assert verdict.low < verdict.median < verdict.high and verdict.seeds == 30


def test_the_athena_count_reads_the_columns_each_scan_of_the_leaderboard_names(
    tmp_path: Path,
) -> None:
    """The bench counts, of a Parquet day, the column chunks each scan reads: each scan's
    columns as the statement names them, each column's bytes as pyarrow's metadata gives."""
    code = """
import io, json, sys
import pyarrow as pa, pyarrow.parquet as pq
from bench.scale import column_bytes, parquet_scans
rows = {"dataset": ["d"] * 3, "hyper_id": ["a", "b", "c"], "status": ["ok", "ok", "failed"],
        "model": ["svr"] * 3, "test_r2": [0.1, 0.2, 0.3], "cv_r2": [0.1, None, 0.3],
        "points": [3] * 3, "noise": [1.5, 2.5, 3.5]}
body = io.BytesIO()
pq.write_table(pa.table(rows), body)
sql = "SELECT s.hyper_id, s.test_r2 FROM all_scores AS s JOIN data AS d ON d.dataset = s.dataset"
sql += " WHERE s.status = 'ok'"
scans = parquet_scans(body.getvalue(), sql)
sizes = column_bytes(body.getvalue())
meta = pq.ParquetFile(io.BytesIO(body.getvalue())).metadata.row_group(0)
oracle = {meta.column(i).path_in_schema: meta.column(i).total_compressed_size
          for i in range(meta.num_columns)}
print(json.dumps([sorted(s) for s in scans]), sizes == oracle)
two = '''WITH r AS (SELECT s.hyper_id, RANK() OVER (ORDER BY s.test_r2) AS rk
  FROM all_scores AS s JOIN data AS d ON d.dataset = s.dataset WHERE s.status = 'ok')
SELECT s.hyper_id, s.noise, r.rk FROM r JOIN all_scores AS s ON s.hyper_id = r.hyper_id'''
print(json.dumps(sorted(sorted(s) for s in parquet_scans(body.getvalue(), two))))
"""
    done = python(code)
    assert done.returncode == 0, done.stderr
    first, same, second = done.stdout.splitlines()[0].rsplit(" ", 1) + done.stdout.splitlines()[1:]
    assert json.loads(first) == [["dataset", "hyper_id", "status", "test_r2"]]
    assert same == "True"
    assert json.loads(second) == [
        ["dataset", "hyper_id", "status", "test_r2"],
        ["hyper_id", "noise"],
    ]


def test_every_bench_entry_point_parses_its_flags() -> None:
    """`make bench` and each section run alone start at all: their flags parse (two options
    with one name fail only when the parser is built)."""
    modules = sorted(p.stem for p in (REPO / "bench").glob("*.py") if "def main(" in p.read_text())
    assert "bench" in modules and "spark" in modules
    for module in modules:
        done = subprocess.run(
            [sys.executable, "-m", f"bench.{module}", "--help"],
            cwd=REPO, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"bench.{module}: {done.stderr[-400:]}"
        assert "usage:" in done.stdout


def test_targets_named_after_a_size_name_the_size_the_run_measured() -> None:
    """The history and Spark targets say how many trials this run used, not the defaults'."""
    code = (
        "from bench import bench, spark\n"
        "targets = bench.TARGETS + spark.TARGETS\n"
        "sizes = {'history_trials': 280, 'spark_trials': 40}\n"
        "print(bench.targets_table(tuple(1.0 for _ in targets), targets, sizes)[0])\n"
    )
    done = python(code)
    assert done.returncode == 0, done.stderr[-400:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("280-trial lake: new history + propose 40 ") for line in lines)
    assert any(line.startswith("spark local[2] / local runner trials/s, 40 SVR ") for line in lines)
    assert "{" not in done.stdout
