"""The report's part of `make bench`: `python -m sweeplake report` on a lake of 100 k trials.

The lake is bench/scale.py's synthetic one, 98,000 trials without facts and 2,000 with: the
report reads the facts of the best trial alone, and those 2,000 (truth plus less noise than
the drawn scores allow) hold it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.scale import Timed, lake_env, synthesise, timed
from sweeplake.dataset import Dataset

WITH_FACTS = 2000


def time_report(work: Path, dataset: Dataset, trials: int) -> tuple[Timed, Timed]:
    """The first report (the scores cache built from every batch) and the next one."""
    lake = work / "report-lake"
    # Without cv scores, so that the best trial (by test R²) is one of those with facts.
    synthesise(lake, dataset, trials - WITH_FACTS, facts=False, seed=1, cv=False)
    synthesise(lake, dataset, WITH_FACTS, facts=True, seed=2)
    env = lake_env(work / "report-cache")
    command = [sys.executable, "-m", "sweeplake", "report", "--lake", str(lake)]
    command += ["--out", str(work / "report.html")]
    return timed(command, env), timed(command, env)
