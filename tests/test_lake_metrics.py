"""Facts through the whole path (fit, encode, gzip, lake, DuckDB) rank as sklearn scores them."""

from __future__ import annotations

import csv
import gzip
import io
import json

import numpy as np
from conftest import sweeplake
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.svm import SVR

from sweeplake.dataset import load_dataset
from sweeplake.lake import Gzipped
from sweeplake.paths import DEFAULT_DATASET

SETS = [
    {"model": "svr", "gamma": 16.39, "c": 40.45, "epsilon": 0.1757},
    {"model": "svr", "gamma": 0.5, "c": 3.0, "epsilon": 0.1},
    {"model": "svr", "gamma": 80.0, "c": 0.02, "epsilon": 0.9},
    {"model": "random_forest", "n_estimators": 12, "max_depth": 5, "min_samples_split": 4,
     "min_samples_leaf": 2, "max_features": 0.5, "seed": 7},
]  # fmt: skip


def sklearn_metrics(params: dict) -> dict[str, float]:
    data = load_dataset(DEFAULT_DATASET)
    p = {k: v for k, v in params.items() if k not in ("model", "seed")}
    if params["model"] == "svr":
        model = SVR(kernel="rbf", gamma=p["gamma"], C=p["c"], epsilon=p["epsilon"])
    else:
        model = RandomForestRegressor(**p, random_state=params["seed"])
    train, test = data.is_train, ~data.is_train
    model.fit(data.x[train], data.y[train])
    y_test = model.predict(data.x[test])
    return {
        "test_r2": r2_score(data.y[test], y_test),
        "train_r2": r2_score(data.y[train], model.predict(data.x[train])),
        "test_rmse": mean_squared_error(data.y[test], y_test) ** 0.5,
        "test_mae": mean_absolute_error(data.y[test], y_test),
    }


def test_ranked_metrics_match_sklearns_scores(tmp_path, lake):
    params = tmp_path / "params.jsonl"
    params.write_text("".join(json.dumps(s) + "\n" for s in SETS))
    assert sweeplake("run", "--params", str(params), "--lake", str(lake)).returncode == 0
    ranked = sweeplake("rank", "--lake", str(lake), "--format", "csv", "--limit", "100")
    assert ranked.returncode == 0, ranked.stderr
    rows = list(csv.DictReader(io.StringIO(ranked.stdout)))
    assert len(rows) == len(SETS)
    for row in rows:
        chosen = next(s for s in SETS if s["model"] == row["model"] and all(
            float(row[k]) == v for k, v in s.items() if k not in ("model", "seed")))  # fmt: skip
        expected = sklearn_metrics(chosen)
        got = {k: float(row[k]) for k in expected}
        np.testing.assert_allclose(list(got.values()), list(expected.values()), rtol=1e-9)


def test_gzipped_pieces_read_back_whole_and_give_the_same_bytes_every_time():
    pieces = ['{"a":1}\n', '{"b":0.1}\n' * 1000, "é\n"]
    first, second = Gzipped(), Gzipped()
    for piece in pieces:
        first.write(piece)
        second.write(piece)
    packed = first.close()
    assert gzip.decompress(packed).decode() == "".join(pieces)
    assert packed == second.close()
    assert packed[4:8] == b"\0\0\0\0"  # mtime 0: no clock in the bytes


def test_lines_deflated_apart_in_any_order_make_one_gzip_member_that_zlib_reads():
    """Workers deflate their trials' lines; the batch's process appends them as they arrive."""
    import random
    import zlib

    from sweeplake.lake import deflate

    pieces = [f'{{"hyper_id":"t{n}","y_pred":{n / 7!r}}}\n' * (1 + n * 37) for n in range(40)]
    pieces.append("")  # a trial with no lines
    random.Random(3).shuffle(pieces)
    packed = Gzipped()
    for piece in pieces:
        packed.write(deflate(piece) if len(piece) % 2 else piece)  # deflated apart, or here
    body = packed.close()
    reader = zlib.decompressobj(wbits=31)  # zlib, not ISA-L: the gzip checks are its own
    assert reader.decompress(body).decode() == "".join(pieces)
    assert reader.eof and reader.unused_data == b""  # one member, its CRC and length right
    assert gzip.decompress(body) == "".join(pieces).encode()
    empty = Gzipped().close()
    assert gzip.decompress(empty) == b""
