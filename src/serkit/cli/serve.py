"""`serkit serve`: the REST service and web page (FastAPI on uvicorn)."""

from __future__ import annotations

from pathlib import Path

import typer

from serkit.architectures import runtimes_help
from serkit.cli._app import app
from serkit.devices import DEVICES, DTYPES_HELP
from serkit.serve.limits import ConnectionLimits, Limits

_D = Limits()
_C = ConnectionLimits()


@app.command("serve")
def serve(
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Model directory (default: the shipped model)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8080, "--port", "-p", min=0, max=65535, help="TCP port."),
    runtime: str = typer.Option(
        "auto",
        "--runtime",
        help=runtimes_help(),
    ),
    threads: int | None = typer.Option(None, "--threads", min=0, help="Inference threads."),
    device: str = typer.Option("cpu", "--device", help=f"Where the model runs: {DEVICES}."),
    dtype: str = typer.Option("fp32", "--dtype", help=DTYPES_HELP),
    batch_size: int = typer.Option(32, "--batch-size", "-b", min=1, help="Sentences per batch."),
    max_wait_ms: float = typer.Option(
        2.0, "--max-wait-ms", min=0.0, help="How long a request waits for others to batch with."
    ),
    max_batch_chars: int = typer.Option(
        2048,
        "--max-batch-chars",
        min=1,
        help="Characters per model call; longer texts are cut at sentence starts, so a "
        "short request waits for at most one such call.",
    ),
    max_text_chars: int = typer.Option(
        _D.max_text_chars,
        "--max-text-chars",
        min=1,
        envvar="SERKIT_MAX_TEXT_CHARS",
        help="Characters in one text.",
    ),
    max_request_chars: int = typer.Option(
        _D.max_request_chars,
        "--max-request-chars",
        min=1,
        envvar="SERKIT_MAX_REQUEST_CHARS",
        help="Characters in all texts of one request.",
    ),
    max_texts: int = typer.Option(
        _D.max_texts, "--max-texts", min=1, envvar="SERKIT_MAX_TEXTS", help="Texts per request."
    ),
    max_body_bytes: int = typer.Option(
        _D.max_body_bytes,
        "--max-body-bytes",
        min=1,
        envvar="SERKIT_MAX_BODY_BYTES",
        help="Bytes of one request body.",
    ),
    max_pending: int = typer.Option(
        _D.max_pending,
        "--max-pending",
        min=1,
        envvar="SERKIT_MAX_PENDING",
        help="Requests waiting for the model before 503.",
    ),
    header_timeout: float = typer.Option(
        _C.header_timeout,
        "--header-timeout",
        min=0.001,
        envvar="SERKIT_HEADER_TIMEOUT",
        help="Seconds for a request's headers; slower connections are closed.",
    ),
    body_timeout: float = typer.Option(
        _C.body_timeout,
        "--body-timeout",
        min=0.001,
        envvar="SERKIT_BODY_TIMEOUT",
        help="Seconds for a request's whole body (408 after).",
    ),
    keep_alive: float = typer.Option(
        _C.keep_alive,
        "--keep-alive",
        min=0.001,
        envvar="SERKIT_KEEP_ALIVE",
        help="Seconds an idle connection stays open.",
    ),
    max_connections: int = typer.Option(
        _C.max_connections,
        "--max-connections",
        min=1,
        envvar="SERKIT_MAX_CONNECTIONS",
        help="Open connections at once (503 over it); keep it below `ulimit -n`.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve POST /v1/entities, a web page at /, and the OpenAPI docs at /docs."""
    from serkit.models.registry import load_tagger
    from serkit.serve.app import create_app
    from serkit.serve.server import listen, run, uvicorn_config

    limits = Limits(
        max_text_chars=max_text_chars,
        max_request_chars=max_request_chars,
        max_texts=max_texts,
        max_body_bytes=max_body_bytes,
        max_pending=max_pending,
    )
    connection = ConnectionLimits(
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        keep_alive=keep_alive,
        max_connections=max_connections,
    )
    kwargs = {"threads": threads} if threads is not None else {}
    sockets = listen(host, port)  # before the model: a taken port fails at once
    try:
        tagger = load_tagger(model, prefer=runtime, device=device, dtype=dtype, **kwargs)
        application = create_app(
            tagger,
            limits,
            batch_size=batch_size,
            max_batch_chars=max_batch_chars,
            max_wait_ms=max_wait_ms,
            connection=connection,
        )
        config = uvicorn_config(application, host=host, port=port, log_level=log_level)
        run(config, sockets)
    finally:
        for sock in sockets:
            sock.close()
