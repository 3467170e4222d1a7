"""Where the compacted scores live: one Parquet object per closed day under scores_daily/.

`compact` writes them, `setup` and `compact` split the view all_scores at the last of them;
both read that layout from here alone, as the S3 lake does to mark a batch that came late.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only a type here: the S3 lake reads this layout, so no import of the lake
    from sweeplake.lake import Lake

DAILY = "scores_daily"
# Where a batch shipped after its day was compacted leaves a marker, for compact to redo it.
LATE = "late"


def daily_key(day: str) -> str:
    return f"{DAILY}/dt={day}/{day}.parquet"


def late_key(day: str, batch_id: str) -> str:
    return f"{LATE}/dt={day}/{batch_id}"


def day_of(key: str) -> str:
    """The day of a partitioned key: scores/dt=2026-11-23/<batch>.json.gz gives 2026-11-23."""
    return key.split("/")[1].removeprefix("dt=")


def compacted_days(lake: Lake) -> set[str]:
    return {day_of(key) for key in lake.keys(f"{DAILY}/")}


def compacted_through(lake: Lake, first_day: str) -> str:
    """The last compacted day, or the day before the lake's first when none is."""
    before_first = (date.fromisoformat(first_day) - timedelta(days=1)).isoformat()
    return max(compacted_days(lake), default=before_first)
