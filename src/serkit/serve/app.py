"""The REST service: ``create_app(tagger, limits)`` builds the FastAPI application.

Routes: ``POST /v1/entities``, ``GET /v1/labels``, ``GET /v1/model``, ``GET /healthz``,
the web page at ``/`` and OpenAPI at ``/docs`` (Swagger UI served from the
``fastapi-offline`` package, not a CDN). Every error body is
``{"error": {"code", "message"}}``; bad input is a 4xx, never a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import serkit
from serkit.errors import SerkitError
from serkit.models.registry import default_model_dir
from serkit.serve.batching import MicroBatcher, Overloaded
from serkit.serve.limits import LimitError, Limits
from serkit.serve.schemas import (
    EntitiesRequest,
    EntitiesResponse,
    ErrorBody,
    HealthResponse,
    LabelsResponse,
    ModelInfo,
    error_body,
)
from serkit.tagger import Tagger

log = logging.getLogger("serkit.serve")

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The page loads only what serkit serves itself.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    503: "overloaded",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "A body, text or request over a limit."},
    422: {"model": ErrorBody, "description": "Malformed JSON or a body not of this schema."},
    503: {"model": ErrorBody, "description": "Too many requests waiting for the model."},
}


def error_response(status: int, code: str, message: str, headers=None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes``: by ``Content-Length`` before a byte of the body
    is read, else (chunked uploads) as soon as the streamed size passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                break
        if length is not None and (length < 0 or length > self.max_bytes):
            too_big = length > self.max_bytes
            response = error_response(
                413 if too_big else 400,
                "body_too_large" if too_big else "bad_request",
                f"request body of {length} bytes; the limit is {self.max_bytes}"
                if too_big
                else "invalid Content-Length header",
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI re-raises an HTTPException from the body read: the handler
                    # below turns it into the JSON 413.
                    raise StarletteHTTPException(
                        413, f"request body over the limit of {self.max_bytes} bytes"
                    )
            return message

        await self.app(scope, limited, send)


def model_info(tagger: Tagger, name: str | None = None) -> ModelInfo:
    """Name and version of the served model: the card's, else its directory and date."""
    card = getattr(tagger, "card", None) or {}
    if name is None:
        name = card.get("name")
    if name is None:
        d = getattr(tagger, "model_dir", None)
        if d is not None and Path(d).resolve() == default_model_dir().resolve():
            name = "serkit-default"
        else:
            name = Path(d).name if d is not None else type(tagger).__name__
    version = str(card.get("version") or card.get("created") or "unknown")
    runtime = card.get("runtime") or getattr(tagger, "runtime", None)
    runtime = None if runtime is None else str(runtime)  # a hand-edited card may say 5
    return ModelInfo(
        name=str(name), version=version, runtime=runtime, serkit_version=serkit.__version__
    )


def _validation_message(exc: RequestValidationError, request: Request) -> tuple[str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        e = next(e for e in errors if e.get("type") == "json_invalid")
        detail = (e.get("ctx") or {}).get("error", "invalid JSON")
        return "invalid_json", f"malformed JSON body: {detail} (character {e['loc'][-1]})"
    ctype = request.headers.get("content-type", "")
    if any(tuple(e.get("loc", ())) == ("body",) for e in errors) and "json" not in ctype:
        return "invalid_request", (
            'the body must be a JSON object like {"text": "..."} sent with '
            "content-type: application/json"
        )
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid_request", "; ".join(parts) + more


def create_app(
    tagger: Tagger,
    limits: Limits | None = None,
    *,
    model_name: str | None = None,
    batch_size: int = 32,
    max_wait_ms: float = 2.0,
) -> FastAPI:
    """The service for one loaded tagger; inference runs on the micro-batcher's thread."""
    from fastapi_offline import FastAPIOffline

    limits = limits or Limits()
    info = model_info(tagger, model_name)
    batcher = MicroBatcher(
        tagger,
        batch_size=batch_size,
        max_batch_texts=max(limits.max_texts, 1),
        max_wait_ms=max_wait_ms,
        max_pending=limits.max_pending,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            batcher.stop()

    app = FastAPIOffline(
        title="serkit",
        version=serkit.__version__,
        description=(
            "Software entity recognition: names of software, libraries, languages, "
            "operating systems... in text, with exact character offsets (Unicode code "
            f"points). Limits: {json.dumps(limits.to_dict())}."
        ),
        lifespan=lifespan,
        redoc_url=None,
        # A body with no content-type is read as JSON (curl -d without -H still works).
        strict_content_type=False,
    )
    app.state.tagger = tagger
    app.state.limits = limits
    app.state.batcher = batcher
    app.state.model_info = info
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message = _validation_message(exc, request)
        return error_response(422, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8): malformed JSON.
            cause = exc.__cause__
            return error_response(
                422, "invalid_json", f"malformed JSON body: {type(cause).__name__}: {cause}"
            )
        code = STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        headers = dict(exc.headers or {})
        if exc.status_code == 413:
            headers["Connection"] = "close"
        return error_response(exc.status_code, code, message, headers=headers or None)

    @app.exception_handler(LimitError)
    async def _limit(_request: Request, exc: LimitError) -> JSONResponse:
        return error_response(413, exc.code, str(exc))

    @app.exception_handler(Overloaded)
    async def _overloaded(_request: Request, exc: Overloaded) -> JSONResponse:
        return error_response(503, "overloaded", str(exc), headers={"Retry-After": "1"})

    @app.exception_handler(SerkitError)
    async def _serkit(_request: Request, exc: SerkitError) -> JSONResponse:
        return error_response(400, "bad_request", str(exc))

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error", exc_info=exc)
        return error_response(500, "internal_error", f"internal error: {type(exc).__name__}")

    @app.post(
        "/v1/entities",
        response_model=EntitiesResponse,
        response_model_exclude_none=True,
        responses=ERROR_RESPONSES,
        summary="Find software entities in one text or several",
    )
    async def entities(body: EntitiesRequest) -> dict[str, Any]:
        texts = [body.text] if body.text is not None else list(body.texts or [])
        limits.check_texts(texts)
        results = await batcher.submit(texts)
        out: dict[str, Any] = {"model": info}
        if body.text is not None:
            out["entities"] = [e.to_dict() for e in results[0]]
        else:
            out["results"] = [{"entities": [e.to_dict() for e in ents]} for ents in results]
        return out

    @app.get("/v1/labels", response_model=LabelsResponse, summary="The model's labels")
    async def labels() -> dict[str, Any]:
        return {"labels": list(tagger.labels), "types": tagger.entity_types}

    @app.get("/v1/model", summary="The model card (serkit.json) of the served model")
    async def model() -> dict[str, Any]:
        return {**(getattr(tagger, "card", None) or {}), "info": info.model_dump()}

    @app.get("/v1/limits", summary="The request limits in force")
    async def get_limits() -> dict[str, int]:
        return limits.to_dict()

    @app.get("/healthz", response_model=HealthResponse, summary="Liveness and queue length")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "model": info, "pending": batcher.pending}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _document_limits(app, limits)
    return app


def _document_limits(app: FastAPI, limits: Limits) -> None:
    """Put this server's length limits into its OpenAPI schema, so clients (and fuzzers)
    know that longer input is a 413, not a request the schema allows."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        props = schema["components"]["schemas"]["EntitiesRequest"]["properties"]
        props["text"]["maxLength"] = limits.max_text_chars
        props["texts"]["maxItems"] = limits.max_texts
        props["texts"]["items"]["maxLength"] = limits.max_text_chars
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
