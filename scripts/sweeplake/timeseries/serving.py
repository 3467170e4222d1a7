"""The prediction API of a time-series model: POST /forecast takes a series' recent raw
history and answers its next value.

The body: {"history": {COLUMN: [values, oldest first], ...}} with every raw column the model
reads (the card's `timeseries.columns`; an LSTM reads its target alone), all of one length,
at least the longest window (an LSTM: its own window); and optionally "series", echoed back.
The features of the next step are built from that history by the same functions that built
the dataset (or, for an LSTM, its window of past targets), so nothing but the history goes in.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's annotations as types.
import math

import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse

from sweeplake.timeseries.features import Spec, next_features

MAX_HISTORY = 100_000


def needs(section: dict, estimator) -> tuple[list[str], int]:
    """The raw columns the model reads and how many steps of them: the longest window of its
    features; a sequence model (one with a `past_window`) reads that many steps of the target."""
    window = getattr(estimator, "past_window", None)
    if window is not None:
        return [section["spec"]["target"]], int(window)
    return section["columns"], max(Spec.from_json(section["spec"]).warmup, 1)


def forecast(section: dict, estimator, body: object) -> float:
    """The next value after the body's history; ValueError naming what is wrong with it."""
    if not isinstance(body, dict) or not isinstance(body.get("history"), dict):
        raise ValueError('the body must be a JSON object with "history": {column: [values]}')
    if set(body) - {"history", "series"}:
        raise ValueError(f"unknown keys: {', '.join(sorted(set(body) - {'history', 'series'}))}")
    history = body["history"]
    columns, wanted = needs(section, estimator)
    missing = [c for c in columns if c not in history]
    if missing:
        raise ValueError(f"history lacks {', '.join(missing)} (it needs {', '.join(columns)})")
    extra = sorted(set(history) - set(columns))
    if extra:
        raise ValueError(f"history.{extra[0]}: not a column this model reads")
    arrays = {}
    for column in columns:
        values = history[column]
        if not isinstance(values, list):
            raise ValueError(f"history.{column}: must be a list of numbers, oldest first")
        if len(values) < wanted:
            raise ValueError(
                f"history.{column}: {len(values)} values, too short: at least {wanted} are "
                "needed (the longest window)"
            )
        if len(values) > MAX_HISTORY:
            raise ValueError(f"history.{column}: over {MAX_HISTORY} values")
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"history.{column}[{i}]: must be a finite JSON number")
        arrays[column] = np.asarray(values, dtype=np.float64)
    if len({len(v) for v in arrays.values()}) > 1:
        raise ValueError("history: every column must hold the same number of values")
    spec = Spec.from_json(section["spec"])
    if getattr(estimator, "past_window", None) is not None:
        window = arrays[spec.target][-int(estimator.past_window) :][None, :]
        y = estimator.predict(window)
    else:
        y = estimator.predict(next_features(spec, arrays)[None, :])
    value = float(np.asarray(y, dtype=np.float64)[0])
    if not math.isfinite(value):
        raise ValueError("the model gives no finite forecast for this history")
    return value


def add_forecast(app, card: dict, estimator):
    """POST /forecast on the app of a time-series model."""
    section = card["timeseries"]

    @app.post("/forecast", response_class=JSONResponse)
    async def forecast_next(request: Request) -> JSONResponse:
        """The next value of a series from its recent raw history (see the model card)."""
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not valid JSON"}, status_code=400)
        try:
            value = forecast(section, estimator, body)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        answer = {"hyper_id": card["hyper_id"], "forecast": value}
        if isinstance(body.get("series"), str):
            answer["series"] = body["series"]
        return JSONResponse(answer)
