"""Arg max + repair vs constrained Viterbi decoding of transformer models -> RESULTS "decoding".

    python bench/decoding.py                      # the six configs' models, every protocol
    python bench/decoding.py --models runs/w1-selfreg --protocols W1,X1

One forward pass per sentence set (``word_logits``), decoded both ways, so the two columns
differ only in the decoder. Validation F1 is on the protocol's validation data (what a
choice between the decoders may look at); test F1 is reported, never used to choose.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _results import machine, today, update_section
from systems import (
    PROTOCOLS,
    ROOT,
    TRANSFORMER_CONFIGS,
    rel,
    test_sentences,
    train_dev,
)

DECODERS = ("argmax", "viterbi")


def model_dirs() -> list[tuple[str, str, Path]]:
    """(system, training protocol, model dir) of every transformer config that is trained."""
    from serkit.models.folder import CARD_NAME
    from serkit.training.config import load_config

    out = []
    for (system, proto), cfg in TRANSFORMER_CONFIGS.items():
        d = ROOT / load_config(ROOT / cfg).output
        if (d / CARD_NAME).is_file():
            out.append((system, proto, d))
    return out


def scores(tagger, sentences, mapping: str | None) -> dict[str, float]:
    from serkit.evaluate import evaluate
    from serkit.models.encoding import decode

    logits = tagger.word_logits([list(s.tokens) for s in sentences])
    gold = [s.tags for s in sentences]
    out = {}
    for d in DECODERS:
        pred = [tags for tags, _ in decode(logits, tagger.labels, d)]
        out[d] = evaluate(gold, pred, mapping=mapping).micro.f1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", type=Path, help="model dirs (default: the configs')")
    ap.add_argument("--protocols", default="W1,X1,S1,S2")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    from serkit.models.folder import read_card
    from serkit.models.transformer import TransformerTagger

    wanted = args.protocols.split(",")
    if args.models:
        runs = [("-", read_card(m).get("protocol", "W1"), m) for m in args.models]
    else:
        runs = model_dirs()
    t0 = time.perf_counter()
    rows = []
    for system, trained_on, model in runs:
        tagger = TransformerTagger.load(model, threads=args.threads)
        for pname in wanted:
            proto = PROTOCOLS[pname]
            if proto.model_from != trained_on:
                continue
            dev = None
            if pname == trained_on:
                dev = scores(tagger, train_dev(proto)[1], None)  # already mapped
            test = scores(tagger, test_sentences(proto), proto.eval_mapping)
            rows.append((system, pname, rel(model), dev, test))
            print(system, pname, dev, test, flush=True)
    wall = time.perf_counter() - t0
    if not rows:  # would replace the section's table with an empty one
        where = "--models" if args.models else "the configs' output folders"
        raise SystemExit(
            f"nothing to score: {where} hold no trained transformer model for protocols "
            f"{args.protocols}; give --models DIR"
        )

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.4f}"

    lines = [
        "## Decoding: arg max + repair vs constrained Viterbi (issue 4)",
        "",
        f"Command: `python bench/{Path(__file__).name} "
        + (" ".join(["--models", *map(str, args.models)]) + " " if args.models else "")
        + f"--protocols {args.protocols}` ({today()}, {machine()}, wall {wall:.0f} s).",
        "",
        "Same logits, two decoders. *argmax*: each word's most probable tag, then a stray "
        "`I-X` opens an entity (the decoder until this change). *viterbi*: the most probable "
        "tag path among IOB2-valid ones (`serkit.models.viterbi`), now the default for every "
        "transformer runtime. Strict micro F1; validation = the protocol's validation data "
        "(X1 has none: it reuses the W1 model).",
        "",
        "| system | protocol | model | val argmax | val viterbi | test argmax | test viterbi "
        "| test delta (points) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for system, pname, model, dev, test in rows:
        delta = 100 * (test["viterbi"] - test["argmax"])
        lines.append(
            f"| {system} | {pname} | `{model}` | {f(dev and dev['argmax'])} | "
            f"{f(dev and dev['viterbi'])} | {test['argmax']:.4f} | {test['viterbi']:.4f} | "
            f"{delta:+.2f} |"
        )
    update_section("decoding", "\n".join(lines))


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
