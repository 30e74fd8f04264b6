"""The REST service: ``create_app(tagger, limits)`` builds the FastAPI application.

Routes: ``POST /v1/entities``, ``GET /v1/labels``, ``GET /v1/model``, ``GET /v1/palette``
(the colour of each type), ``GET /healthz``, the web page at ``/`` and OpenAPI at ``/docs``
(Swagger UI served from the ``fastapi-offline`` package, not a CDN); ``HEAD`` wherever
``GET`` is. Every error body is ``{"error": {"code", "message"}}``; bad input is a 4xx,
never a 500. Connection-level limits (header timeout, connection cap) are the HTTP
server's: ``serkit.serve.server``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import serkit
from serkit import palette
from serkit.errors import InvalidScheme, SerkitError
from serkit.models.registry import default_model_dir
from serkit.serve.batching import MicroBatcher, Overloaded
from serkit.serve.limits import ConnectionLimits, LimitError, Limits
from serkit.serve.middleware import (
    PAGE_CSP,
    BodyLimitMiddleware,
    HeadMiddleware,
    JSONOnlyMiddleware,
    SecurityHeadersMiddleware,
    error_response,
    until_disconnected,
)
from serkit.serve.schemas import (
    EntitiesRequest,
    EntitiesResponse,
    ErrorBody,
    HealthResponse,
    LabelsResponse,
    ModelInfo,
)
from serkit.tagger import Tagger

__all__ = ["BodyLimitMiddleware", "PAGE_CSP", "create_app", "error_response", "model_info"]

log = logging.getLogger("serkit.serve")

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    431: "headers_too_large",
    500: "internal_error",
    503: "overloaded",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "An unknown scheme, or an invalid Content-Length."},
    408: {"model": ErrorBody, "description": "The body did not arrive in time."},
    413: {"model": ErrorBody, "description": "A body, text or request over a limit."},
    415: {"model": ErrorBody, "description": "A body not sent as application/json."},
    422: {"model": ErrorBody, "description": "Malformed JSON or a body not of this schema."},
    503: {"model": ErrorBody, "description": "Too many requests waiting for the model."},
}


class StrictJSONError(ValueError):
    """What ``json.loads`` accepts but JSON (RFC 8259) does not, or leaves undefined."""


def _no_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON value (JSON numbers are finite)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise StrictJSONError(f"the key {json.dumps(key)} appears twice in one object")
            seen.add(key)
    return obj


def strict_json_loads(body: bytes) -> Any:
    """``json.loads`` without NaN, Infinity and repeated keys (which one would win?)."""
    return json.loads(body, parse_constant=_no_constant, object_pairs_hook=_unique_keys)


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json_loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """FastAPI parses request bodies with ``Request.json``: this route's is strict."""

    def get_route_handler(self):  # type: ignore[no-untyped-def]
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


class RevalidatedStaticFiles(StaticFiles):
    """The page's script and styles, revalidated on every load (``no-cache``; unchanged,
    they are a 304 by their ETag): their URLs carry no version, and the page itself is
    ``no-cache``, so a copy kept by heuristic freshness (from ``Last-Modified``) would
    pair the page of a new serkit with the script of an old one."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def model_info(tagger: Tagger, name: str | None = None) -> ModelInfo:
    """Name and version of the served model: the card's, else its directory and date."""
    card = getattr(tagger, "card", None) or {}
    if name is None:
        name = card.get("name")
    if name is None:
        d = tagger.model_dir
        if d is not None and Path(d).resolve() == default_model_dir().resolve():
            name = "serkit-default"
        else:
            name = Path(d).name if d is not None else type(tagger).__name__
    version = str(card.get("version") or card.get("created") or "unknown")
    runtime = tagger.runtime
    return ModelInfo(
        name=str(name), version=version, runtime=runtime, serkit_version=serkit.__version__
    )


def _validation_message(exc: RequestValidationError) -> tuple[str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        e = next(e for e in errors if e.get("type") == "json_invalid")
        detail = (e.get("ctx") or {}).get("error", "invalid JSON")
        return "invalid_json", f"malformed JSON body: {detail} (character {e['loc'][-1]})"
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
    max_batch_chars: int = 2048,
    max_wait_ms: float = 2.0,
    connection: ConnectionLimits | None = None,
) -> FastAPI:
    """The service for one loaded tagger; inference runs on the micro-batcher's thread.

    ``connection``: its ``body_timeout`` is applied here; the rest by the HTTP server
    that ``serkit.serve.server.uvicorn_config`` builds for this app.
    """
    from fastapi_offline import FastAPIOffline

    limits = limits or Limits()
    connection = connection or ConnectionLimits()
    info = model_info(tagger, model_name)
    batcher = MicroBatcher(
        tagger,
        batch_size=batch_size,
        max_batch_texts=max(limits.max_texts, 1),
        max_batch_chars=max_batch_chars,
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
        redirect_slashes=False,  # /v1/entities/ is a 404, not a redirect
    )
    app.router.route_class = StrictJSONRoute
    app.state.tagger = tagger
    app.state.limits = limits
    app.state.connection_limits = connection
    app.state.batcher = batcher
    app.state.model_info = info
    # Added last = runs first: HEAD, then the content type, then the body's size and time.
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=limits.max_body_bytes, timeout=connection.body_timeout
    )
    app.add_middleware(JSONOnlyMiddleware, paths=frozenset({"/v1/entities"}))
    app.add_middleware(HeadMiddleware)
    # Outside Starlette's own error middleware too, so that even a 500 carries them.
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeadersMiddleware(build_stack())  # type: ignore[method-assign]

    schemes = [str(s) for s in getattr(tagger, "schemes", ()) or ()]
    by_scheme: dict[str, Tagger] = {}

    def tagger_for(scheme: str | None) -> Tagger:
        """The tagger for a request's label ``scheme`` (None: the model's default): a
        view of the one loaded model (``Tagger.with_scheme``), made once per scheme, so
        the batcher puts requests of one scheme together."""
        if scheme is None:
            return tagger
        if scheme not in schemes:
            raise InvalidScheme(
                f"unknown scheme {json.dumps(scheme)} (known: {', '.join(schemes) or 'none'})"
            )
        if scheme not in by_scheme:
            by_scheme[scheme] = tagger.with_scheme(scheme)
        return by_scheme[scheme]

    app.state.tagger_for = tagger_for

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message = _validation_message(exc)
        return error_response(422, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "error parsing the body" (bytes that are not UTF-8, NaN, a repeated
            # key, a 5,000-digit number...): malformed JSON.
            cause = exc.__cause__
            detail = (
                str(cause)
                if isinstance(cause, StrictJSONError)
                else f"{type(cause).__name__}: {cause}"
            )
            return error_response(422, "invalid_json", f"malformed JSON body: {detail}")
        code = STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        headers = dict(exc.headers or {})
        allow = [m.strip() for m in headers.get("Allow", "").split(",") if m.strip()]
        if exc.status_code == 405 and "GET" in allow and "HEAD" not in allow:
            headers["Allow"] = ", ".join([*allow, "HEAD"])  # HeadMiddleware answers HEAD
        if exc.status_code in (408, 413):  # the rest of the body is not read
            headers["Connection"] = "close"
        return error_response(exc.status_code, code, message, headers=headers or None)

    @app.exception_handler(LimitError)
    async def _limit(_request: Request, exc: LimitError) -> JSONResponse:
        return error_response(413, exc.code, str(exc))

    @app.exception_handler(InvalidScheme)
    async def _scheme(_request: Request, exc: InvalidScheme) -> JSONResponse:
        return error_response(400, "unknown_scheme", str(exc))

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
    async def entities(body: EntitiesRequest, request: Request) -> Any:
        single = body.text is not None
        texts = [body.text] if single else list(body.texts or [])
        limits.check_texts(texts, single=single)
        chosen = app.state.tagger_for(body.scheme)
        # The model's work is dropped if the client goes away while it waits.
        work = asyncio.ensure_future(batcher.submit(texts, chosen))
        gone = asyncio.ensure_future(until_disconnected(request.receive))
        try:
            done, _ = await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not work.done():
                work.cancel()  # the batcher drops the request: none of it is computed
        if work not in done:
            return error_response(
                499, "client_closed_request", "the client closed the connection first"
            )
        results = work.result()
        out: dict[str, Any] = {"model": info}
        if single:
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

    @app.get("/v1/palette", summary="The colour of each entity type (page, HTML export)")
    async def get_palette() -> dict[str, Any]:
        return {
            "text": palette.TEXT_COLOR,
            "colors": palette.colors([*palette.COLORS, *tagger.entity_types]),
        }

    @app.get("/healthz", response_model=HealthResponse, summary="Liveness and queue length")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "model": info,
            "pending": batcher.pending,
            "pending_chars": batcher.pending_chars,
        }

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            media_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    app.mount("/static", RevalidatedStaticFiles(directory=STATIC_DIR), name="static")
    _document_limits(app, limits, schemes)
    return app


def _document_limits(app: FastAPI, limits: Limits, schemes: list[str]) -> None:
    """Put this server's length limits and its model's schemes into its OpenAPI schema,
    so clients (and fuzzers) know that longer input is a 413 and another scheme a 400,
    not requests the schema allows."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        props = schema["components"]["schemas"]["EntitiesRequest"]["properties"]
        props["text"]["maxLength"] = limits.max_text_chars
        props["texts"]["maxItems"] = limits.max_texts
        props["texts"]["items"]["maxLength"] = limits.max_text_chars
        props["scheme"] = {
            "enum": [*schemes, None],
            "title": "Scheme",
            "description": props["scheme"].get("description", ""),
        }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
