"""promote and serve: a promoted model, loaded back and served over real HTTP, gives the lake's
facts for its trial on every point; bad requests get a 4xx that names the problem."""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
from pathlib import Path

import httpx
import pytest
import skops.io
from conftest import sweeplake
from lakeread import cv_r2_by_trial, holdout_r2_by_trial, records
from servers import Served
from sklearn.preprocessing import FunctionTransformer

from sweeplake.dataset import load_dataset
from sweeplake.models.registry import fitting
from sweeplake.paths import DEFAULT_DATASET

POINTS = [json.loads(line) for line in DEFAULT_DATASET.read_text().splitlines()]
FEATURES = [k for k in POINTS[0] if k not in ("dataset", "point_id", "is_train", "fold", "y_true")]
ROW = {f: POINTS[0][f] for f in FEATURES}
SWAPPED = "01M8ZZZZZZZZZZZZZZZZZZZZZZ"  # a model file put in the lake by someone else


def rows_of(points: list[dict]) -> list[dict]:
    return [{f: p[f] for f in FEATURES} for p in points]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("api") / "lake"
    done = sweeplake(
        "run", "--lake", str(lake), "--trials", "8", "--seed", "11", "--workers", "2",
        "--budget", "600",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return lake


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {"SWEEPLAKE_CACHE": str(tmp_path_factory.mktemp("cache"))}


def first_trial(lake: Path, model: str) -> str:
    return next(h["hyper_id"] for h in records(lake, "hyper") if h["model"] == model)


def facts_of(lake: Path, hyper_id: str) -> dict[int, float]:
    return {f["point_id"]: f["y_pred"] for f in records(lake, "fact") if f["hyper_id"] == hyper_id}


@pytest.mark.parametrize("model", sorted(fitting(load_dataset(DEFAULT_DATASET))))
def test_a_promoted_model_served_over_http_gives_its_facts_on_every_point(
    lake: Path, cache_env: dict, model: str
) -> None:
    hyper_id = first_trial(lake, model)
    done = sweeplake("promote", "--lake", str(lake), "--hyper-id", hyper_id, env=cache_env)
    assert done.returncode == 0, done.stderr
    folder = lake / "models" / hyper_id
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "model.skops"]
    card = json.loads((folder / "card.json").read_text())
    facts = facts_of(lake, hyper_id)
    assert len(facts) == len(POINTS)

    served = Served("--lake", str(lake), "--model", hyper_id)
    try:
        with httpx.Client(base_url=served.url) as client:
            reply = client.post("/predict", json=rows_of(POINTS))
            assert reply.status_code == 200, reply.text
            predicted = reply.json()["predictions"]
            worst = max(
                abs(y - facts[p["point_id"]]) for y, p in zip(predicted, POINTS, strict=True)
            )
            assert worst <= 1e-9
            for point in POINTS[::37]:  # the query-string shape, one point at a time
                one = client.get("/predict", params={f: repr(point[f]) for f in FEATURES})
                assert one.status_code == 200, one.text
                assert abs(one.json()["prediction"] - facts[point["point_id"]]) <= 1e-9
            assert client.get("/model").json() == card
            assert client.get("/health").json() == {"status": "ok", "hyper_id": hyper_id}
            assert "/predict" in client.get("/openapi.json").json()["paths"]
            assert client.get("/docs").status_code == 200
    finally:
        log = served.close()
    assert "Traceback" not in log

    assert card["hyper_id"] == hyper_id and card["model"] == model
    assert card["features"] == FEATURES
    assert card["dataset"]["sha256"] == next(iter(records(lake, "hyper")))["dataset_sha256"]
    assert card["check"]["points"] == len(POINTS) and card["check"]["max_abs_diff"] <= 1e-9
    assert math.isclose(
        card["metrics"]["test_r2"],
        holdout_r2_by_trial(lake, DEFAULT_DATASET)[hyper_id],
        abs_tol=1e-9,
    )
    assert {"scikit-learn", "numpy", "skops", "python"} <= set(card["libraries"])


@pytest.mark.parametrize("by", [(), ("--by", "test")], ids=["default, cv", "test"])
def test_promote_takes_the_best_by_cv_r2_unless_asked_for_test_r2(
    lake: Path, cache_env: dict, by: tuple[str, ...]
) -> None:
    done = sweeplake("promote", "--lake", str(lake), *by, env=cache_env)
    assert done.returncode == 0, done.stderr
    oracle = (holdout_r2_by_trial if by else cv_r2_by_trial)(lake, DEFAULT_DATASET)
    best = max(oracle, key=oracle.get)
    assert (lake / "models" / best / "card.json").is_file()
    assert f"promoted {best} " in done.stderr


def test_promote_refuses_a_trial_whose_refit_differs_from_its_facts(
    tmp_path: Path, cache_env: dict
) -> None:
    lake = tmp_path / "lake"
    assert sweeplake("run", "--lake", str(lake), "--model", "svr", "--trials", "2").returncode == 0
    fact_path = next(lake.glob("fact/dt=*/*.json.gz"))
    lines = gzip.decompress(fact_path.read_bytes()).decode().splitlines()
    record = json.loads(lines[5])
    record["y_pred"] += 1e-6  # one point of one trial, off by far less than any R² would show
    lines[5] = json.dumps(record)
    fact_path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))

    done = sweeplake(
        "promote", "--lake", str(lake), "--hyper-id", record["hyper_id"], env=cache_env
    )
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("sweeplake: error: refusing to promote") and "1e-09" in error
    assert not (lake / "models").exists()


def test_serve_refuses_a_model_file_holding_types_no_sweeplake_model_has(
    lake: Path, cache_env: dict
) -> None:
    hyper_id = first_trial(lake, "svr")
    assert (
        sweeplake("promote", "--lake", str(lake), "--hyper-id", hyper_id, env=cache_env).returncode
        == 0
    )
    card = (lake / "models" / hyper_id / "card.json").read_text()
    swapped = lake / "models" / SWAPPED
    swapped.mkdir()
    try:
        (swapped / "card.json").write_text(card)
        (swapped / "model.skops").write_bytes(skops.io.dumps(FunctionTransformer(func=os.system)))
        done = sweeplake("serve", "--lake", str(lake), "--model", SWAPPED, "--port", "0")
        assert done.returncode == 2
        assert done.stderr.strip().splitlines()[-1].endswith("refusing to load it")
    finally:
        # Its card is a copy, as new as the real one's: left in the module's lake, it could be
        # the model a later `serve` without --model loads.
        shutil.rmtree(swapped)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--model", "01M8NNNNNNNNNNNNNNNNNNNNNN"),
            "no promoted model '01M8NNNNNNNNNNNNNNNNNNNNNN'",
        ),
        (("--port", "70000"), "--port must be in [0, 65535], got 70000"),
        (("--model", "../../../etc"), "--model '../../../etc' is not a hyper_id"),
        (("--host", "no.such.host.invalid"), "cannot listen on no.such.host.invalid:"),
    ],
)
def test_serve_bad_input_is_one_line_and_status_2(lake: Path, args: tuple, message: str) -> None:
    done = sweeplake("serve", "--lake", str(lake), "--port", "0", *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr


@pytest.fixture(scope="module")
def server(lake: Path, cache_env: dict) -> Served:
    hyper_id = first_trial(lake, "random_forest")
    assert (
        sweeplake("promote", "--lake", str(lake), "--hyper-id", hyper_id, env=cache_env).returncode
        == 0
    )
    served = Served("--lake", str(lake), "--model", hyper_id)
    yield served
    assert "Traceback" not in served.close()


def with_value(feature: str, value) -> dict:
    return {**ROW, feature: value}


JSON = {"Content-Type": "application/json"}
BAD_REQUESTS = [
    # (what, method, path, request arguments, status, words the error must hold)
    ("not JSON", "POST", "/predict", {"content": b"age=1", "headers": JSON}, 422, "not valid JSON"),
    (
        "truncated JSON",
        "POST",
        "/predict",
        {"content": b'[{"age": 1', "headers": JSON},
        422,
        "not valid JSON",
    ),
    ("an object, not a list", "POST", "/predict", {"json": ROW}, 422, "JSON list of rows"),
    ("an empty list", "POST", "/predict", {"json": []}, 422, "at least one row"),
    ("too many rows", "POST", "/predict", {"json": [ROW] * 1001}, 422, "at most 1000 rows"),
    (
        "a row that is a number",
        "POST",
        "/predict",
        {"json": [1.5]},
        422,
        "row.0: must be a JSON object",
    ),
    (
        "a row that is a list",
        "POST",
        "/predict",
        {"json": [list(ROW.values())]},
        422,
        "row.0: must be a JSON object",
    ),
    (
        "a missing feature",
        "POST",
        "/predict",
        {"json": [ROW, {f: v for f, v in ROW.items() if f != "bmi"}]},
        422,
        "row.1.bmi: missing",
    ),
    (
        "an unknown feature",
        "POST",
        "/predict",
        {"json": [{**ROW, "weight": 70}]},
        422,
        "row.0.weight: not a feature of this model",
    ),
    (
        "a string number",
        "POST",
        "/predict",
        {"json": [with_value("age", "0.03")]},
        422,
        "row.0.age: must be a JSON number",
    ),
    (
        "a boolean",
        "POST",
        "/predict",
        {"json": [with_value("sex", True)]},
        422,
        "row.0.sex: must be a JSON number",
    ),
    (
        "a null",
        "POST",
        "/predict",
        {"json": [with_value("s1", None)]},
        422,
        "row.0.s1: must be a JSON number",
    ),
    (
        "NaN",
        "POST",
        "/predict",
        {"content": json.dumps([with_value("bp", math.nan)]).encode(), "headers": JSON},
        422,
        "row.0.bp: must be finite",
    ),
    (
        "Infinity",
        "POST",
        "/predict",
        {"content": json.dumps([with_value("s2", -math.inf)]).encode(), "headers": JSON},
        422,
        "row.0.s2: must be finite",
    ),
    (
        "a number past a double",
        "POST",
        "/predict",
        {"content": json.dumps([ROW]).replace(str(ROW["s3"]), "1e999").encode(), "headers": JSON},
        422,
        "row.0.s3: must be finite",
    ),
    (
        "a value past float32, for a forest",
        "POST",
        "/predict",
        {"json": [with_value("s4", 1e300)]},
        422,
        "cannot predict these values",
    ),
    (
        "a body over 1 MiB",
        "POST",
        "/predict",
        {"content": b" " * (1 << 21), "headers": JSON},
        413,
        "over 1048576 bytes",
    ),
    (
        "not UTF-8",
        "POST",
        "/predict",
        {"content": b"\xff\xfe[", "headers": JSON},
        400,
        "cannot be read as JSON text",
    ),
    (
        "a form, not JSON",
        "POST",
        "/predict",
        {"data": {"age": "1"}},
        415,
        "must be application/json, not application/x-www-form-urlencoded",
    ),
    (
        "a chunked body over 1 MiB",
        "POST",
        "/predict",
        {"content": iter([b" " * (1 << 19)] * 4), "headers": JSON},
        413,
        "over 1048576 bytes",
    ),
    (
        "a query missing features",
        "GET",
        "/predict",
        {"params": {"age": "0.03"}},
        422,
        "query.sex: missing",
    ),
    (
        "a query with a word",
        "GET",
        "/predict",
        {"params": with_value("bmi", "high")},
        422,
        "query.bmi: must be a number",
    ),
    (
        "a query with nan",
        "GET",
        "/predict",
        {"params": with_value("age", "nan")},
        422,
        "query.age: must be finite",
    ),
    (
        "a query with an unknown key",
        "GET",
        "/predict",
        {"params": {**ROW, "height": "1"}},
        422,
        "query.height: not a feature of this model",
    ),
    ("a wrong method", "PUT", "/predict", {"json": [ROW]}, 405, "Method Not Allowed"),
    ("an unknown path", "GET", "/predictions", {}, 404, "Not Found"),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "words"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_a_bad_request_gets_a_4xx_naming_the_problem_and_the_server_stays_up(
    server: Served, method: str, path: str, kwargs: dict, status: int, words: str
) -> None:
    with httpx.Client(base_url=server.url) as client:
        reply = client.request(method, path, **kwargs)
        assert reply.status_code == status, reply.text
        assert words in reply.json()["error"]
        assert "Traceback" not in reply.text
        assert client.get("/health").status_code == 200
        assert client.post("/predict", json=[ROW]).status_code == 200
    assert server.alive()


def test_a_model_promoted_into_an_s3_lake_is_encrypted_and_served(
    aws, bucket: str, env: dict
) -> None:
    uri = f"s3://{bucket}/lake"
    assert (
        sweeplake("run", "--lake", uri, "--model", "svr", "--trials", "3", env=env).returncode == 0
    )
    done = sweeplake("promote", "--lake", uri, env=env)
    assert done.returncode == 0, done.stderr
    client = aws.client()
    keys = [
        o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="lake/models/")["Contents"]
    ]
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == ["card.json", "model.skops"]
    for key in keys:
        assert client.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"
    hyper_id = keys[0].split("/")[2]
    fact_key = next(
        o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="lake/fact/")["Contents"]
    )
    body = client.get_object(Bucket=bucket, Key=fact_key)["Body"].read()
    facts = {
        f["point_id"]: f["y_pred"]
        for f in map(json.loads, gzip.decompress(body).splitlines())
        if f["hyper_id"] == hyper_id
    }
    served = Served("--lake", uri, env=env)
    try:
        reply = httpx.post(f"{served.url}/predict", json=rows_of(POINTS))
    finally:
        served.close()
    assert reply.status_code == 200, reply.text
    predicted = reply.json()["predictions"]
    assert (
        max(abs(y - facts[p["point_id"]]) for y, p in zip(predicted, POINTS, strict=True)) <= 1e-9
    )
