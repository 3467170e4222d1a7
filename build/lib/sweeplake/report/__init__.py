"""The report: one self-contained HTML page of plots, from the scores store."""
