"""The one text-table renderer, as `rank`, `spool list` and the bench print with it."""

from __future__ import annotations

from sweeplake.texttable import aligned


def test_columns_are_as_wide_as_their_widest_cell_two_spaces_apart() -> None:
    rows = [("rank", "model", "params"), ("1", "random_forest", ""), ("10", "svr", "c=1")]
    assert aligned(rows) == (
        "rank  model          params\n1     random_forest\n10    svr            c=1"
    )


def test_right_aligned_columns_for_figures() -> None:
    rows = [("contender", "trials", "trials/s"), ("sweeplake", "1000", "252.2"), ("x", "1", "9")]
    assert aligned(rows, right=range(1, 3)) == (
        "contender  trials  trials/s\nsweeplake    1000     252.2\nx               1         9"
    )
