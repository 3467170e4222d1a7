"""A batch in which every trial failed is written, and the start exits 4 with one line naming
the most common error, so cron and the stack never read a broken setup as success."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from sweeplake.samplers.space import default_space_doc
from tests.conftest import sweeplake
from tests.lakeread import records


def test_a_batch_whose_every_trial_failed_exits_4_naming_the_error(tmp_path: Path) -> None:
    space = copy.deepcopy(default_space_doc())  # not the families' own dicts
    # A space that its own `valid` allows but scikit-learn refuses: every SVR fit raises.
    space["svr"]["gamma"] = {"type": "float", "low": -1.0, "high": -1.0, "log": False,
                             "valid": "(-inf, inf)"}  # fmt: skip
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space))
    lake = tmp_path / "lake"
    run = ("run", "--lake", str(lake), "--space", str(path), "--model", "svr", "--trials", "3")
    result = sweeplake(*run, "--workers", "1", "--seed", "3")
    assert result.returncode == 4, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("sweeplake: every trial of batch") and "(3 of 3" in last
    assert "3 time(s)" in last and "gamma" in last and "InvalidParameterError" in last
    hyper = records(lake, "hyper")  # the batch is written all the same: the failures are data
    assert [h["status"] for h in hyper] == ["failed"] * 3

    ok = sweeplake("run", "--lake", str(lake), "--model", "svr", "--trials", "2", "--seed", "3")
    assert ok.returncode == 0, ok.stderr  # a batch with any ok trial is a success
