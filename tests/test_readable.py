"""readable_objects: every object at once, else each alone, the bad ones named; on real DuckDB."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb

from sweeplake.engines.readable import readable_objects

COLUMNS = {"hyper_id": "VARCHAR", "point_id": "BIGINT", "y_pred": "DOUBLE"}
GOOD = b'{"hyper_id": "a", "point_id": 1, "y_pred": 2.5}\n{"hyper_id": "a", "point_id": 2}\n'


def objects(folder: Path, bodies: dict[str, bytes]) -> list[Path]:
    for name, body in bodies.items():
        (folder / name).write_bytes(body)
    return [folder / name for name in bodies]


def check(paths: list[Path]) -> tuple[list[Path], dict[str, str]]:
    connection = duckdb.connect()
    named: dict[str, str] = {}
    whole = readable_objects(
        paths,
        lambda some: connection.read_json(
            [str(p) for p in some], columns=COLUMNS, format="newline_delimited"
        ),
        lambda path, reason: named.update({path.name: reason}),
    )
    return whole, named


def test_every_object_whole_is_read_at_once_and_kept_in_order(tmp_path: Path) -> None:
    paths = objects(tmp_path, {"b.json.gz": gzip.compress(GOOD), "a.json.gz": gzip.compress(GOOD)})
    assert check(paths) == (paths, {})
    assert check([]) == ([], {})


def test_each_kind_of_damage_is_left_out_and_named(tmp_path: Path) -> None:
    good = gzip.compress(GOOD)
    paths = objects(
        tmp_path,
        {
            "good1.json.gz": good,
            "truncated.json.gz": good[: len(good) // 2],
            "malformed.json.gz": gzip.compress(b'{"hyper_id": "b", "point_id": \n'),
            "wrong_type.json.gz": gzip.compress(b'{"hyper_id": "c", "point_id": "one"}\n'),
            "good2.json.gz": good,
        },
    )
    whole, named = check(paths)
    assert [p.name for p in whole] == ["good1.json.gz", "good2.json.gz"]
    assert sorted(named) == ["malformed.json.gz", "truncated.json.gz", "wrong_type.json.gz"]
    assert all(reason and "\n" not in reason for reason in named.values())
    assert "one" in named["wrong_type.json.gz"]
