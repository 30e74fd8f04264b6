"""Weak labeller and CRF on W1, X1 and S1, plus end-to-end CRF tagging speed.

    .venv/bin/python bench/lexicon_crf.py [--out runs/bench-crf] [--skip-s1]

Protocols (see DEVELOPERS.md):
  W1  train on wikiser-small/dev.txt sentences with index % 10 != 9, select on == 9,
      report on wikiser-small/test.txt (12 WikiSER types).
  X1  the W1 models on softner-9/test.txt; predicted types outside SoftNER-9 -> O.
  S1  train on stackoverflow-ner/train.txt mapped to SoftNER-9, select on
      softner-9/dev.txt, report on softner-9/test.txt.
The weak labeller's case policy and minimum labelled ratio are selected on the
validation data only (W1 slice / softner-9 dev); the CRF uses ``serkit.models.crf.DEFAULTS``,
which were selected on the W1 validation slice (notes in RESULTS.md). Scores are
seqeval strict IOB2 after stray-I repair (``serkit.evaluate``), micro F1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from _results import DATA, ROOT, documents, machine, rel, run_worker, today, update_section
from _results import WIKISER_TEST as W1_TEST
from serkit.evaluate import predict_sentences, score_sentences
from serkit.files import read_all
from serkit.labels import SONER_TO_SOFTNER9, WIKISER_TO_SOFTNER9, map_tags
from serkit.lexicon import Lexicon
from serkit.models.crf import DEFAULTS, CrfTagger
from serkit.tokens import Sentence
from serkit.training.crf import train_crf_from_config
from systems import select_weak, weak_f1

W1_TRAIN = DATA / "wikiser-small" / "dev.txt"
SN9_DEV = DATA / "softner-9" / "dev.txt"
SN9_TEST = DATA / "softner-9" / "test.txt"
SONER_TRAIN = DATA / "stackoverflow-ner" / "train.txt"


def mapped(sents: list[Sentence], table) -> list[Sentence]:
    return [Sentence(s.tokens, map_tags(s.tags, table), s.doc_id, s.index, s.line) for s in sents]


def model_f1(tagger: CrfTagger, gold: list[Sentence], mapping=None) -> float:
    """What ``serkit eval GOLD --model DIR [--map ...]`` computes."""
    pred = predict_sentences(tagger, gold, progress=False)
    return score_sentences(gold, pred, mapping=mapping).f1


def calibration() -> float:
    """CPU seconds of a fixed pure-Python loop: how loaded/slow this machine was."""
    t = time.process_time()
    total = 0
    for i in range(2_000_000):
        total += i
    return time.process_time() - t


def speed(model_dir: Path, batch_size: int = 256) -> dict:
    """Words/s for raw text: the detokenised WikiSER test, 50 sentences a document, through
    ``Tagger.pipe`` (sentence split + tokenise + features + Viterbi + marginals + spans).

    Runs in a fresh process holding only the model and the text, as `serkit tag` would
    (the corpora this script keeps in memory would slow the garbage collector). A freshly
    loaded model (cold: per-word weight vectors computed on first sight), then the same
    text again (warm). Wall and process CPU time: other jobs share the cores.
    """
    import subprocess

    cmd = [
        sys.executable,
        __file__,
        "--speed-worker",
        str(model_dir),
        "--batch-size",
        str(batch_size),
    ]
    return run_worker(cmd, stderr=subprocess.PIPE)


def speed_worker(model_dir: Path, batch_size: int) -> dict:
    import gc

    from serkit.tokenize import sentences

    docs = documents([s.tokens for s in read_all(W1_TEST)])
    gc.collect()
    words = sum(len(s) for d in docs for s in sentences(d))
    tagger = CrfTagger.load(model_dir)
    out: dict = {"words": words, "batch_size": batch_size, "calibration_s": calibration()}
    for run in ("cold", "warm"):
        w, c = time.perf_counter(), time.process_time()
        n_ents = sum(len(e) for e in tagger.pipe(docs, batch_size=batch_size))
        w, c = time.perf_counter() - w, time.process_time() - c
        out[run] = {"wall_wps": words / w, "cpu_wps": words / c, "entities": n_ents}
    # where the time goes (warm, process CPU time): text -> tokens, tokens -> tags
    c = time.process_time()
    toks = [[t.text for t in sent] for d in docs for sent in sentences(d)]
    out["tokenize_cpu_wps"] = words / (time.process_time() - c)
    toks.sort(key=len)
    c = time.process_time()
    for i in range(0, len(toks), batch_size):
        tagger.predict_words(toks[i : i + batch_size])
    out["model_cpu_wps"] = words / (time.process_time() - c)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-crf"), help="model folders")
    ap.add_argument("--skip-s1", action="store_true", help="W1 and X1 only")
    ap.add_argument("--speed-worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--batch-size", type=int, default=256, help=argparse.SUPPRESS)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    if args.speed_worker:
        import json

        print(json.dumps(speed_worker(args.speed_worker, args.batch_size)))
        return
    t_start = time.perf_counter()
    out = Path(args.out)
    rows: list[str] = []
    notes: list[str] = []

    # ---- W1 / X1 --------------------------------------------------------------------
    w1 = read_all(W1_TRAIN)
    w1_train = [s for s in w1 if s.index % 10 != 9]
    w1_val = [s for s in w1 if s.index % 10 == 9]
    w1_test = read_all(W1_TEST)
    sn9_test = read_all(SN9_TEST)
    lex = Lexicon.build(w1_train)
    case, ratio, f_val = select_weak(lex, w1_val)
    weak_w1 = weak_f1(lex, w1_test, case, ratio)
    weak_x1 = weak_f1(lex, sn9_test, case, ratio, mapping=WIKISER_TO_SOFTNER9)
    notes.append(
        f"Weak labeller W1: lexicon of {len(lex)} forms from the W1 training part; selected "
        f"case={case}, min_ratio={ratio} (validation F1 {f_val:.4f})."
    )
    print(f"weak W1 test {weak_w1:.4f}  X1 {weak_x1:.4f}  ({case}, {ratio})", flush=True)

    w1_cfg = {"train": rel(W1_TRAIN), "val_slice": True, "protocol": "W1"}
    t = time.perf_counter()
    crf = train_crf_from_config(w1_cfg, out / "w1")
    t_w1 = time.perf_counter() - t
    crf = CrfTagger.load(out / "w1")  # score what was saved, like `serkit eval --model`
    crf_val = crf.card["metrics"]["dev"]["f1"]
    crf_w1 = model_f1(crf, w1_test)
    crf_x1 = model_f1(crf, sn9_test, mapping=WIKISER_TO_SOFTNER9)
    print(f"crf W1 test {crf_w1:.4f} (val {crf_val:.4f})  X1 {crf_x1:.4f}  {t_w1:.0f}s", flush=True)
    rows.append(f"| W1 | {weak_w1:.4f} | {crf_w1:.4f} | {f_val:.4f} / {crf_val:.4f} |")
    rows.append(
        f"| X1 | {weak_x1:.4f} | {crf_x1:.4f} | (W1 models; types outside SoftNER-9 -> O) |"
    )
    tr = crf.card["training"]
    notes.append(
        f"CRF W1: {tr['sentences']} sentences / {tr['tokens']} tokens, {tr['iterations']} "
        f"L-BFGS iterations, features {tr['features_s']} s + training {tr['train_s']} s "
        f"({t_w1:.0f} s wall in all)."
    )

    sp = speed(out / "w1")
    print(f"speed {sp}", flush=True)
    load1 = os.getloadavg()[0]
    met = min(sp["cold"]["wall_wps"], sp["warm"]["wall_wps"]) >= 100_000
    verdict = "met" if met else "NOT met"

    # ---- S1 -------------------------------------------------------------------------
    if not args.skip_s1:
        s1_train = mapped(read_all(SONER_TRAIN), SONER_TO_SOFTNER9)
        sn9_dev = read_all(SN9_DEV)
        lex_s = Lexicon.build(s1_train)
        case_s, ratio_s, fv_s = select_weak(lex_s, sn9_dev)
        weak_s1 = weak_f1(lex_s, sn9_test, case_s, ratio_s)
        notes.append(
            f"Weak labeller S1: lexicon of {len(lex_s)} forms; selected case={case_s}, "
            f"min_ratio={ratio_s} on softner-9 dev (F1 {fv_s:.4f})."
        )
        s1_cfg = {
            "train": rel(SONER_TRAIN),
            "dev": rel(SN9_DEV),
            "mapping": "stackoverflow-ner:softner-9",
            "protocol": "S1",
        }
        t = time.perf_counter()
        train_crf_from_config(s1_cfg, out / "s1")
        t_s1 = time.perf_counter() - t
        crf_s = CrfTagger.load(out / "s1")
        crf_s1 = model_f1(crf_s, sn9_test)
        fdev_s = crf_s.card["metrics"]["dev"]["f1"]
        print(f"weak S1 {weak_s1:.4f}  crf S1 {crf_s1:.4f} (dev {fdev_s:.4f}) {t_s1:.0f}s")
        rows.append(f"| S1 | {weak_s1:.4f} | {crf_s1:.4f} | {fv_s:.4f} / {fdev_s:.4f} |")
        notes.append(
            f"CRF S1: {crf_s.card['training']['sentences']} segments mapped to SoftNER-9, the "
            f"W1-selected defaults unchanged (nothing selected on softner-9 dev), {t_s1:.0f} s."
        )

    wall = time.perf_counter() - t_start
    cfg_txt = ", ".join(f"{k}={v}" for k, v in DEFAULTS.items())
    md = f"""## Lexicon weak labeller and CRF (issue 5)

Command: `.venv/bin/python bench/lexicon_crf.py` ({today()}, {machine()}, wall {wall:.0f} s).
Micro F1, seqeval strict IOB2 after stray-I repair (`serkit.evaluate`); test sets only
reported, never used for selection.

| protocol | weak labeller F1 | CRF F1 | selection F1 (weak / CRF) |
|---|---|---|---|
{chr(10).join(rows)}

CRF tagging speed, raw text end to end (`Tagger.pipe(batch_size={sp["batch_size"]})`:
sentence split, tokenise, features, Viterbi + per-word marginals, entity spans) on the
detokenised WikiSER test text ({sp["words"]} words, 50 sentences a document), one process:

| run | words/s (wall) | words/s (process CPU time) |
|---|---|---|
| cold (model just loaded) | {sp["cold"]["wall_wps"]:,.0f} | {sp["cold"]["cpu_wps"]:,.0f} |
| warm (same text again) | {sp["warm"]["wall_wps"]:,.0f} | {sp["warm"]["cpu_wps"]:,.0f} |
| warm, sentence split + tokenise only | | {sp["tokenize_cpu_wps"]:,.0f} |
| warm, model only (`predict_words`: features, Viterbi, marginals) | | {sp["model_cpu_wps"]:,.0f} |

Target >= 100k words/s from raw text: **{verdict}** (cold and warm). 1-minute load
average at the start / end of the run: {load0:.2f} / {load1:.2f} on {os.cpu_count()} cores
(the speed runs use one thread; more than about 1 means other jobs shared the CPU); as a
yardstick, a fixed 2M-step pure-Python loop took {sp["calibration_s"]:.3f} s of CPU during
this run. Decoding is batched numpy over per-word weight vectors read
from the crfsuite model (`serkit.models.crf_numpy`), tag-for-tag identical to
pycrfsuite's Viterbi (test `test_numpy_decoder_matches_crfsuite`).

- CRF config (`serkit.models.crf.DEFAULTS`, chosen on the W1 validation slice): {cfg_txt}.
{chr(10).join("- " + n for n in notes)}
- Reproduce W1: `serkit train --arch crf --train {rel(W1_TRAIN)} --val-slice -o runs/crf-w1`
  then `serkit eval {rel(W1_TEST)} --model runs/crf-w1` (crfsuite L-BFGS is deterministic).
"""
    update_section("lexicon_crf", md)
    print(md)


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
