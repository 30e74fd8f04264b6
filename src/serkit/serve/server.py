"""The HTTP server for the app: uvicorn's h11 protocol with the connection limits.

uvicorn closes an idle kept-alive connection (``timeout_keep_alive``) but waits forever
for a request's headers, and answers a request h11 cannot parse (an invalid
``Content-Length``...) in plain text. ``GuardedH11Protocol`` adds a deadline for the
headers (slowloris connections are closed), a cap on open connections, and JSON error
bodies for what it answers itself. ``uvicorn_config`` is how the CLI and the tests start
the server, so they run the same one. ``listen`` binds the address before the model is
loaded (a port in use is one line at once, not a log after the model loaded) and ``run``
serves on those sockets.
"""

from __future__ import annotations

import json
import logging
import socket
from http import HTTPStatus
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from serkit.errors import SerkitError
from serkit.serve.limits import ConnectionLimits
from serkit.serve.middleware import NOSNIFF, OTHER_CSP
from serkit.serve.schemas import error_body


def raw_error(status: int, code: str, message: str, *extra: tuple[str, str]) -> bytes:
    """A complete JSON error response that closes the connection, as bytes."""
    body = json.dumps(error_body(code, message)).encode()
    head = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        f"{NOSNIFF[0].decode()}: {NOSNIFF[1].decode()}",
        f"content-security-policy: {OTHER_CSP}",
        *(f"{k}: {v}" for k, v in extra),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _Connection(h11.Connection):
    """h11's connection, keeping the error that made it refuse a request (for the 400)."""

    error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as e:
            self.error = e
            raise


class GuardedH11Protocol(H11Protocol):
    """One connection: its headers must arrive within ``header_timeout`` seconds of the
    connection (or of the previous response), and at most ``max_connections`` are open."""

    header_timeout: float = ConnectionLimits.header_timeout
    max_connections: int = ConnectionLimits.max_connections

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        size = self.config.h11_max_incomplete_event_size
        self.conn = _Connection(
            h11.SERVER, **({} if size is None else {"max_incomplete_event_size": size})
        )
        self._header_timer: Any = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self.transport.write(
                raw_error(
                    503,
                    "overloaded",
                    f"{self.max_connections:,} connections are open (limit); try again later",
                    ("retry-after", "1"),
                )
            )
            self.transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.conn.trailing_data[0]:  # part of a request came: say why it is closed
            self.transport.write(
                raw_error(
                    408,
                    "request_timeout",
                    f"the request headers did not arrive within {self.header_timeout:g} s",
                )
            )
        self.transport.close()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers are complete
            self._disarm()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm()  # for the next request; before a pipelined one is parsed below
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        error = self.conn.error
        status = error.error_status_hint if error is not None else 400
        reason = str(error) if error is not None else msg
        code = "headers_too_large" if status == 431 else "bad_request"
        self.transport.write(raw_error(status, code, f"invalid HTTP request: {reason}"))
        self.transport.close()


def uvicorn_config(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
    connection: ConnectionLimits | None = None,
    **kwargs: Any,
) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with its connection limits (by default those
    ``create_app`` was given)."""
    if connection is None:
        state = getattr(app, "state", None)
        connection = getattr(state, "connection_limits", None) or ConnectionLimits()
    protocol = type(
        "SerkitH11Protocol",
        (GuardedH11Protocol,),
        {
            "header_timeout": connection.header_timeout,
            "max_connections": connection.max_connections,
        },
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=connection.keep_alive,  # type: ignore[arg-type]
        log_level=log_level,
        access_log=False,
        **kwargs,
    )


def listen(host: str, port: int, backlog: int = 2048) -> list[socket.socket]:
    """Listening sockets for every address of ``host`` (as uvicorn would bind them: a name
    such as ``localhost`` may be IPv4 and IPv6; ``[::1]`` is ``::1``), all on one port
    (port 0: the first free one the system gives). ``SerkitError`` (one line, exit 2)
    when the host is unknown or the port taken."""
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    where = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
    try:
        infos = socket.getaddrinfo(
            name or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as e:
        raise SerkitError(f"cannot listen on {where}: unknown host ({e.strerror})") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, addr in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:  # the other addresses on the first's port
                addr = (addr[0], sockets[0].getsockname()[1], *addr[2:])
            sock.bind(addr)
            sock.listen(backlog)
    except OSError as e:
        for sock in sockets:
            sock.close()
        reason = (e.strerror or str(e)).lower()
        raise SerkitError(f"cannot listen on {where}: {reason}") from None
    return sockets


class _Server(uvicorn.Server):
    """uvicorn's server on sockets bound by ``listen``, saying where it listens (uvicorn
    only says so when it binds them itself)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            for sock in sockets:
                host, port = sock.getsockname()[:2]
                shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
                logging.getLogger("uvicorn.error").info(
                    "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, port
                )


def run(config: uvicorn.Config, sockets: list[socket.socket]) -> None:
    """Serve ``config``'s app on ``sockets`` (from ``listen``) until SIGINT or SIGTERM:
    requests in progress are answered first."""
    _Server(config).run(sockets=sockets)
