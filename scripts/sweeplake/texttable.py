"""Tables as aligned text, for a terminal or a log: `rank`, `spool list` and the bench print
theirs through this one renderer."""

from __future__ import annotations

from collections.abc import Container, Sequence


def aligned(rows: Sequence[Sequence[str]], right: Container[int] = ()) -> str:
    """The rows as lines of columns two spaces apart, each column as wide as its widest cell.

    Columns whose index is in `right` align right (figures), the others left; no line ends in
    a space, and the text ends without a newline.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )
