"""The Lambda handler against a moto S3 lake over HTTP: a batch per event, a retried event
rewriting its own batch, fan-out through asynchronous Invoke, and S3 failing mid-batch."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO
from test_iam import allows, iam_call, policy_actions
from test_s3_lake import assert_each_record_once, lake_objects, records

INVOKE = Path(__file__).resolve().parent / "lambda_invoke.py"
SETTINGS = {
    "SWEEPLAKE_MODEL": "svr",
    "SWEEPLAKE_TRIALS": "3",
    "SWEEPLAKE_WORKERS": "1",
    "SWEEPLAKE_CV": "0",
}


def scheduled(event_id: str, at: str = "2026-12-03T10:00:00Z") -> dict:
    """An EventBridge scheduled event, as Lambda receives it from a rule."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at,
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweeplake"],
        "detail": {},
    }


def invoke(
    invocations: list[dict], env: dict, tmp_path: Path, python: list[str] | None = None, **kw
) -> list[dict]:
    """Each invocation in one fresh interpreter, one after another, as a warm environment."""
    path = tmp_path / f"invocations-{len(list(tmp_path.glob('invocations-*')))}.json"
    path.write_text(json.dumps(invocations))
    done = subprocess.run(
        [*(python or [sys.executable]), str(INVOKE), str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(invocations), done.stderr
    return answers, done.stderr


@pytest.fixture
def lambda_env(aws, bucket, proxy, tmp_path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO / "scripts"),
        **aws.env(proxy.endpoint_url),
        "SWEEPLAKE_LAKE": f"s3://{bucket}/lake",
        "TMPDIR": str(tmp_path),
        **SETTINGS,
    }


def batch_ids(objects: dict[str, bytes], part: str = "hyper") -> list[str]:
    return sorted(k.rsplit("/", 1)[1] for k in objects if k.startswith(f"lake/{part}/"))


def moto_function(aws, name: str) -> str:
    """A function in moto to invoke: moto records the Invoke requests and runs no code."""
    aws.post("/moto-api/config", {"lambda": {"use_docker": False}})
    role = aws.client("iam").create_role(
        RoleName=f"role-{name}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("placeholder.py", "")
    return aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="sweeplake.runners.lambda_handler.handler",
        Code={"ZipFile": package.getvalue()},
    )["FunctionArn"]


def distinct_trial_seeds(objects: dict[str, bytes]) -> int:
    """How many batches drew their trials from seeds of their own (no trial seed shared)."""
    by_batch: dict[str, set[int]] = {}
    for h in records(objects, "hyper"):
        by_batch.setdefault(h["batch_id"], set()).add(h["seed"])
    seen = [seed for seeds in by_batch.values() for seed in seeds]
    assert len(seen) == len(set(seen))
    return len(by_batch)


def test_a_retried_event_rewrites_its_batch_as_it_was_and_another_event_writes_a_second(
    aws, bucket, lambda_env, tmp_path
) -> None:
    first, other = scheduled("0c1a-first"), scheduled("77b2-other", "2026-12-03T10:01:00Z")
    (attempt,), _ = invoke([{"event": first, "request_id": "r-1"}], lambda_env, tmp_path)
    before = lake_objects(aws.client(), bucket)
    answers, log = invoke(
        [
            {"event": first, "request_id": "r-1"},  # Lambda's retry: same event, a new process
            {"event": other, "request_id": "r-2"},  # the next one, in the same (warm) process
        ],
        lambda_env,
        tmp_path,
    )
    results = [attempt["result"], *(a["result"] for a in answers)]
    assert results[0]["batch_id"] == results[1]["batch_id"] != results[2]["batch_id"]
    objects = lake_objects(aws.client(), bucket)
    assert batch_ids(objects) == sorted(f"{r['batch_id']}.json.gz" for r in results[1:])
    for part in ("fact", "scores", "timings"):
        assert batch_ids(objects, part) == batch_ids(objects)
    assert_each_record_once({k: v for k, v in objects.items() if results[0]["batch_id"] in k}, 3)
    # The retry wrote the same trials under the same ids: the same facts, to the byte.
    (fact_key,) = [k for k in before if "/fact/" in k]
    assert objects[fact_key] == before[fact_key]
    retried = [h for h in records(objects, "hyper") if h["batch_id"] == results[0]["batch_id"]]
    assert [h["hyper_id"] for h in retried] == [h["hyper_id"] for h in records(before, "hyper")]
    # The event's day is the batch's partition, even if a retry ran past midnight. Pending
    # trials are keyed by when they expire, not by day: advice to samplers, never a result.
    dated = [k for k in objects if not k.startswith(("lake/data/", "lake/pending/"))]
    assert all("/dt=2026-12-03/" in k for k in dated)
    assert distinct_trial_seeds(objects) == 2
    colds = {
        json.loads(gzip.decompress(v))["batch_id"]: json.loads(gzip.decompress(v))["cold"]
        for k, v in objects.items()
        if "/timings/" in k
    }
    assert colds == {results[0]["batch_id"]: True, results[2]["batch_id"]: False}
    assert "Traceback" not in log


def test_fan_out_starts_children_each_a_batch_with_its_own_seed(
    aws, bucket, lambda_env, tmp_path
) -> None:
    function = moto_function(aws, f"fan-{bucket}")
    aws.reset_recording()
    parent = scheduled("5e5e-parent")
    env = {**lambda_env, "SWEEPLAKE_FAN_OUT": "3"}
    (answer,), log = invoke(
        [{"event": parent, "request_id": "p", "function": function}], env, tmp_path
    )
    assert "result" in answer, (answer, log)
    assert answer["result"] == {"children": [f"5e5e-parent/{i}" for i in range(3)]}
    sent = [
        r
        for r in aws.recorded()
        if r.method == "POST" and r.url.endswith("/invocations") and f"fan-{bucket}" in r.url
    ]
    assert [r.headers.get("X-Amz-Invocation-Type") for r in sent] == ["Event"] * 3
    children = [json.loads(r.body) for r in sent]
    assert lake_objects(aws.client(), bucket) == {}  # the parent fits nothing itself

    # What Lambda delivers to the children, one of them retried.
    deliveries = [{"event": c, "request_id": f"c{i}"} for i, c in enumerate(children)]
    answers, _ = invoke([*deliveries, deliveries[1]], env, tmp_path)
    ids = [a["result"]["batch_id"] for a in answers]
    assert len(set(ids)) == 3 and ids[3] == ids[1]
    objects = lake_objects(aws.client(), bucket)
    assert batch_ids(objects) == sorted(f"{i}.json.gz" for i in set(ids))
    assert distinct_trial_seeds(objects) == 3


def test_s3_failing_mid_batch_fails_the_invocation_in_one_line_and_the_retry_completes_it(
    aws, bucket, lambda_env, proxy, tmp_path
) -> None:
    event = scheduled("9f9f-cut")
    proxy.cut_after(lambda request: request[0] == "PUT" and "/fact/" in request[1])
    (answer,), log = invoke([{"event": event, "request_id": "r"}], lambda_env, tmp_path)
    assert answer["error"].startswith("InvocationFailed: sweeplake: LakeUnreachable: batch ")
    assert "was NOT written to" in answer["error"]
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and answer["error"].removeprefix("InvocationFailed: ") in errors[0]
    assert "Traceback" not in log
    proxy.up()
    objects = lake_objects(aws.client(), bucket)
    assert batch_ids(objects) == []  # nothing committed; the fact may stay, uncommitted
    assert not any("/spool" in str(p) for p in tmp_path.rglob("*"))  # no spool on Lambda

    (answer,), _ = invoke([{"event": event, "request_id": "r"}], lambda_env, tmp_path)
    objects = lake_objects(aws.client(), bucket)
    assert batch_ids(objects) == [f"{answer['result']['batch_id']}.json.gz"]
    assert batch_ids(objects, "fact") == batch_ids(objects)
    assert_each_record_once(objects, 3)


def test_a_lake_that_does_not_answer_fails_before_any_fit(
    aws, bucket, lambda_env, proxy, tmp_path
) -> None:
    proxy.down()
    (answer,), log = invoke([{"event": scheduled("down"), "request_id": "r"}], lambda_env, tmp_path)
    assert answer["error"] == (
        f"InvocationFailed: sweeplake: LakeUnreachable: cannot reach the lake "
        f"s3://{bucket}/lake: no trials were fitted"
    )
    assert "trials on diabetes" not in log  # never got as far as the batch's first line
    proxy.up()
    assert lake_objects(aws.client(), bucket) == {}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (("SWEEPLAKE_TRIALS", "many"), "SWEEPLAKE_TRIALS='many' must be a number"),
        (
            ("SWEEPLAKE_SAMPLER", "tpe"),
            "SWEEPLAKE_SAMPLER='tpe': Lambda's package holds the random sampler only",
        ),
    ],
)
def test_bad_settings_fail_in_one_line_before_any_work(
    lambda_env, tmp_path, aws, bucket, setting, message
) -> None:
    env = {**lambda_env, setting[0]: setting[1]}
    (answer,), log = invoke([{"event": scheduled("bad"), "request_id": "r"}], env, tmp_path)
    assert answer["error"].startswith(f"InvocationFailed: sweeplake: BadInput: {message}")
    assert "trials on diabetes" not in log
    assert lake_objects(aws.client(), bucket) == {}


def test_the_lambda_role_allows_every_call_the_handler_makes_and_no_more(
    aws, bucket, lambda_env, tmp_path
) -> None:
    """shell/lambda-policy.json against the requests a fanned-out tick and one child send."""
    stack = f"iam{bucket[-8:]}"
    function = moto_function(aws, f"{stack}-runner")
    aws.reset_recording()
    env = {**lambda_env, "SWEEPLAKE_FAN_OUT": "2"}
    parent = {"event": scheduled("iam-parent"), "request_id": "p", "function": function}
    (answer,), _ = invoke([parent], env, tmp_path)
    assert "result" in answer
    sent = [r for r in aws.recorded() if r.url.endswith("/invocations")]
    child = {"event": json.loads(sent[0].body), "request_id": "c", "function": function}
    (answer,), _ = invoke([child], env, tmp_path)
    assert "result" in answer
    text = (REPO / "shell" / "lambda-policy.json").read_text()
    places = {"LAKE_BUCKET": bucket, "LAKE_PREFIX": "lake", "REGION": "us-east-1"}
    places |= {"ACCOUNT_ID": function.split(":")[4], "STACK": stack}
    for placeholder, value in places.items():
        text = text.replace(placeholder, value)
    policy = json.loads(text)
    calls = set()
    for request in aws.recorded():
        if request.url.endswith("/invocations"):
            calls.add(("lambda:InvokeFunction", function, None))
        else:
            calls.add(iam_call(request, ""))
    assert [c for c in calls if not allows(policy, *c)] == []
    # Every right is used: the lake's, and invoking itself; the log lines and the queue are
    # Lambda's own sending on the function's behalf.
    used = {action for action, _, _ in calls}
    assert used == policy_actions(policy) - {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
    }
