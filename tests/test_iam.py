"""shell/iam-policy.json allows every call sweeplake makes, on its own resources, and no more.

The Athena calls are observed: `setup` and `rank --engine athena` run against the recording moto
server and every request that arrived is mapped to its IAM action. The S3 calls of the lake are
observed the same way through scripts/sweeplake/lake/s3.py. What Athena itself does on the caller's
behalf (Glue catalog, reading the lake, writing results) happens inside AWS, where no test here
can see it: that part is listed below, from the Athena user guide.
"""

from __future__ import annotations

import json
import uuid
from fnmatch import fnmatchcase
from urllib.parse import parse_qs, urlsplit

import pytest
from awsserver import AwsServer, RecordedRequest
from conftest import REPO, sweeplake
from test_athena import RANK_COLUMNS, RANK_ROWS

PLACES = {
    "LAKE_BUCKET": "sweep-lake",
    "LAKE_PREFIX": "runs/v1",
    "RESULTS_BUCKET": "sweep-results",
    "RESULTS_PREFIX": "athena",
    "REGION": "us-east-1",
    "ACCOUNT_ID": "123456789012",
    "DATABASE": "sweep_iam",
}
LAKE = "s3://sweep-lake/runs/v1"
RESULTS = "s3://sweep-results/athena"
GLUE = "arn:aws:glue:us-east-1:123456789012"
# (action, resource, s3:prefix) that Athena needs for our DDL and rank query, not observable here.
ATHENA_ON_OUR_BEHALF = {
    ("glue:CreateDatabase", f"{GLUE}:database/sweep_iam", None),
    ("glue:GetDatabase", f"{GLUE}:database/sweep_iam", None),
    ("glue:GetDatabase", f"{GLUE}:database/default", None),  # setup's first statement runs there
    ("glue:CreateTable", f"{GLUE}:table/sweep_iam/predict", None),
    # setup and compact replace the view all_scores
    ("glue:UpdateTable", f"{GLUE}:table/sweep_iam/all_scores", None),
    ("glue:GetTable", f"{GLUE}:table/sweep_iam/hyperparams", None),
    ("glue:GetPartitions", f"{GLUE}:table/sweep_iam/predict", None),
    ("glue:GetDatabase", f"{GLUE}:catalog", None),
    ("s3:GetBucketLocation", "arn:aws:s3:::sweep-lake", None),
    ("s3:ListBucket", "arn:aws:s3:::sweep-lake", "runs/v1/fact/dt=2026-01-02/"),
    ("s3:GetObject", "arn:aws:s3:::sweep-lake/runs/v1/fact/dt=2026-01-02/01H.json.gz", None),
    ("s3:GetBucketLocation", "arn:aws:s3:::sweep-results", None),
    ("s3:ListBucket", "arn:aws:s3:::sweep-results", "athena/"),
    ("s3:PutObject", "arn:aws:s3:::sweep-results/athena/q-1.csv", None),
    ("s3:GetObject", "arn:aws:s3:::sweep-results/athena/q-1.csv", None),
    ("s3:AbortMultipartUpload", "arn:aws:s3:::sweep-results/athena/q-1.csv", None),
    ("s3:ListMultipartUploadParts", "arn:aws:s3:::sweep-results/athena/q-1.csv", None),
}
# The lake's calls as sweeplake/lake/s3.py is specified to make them (PutObject with SSE,
# GetObject, HeadObject, ListObjectsV2); test_s3_lake_calls_are_allowed observes them.
LAKE_CALLS = {
    ("s3:PutObject", "arn:aws:s3:::sweep-lake/runs/v1/fact/dt=2026-01-02/01H.json.gz", None),
    ("s3:GetObject", "arn:aws:s3:::sweep-lake/runs/v1/data/diabetes.json", None),
    ("s3:ListBucket", "arn:aws:s3:::sweep-lake", "runs/v1/hyper/"),
}
# pyathena stops the running query when the command is interrupted; no test interrupts one.
ON_INTERRUPT = {"athena:StopQueryExecution"}


def load_policy(workgroup: str) -> dict:
    text = (REPO / "shell" / "iam-policy.json").read_text()
    for placeholder, value in {**PLACES, "WORKGROUP": workgroup}.items():
        text = text.replace(placeholder, value)
    return json.loads(text)


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def allows(policy: dict, action: str, resource: str, prefix: str | None) -> bool:
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or action not in as_list(statement["Action"]):
            continue
        if not any(fnmatchcase(resource, r) for r in as_list(statement["Resource"])):
            continue
        condition = statement.get("Condition")
        if condition is None:
            return True
        if set(condition) == {"StringLike"} and set(condition["StringLike"]) == {"s3:prefix"}:
            patterns = as_list(condition["StringLike"]["s3:prefix"])
            if prefix is not None and any(fnmatchcase(prefix, p) for p in patterns):
                return True
    return False


def policy_actions(policy: dict) -> set[str]:
    return {a for s in policy["Statement"] for a in as_list(s["Action"])}


def iam_call(request: RecordedRequest, workgroup_arn: str) -> tuple[str, str, str | None]:
    """The IAM action, resource and s3:prefix one recorded request needs."""
    target = request.headers.get("X-Amz-Target", "")
    if target.startswith("AmazonAthena."):
        return f"athena:{target.removeprefix('AmazonAthena.')}", workgroup_arn, None
    url = urlsplit(request.url)
    bucket, _, key = url.path.lstrip("/").partition("/")
    query = parse_qs(url.query)
    if not key and request.method in ("GET", "HEAD"):
        return "s3:ListBucket", f"arn:aws:s3:::{bucket}", query.get("prefix", [""])[0]
    object_actions = {"PUT": "s3:PutObject", "GET": "s3:GetObject", "HEAD": "s3:GetObject"}
    if key and request.method in object_actions and not query:
        return object_actions[request.method], f"arn:aws:s3:::{bucket}/{key}", None
    raise AssertionError(f"no IAM mapping for {request.method} {request.url}")


def observed_calls(aws: AwsServer, workgroup: str) -> set[tuple[str, str, str | None]]:
    arn = f"arn:aws:athena:us-east-1:123456789012:workgroup/{workgroup}"
    return {iam_call(r, arn) for r in aws.recorded()}


@pytest.fixture
def athena_calls(aws: AwsServer) -> tuple[str, set]:
    """What setup and rank send, with the results location left to the workgroup."""
    workgroup = f"wg-{uuid.uuid4().hex[:12]}"
    aws.client("athena").create_work_group(
        Name=workgroup, Configuration={"ResultConfiguration": {"OutputLocation": RESULTS}}
    )
    env = {**aws.env(), "SWEEPLAKE_ATHENA_WORKGROUP": workgroup, "SWEEPLAKE_DATABASE": "sweep_iam"}
    if "sweep-lake" not in [b["Name"] for b in aws.client().list_buckets()["Buckets"]]:
        aws.client().create_bucket(Bucket="sweep-lake")  # setup lists it for its first day
    aws.reset_recording()
    assert sweeplake("setup", "--lake", LAKE, env=env).returncode == 0
    aws.seed_athena_results(RANK_COLUMNS, RANK_ROWS)
    assert sweeplake("rank", "--engine", "athena", env=env).returncode == 0
    return workgroup, observed_calls(aws, workgroup)


def test_every_observed_athena_call_is_allowed(athena_calls: tuple[str, set]) -> None:
    workgroup, calls = athena_calls
    actions = {action for action, _, _ in calls}
    assert {"athena:StartQueryExecution", "athena:GetQueryExecution"} <= actions
    assert {"athena:GetQueryResults", "athena:GetWorkGroup"} <= actions
    policy = load_policy(workgroup)
    assert [c for c in sorted(calls, key=str) if not allows(policy, *c)] == []


def test_what_athena_does_for_us_and_the_lake_calls_are_allowed() -> None:
    policy = load_policy("primary")
    needed = sorted(ATHENA_ON_OUR_BEHALF | LAKE_CALLS, key=str)
    assert [c for c in needed if not allows(policy, *c)] == []


def test_the_policy_allows_nothing_beyond_what_is_called(athena_calls: tuple[str, set]) -> None:
    workgroup, calls = athena_calls
    policy = load_policy(workgroup)
    called = {action for action, _, _ in calls | ATHENA_ON_OUR_BEHALF | LAKE_CALLS}
    assert policy_actions(policy) == called | ON_INTERRUPT
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in as_list(statement["Action"]))
        assert "*" not in as_list(statement["Resource"])
    # Outside the lake and results prefixes, and in other accounts' workgroups: denied.
    assert not allows(policy, "s3:GetObject", "arn:aws:s3:::sweep-lake/other/x", None)
    assert not allows(policy, "s3:ListBucket", "arn:aws:s3:::sweep-lake", "other/")
    assert not allows(policy, "s3:ListBucket", "arn:aws:s3:::sweep-lake", None)
    other = "arn:aws:athena:us-east-1:999999999999:workgroup/" + workgroup
    assert not allows(policy, "athena:StartQueryExecution", other, None)


def test_s3_lake_calls_are_allowed(aws: AwsServer, lake_bucket_calls: set) -> None:
    policy = load_policy("primary")
    assert {action for action, _, _ in lake_bucket_calls} <= {a for a, _, _ in LAKE_CALLS}
    assert [c for c in sorted(lake_bucket_calls, key=str) if not allows(policy, *c)] == []


@pytest.fixture
def lake_bucket_calls(aws: AwsServer) -> set:
    """The S3 requests of one `run` into an s3:// lake on the moto server."""
    aws.client("s3").create_bucket(Bucket="sweep-lake")
    aws.reset_recording()
    result = sweeplake("run", "--lake", LAKE, "--trials", "2", "--workers", "1", env=aws.env())
    assert result.returncode == 0, result.stderr
    return observed_calls(aws, "unused")


def test_the_bucket_policy_denies_plain_http_and_unencrypted_puts() -> None:
    policy = json.loads((REPO / "shell" / "bucket-policy.json").read_text())
    denials = {
        json.dumps(s["Condition"], sort_keys=True): s
        for s in policy["Statement"]
        if s["Effect"] == "Deny" and s["Principal"] == "*"
    }
    tls = denials['{"Bool": {"aws:SecureTransport": "false"}}']
    assert tls["Action"] == "s3:*"
    assert set(tls["Resource"]) == {"arn:aws:s3:::LAKE_BUCKET", "arn:aws:s3:::LAKE_BUCKET/*"}
    unencrypted = denials['{"Null": {"s3:x-amz-server-side-encryption": "true"}}']
    assert unencrypted["Action"] == "s3:PutObject"
    assert unencrypted["Resource"] == "arn:aws:s3:::LAKE_BUCKET/*"
