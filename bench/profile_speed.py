"""Same-process A/B timings for tuning inference speed (no RESULTS.md section).

    .venv/bin/python bench/profile_speed.py torch --model runs/w1-selfreg [--limit 160]
    .venv/bin/python bench/profile_speed.py crf --model runs/bench-crf/w1 [--limit 2000]

``torch``: words per CPU-second of ``TransformerTagger.predict_words`` (one thread) for
several ``max_tokens`` (padded sub-tokens per forward pass), interleaved over rounds so a
shared machine's load hits every setting alike; tags are checked equal across settings.
``crf``: words per CPU-second of ``CrfTagger.pipe`` on detokenised WikiSER test text
(50 sentences a document, as bench/lexicon_crf.py), with the garbage collector's share
(``gc.callbacks``), normal and after ``gc.freeze()``. Both report the best of the rounds.
"""

from __future__ import annotations

import argparse
import gc
import time

from _results import documents, wikiser_test


def corpus(limit: int) -> list[list[str]]:
    return [list(s.tokens) for s in wikiser_test(limit)]


def torch_sweep(args: argparse.Namespace) -> None:
    import torch

    import serkit

    torch.set_num_threads(1)
    sents = corpus(args.limit)
    words = sum(map(len, sents))
    tagger = serkit.load(args.model, prefer="torch", threads=1)
    settings = (256, 512, 1024, 8192)
    best: dict[int, float] = {}
    ref = None
    for _ in range(args.rounds):
        for mt in settings:
            tagger.max_tokens = mt
            c = time.process_time()
            tags = [
                t
                for lo in range(0, len(sents), 32)
                for t, _ in tagger.predict_words(sents[lo : lo + 32])
            ]
            rate = words / (time.process_time() - c)
            ref = ref or tags
            if tags != ref:
                raise SystemExit(f"max_tokens={mt} changed the tags")
            best[mt] = max(best.get(mt, 0.0), rate)
    for mt in settings:
        print(f"torch max_tokens={mt:5d}: {best[mt]:7,.0f} words/CPU-s ({words:,} words)")


def crf_gc(args: argparse.Namespace) -> None:
    from serkit.models.crf import CrfTagger
    from serkit.tokenize import sentences

    docs = documents(corpus(args.limit))
    words = sum(len(s) for d in docs for s in sentences(d))
    tagger = CrfTagger.load(args.model)
    list(tagger.pipe(docs, batch_size=256))  # warm the per-word caches
    spent = [0.0, 0.0]

    def timer(phase: str, _info: dict) -> None:
        if phase == "start":
            spent[1] = time.process_time()
        else:
            spent[0] += time.process_time() - spent[1]

    gc.callbacks.append(timer)
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.rounds):
        for mode in ("normal", "frozen"):
            if mode == "frozen":
                gc.freeze()
            spent[0] = 0.0
            c = time.process_time()
            for _ents in tagger.pipe(docs, batch_size=256):
                pass
            dc = time.process_time() - c
            gc.unfreeze()
            if words / dc > best.get(mode, (0.0, 0.0))[0]:
                best[mode] = (words / dc, spent[0] / dc)
    for mode, (rate, share) in best.items():
        print(f"crf pipe, gc {mode}: {rate:7,.0f} words/CPU-s, {share:.1%} in gc ({words:,} words)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("torch", "crf"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--limit", type=int, default=0, help="first N sentences (default 160/2000)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.what == "torch":
        args.limit = args.limit or 160
        torch_sweep(args)
    else:
        args.limit = args.limit or 2000
        crf_gc(args)


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
