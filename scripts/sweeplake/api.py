"""The prediction API: one promoted model behind FastAPI, served by uvicorn.

Every request the model cannot answer is the client's to fix: a 4xx whose `error` names the
problem, never a 500. Inputs are checked before the model sees them (every feature present, no
other key, finite JSON numbers only), and a model that still cannot predict says so as a 422.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations as types.
import logging
import socket
from typing import Annotated

import numpy as np
from fastapi import Body, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ConfigDict, create_model
from starlette.exceptions import HTTPException
from starlette.routing import Match

from sweeplake.errors import BadInput
from sweeplake.lake import open_lake
from sweeplake.models import promoted as store
from sweeplake.models.registry import family

log = logging.getLogger("sweeplake.serve")
MAX_ROWS = 1000
MAX_BODY_BYTES = 1 << 20  # 1,000 rows of ten features take about 250 kB


def build_app(promoted: store.Promoted) -> FastAPI:
    """The API of one model: POST and GET /predict, /health, /model, and the docs at /docs."""
    features = promoted.features
    card = promoted.card
    # A JSON body holds numbers as numbers: strict, so "1.5", true and null are refused.
    body_row = create_model(
        "Row",
        __config__=ConfigDict(extra="forbid", strict=True, allow_inf_nan=False),
        **{f: (float, ...) for f in features},
    )
    # A query string holds only text: its numbers are parsed, NaN and infinity still refused.
    query_row = create_model(
        "QueryRow",
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
        **{f: (float, ...) for f in features},
    )
    app = FastAPI(
        title=f"sweeplake model {card['hyper_id']}",
        description=f"{card['model']} on {card['dataset']['name']}; features in order: "
        + ", ".join(features),
        version=card["trial"]["version"],
    )

    predictor = family(card["model"]).predictor(promoted.estimator)

    def predict_rows(rows: list) -> list[float]:
        x = np.array([[getattr(row, f) for f in features] for row in rows], dtype=np.float64)
        try:
            y = predictor(x)
        except ValueError as exc:  # e.g. a value past float32's range for a forest
            raise HTTPException(422, f"the model cannot predict these values: {exc}") from None
        if not np.isfinite(y).all():
            raise HTTPException(422, "the model gives no finite prediction for these values")
        return y.tolist()

    # Answers built as JSONResponse: FastAPI would otherwise validate each one again.
    @app.post(
        "/predict",
        response_class=JSONResponse,
        responses=answer("predictions", "array", POST_REFUSALS),
    )
    async def predict(
        rows: Annotated[
            list[body_row],
            Body(min_length=1, max_length=MAX_ROWS, examples=[[dict.fromkeys(features, 0.0)]]),
        ],
    ) -> JSONResponse:
        """Predictions for a JSON list of rows, each an object of every feature."""
        values = predict_rows(rows)
        return JSONResponse({"hyper_id": card["hyper_id"], "predictions": values})

    @app.get(
        "/predict",
        response_class=JSONResponse,
        responses=answer("prediction", "number", {422: POST_REFUSALS[422]}),
    )
    async def predict_one(row: Annotated[query_row, Query()]) -> JSONResponse:
        """The prediction for one row given as query parameters, one per feature."""
        values = predict_rows([row])
        return JSONResponse({"hyper_id": card["hyper_id"], "prediction": values[0]})

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "hyper_id": card["hyper_id"]}

    @app.get("/model")
    async def model_card() -> dict:
        """The model card written by `promote`."""
        return card

    if card.get("timeseries"):
        from sweeplake.timeseries.serving import add_forecast

        add_forecast(app, card, promoted.estimator)

    posted = {r.path for r in app.routes if isinstance(r, APIRoute) and "POST" in r.methods}
    app.add_middleware(PostChecks, paths=posted)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [describe(e) for e in exc.errors()]
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        return error(422, shown)

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> JSONResponse:
        # FastAPI's own words for these two are vague.
        if exc.status_code == 400:
            return error(400, "the body cannot be read as JSON text in UTF-8")
        if exc.status_code == 413:
            return error(413, f"the body is over {MAX_BODY_BYTES} bytes")
        if exc.status_code == 405:  # with Allow, every method the path takes (RFC 9110)
            return error(405, str(exc.detail), {"Allow": allowed(app, request.scope)})
        return error(exc.status_code, str(exc.detail))

    return app


def allowed(app: FastAPI, scope: dict) -> str:
    """The methods of every route at this request's path: one path may have several routes,
    and the router's own 405 names the first one's alone."""
    methods = set()
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.matches(scope)[0] != Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


class PostChecks:
    """413 for a POST body past MAX_BODY_BYTES (declared, or counted as a chunked one arrives),
    415 for one not declared JSON. Plain ASGI, not an @app.middleware function, which costs a
    task and two streams per request; not FastAPI's max_body_size, which answers in plain text.
    """

    def __init__(self, app, paths: set[str]) -> None:
        self.app = app
        self.paths = paths  # those that take a POST: any other answers 405

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            headers = dict(scope["headers"])
            length = headers.get(b"content-length", b"0")
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                await error(413, f"the body is over {MAX_BODY_BYTES} bytes")(scope, receive, send)
                return
            declared = headers.get(b"content-type", b"").decode("latin-1")
            kind = declared.split(";")[0].strip().lower()
            if kind != "application/json":
                refusal = error(
                    415, f"the body must be application/json, not {kind[:40] or 'untyped'}"
                )
                await refusal(scope, receive, send)
                return
            receive = counted(receive)
        await self.app(scope, receive, send)


def counted(receive):
    """`receive` that refuses the body once it passes MAX_BODY_BYTES."""
    received = 0

    async def receive_counted():
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > MAX_BODY_BYTES:
            raise HTTPException(413)  # FastAPI passes it on to the handler below
        return message

    return receive_counted


def describe(problem: dict) -> str:
    """One validation problem as `where: what`, without echoing the client's input back."""
    where = problem.get("loc", ())
    kind = problem.get("type", "")
    if kind == "json_invalid":  # its location is a character offset, not a row
        return f"the body is not valid JSON (near character {where[-1]})"
    if where and where[0] == "body":
        where = ("row", *where[1:]) if len(where) > 1 and isinstance(where[1], int) else where
    path = ".".join(str(p) for p in where)
    message = {
        "missing": "missing",
        "extra_forbidden": "not a feature of this model",
        "float_type": "must be a JSON number",
        "finite_number": "must be finite (no NaN or infinity)",
        "float_parsing": "must be a number",
        "list_type": "the body must be a JSON list of rows",
        "too_short": "the body must hold at least one row",
        "too_long": f"the body may hold at most {MAX_ROWS} rows",
        "model_attributes_type": "must be a JSON object of features",
        "model_type": "must be a JSON object of features",
    }.get(kind, problem.get("msg", "invalid"))
    return f"{path}: {message}" if path else message


# Every refusal the API gives, declared in its OpenAPI document: a JSON object with `error`.
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
POST_REFUSALS = {
    400: "the body cannot be read as JSON text in UTF-8",
    413: f"the body is over {MAX_BODY_BYTES} bytes",
    415: "the body is not declared application/json",
    422: "a row is not every feature as a finite number, or the model cannot predict it",
}


def answer(key: str, kind: str, refusals: dict[int, str]) -> dict:
    """The OpenAPI description of a 200 answer built by hand, and of each refusal."""
    value = {"type": "array", "items": {"type": "number"}} if kind == "array" else {"type": kind}
    schema = {"type": "object", "properties": {"hyper_id": {"type": "string"}, key: value}}
    answers = {200: {"content": {"application/json": {"schema": schema}}}}
    for status, why in refusals.items():
        answers[status] = {
            "description": why,
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
    return answers


def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def serve(lake_uri: str, hyper_id: str | None, host: str, port: int) -> None:
    """Serve the model promoted as hyper_id (default: the latest) until interrupted."""
    import uvicorn

    if not 0 <= port < 65536:
        raise BadInput(f"--port must be in [0, 65535], got {port}")
    promoted = store.load(open_lake(lake_uri), hyper_id)
    listener = bind(host, port)
    bound_host, bound_port = listener.getsockname()[:2]
    log.info(
        "serving %s (%s) on http://%s:%d (docs at /docs)",
        promoted.card["hyper_id"],
        promoted.card["model"],
        bound_host,
        bound_port,
    )
    config = uvicorn.Config(build_app(promoted), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[listener])


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts: a busy port is the user's to fix."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError as exc:
        raise BadInput(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    listener.listen(2048)
    return listener
