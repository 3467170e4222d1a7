"""Bad input, fuzzed: any bytes either run (exit 0) or get exit 2, one line and no write."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweeplake.cli import main
from sweeplake.samplers.space import default_space_doc

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([1e308, -1e308, 5e-324, 10**400]),
)
DATASET = [
    {"point_id": i, "is_train": i % 3 > 0, "a": i / 7, "b": (i * 5) % 11 - 5.0, "y_true": i % 4}
    for i in range(12)
]
PARAMS = [
    {"model": "svr", "gamma": 1.0, "c": 2.0, "epsilon": 0.1},
    {
        "model": "random_forest",
        "n_estimators": 3,
        "max_depth": 2,
        "min_samples_split": 2,
        "min_samples_leaf": 1,
        "max_features": 0.5,
    },
]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated_lines(draw: st.DrawFn, records: list[dict]) -> bytes:
    """Valid NDJSON records with one thing broken: a value, a key, a line, or the bytes."""
    lines = [dict(r) for r in records]
    kind = draw(st.sampled_from(["value", "drop", "add", "line", "bytes", "empty", "truncate"]))
    row = draw(st.integers(0, len(lines) - 1))
    if kind == "value":
        lines[row][draw(st.sampled_from(sorted(lines[row])))] = draw(ODD_VALUES)
    elif kind == "drop":
        del lines[row][draw(st.sampled_from(sorted(lines[row])))]
    elif kind == "add":
        lines[row][draw(st.text(min_size=1, max_size=6))] = draw(ODD_VALUES)
    text = "".join(json.dumps(r) + "\n" for r in lines).encode()
    if kind == "line":
        text = text.replace(json.dumps(lines[row]).encode(), draw(st.binary(max_size=30)), 1)
    elif kind == "bytes":
        text = text + draw(st.binary(min_size=1, max_size=20)) + b"\xff\xfe\n"
    elif kind == "empty":
        text = draw(st.sampled_from([b"", b"\n", b"   \n\n"]))
    elif kind == "truncate":
        text = text[: draw(st.integers(0, len(text) - 1))]
    return text


def run_cli(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(list(args))
    return status, err.getvalue()


def check(folder: Path, status: int, stderr: str) -> None:
    lake = folder / "lake"
    written = [p for p in lake.rglob("*") if p.is_file()] if lake.exists() else []
    if status == 0:
        assert written, "a run that succeeded wrote nothing"
        return
    assert status == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("sweeplake: error: ")
    assert written == []


def fuzz_run(flag: str, payload: bytes, *extra: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "input.json"
        path.write_bytes(payload)
        args = ["run", "--lake", str(folder / "lake"), "--workers", "1", *extra]
        status, stderr = run_cli(*args, flag, str(path))
        check(folder, status, stderr)


@FUZZ
@given(mutated_lines(DATASET))
def test_fuzzed_dataset_files(payload: bytes) -> None:
    fuzz_run("--dataset", payload, "--model", "svr", "--trials", "1")


@FUZZ
@given(mutated_lines(PARAMS))
def test_fuzzed_params_files(payload: bytes) -> None:
    fuzz_run("--params", payload)


@st.composite
def mutated_space(draw: st.DrawFn) -> bytes:
    doc = copy.deepcopy(default_space_doc())
    model = draw(st.sampled_from(sorted(doc)))
    param = draw(st.sampled_from(sorted(doc[model])))
    kind = draw(st.sampled_from(["value", "drop", "add", "bytes"]))
    if kind == "value":
        doc[model][param][draw(st.sampled_from(sorted(doc[model][param])))] = draw(ODD_VALUES)
    elif kind == "drop":
        del doc[model][param][draw(st.sampled_from(sorted(doc[model][param])))]
    elif kind == "add":
        doc[model][draw(st.text(min_size=1, max_size=6))] = draw(ODD_VALUES)
    text = json.dumps(doc).encode()
    if kind == "bytes":
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.binary(min_size=1, max_size=8)) + b"\x80"
    return text


@FUZZ
@given(mutated_space())
def test_fuzzed_search_space_files(payload: bytes) -> None:
    fuzz_run("--space", payload, "--model", "svr", "--trials", "1")
