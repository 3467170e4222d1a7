"""The fast SVR path calls a private scikit-learn function; a release that changes it must slow
SVR trials down, not fail them: the path is checked once per process against the public
SVR(kernel="precomputed"), and on a difference each trial fits the public SVR, after one
warning line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import CACHE, REPO
from sklearn.svm import SVR

from sweeplake.dataset import load_dataset
from sweeplake.models import svr as svr_module
from sweeplake.paths import DEFAULT_DATASET
from tests.lakeread import records

# A scikit-learn whose private libsvm fit returns one more array, second, as a release that
# changes that private interface would: callers of the private module get the new results;
# SVR itself, released with the change, keeps working (it holds its own reference).
CHANGED_SKLEARN = """
import sys, types
import numpy as np
import sklearn.svm
from sklearn.svm import _libsvm

changed = types.ModuleType("sklearn.svm._libsvm")
changed.__dict__.update(_libsvm.__dict__)
def fit(*args, **kwargs):
    out = _libsvm.fit(*args, **kwargs)
    return (out[0], np.zeros(3), *out[1:])
changed.fit = fit
sklearn.svm._libsvm = changed
sys.modules["sklearn.svm._libsvm"] = changed

from sweeplake.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_fast_path_agrees_with_this_scikit_learn() -> None:
    assert svr_module.fast_path_agrees()


def test_a_changed_private_interface_falls_back_to_the_public_svr(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    run = ["run", "--lake", str(lake), "--model", "svr", "--trials", "3", "--seed", "4"]
    env = {"PATH": "/usr/bin:/bin", "SWEEPLAKE_CACHE": str(CACHE)}
    done = subprocess.run(
        [sys.executable, "-c", CHANGED_SKLEARN, *run, "--workers", "2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "fast SVR path" in line]
    assert len(warned) == 1 and "WARNING" in warned[0], done.stderr  # once, not per worker
    assert "SVR trials fit the public SVR instead" in warned[0]

    hyper = records(lake, "hyper")
    assert [h["status"] for h in hyper] == ["ok"] * 3
    data = load_dataset(DEFAULT_DATASET)
    facts = records(lake, "fact")
    for trial in hyper:
        svr = SVR(kernel="rbf", gamma=trial["gamma"], C=trial["c"], epsilon=trial["epsilon"])
        expected = svr.fit(data.x[data.is_train], data.y[data.is_train]).predict(data.x)
        got = {f["point_id"]: f["y_pred"] for f in facts if f["hyper_id"] == trial["hyper_id"]}
        ours = np.array([got[p] for p in data.point_ids.tolist()])
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)
