"""`report`: the scores store, a few queries from sql/, one HTML file with its images inside.

Only the best trial's own fact object is read (for predicted against actual); every other
figure comes from the per-trial scores.
"""

from __future__ import annotations

import base64
import html
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from sweeplake.engines.sqlfiles import query_file, read_sql
from sweeplake.errors import BadInput
from sweeplake.lake import open_lake
from sweeplake.lake import params as lake_params
from sweeplake.lake.trial import hyper_record, lake_dataset, trial_facts
from sweeplake.models.promote import best_trial
from sweeplake.models.registry import families
from sweeplake.rank import _error, _r2, _short
from sweeplake.report import figures

log = logging.getLogger("sweeplake.report")
LEADERS = 20
METRICS = ("test_r2", "cv_r2", "train_r2", "test_rmse", "test_mae")
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1250px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; font-family: monospace; }
figure { margin: 2em 0; } figure img { max-width: 100%; } figcaption { color: #555; }
"""


def report(lake_uri: str, out: Path) -> Path:
    """Write the report of the lake to `out`; returns its path."""
    from sweeplake.scores.store import open_scores

    started = datetime.now(UTC)
    store = open_scores(lake_uri)
    store.refresh()
    db = store.connection
    outcomes = query_file(db, "report_outcomes.sql", [])
    if not outcomes:
        raise BadInput(f"no trials in the lake {lake_uri} yet: run `python -m sweeplake run` first")
    best = best_trial(db, lake_uri)
    leaders = query_file(db, "best_by_test.sql", [LEADERS])
    sections = [
        (
            "best-so-far",
            "Best score so far",
            figures.best_so_far(query_file(db, "report_best_so_far.sql", [])),
            "The best test R² of each model so far, against when its trials finished (left) "
            "and against how many of its trials had run (right, log scale).",
        )
    ]
    for name, model in families().items():
        drawn = points(db, name)
        if drawn is None:
            continue
        what = f"{shown(drawn)} {model.title} trials"
        if model.score_map:
            x, y = model.score_map
            title = f"{model.title}: score over ({x}, {y})"
            caption = f"{what} at their {x} and {y}, coloured by test R² (best on top)."
            image = figures.score_map(drawn, model, what)
            sections.append((f"{name}-map", title, image, caption))
        title = f"{model.title}: score over each parameter"
        caption = f"{what}: test R² against each of their parameters."
        image = figures.param_slices(drawn, model, what)
        sections.append((f"{name}-slices", title, image, caption))
    sections += timeseries_sections(lake_uri, best)
    sections += [
        (
            "predicted-vs-actual",
            f"Predicted against actual: best trial {best['hyper_id']}",
            best_points_figure(lake_uri, best),
            f"Every point of the dataset as predicted by the best trial ({best['model']}): "
            "training points in grey, test points in red; on the line the prediction is exact.",
        ),
        (
            "fit-times",
            "Fit times",
            figures.fit_times(query_file(db, "report_fit_times.sql", [])),
            "How long one fit took, per model (log-spaced bins).",
        ),
        (
            "outcomes",
            "Trials ok, pruned and failed",
            figures.outcomes(*by_day_and_host(outcomes)),
            "Trials that ended ok, pruned (stopped between folds) and failed, per day (UTC) "
            "and per host.",
        ),
    ]
    timings = timings_table(store.with_part("timings/").root)
    page = render(lake_uri, leaders, outcomes, sections, started, timings)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(page)
    tmp.replace(out)
    seconds = (datetime.now(UTC) - started).total_seconds()
    trials = sum(int(r["ok"]) + int(r["pruned"]) + int(r["failed"]) for r in outcomes)
    log.info("report of %d trials written to %s in %.1f s", trials, out, seconds)
    return out


def points(db, model: str) -> dict[str, np.ndarray] | None:
    """The model's ok trials a scatter plot draws (sql/report_points.sql: its best and a fixed
    sample), as numpy columns with test_r2's nulls as NaN and each trial's parameters decoded;
    None if it has none."""
    raw = db.execute(read_sql("report_points.sql"), {"model": model}).fetchnumpy()
    if not len(raw["hyper_id"]):
        return None
    drawn = {k: np.asarray(np.ma.filled(v, None)) for k, v in raw.items()}
    drawn["test_r2"] = np.ma.filled(np.ma.asarray(raw["test_r2"]).astype(float), np.nan)
    drawn["params"] = np.array([trial_params(row) for row in rows(drawn)], dtype=object)
    return drawn


def shown(drawn: dict[str, np.ndarray]) -> str:
    """What a scatter plot shows: every trial, or which of how many."""
    total, count = int(drawn["total"][0]), len(drawn["hyper_id"])
    if count == total:
        return f"All {total:,} ok"
    return f"{count:,} of {total:,} ok (the best 2,000 by test R² and a fixed sample of the rest)"


def rows(trials: dict[str, np.ndarray]):
    names = ("model", "params", *lake_params.COLUMNS)
    for values in zip(*(trials[n] for n in names), strict=True):
        yield dict(zip(names, values, strict=True))


def trial_params(row: dict) -> dict:
    """A trial's hyperparameters; {} for a model no longer registered."""
    known = families().get(row["model"])
    return lake_params.decode(row, known.params) if known else {}


def best_points_figure(lake_uri: str, best: dict) -> bytes:
    """The one figure that reads facts: the best trial's, from its own batch's object."""
    lake = open_lake(lake_uri)
    dataset = lake_dataset(lake, hyper_record(lake, best))
    facts = trial_facts(lake, best)
    # A point without a prediction (a null y_pred) is NaN: not drawn.
    y_pred = np.array([facts.get(int(p)) for p in dataset.point_ids], dtype=float)
    return figures.predicted_vs_actual(dataset.y, y_pred, dataset.is_train)


def timeseries_sections(lake_uri: str, best: dict) -> list:
    """On a time-series dataset: predictions over time, and the models side by side."""
    from sweeplake.timeseries.report import sections

    lake = open_lake(lake_uri)
    return sections(lake_uri, best, lake_dataset(lake, hyper_record(lake, best)))


def by_day_and_host(outcomes: list[dict]) -> tuple[dict, dict]:
    by_day: dict[str, list[int]] = {}
    by_host: dict[str, list[int]] = {}
    for row in outcomes:
        for counts, key in ((by_day, str(row["dt"])[:10]), (by_host, row["host"])):
            total = counts.setdefault(key, [0, 0, 0])
            total[0] += int(row["ok"])
            total[1] += int(row["pruned"])
            total[2] += int(row["failed"])
    return by_day, by_host


def render(lake_uri, leaders, outcomes, sections, started: datetime, timings: str) -> str:
    ok = sum(int(r["ok"]) for r in outcomes)
    pruned = sum(int(r["pruned"]) for r in outcomes)
    failed = sum(int(r["failed"]) for r in outcomes)
    figures_html = "".join(
        f'<figure id="{key}"><h2>{html.escape(title)}</h2>'
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(image).decode()}"><figcaption>{html.escape(caption)}</figcaption>'
        "</figure>"
        for key, title, image, caption in sections
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>sweeplake report</title><style>{STYLE}</style></head><body>"
        f"<h1>sweeplake report</h1><p>Lake <code>{html.escape(lake_uri)}</code>: "
        f"{ok + pruned + failed} trials, {ok} ok, {pruned} pruned and {failed} failed, written "
        f"{started.strftime('%Y-%m-%d %H:%M UTC')}.</p>"
        f"<h2>Leaderboard: the best {len(leaders)} trials by test R²</h2>"
        f"{leaderboard_table(leaders)}{figures_html}"
        f"<h2>Trials ok, pruned and failed, per day and host</h2>{outcomes_table(outcomes)}"
        f"{timings}"
        "</body></html>\n"
    )


def leaderboard_table(leaders: list[dict]) -> str:
    metrics = [m for m in METRICS if leaders and m in leaders[0]]
    head = ["rank", "model", *metrics, "params", "hyper_id", "created_at"]
    rows = []
    for rank, row in enumerate(leaders, 1):
        params = " ".join(f"{k}={_short(v)}" for k, v in trial_params(row).items())
        cells = [
            str(rank),
            row["model"],
            *((_r2 if m.endswith("_r2") else _error)(row[m]) for m in metrics),
        ]
        text = [params, row["hyper_id"], row["created_at"]]
        rows.append(
            "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            + "".join(f'<td class="text">{html.escape(c)}</td>' for c in text)
        )
    return table("leaderboard", head, rows)


def timings_table(root: Path) -> str:
    """Where a batch's time goes: each phase's mean, and its share of the batch's wall time."""
    from sweeplake.engines.duckdb import DuckDBEngine
    from sweeplake.timings import PHASES

    names, rows = DuckDBEngine(root).query(read_sql("report_timings.sql"))
    cells = []
    for row in (dict(zip(names, r, strict=True)) for r in rows):
        start = {True: "cold", False: "warm"}.get(row["cold"], "")
        wall = row["wall_ms"] or 0.0
        shares = [
            "" if row[f"{p}_ms"] is None else f"{row[f'{p}_ms']:,.0f} ({row[f'{p}_ms'] / wall:.0%})"
            for p in PHASES
        ]
        cells.append(
            f'<td class="text">{html.escape(row["runner"])}</td><td class="text">{start}</td>'
            f"<td>{row['batches']}</td><td>{row['trials']:.1f}</td>"
            + "".join(f"<td>{c}</td>" for c in shares)
            + f"<td>{wall:,.0f}</td>"
            + ("<td></td>" if row["cpu_ms"] is None else f"<td>{row['cpu_ms']:,.0f}</td>")
        )
    head = ["runner", "start", "batches", "trials", *(f"{p} ms" for p in PHASES), "wall ms"]
    head.append("CPU ms")
    return (
        "<h2>Where a batch's time goes</h2><p>The mean of each phase over the batches, in "
        "milliseconds, and its share of the batch's wall time; CPU: the batch's process and its "
        "workers, user and system time.</p>" + table("timings", head, cells)
    )


def outcomes_table(outcomes: list[dict]) -> str:
    rows = [
        f'<td class="text">{str(r["dt"])[:10]}</td><td class="text">{html.escape(r["host"])}</td>'
        f"<td>{int(r['ok'])}</td><td>{int(r['pruned'])}</td><td>{int(r['failed'])}</td>"
        for r in outcomes
    ]
    return table("outcomes-table", ["day", "host", "ok", "pruned", "failed"], rows)


def table(key: str, head: list[str], rows: list[str]) -> str:
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return f'<table id="{key}"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'
