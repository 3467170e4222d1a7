"""Where the repository keeps its defaults: the dataset, the local lake, the spool, sql/."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SQL_DIR = REPO / "sql"
DEFAULT_DATASET = REPO / "data" / "diabetes.json"
DEFAULT_LAKE = str(REPO / "results" / "lake")
DEFAULT_SPOOL = REPO / "results" / "spool"
DEFAULT_CACHE = REPO / "results" / "cache"
DEFAULT_REPORT = REPO / "results" / "report.html"
