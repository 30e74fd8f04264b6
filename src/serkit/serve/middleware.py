"""ASGI middleware of the service: what is decided from the request's headers alone.

From the outside in: security headers on every response, ``HEAD`` answered as ``GET``
without a body, ``415`` for a POST that is not JSON, and the body's size (``413``) and
time (``408``) limits, all before a byte of the body is parsed. Error bodies have the
API's one shape, ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from base64 import b64encode
from email.message import Message as _MIME
from typing import Any

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serkit.serve.schemas import error_body

#: The page loads only what serkit serves itself.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
#: Swagger UI at /docs: its script and styles from serkit; its one inline script (the
#: configuration) allowed by its hash, filled in per response; React sets inline styles.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
#: Everything else (JSON, the static assets): nothing in it may load or run anything.
OTHER_CSP = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"
NOSNIFF = (b"x-content-type-options", b"nosniff")
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def error_response(status: int, code: str, message: str, headers=None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def _add_headers(message: Message, csp: str) -> Message:
    headers = list(message.get("headers", []))
    names = {k.lower() for k, _ in headers}
    if NOSNIFF[0] not in names:
        headers.append(NOSNIFF)
    if b"content-security-policy" not in names:
        headers.append((b"content-security-policy", csp.encode("latin-1")))
    return {**message, "headers": headers}


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options: nosniff`` and a Content-Security-Policy on every response:
    the page's on ``/``, Swagger UI's on ``docs_path``, ``default-src 'none'`` elsewhere."""

    def __init__(self, app: ASGIApp, docs_path: str | None = "/docs") -> None:
        self.app = app
        self.docs_path = docs_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.docs_path:
            await self._docs(scope, receive, send)
            return
        csp = PAGE_CSP if scope["path"] == "/" else OTHER_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _add_headers(message, csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The docs page is small: hold it whole, then allow exactly its inline scripts."""
        start: Message | None = None
        body: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            page = b"".join(body)
            hashes = " ".join(
                f"'sha256-{b64encode(hashlib.sha256(s).digest()).decode()}'"
                for s in _INLINE_SCRIPT.findall(page)
            )
            await send(_add_headers(start, DOCS_CSP.format(hashes=hashes)))
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, hold)


class HeadMiddleware:
    """``HEAD`` on any GET route: the GET's status and headers, without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


def _media_type(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"content-type":
            mime = _MIME()
            mime["content-type"] = value.decode("latin-1")
            return mime.get_content_type()
    return None


def _has_body(scope: Scope) -> bool:
    headers = dict(scope["headers"])
    return b"transfer-encoding" in headers or headers.get(b"content-length", b"0") != b"0"


class JSONOnlyMiddleware:
    """415 for a POST to ``paths`` with a body that is not typed JSON, before it is read
    (no body at all is left to the schema's 422).

    Browsers send text/plain, form-urlencoded, multipart and untyped bodies cross-site
    without asking the server first (CORS "simple requests"): refusing them by header
    means another site's page cannot make this server spend CPU. curl's ``-d`` sends
    form-urlencoded: the message shows the header to add.
    """

    def __init__(self, app: ASGIApp, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in self.paths
            and _has_body(scope)
        ):
            media = _media_type(scope)
            if media != "application/json" and not (
                media and media.startswith("application/") and media.endswith("+json")
            ):
                got = (
                    "no content type"
                    if media is None
                    else "content-type application/x-www-form-urlencoded (curl's default for -d)"
                    if media == "application/x-www-form-urlencoded"
                    else f"content-type {media}"
                )
                response = error_response(
                    415,
                    "unsupported_media_type",
                    'the body must be a JSON object like {"text": "..."} sent with the '
                    "header content-type: application/json (with curl: "
                    f"-H 'content-type: application/json'); this request has {got}",
                    headers={"Connection": "close"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes``: by ``Content-Length`` before a byte of the body
    is read, else (chunked uploads) as soon as the streamed size passes the limit; 408
    when the whole body has not arrived ``timeout`` seconds after the headers (a body
    shorter than its ``Content-Length`` would otherwise hold the request forever)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

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
                f"request body of {length:,} bytes (limit {self.max_bytes:,})"
                if too_big
                else "invalid Content-Length header",
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        seen = 0
        complete = False
        deadline = None
        if self.timeout is not None:
            deadline = asyncio.get_running_loop().time() + self.timeout

        async def limited() -> Message:
            nonlocal seen, complete
            if complete or deadline is None:
                message = await receive()
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    # Raised into FastAPI's body read, which re-raises an HTTPException:
                    # the app's handler turns it into the JSON 408.
                    raise StarletteHTTPException(
                        408,
                        f"the request body did not arrive within {self.timeout:g} s "
                        f"({seen:,} bytes came)",
                    ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > self.max_bytes:
                    raise StarletteHTTPException(
                        413, f"request body over the limit of {self.max_bytes:,} bytes"
                    )
            return message

        await self.app(scope, limited, send)


async def until_disconnected(receive: Receive) -> None:
    """Return once the client has gone. Call only after the body was read: the server then
    has nothing else to deliver but ``http.disconnect``."""
    message: dict[str, Any] = {}
    while message.get("type") != "http.disconnect":
        message = await receive()
