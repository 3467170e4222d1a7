"""`setup` and `rank --engine athena` against moto's Athena over HTTP, checked on what arrived."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from awsserver import SECRET_KEY, AwsServer, free_port
from conftest import REPO, sweeplake

SETUP_FILES = ("create_database.sql", "create_data.sql", "create_hyperparams.sql")
SETUP_FILES += ("create_predict.sql", "create_oof.sql", "create_scores.sql")
SETUP_FILES += ("create_timings.sql", "create_grove.sql", "create_forest_predict.sql")
SETUP_FILES += ("create_scores_daily.sql", "create_all_scores.sql")
LAKE = "s3://sweep-lake/runs/v1"
OUTPUT = "s3://sweep-results/athena"
DAY = "2026-01-05"
RANK_COLUMNS = [
    ("rank", "bigint"),
    ("model_rank", "bigint"),
    ("dataset", "varchar"),
    ("hyper_id", "varchar"),
    ("model", "varchar"),
    ("gamma", "double"),
    ("c", "double"),
    ("epsilon", "double"),
    ("n_estimators", "bigint"),
    ("max_depth", "bigint"),
    ("min_samples_split", "bigint"),
    ("min_samples_leaf", "bigint"),
    ("max_features", "double"),
    ("test_r2", "double"),
    ("train_r2", "double"),
    ("test_rmse", "double"),
    ("test_mae", "double"),
    ("points", "bigint"),
    ("cv_r2", "double"),
    ("cv_r2_std", "double"),
    ("cv_oof_r2", "double"),
    ("cv_rank", "bigint"),
    ("created_at", "varchar"),
]
RANK_ROWS = [
    [1, 1, "diabetes", "01HSVRBEST0000000000000000", "svr", 16.39, 40.45, 0.1757]
    + [None] * 5
    + [0.5612345678901234, 0.52, 53.1, 42.7, 442, 0.47, 0.06, 0.48, 1, "2026-01-02T03:04:05.678Z"],
    [2, 1, "diabetes", "01HFORESTNEXT0000000000000", "random_forest", None, None, None]
    + [120, 9, 4, 2, 0.5, 0.4811, 0.71, 55.0, 44.2, 442, 0.45, 0.08, 0.46, 2]
    + ["2026-01-02T03:04:06.000Z"],
    [3, 2, "diabetes", "01HSVRTHIRD000000000000000", "svr", 0.5, 1.0, 0.2]
    + [None] * 5
    + [0.1, 0.2, 70.0, 60.0, 442, None, None, None, 3, "2026-01-02T03:04:07.000Z"],
]


def expected_ddl(lake: str, database: str, first_day: str, through: str) -> list[str]:
    """The files with their placeholders replaced by hand: an oracle independent of fill()."""
    texts = [(REPO / "sql" / name).read_text() for name in SETUP_FILES]
    return [
        t.replace("{{location}}", lake)
        .replace("{{database}}", database)
        .replace("{{first_day}}", first_day)
        .replace("{{compacted_through}}", through)
        for t in texts
    ]


def new_workgroup(aws: AwsServer, output: str | None = None) -> str:
    """A workgroup of its own per test: its query executions are this test's alone."""
    name = f"wg-{uuid.uuid4().hex[:12]}"
    result = {"OutputLocation": output} if output else {}
    aws.client("athena").create_work_group(Name=name, Configuration={"ResultConfiguration": result})
    return name


def started_queries(aws: AwsServer) -> list[dict]:
    """StartQueryExecution request bodies, in the order the server received them."""
    return [
        json.loads(r.body)
        for r in aws.recorded()
        if r.headers.get("X-Amz-Target") == "AmazonAthena.StartQueryExecution"
    ]


def executions(aws: AwsServer, workgroup: str) -> list[dict]:
    athena = aws.client("athena")
    ids = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def test_setup_runs_every_filled_ddl_file_in_order(aws: AwsServer) -> None:
    workgroup = new_workgroup(aws)
    bucket = aws.new_bucket()
    lake = f"s3://{bucket}/runs/v1"
    for day in ("2026-03-09", "2026-01-05", "2026-02-01"):
        key = f"runs/v1/hyper/dt={day}/01B{day[-1]}.json.gz"
        aws.client().put_object(Bucket=bucket, Key=key, Body=b"")
    aws.reset_recording()
    result = sweeplake(
        "setup",
        *("--lake", lake + "/", "--database", "sweep_test", "--workgroup", workgroup),
        *("--output", OUTPUT),
        env=aws.env(),
    )
    assert result.returncode == 0, result.stderr
    # The lake's first day; nothing compacted yet: the view splits the day before.
    expected = expected_ddl(lake, "sweep_test", "2026-01-05", "2026-01-04")
    assert all("{{" not in statement for statement in expected)
    assert "'2026-01-05,NOW'" in expected[-2] and "'2026-01-04'" in expected[-1]

    sent = started_queries(aws)
    assert [s["QueryString"] for s in sent] == expected
    assert [s["QueryExecutionContext"]["Database"] for s in sent] == ["default"] + [
        "sweep_test"
    ] * (len(SETUP_FILES) - 1)
    assert {s["WorkGroup"] for s in sent} == {workgroup}
    assert {s["ResultConfiguration"]["OutputLocation"] for s in sent} == {OUTPUT + "/"}

    held = executions(aws, workgroup)
    assert sorted(e["Query"] for e in held) == sorted(expected)
    assert all(e["Status"]["State"] == "SUCCEEDED" for e in held)
    assert all(e["ResultConfiguration"]["OutputLocation"].startswith(OUTPUT + "/") for e in held)


def test_setup_print_fills_the_files_and_sends_nothing(aws: AwsServer) -> None:
    aws.reset_recording()
    result = sweeplake(
        "setup", "--print", "--first-day", "2026-02-03", env={**aws.env(), "SWEEPLAKE_LAKE": LAKE}
    )
    assert result.returncode == 0, result.stderr
    statements = result.stdout.split(";\n")
    assert statements[-1] == ""
    assert [s.strip() for s in statements[:-1]] == [
        s.strip() for s in expected_ddl(LAKE, "sweeplake", "2026-02-03", "2026-02-02")
    ]
    assert aws.recorded() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--lake", "/tmp/local-lake"), "setup needs an s3:// lake"),
        (("--lake", LAKE, "--database", "Sweep-Lake"), "lowercase letters, digits and '_'"),
        (("--lake", "s3://b/x"), "is not s3://bucket/prefix"),
        (("--lake", "s3://sweep-lake/it's"), "is not s3://bucket/prefix"),
        (("--lake", LAKE, "--output", "/tmp/results"), "is not s3://bucket/prefix"),
        (("--lake", LAKE, "--workgroup", "no such group"), "workgroup"),
        (("--lake", LAKE, "--first-day", "2026-13-01"), "is not a day as YYYY-MM-DD"),
        (("--lake", LAKE, "--first-day", "yesterday"), "is not a day as YYYY-MM-DD"),
    ],
)
def test_setup_bad_input_exits_2_and_sends_nothing(
    aws: AwsServer, args: tuple[str, ...], message: str
) -> None:
    aws.reset_recording()
    result = sweeplake("setup", *args, env=aws.env())
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert aws.recorded() == []


def test_rank_on_athena_sends_rank_scores_sql_and_prints_the_rows(aws: AwsServer) -> None:
    workgroup = new_workgroup(aws)
    aws.seed_athena_results(RANK_COLUMNS, RANK_ROWS)
    aws.reset_recording()
    env = {
        **aws.env(),
        "SWEEPLAKE_ATHENA_WORKGROUP": workgroup,
        "SWEEPLAKE_ATHENA_OUTPUT": OUTPUT,
        "SWEEPLAKE_DATABASE": "sweep_rank",
    }
    result = sweeplake("rank", "--engine", "athena", "--limit", "2", "--format", "csv", env=env)
    assert result.returncode == 0, result.stderr

    (sent,) = started_queries(aws)
    assert sent["QueryString"] == (REPO / "sql" / "rank_scores.sql").read_text()
    assert sent["WorkGroup"] == workgroup
    assert sent["QueryExecutionContext"]["Database"] == "sweep_rank"
    assert sent["ResultConfiguration"]["OutputLocation"] == OUTPUT + "/"
    (held,) = executions(aws, workgroup)
    assert held["Query"] == sent["QueryString"]
    # --limit counts within each dataset, so every row is fetched and the limit applied here.
    assert any(
        r.headers.get("X-Amz-Target") == "AmazonAthena.GetQueryResults" for r in aws.recorded()
    )

    printed = list(csv.DictReader(io.StringIO(result.stdout)))
    names = [name for name, _ in RANK_COLUMNS]
    assert list(printed[0]) == names
    assert len(printed) == 2
    for row, seeded in zip(printed, RANK_ROWS, strict=False):
        for (name, kind), value in zip(RANK_COLUMNS, seeded, strict=True):
            if value is None:
                assert row[name] == ""
            elif kind == "double":
                assert float(row[name]) == value
            else:
                assert row[name] == str(value)


def test_rank_on_athena_prints_a_table(aws: AwsServer) -> None:
    workgroup = new_workgroup(aws, output=OUTPUT)  # the workgroup's location: no --output needed
    aws.seed_athena_results(RANK_COLUMNS, RANK_ROWS)
    result = sweeplake("rank", "--engine", "athena", "--workgroup", workgroup, env=aws.env())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["rank", "dataset", "model", "test_r2", "train_r2"]
    assert [line.split()[-1] for line in lines[1:]] == [row[3] for row in RANK_ROWS]
    assert lines[1].split()[:4] == ["1", "diabetes", "svr", "0.5612"]
    assert "gamma=16.39 c=40.45 epsilon=0.1757" in lines[1]


def test_rank_without_a_results_location_is_bad_input(aws: AwsServer) -> None:
    workgroup = new_workgroup(aws)
    aws.reset_recording()
    result = sweeplake("rank", "--engine", "athena", "--workgroup", workgroup, env=aws.env())
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"workgroup {workgroup} has no query results location" in result.stderr
    assert started_queries(aws) == []


@pytest.mark.parametrize("command", ["rank", "setup"])
def test_unknown_workgroup_is_one_line_exit_1_without_secrets(aws: AwsServer, command: str) -> None:
    args = ("--engine", "athena") if command == "rank" else ("--lake", LAKE, "--first-day", DAY)
    result = sweeplake(
        command, *args, "--workgroup", "nobody-made-this", "--output", OUTPUT, env=aws.env()
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "WorkGroup does not exist" in result.stderr
    assert "Traceback" not in result.stderr and SECRET_KEY not in result.stderr


def test_unreachable_athena_is_one_line_exit_1(aws: AwsServer) -> None:
    env = {**aws.env(), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    env["AWS_MAX_ATTEMPTS"] = "1"
    result = sweeplake("rank", "--engine", "athena", "--output", OUTPUT, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("sweeplake: athena: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and SECRET_KEY not in result.stderr


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        ("SYNTAX_ERROR: line 3:8: Column 'x' cannot be resolved\nat plan", "line 3:8: Column"),
        (None, "OperationalError"),
    ],
)
def test_a_failed_query_becomes_one_line(reason: str | None, shown: str) -> None:
    # moto's queries always succeed, so the FAILED state is raised here as pyathena raises it.
    from pyathena.error import OperationalError

    from sweeplake.engines.athena import athena_errors
    from sweeplake.errors import QueryFailed

    with pytest.raises(QueryFailed) as failure:
        with athena_errors("query 'WITH scored AS ('"):
            raise OperationalError(reason)
    message = str(failure.value)
    assert message.startswith("athena: query 'WITH scored AS (' failed: ")
    assert shown in message and "\n" not in message
