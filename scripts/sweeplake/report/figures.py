"""The report's figures, drawn with matplotlib's object API (no pyplot state) as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

from sweeplake.models.family import ModelFamily
from sweeplake.models.registry import families


def color(model: str) -> str:
    """Each family's colour, by its place in the registry: the same in every figure."""
    names = list(families())
    return PALETTE[names.index(model) % len(PALETTE)] if model in names else "tab:gray"


PALETTE = ("tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:olive")
SCORE_LABEL = "test R² (1 = perfect, 0 = the mean)"
FIT_TIME_BINS = 40  # as sql/report_fit_times.sql bins them


def png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=90, bbox_inches="tight")
    return out.getvalue()


def score_floor(scores: np.ndarray) -> float:
    """Where the score axis starts: a few very bad trials must not squash the good ones flat."""
    finite = scores[np.isfinite(scores)]
    return float(max(np.percentile(finite, 5), finite.max() - 1.0)) if len(finite) else 0.0


def best_so_far(steps: list[dict]) -> bytes:
    """Best test R² so far against time and against the trial count, one line per model, from
    the trials that raised it and each model's last (sql/report_best_so_far.sql)."""
    figure = Figure(figsize=(11, 3.8))
    by_time, by_count = figure.subplots(1, 2)
    for model, family in families().items():
        mine = [row for row in steps if row["model"] == model]
        if not mine:
            continue
        best = np.array([row["best"] for row in mine])
        finished = np.array([row["created_at"].rstrip("Z") for row in mine], "datetime64[us]")
        name, shade = family.title, color(model)
        by_time.step(finished, best, where="post", label=name, color=shade)
        count = np.array([row["n"] for row in mine])
        by_count.step(count, best, where="post", label=name, color=shade)
    by_time.set_xlabel("trial finished (UTC)")
    by_count.set_xlabel("ok trials of the model so far (count)")
    by_count.set_xscale("log")
    for axes in (by_time, by_count):
        axes.set_ylabel("best test R² so far")
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right")
    figure.autofmt_xdate()
    return png(figure)


def axis_label(family: ModelFamily, param: str) -> str:
    spec = family.space[param]
    label = family.labels.get(param, param)
    return label + (", log scale" if spec.get("log") else "")


def plotted(values: np.ndarray, family: ModelFamily, param: str, axes) -> np.ndarray:
    """A parameter's values as positions on an axis: numbers as they are (log where its space
    samples on a log scale), a categorical's choices as evenly spaced ticks."""
    spec = family.space[param]
    if spec["type"] == "categorical":
        choices = [str(c) for c in spec["choices"]]
        axes.set_xticks(range(len(choices)), choices)
        return np.array([choices.index(str(v)) if str(v) in choices else np.nan for v in values])
    if spec.get("log"):
        axes.set_xscale("log")
    return np.array([np.nan if v is None else float(v) for v in values])


def score_map(t: dict[str, np.ndarray], family: ModelFamily, what: str) -> bytes:
    """Test R² of the family's trials given (sql/report_points.sql's) over its two chosen
    parameters (the family's score_map), best drawn last, on top; `what` says on the plot which
    trials it shows."""
    x_name, y_name = family.score_map
    mine = (t["model"] == family.name) & np.isfinite(t["test_r2"])
    order = np.argsort(t["test_r2"][mine])
    params = t["params"][mine][order]
    score = t["test_r2"][mine][order]
    figure = Figure(figsize=(6.5, 5))
    figure.suptitle(what, fontsize=9)
    axes = figure.subplots()
    x = plotted(np.array([p.get(x_name) for p in params], dtype=object), family, x_name, axes)
    y = np.array([np.nan if p.get(y_name) is None else float(p[y_name]) for p in params])
    dots = axes.scatter(x, y, c=score, s=14, cmap="viridis", vmin=score_floor(score))
    if family.space[y_name].get("log"):
        axes.set_yscale("log")
    axes.set_xlabel(axis_label(family, x_name))
    axes.set_ylabel(axis_label(family, y_name))
    figure.colorbar(dots, ax=axes, label=SCORE_LABEL, extend="min")
    return png(figure)


def param_slices(t: dict[str, np.ndarray], family: ModelFamily, what: str) -> bytes:
    """Test R² of the family's trials given against each of its parameters; `what` says on
    the plot which trials it shows."""
    mine = (t["model"] == family.name) & np.isfinite(t["test_r2"])
    score = t["test_r2"][mine]
    params = t["params"][mine]
    names = family.params
    figure = Figure(figsize=(max(3.2 * len(names), 6), 3.4))
    figure.suptitle(what, fontsize=9)
    panels = figure.subplots(1, len(names), sharey=True, squeeze=False)[0]
    for axes, param in zip(panels, names, strict=True):
        values = np.array([p.get(param) for p in params], dtype=object)
        axes.scatter(plotted(values, family, param, axes), score, s=8, alpha=0.5,
                     color=color(family.name))  # fmt: skip
        axes.set_xlabel(axis_label(family, param))
        axes.set_ylim(bottom=score_floor(score))
        axes.grid(alpha=0.3)
    panels[0].set_ylabel(SCORE_LABEL)
    return png(figure)


def predicted_vs_actual(y_true: np.ndarray, y_pred: np.ndarray, is_train: np.ndarray) -> bytes:
    """The best trial's prediction of every point against its target, train and test apart."""
    figure = Figure(figsize=(6, 5.5))
    axes = figure.subplots()
    for points, label, color in ((is_train, "train", "tab:gray"), (~is_train, "test", "tab:red")):
        axes.scatter(y_true[points], y_pred[points], s=14, alpha=0.7, label=label, color=color)
    low, high = min(y_true.min(), y_pred.min()), max(y_true.max(), y_pred.max())
    axes.plot([low, high], [low, high], color="black", linewidth=1, label="predicted = actual")
    axes.set_xlabel("actual target (y_true, in the dataset's units)")
    axes.set_ylabel("predicted target (same units)")
    axes.legend(loc="upper left")
    axes.grid(alpha=0.3)
    return png(figure)


def fit_times(bins: list[dict]) -> bytes:
    """How long fits take, per model: sql/report_fit_times.sql's counts in log-spaced bins."""
    figure = Figure(figsize=(7, 3.8))
    axes = figure.subplots()
    if bins:
        edges = np.exp(np.linspace(bins[0]["lo"], bins[0]["hi"], FIT_TIME_BINS + 1))
        centres = np.sqrt(edges[:-1] * edges[1:])
        for model, family in families().items():
            counts = np.zeros(FIT_TIME_BINS)
            for row in bins:
                if row["model"] == model:
                    counts[int(row["bin"])] = row["trials"]
            if counts.any():
                axes.hist(
                    centres,
                    bins=edges,
                    weights=counts,
                    alpha=0.6,
                    label=family.title,
                    color=color(model),
                )
    axes.set_xscale("log")
    axes.set_xlabel("fit time of one trial (ms, log scale)")
    axes.set_ylabel("trials (count)")
    axes.legend()
    axes.grid(alpha=0.3)
    return png(figure)


def outcomes(by_day: dict[str, list[int]], by_host: dict[str, list[int]]) -> bytes:
    """Trials that ended ok, pruned and failed, per day and per host, stacked."""
    figure = Figure(figsize=(11, 3.8))
    for axes, counts, label in zip(
        figure.subplots(1, 2), (by_day, by_host), ("day (UTC)", "host"), strict=True
    ):
        names = list(counts)
        ok, pruned, failed = (np.array([counts[n][i] for n in names]) for i in range(3))
        where = np.arange(len(names))  # positions, not the names: a day is a label, not a date
        axes.bar(where, ok, label="ok", color="tab:green")
        axes.bar(where, pruned, bottom=ok, label="pruned", color="tab:gray")
        axes.bar(where, failed, bottom=ok + pruned, label="failed", color="tab:red")
        axes.set_xticks(where, names)
        axes.set_xlabel(label)
        axes.set_ylabel("trials (count)")
        axes.tick_params(axis="x", labelrotation=30)
        axes.legend()
    return png(figure)
