"""The job's defaults: where the repository keeps the dataset, the local lake, the spool and
sql/, and how big one start is."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SQL_DIR = REPO / "sql"
DEFAULT_DATASET = REPO / "data" / "diabetes.json"
DEFAULT_LAKE = str(REPO / "results" / "lake")
DEFAULT_SPOOL = REPO / "results" / "spool"
DEFAULT_CACHE = REPO / "results" / "cache"
DEFAULT_MODEL = "all"
DEFAULT_TRIALS = 40
DEFAULT_TABLE_ROWS = 10
