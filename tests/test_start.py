"""A one-trial SVR start, the cron job's smallest run, imports nothing it does not use."""

from __future__ import annotations

import re

from conftest import sweeplake

UNUSED_BY_SVR = ("boto3", "botocore", "duckdb", "optuna", "pyathena", "sklearn.ensemble")


def test_a_one_trial_svr_start_imports_no_cloud_no_sql_no_forest(lake):
    args = ("run", "--model", "svr", "--trials", "1", "--lake", str(lake))
    done = sweeplake(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", done.stderr, re.M))
    assert "sklearn.svm" in imported  # the log parses, and holds the one estimator needed
    assert not {m for m in imported if m.startswith(UNUSED_BY_SVR)}
