"""`serkit export onnx`: a transformer model as an ONNX Runtime model directory."""

from __future__ import annotations

from pathlib import Path

import typer

from serkit.cli._app import export_app
from serkit.models.folder import ONNX_FP32, ONNX_INT8


@export_app.command("onnx")
def export_onnx_cmd(
    model: Path = typer.Argument(..., help="A saved serkit transformer model directory."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the ONNX model."),
    quantize: str | None = typer.Option(
        None, "--quantize", "-q", help="int8: dynamic quantisation of MatMul and embeddings."
    ),
    keep_fp32: bool = typer.Option(
        False, "--keep-fp32", help=f"With --quantize, keep {ONNX_FP32} next to {ONNX_INT8}."
    ),
) -> None:
    """Export MODEL to ONNX (fp32, or int8 with --quantize int8); the folder loads with
    `serkit.load(DIR)` / `serkit tag --model DIR` and needs no torch."""
    from serkit.models.export_onnx import export_onnx

    path = export_onnx(model, output, quantize=quantize, keep_fp32=keep_fp32)
    size = sum(p.stat().st_size for p in path.parent.iterdir() if p.is_file())
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB; folder {size / 1e6:.1f} MB)")
