"""`serkit train`: fine-tune a transformer (or train a CRF) from a TOML config plus flags."""

from __future__ import annotations

from pathlib import Path

import typer

from serkit.cli._app import app


@app.command("train")
def train_cmd(
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help=r"TOML config (keys as the options below; may sit under \[train]).",
    ),
    train: str | None = typer.Option(
        None, "--train", help="Training data: file or WikiSER folder."
    ),
    dev: str | None = typer.Option(None, "--dev", help="Dev data for evaluation/best checkpoint."),
    val_slice: bool | None = typer.Option(
        None,
        "--val-slice/--no-val-slice",
        help="W1 split: training sentences with 0-based index % 10 == 9 become the dev set.",
    ),
    val_tail: float | None = typer.Option(
        None,
        "--val-tail",
        help="S2 split: this last fraction of the training sentences becomes the dev set.",
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="wikiser | conll | jsonl (default: detect)."
    ),
    mapping: str | None = typer.Option(
        None,
        "--mapping",
        help="Map train/dev types first: src:dst (e.g. stackoverflow-ner:softner-9) or a file.",
    ),
    arch: str | None = typer.Option(None, "--arch", help="transformer (default) or crf."),
    protocol: str | None = typer.Option(
        None, "--protocol", help="Protocol name for the card (W1, S1...)."
    ),
    backbone: str | None = typer.Option(
        None, "--backbone", help="minilm (packaged, default), a local model dir or a hub name."
    ),
    features: str | None = typer.Option(
        None, "--features", help="Comma list of extra inputs: case,lexicon (or 'none')."
    ),
    epochs: float | None = typer.Option(
        None, "--epochs", help="Training epochs (may be fractional)."
    ),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after this many steps."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate of the encoder."),
    head_lr: float | None = typer.Option(
        None, "--head-lr", help="Learning rate of the classifier and feature embeddings."
    ),
    warmup: float | None = typer.Option(None, "--warmup", help="Warm-up fraction of the steps."),
    batch_tokens: int | None = typer.Option(
        None,
        "--batch-tokens",
        help="Batch size in sub-tokens (rows x longest row, padding included).",
    ),
    max_length: int | None = typer.Option(None, "--max-length", help="Sub-tokens per window."),
    stride: int | None = typer.Option(None, "--stride", help="Overlap of long-sentence windows."),
    k: int | None = typer.Option(None, "--k", help="Self-regularization passes (1 = vanilla)."),
    alpha: float | None = typer.Option(None, "--alpha", help="Weight of the agreement (KL) term."),
    alpha_warmup: float | None = typer.Option(
        None, "--alpha-warmup", help="Fraction of steps trained with alpha = 0 first."
    ),
    dropout: float | None = typer.Option(None, "--dropout", help="Hidden dropout probability."),
    num_layers: int | None = typer.Option(
        None, "--num-layers", help="Keep only the backbone's first N layers (faster, smaller)."
    ),
    teacher: str | None = typer.Option(
        None, "--teacher", help="Distil from this trained serkit transformer (same labels)."
    ),
    distill: float | None = typer.Option(
        None, "--distill", help="Weight of the distillation term (with --teacher)."
    ),
    distill_temperature: float | None = typer.Option(
        None, "--distill-temperature", help="Softmax temperature of the distillation term."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed for every random choice."),
    output: str | None = typer.Option(None, "--output", "-o", help="Output model directory."),
    eval_every: int | None = typer.Option(
        None, "--eval-every", help="Evaluate on dev every N steps (0 = every epoch)."
    ),
    checkpoint_every: int | None = typer.Option(
        None, "--checkpoint-every", help="Write a resumable checkpoint every N steps."
    ),
    keep_best: bool | None = typer.Option(
        None, "--keep-best/--keep-last", help="Keep the best model by dev strict F1 (default)."
    ),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue from the output dir's last checkpoint with its own settings "
        "(--epochs/--max-steps may change its length).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train a tagger. Example (W1): serkit train --config configs/w1.toml"""
    from serkit.training.config import load_config

    feats = None
    if features is not None:
        feats = (
            []
            if features.strip().lower() in ("", "none")
            else [f.strip() for f in features.split(",") if f.strip()]
        )
    overrides = {
        "train": train, "dev": dev, "val_slice": val_slice, "val_tail": val_tail,
        "format": fmt, "mapping": mapping, "arch": arch,
        "protocol": protocol, "backbone": backbone, "features": feats, "epochs": epochs,
        "max_steps": max_steps, "lr": lr, "head_lr": head_lr, "warmup": warmup,
        "batch_tokens": batch_tokens, "max_length": max_length, "stride": stride, "k": k,
        "alpha": alpha, "alpha_warmup": alpha_warmup, "dropout": dropout, "seed": seed,
        "num_layers": num_layers, "teacher": teacher, "distill": distill,
        "distill_temperature": distill_temperature,
        "output": output, "eval_every": eval_every, "checkpoint_every": checkpoint_every,
        "keep_best": keep_best, "threads": threads,
    }  # fmt: skip
    cfg = load_config(config, overrides)
    if cfg.arch == "crf":
        from serkit.errors import SerkitError
        from serkit.models.crf import train_from_config

        if resume:  # a CRF trains in one go and keeps no checkpoint to continue from
            raise SerkitError("--resume applies to transformer training, not --arch crf")

        out = train_from_config(cfg)
    else:
        from serkit.training.trainer import train as run_training

        out = run_training(cfg, resume=resume, progress=progress)
    typer.echo(f"model written to {out}")
