"""Quality of every system on W1, X1, S1 and S2 -> bench/RESULTS.md "quality" + figures.

    python bench/quality.py                        # every system x protocol not cached yet
    python bench/quality.py --only crf             # recompute (retrain) the CRF rows
    python bench/quality.py --only spacy --protocols S2
    python bench/quality.py --only minilm-selfreg --protocols W1,X1 --model runs/w1-selfreg
    python bench/quality.py --train                # also train missing transformer models
    python bench/quality.py --tables               # rewrite RESULTS.md and figures only

Systems and protocols: see ``bench/systems.py``. Each (system, protocol) row is cached in
``bench/quality_rows.json`` with the fingerprint of the model it scored, so a re-run skips
what is done (resumable) and re-scores a transformer whose model directory changed.
Weak labeller, CRF and spaCy models are trained here (``runs/bench/<system>-<protocol>``);
transformers are trained by ``serkit train --config configs/<...>.toml`` and only with
``--train``. Predictions are kept in ``runs/bench/preds`` for ``bench/errors.py``.
Metric: ``serkit.evaluate`` (strict IOB2 after stray-I repair), micro P/R/F1 + per type;
nothing is selected on a test split.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from _results import QUALITY_ROWS as ROWS
from _results import machine, today, update_section
from serkit.models.folder import CARD_NAME, read_card, record_result
from systems import (
    PROTOCOLS,
    ROOT,
    SPACY_OVERRIDES,
    SYSTEMS,
    TRANSFORMER_CONFIGS,
    TRANSFORMERS,
    bench_model_dir,
    crf_config,
    fingerprint,
    load_system,
    preds_file,
    rel,
    test_sentences,
    train_crf,
    train_spacy,
    train_weak,
    write_json,
)

ORDER = ("W1", "X1", "S1", "S2")
#: rows cached by the first, transformer-only version of this script
LEGACY = {"w1-vanilla": "minilm-vanilla", "w1-selfreg": "minilm-selfreg"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_rows() -> list[dict]:
    rows = json.loads(ROWS.read_text()) if ROWS.exists() else []
    for r in rows:
        if "system" not in r:
            r["system"] = LEGACY.get(r.get("variant"), r.get("variant"))
    return rows


def save_row(row: dict) -> None:
    key = (row["system"], row["protocol"])
    rows = [r for r in load_rows() if (r["system"], r["protocol"]) != key]
    rows.append(row)
    rows.sort(key=lambda r: (ORDER.index(r["protocol"]), SYSTEMS.index(r["system"])))
    write_json(ROWS, rows)


def command(system: str, protocol: str, model: Path | None) -> str:
    base = f"python bench/quality.py --only {system} --protocols {protocol}"
    if system in TRANSFORMERS:
        train_cmd = (
            f"serkit train --config {TRANSFORMER_CONFIGS[(system, PROTOCOLS[protocol].model_from)]}"
        )
        if model is not None and (model / CARD_NAME).is_file():
            train_cmd = read_card(model).get("command") or train_cmd
        return f"{train_cmd} && {base} --model {rel(model) if model else '...'}"
    return base


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (``spacy train``): unlike wall
    time, it does not grow when other jobs take the shared cores."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def score(system: str, protocol: str, model_dir: Path, train_info: dict, threads: int) -> dict:
    """Tag the protocol's test split with the model, score it, cache the predictions."""
    from serkit.evaluate import evaluate, predict_sentences

    proto = PROTOCOLS[protocol]
    gold = test_sentences(proto)
    tagger = load_system(system, model_dir, threads=threads)
    t0 = time.perf_counter()
    pred = predict_sentences(tagger, gold, batch_size=64, progress=sys.stderr.isatty())
    secs = time.perf_counter() - t0
    rep = evaluate([s.tags for s in gold], [s.tags for s in pred], mapping=proto.eval_mapping)
    m = rep.micro
    write_json(preds_file(system, protocol),
               {"model": rel(model_dir), "fingerprint": fingerprint(model_dir),
                "test": rel(proto.test), "mapping": proto.eval_mapping,
                "tags": [s.tags for s in pred]})  # fmt: skip
    words = sum(len(s.tokens) for s in gold)
    return {
        "system": system, "protocol": protocol,
        "precision": m.precision, "recall": m.recall, "f1": m.f1,
        "per_type": {t: {"precision": p.precision, "recall": p.recall, "f1": p.f1,
                         "support": p.gold} for t, p in rep.per_type.items()},
        "test": rel(proto.test), "mapping": proto.eval_mapping, "test_sentences": len(gold),
        "model": rel(model_dir), "fingerprint": fingerprint(model_dir),
        "decoding": getattr(tagger, "decoding", None),
        "predict_words_per_s": words / secs, **train_info,
        "command": command(system, protocol, model_dir),
        "machine": machine(), "date": today(),
    }  # fmt: skip


def transformer_info(model_dir: Path) -> dict:
    card = read_card(model_dir)
    stats = card.get("training") or {}
    dev = card.get("dev") or (card.get("metrics") or {}).get("dev") or {}
    return {"dev_f1": dev.get("f1"), "epochs": stats.get("epochs"),
            "train_wall_s": stats.get("train_seconds"),
            "seconds_per_epoch": stats.get("seconds_per_epoch")}  # fmt: skip


def run_one(system: str, protocol: str, args: argparse.Namespace, cached: dict | None) -> None:
    proto = PROTOCOLS[protocol]
    tp = proto.model_from
    forced = args.only is not None
    if system in TRANSFORMERS:
        model = args.model or (Path(cached["model"]) if cached else None)
        if model is None:
            from serkit.training.config import load_config

            model = ROOT / load_config(ROOT / TRANSFORMER_CONFIGS[(system, tp)]).output
        model = ROOT / model if not Path(model).is_absolute() else Path(model)
        if fingerprint(model) is None:
            if not args.train:
                log(
                    f"skip {system} {protocol}: no trained model in {rel(model)} "
                    f"(train it: serkit train --config {TRANSFORMER_CONFIGS[(system, tp)]})"
                )
                return
            from serkit.training.config import load_config
            from serkit.training.trainer import train

            log(f"training {system} for {tp} from {TRANSFORMER_CONFIGS[(system, tp)]} (hours)")
            os.chdir(ROOT)
            train(load_config(ROOT / TRANSFORMER_CONFIGS[(system, tp)]))
        if cached and not forced and cached.get("fingerprint") == fingerprint(model):
            log(f"cached {system} {protocol}: F1 {cached['f1']:.4f}")
            return
        info = transformer_info(model)
    else:
        if cached and not forced:
            log(f"cached {system} {protocol}: F1 {cached['f1']:.4f}")
            return
        model = bench_model_dir(system, tp)
        # X1 reuses the W1 model; a forced W1 row retrains, a forced X1 row reuses.
        done = (model / "train-info.json").is_file()
        reuse = done and (not forced or protocol != tp or args.reuse)
        if reuse:
            log(f"{system} {protocol}: reusing {rel(model)}")
            info = json.loads((model / "train-info.json").read_text())
        else:
            log(f"training {system} on {tp} -> {rel(model)}")
            t0, c0 = time.perf_counter(), cpu_seconds()
            if system == "weak":
                info = train_weak(PROTOCOLS[tp], model)
            elif system == "crf":
                info = train_crf(PROTOCOLS[tp], model)
            else:
                info = train_spacy(PROTOCOLS[tp], model, log=log)
            info = {
                k: info.get(k)
                for k in (
                    "dev_f1",
                    "case",
                    "min_ratio",
                    "steps",
                    "config",
                    "overrides",
                    "train_sentences",
                    "dev_sentences",
                )
            }
            info["train_wall_s"] = round(time.perf_counter() - t0, 1)
            info["train_cpu_s"] = round(cpu_seconds() - c0, 1)
            info = {k: v for k, v in info.items() if v is not None}
            write_json(model / "train-info.json", info)
            log(
                f"trained {system} on {tp} in {info['train_wall_s']:.0f} s "
                f"(validation F1 {info.get('dev_f1', float('nan')):.4f})"
            )
    log(f"scoring {system} on {protocol} ({rel(proto.test)})")
    row = score(system, protocol, model, info, args.threads)
    save_row(row)
    if system in TRANSFORMERS:  # the model card carries its measured test results too
        result = {k: round(row[k], 4) for k in ("precision", "recall", "f1")}
        record_result(
            model,
            protocol,
            result | {k: row.get(k) for k in ("test", "mapping", "decoding", "date")},
        )
    log(f"{system} {protocol}: P {row['precision']:.4f} R {row['recall']:.4f} F1 {row['f1']:.4f}")


# -- RESULTS.md -------------------------------------------------------------------------
def fmt_s(s: float | None) -> str:
    if not s:
        return "-"
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"


def row_command(r: dict) -> str:
    """The row's command; for a transformer, with how its model was really trained."""
    model = ROOT / r["model"] if r.get("model") else None
    if r["system"] in TRANSFORMERS and model is not None and model.is_dir():
        return command(r["system"], r["protocol"], model)
    return r["command"]


def details(r: dict) -> str:
    """The training settings a row depends on, in a few words."""
    if r["system"] == "weak" and "case" in r:
        return f"case {r['case']}, min ratio {r['min_ratio']}"
    if r["system"] == "spacy" and "steps" in r:
        over = r.get("overrides") or {}
        epochs = over.get("training.max_epochs")
        cap = "no epoch cap" if epochs in (None, "0") else f"{epochs} epochs"
        return f"{r['steps']} steps (caps: {cap}, {over.get('training.max_steps')} steps)"
    if r["system"] in TRANSFORMERS and r.get("epochs"):
        return f"{r['epochs']} epochs"
    return "-"


def tables(rows: list[dict]) -> str:
    by = {(r["protocol"], r["system"]): r for r in rows}
    out = [
        "## Quality: every system on W1, X1, S1, S2 (issue 8)",
        "",
        "Strict IOB2 micro P/R/F1 after stray-I repair (`serkit.evaluate`) on the test split "
        "of each protocol; models selected on validation data only (W1: the % 10 == 9 slice "
        "of wikiser-small/dev; S1: softner-9/dev; S2: the last 10% of sner/train). X1 = the "
        "W1 model on softner-9/test, predicted types mapped with `wikiser:softner-9`. All "
        "systems read and split their data through `serkit.training.data`, so each trains "
        "and selects on the same sentences and tokens. `-` = not measured yet.",
        "",
        "| system | " + " | ".join(f"{p} P | {p} R | {p} F1" for p in ORDER) + " |",
        "|---|" + "---:|" * (3 * len(ORDER)),
    ]
    for s in SYSTEMS:
        cells = []
        for p in ORDER:
            r = by.get((p, s))
            cells += ([f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"**{r['f1']:.3f}**"]
                      if r else ["-", "-", "-"])  # fmt: skip
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    out += ["", "### Per-type F1", ""]
    for p in ORDER:
        have = [s for s in SYSTEMS if (p, s) in by and by[(p, s)].get("per_type")]
        if not have:
            continue
        types = sorted({t for s in have for t in by[(p, s)]["per_type"]})
        out += [f"**{p}** (support = gold entities in the test split)", "",
                "| type | support | " + " | ".join(have) + " |",
                "|---|---:|" + "---:|" * len(have)]  # fmt: skip
        for t in types:
            sup = next((by[(p, s)]["per_type"][t]["support"] for s in have
                        if t in by[(p, s)]["per_type"]), 0)  # fmt: skip
            cells = [f"{by[(p, s)]['per_type'][t]['f1']:.3f}" if t in by[(p, s)]["per_type"]
                     else "-" for s in have]  # fmt: skip
            out.append(f"| {t} | {sup} | " + " | ".join(cells) + " |")
        out.append("")
    out += ["### How each row was made", "",
            "| protocol | system | validation F1 | training wall (CPU) | training | model "
            "| command | date |",
            "|---|---|---:|---:|---|---|---|---|"]  # fmt: skip
    for p in ORDER:
        for s in SYSTEMS:
            r = by.get((p, s))
            if r is None:
                continue
            dev = f"{r['dev_f1']:.3f}" if r.get("dev_f1") is not None else "-"
            train_s = "(W1 model)" if p == "X1" else fmt_s(r.get("train_wall_s"))
            if p != "X1" and r.get("train_cpu_s"):
                train_s += f" ({fmt_s(r['train_cpu_s'])} CPU)"
            model = r.get("model", "-")
            out.append(f"| {p} | {s} | {dev} | {train_s} | {details(r)} "
                       f"| `{model}` | `{row_command(r)}` | {r['date']} |")  # fmt: skip
    crf_cfgs = "; ".join(f"{p}: `{crf_config(PROTOCOLS[p])}`" for p in ("W1", "S1", "S2"))
    spacy_over = " ".join(f"--{k} {v}" for k, v in SPACY_OVERRIDES.items())
    out += [
        "",
        f"Machine: {machine()}. Weak/CRF/spaCy training and all scoring ran under "
        "`nice -n 19` with one thread while transformer trainings (and, for spaCy, "
        "`spacy train` at normal priority) shared the 2 cores: a nice-19 job got a few "
        "percent of a core at times, so training wall times are mostly waiting (e.g. the "
        "weak labeller's S1 row); the CPU time, where shown, is the work itself.",
        "",
        "- **weak**: lexicon of the training part (`serkit.lexicon`), leftmost-longest "
        "match; case policy and minimum labelled ratio chosen on the validation data.",
        "- **crf**: `serkit.training.crf.train_crf_from_config` with the CRF defaults and "
        f"these data keys: {crf_cfgs}. L-BFGS is deterministic, so `--only crf` reproduces "
        "its rows exactly.",
        "- **minilm-vanilla / minilm-selfreg**: the packaged MiniLM-L6 fine-tuned by "
        "`serkit train --config configs/<protocol>[-selfreg].toml`; the row names the model "
        "directory scored. Test predictions use the runtime's default decoder, constrained "
        'Viterbi (the best IOB2-valid tag path; section "Decoding"); their validation F1 '
        "is the one the trainer recorded when it selected the checkpoint, with the decoder "
        "of that time (arg max + repair for every model trained before 2026-11-25 17:30 UTC).",
        "- **spacy**: spaCy 3.8 `ner`, `spacy init config --lang en --pipeline ner "
        f"--optimize efficiency`, then `spacy train ... {spacy_over}` (no pretrained "
        "vectors; model-best = best validation F1 is scored). Docs are built from serkit's "
        "tokens (`Doc(vocab, words=..., spaces=...)`, `gold_preproc`), for training and "
        "tagging alike: spaCy's tokenizer never runs, so gold and prediction align word by "
        "word. Its validation F1 is spaCy's own entity F1 on the same validation sentences.",
        "",
        "Figures: `bench/figures/per_type_f1.png` (per-type F1, grouped bars), "
        "`bench/figures/f1_vs_speed.png` (W1 F1 against words/s from the speed section).",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help=f"comma list of systems to recompute ({', '.join(SYSTEMS)})")
    ap.add_argument("--protocols", default=",".join(ORDER), help="comma list (W1,X1,S1,S2)")
    ap.add_argument("--model", type=Path, help="trained transformer model dir to score")
    ap.add_argument("--train", action="store_true", help="train missing transformer models")
    ap.add_argument("--reuse", action="store_true", help="with --only: score existing models")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for scoring")
    ap.add_argument("--tables", action="store_true", help="only rewrite RESULTS.md + figures")
    args = ap.parse_args(argv)
    systems = args.only.split(",") if args.only else list(SYSTEMS)
    protocols = args.protocols.split(",")
    bad = [s for s in systems if s not in SYSTEMS] + [p for p in protocols if p not in ORDER]
    if bad:
        ap.error(f"unknown system/protocol: {', '.join(bad)}")
    if args.model and not (args.only and all(s in TRANSFORMERS for s in systems)):
        ap.error("--model scores a transformer: give --only minilm-vanilla or minilm-selfreg")
    if args.model and not args.train and fingerprint(ROOT / args.model) is None:
        ap.error(f"--model {args.model}: no trained model there")
    if not args.tables:
        t0 = time.perf_counter()
        todo = [(s, p) for p in protocols for s in systems]
        for i, (s, p) in enumerate(todo, 1):
            cached = next((r for r in load_rows() if (r["system"], r["protocol"]) == (s, p)), None)
            log(f"({i}/{len(todo)}) {s} on {p}")
            run_one(s, p, args, cached)
        log(f"done in {time.perf_counter() - t0:.0f} s")
    update_section("quality", tables(load_rows()))
    try:
        import figures

        figures.draw()
    except ImportError as e:  # matplotlib is in the bench extra
        log(f"no figures ({e}); pip install -e '.[bench]'")


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
