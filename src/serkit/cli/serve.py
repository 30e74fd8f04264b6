"""`serkit serve`: the REST service and web page (FastAPI on uvicorn)."""

from __future__ import annotations

from pathlib import Path

import typer

from serkit.cli._app import app
from serkit.serve.limits import Limits

_D = Limits()


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
        help="auto (ONNX when the model has it), torch, onnx, onnx-fp32, onnx-int8.",
    ),
    threads: int | None = typer.Option(None, "--threads", min=0, help="Inference threads."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", min=1, help="Sentences per batch."),
    max_wait_ms: float = typer.Option(
        2.0, "--max-wait-ms", min=0.0, help="How long a request waits for others to batch with."
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
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve POST /v1/entities, a web page at /, and the OpenAPI docs at /docs."""
    import uvicorn

    from serkit.models.registry import load_tagger
    from serkit.serve.app import create_app

    limits = Limits(
        max_text_chars=max_text_chars,
        max_request_chars=max_request_chars,
        max_texts=max_texts,
        max_body_bytes=max_body_bytes,
        max_pending=max_pending,
    )
    kwargs = {"threads": threads} if threads is not None else {}
    tagger = load_tagger(model, prefer=runtime, **kwargs)
    application = create_app(tagger, limits, batch_size=batch_size, max_wait_ms=max_wait_ms)
    uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=False)
