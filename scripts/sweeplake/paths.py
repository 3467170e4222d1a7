"""The job's defaults: where the dataset, sql/ and the search space ship (inside the package),
where the local lake, spool, cache and report go, and how big one start is.

In a checkout (the package under the repository's scripts/), results/ is the repository's; an
installed wheel puts it in the folder the command runs from.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SQL_DIR = PACKAGE / "sql"
DEFAULT_DATASET = PACKAGE / "data" / "diabetes.json"
CHECKOUT = PACKAGE.parent.parent
HOME = CHECKOUT if (CHECKOUT / "pyproject.toml").is_file() else Path.cwd()
DEFAULT_EXPORT = HOME / "data" / "diabetes.json"
DEFAULT_LAKE = str(HOME / "results" / "lake")
DEFAULT_SPOOL = HOME / "results" / "spool"
DEFAULT_CACHE = HOME / "results" / "cache"
DEFAULT_REPORT = HOME / "results" / "report.html"
DEFAULT_MODEL = "all"
DEFAULT_TRIALS = 40
DEFAULT_TABLE_ROWS = 10
# The dataset's test split (dataset.py, importcsv.py), here so that building the command line
# (whose help shows them) does not import the dataset module.
SPLIT_TEST_SIZE = 0.2
SPLIT_RANDOM_STATE = 44
