"""Injected-error benchmark of `serkit audit` (issue 17).

    .venv/bin/python bench/audit.py [--corpus so-train|softner9-dev] [--seed 0] [--folds 5]
                                    [--no-write]

Protocol: StackOverflow NER train mapped to SoftNER-9 (``stackoverflow-ner:softner-9``),
or, to check the combination rule on data it was not chosen on, SoftNER-9 dev
(``--corpus softner9-dev``, human-annotated, already in SoftNER-9 types). With a fixed
seed, 10% of its entities get an error (a third dropped to O, a third given another
SoftNER-9 type, a third with one boundary moved by one word: widened over a neighbouring
O word or narrowed by one word), and 2% of its sentences get a spurious
one-word entity of a random type on a word that is O and touches no entity. The audit
runs on the noisy corpus (5-fold CRF cross-fitting, corpus consistency, cleanlab on
the cross-fitted probabilities; no transformer: none is trained on this corpus).

A finding *hits* an injected error when it overlaps its tokens in the same sentence;
each injected error is hit at most once (later findings over it count as misses), as
in detection AP. K = the number injected. precision@K and recall@K over the top K;
span-level AUPRC = average precision over the whole ranking with the recall
denominator = all injected errors (errors never found lower it). "cleanlab alone" is
cleanlab's own output: its flagged tokens (``find_label_issues``) in runs widened to
the given spans they touch, ranked by 1 - the lowest token label quality; every other
row ranks the same candidate regions by one signal or by the combination.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "bench"))

from _results import today, update_section  # noqa: E402
from audit_w1 import keep_block  # noqa: E402
from serkit.audit import Finding, audit, read_corpus  # noqa: E402
from serkit.audit.cleanlab_scores import cleanlab_regions, region_score  # noqa: E402
from serkit.audit.core import combine_moved  # noqa: E402
from serkit.audit.findings import rank  # noqa: E402
from serkit.labels import OUTSIDE, spans, tags_from_spans  # noqa: E402

#: --corpus name -> (file, type mapping, how the report names it)
CORPORA = {
    "so-train": (DATA / "stackoverflow-ner" / "train.txt", "stackoverflow-ner:softner-9",
                 "`stackoverflow-ner/train.txt` mapped to SoftNER-9"),
    "softner9-dev": (DATA / "softner-9" / "dev.txt", None, "`softner-9/dev.txt`"),
}  # fmt: skip
#: The data the shipped combination rule was chosen on (its numbers are optimistic there).
CHOSEN_ON = ("so-train", 0)
MACHINE = "2 CPU cores (AMD EPYC), no GPU"


@dataclass(slots=True)
class Injected:
    sentence: int
    start: int
    end: int
    kind: str
    original: list[str]


def _is_word(tok: str) -> bool:
    return any(c.isalpha() for c in tok)


def inject(corpus, seed: int, entity_rate: float = 0.10, spurious_rate: float = 0.02):
    """Corrupt ``corpus`` in place; returns the injected errors (regions in token indices)."""
    rng = random.Random(seed)
    types = corpus.types
    ents = [(i, s, e, t) for i, a in enumerate(corpus.sentences) for s, e, t in spans(a.tags)]
    chosen = rng.sample(ents, round(entity_rate * len(ents)))
    third = len(chosen) // 3
    out: list[Injected] = []
    touched: set[int] = set()
    for n, (i, s, e, t) in enumerate(chosen):
        a = corpus.sentences[i]
        sp = spans(a.tags)
        if (s, e, t) not in sp:  # an earlier change in this sentence moved it
            continue
        others = [x for x in sp if x != (s, e, t)]
        original = list(a.tags)
        kind = "missed" if n < third else "wrong_type" if n < 2 * third else "wrong_boundary"
        if kind == "missed":
            new = others
        elif kind == "wrong_type":
            new = [*others, (s, e, rng.choice([x for x in types if x != t]))]
        else:
            tags = a.tags
            moves = []
            if s >= 1 and tags[s - 1] == OUTSIDE and (s < 2 or tags[s - 2] == OUTSIDE):
                moves.append((s - 1, e))
            if (
                e < len(tags)
                and tags[e] == OUTSIDE
                and (e + 1 == len(tags) or tags[e + 1] == OUTSIDE)
            ):
                moves.append((s, e + 1))
            if e - s >= 2:
                moves += [(s + 1, e), (s, e - 1)]
            if not moves:
                continue
            ns, ne = rng.choice(moves)
            new = [*others, (ns, ne, t)]
        a.tags = tags_from_spans(len(a.tags), sorted(new))
        lo, hi = (min(s, ns), max(e, ne)) if kind == "wrong_boundary" else (s, e)
        out.append(Injected(i, lo, hi, kind, original[lo:hi]))
        touched.add(i)
    candidates = list(range(len(corpus.sentences)))
    rng.shuffle(candidates)
    want = round(spurious_rate * len(corpus.sentences))
    for i in candidates:
        if want <= 0:
            break
        a = corpus.sentences[i]
        ok = [
            k
            for k, tok in enumerate(a.tokens)
            if _is_word(tok)
            and a.tags[k] == OUTSIDE
            and (k == 0 or a.tags[k - 1] == OUTSIDE)
            and (k + 1 == len(a.tags) or a.tags[k + 1] == OUTSIDE)
            and not any(x.sentence == i and x.start - 1 <= k <= x.end for x in out)
        ]
        if not ok:
            continue
        k = rng.choice(ok)
        a.tags[k] = "B-" + rng.choice(types)
        out.append(Injected(i, k, k + 1, "spurious", [OUTSIDE]))
        want -= 1
    return out


def evaluate(ranking: list[Finding], injected: list[Injected], k: int) -> dict:
    """Greedy one-to-one matching down the ranking: P@K, R@K, AP, kind and fix accuracy."""
    by_sentence: dict[int, list[int]] = {}
    for n, x in enumerate(injected):
        by_sentence.setdefault(x.sentence, []).append(n)
    matched: set[int] = set()
    tp = 0
    ap = 0.0
    tp_at_k = kind_ok = fix_ok = 0
    for r, f in enumerate(ranking, 1):
        hit = next(
            (n for n in by_sentence.get(f.sentence, ())
             if n not in matched and injected[n].start < f.end and f.start < injected[n].end),
            None,
        )  # fmt: skip
        if hit is not None:
            matched.add(hit)
            tp += 1
            ap += tp / r
            if r <= k:
                tp_at_k += 1
                x = injected[hit]
                kind_ok += f.kind == x.kind
                fix_ok += (f.start, f.end) == (x.start, x.end) and f.suggested == x.original
    n = len(injected)
    return {
        "p@k": tp_at_k / k if k else 0.0,
        "r@k": tp_at_k / n if n else 0.0,
        "auprc": ap / n if n else 0.0,
        "found": len(ranking),
        "kind": kind_ok / tp_at_k if tp_at_k else 0.0,
        "fix": fix_ok / tp_at_k if tp_at_k else 0.0,
    }


def cleanlab_ranking(result) -> list[Finding]:
    corpus, cl = result.corpus, result.cleanlab
    out = []
    for i, s, e in cleanlab_regions(cl, corpus):
        tags = corpus.sentences[i].tags[s:e]
        f = Finding(i, s, e, tags, tags, kind="token issue")
        f.score = region_score(cl, i, s, e)
        out.append(f)
    return rank(out, key=lambda f: f.score)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=sorted(CORPORA), default="so-train")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    ap.add_argument("--cache", type=Path, help="npz of the cross-fitted view: saved, then reused")
    ap.add_argument(
        "--top-out",
        type=Path,
        help="the top 30 not injected (default: written "
        "to bench/audit-stackoverflow-top30.md for so-train seed 0 only)",
    )
    args = ap.parse_args()
    chosen_on = (args.corpus, args.seed) == CHOSEN_ON
    if args.top_out is None and chosen_on:
        args.top_out = ROOT / "bench" / "audit-stackoverflow-top30.md"
    section = "audit" if chosen_on else f"audit-check-{args.corpus}-seed{args.seed}"
    path, mapping, described = CORPORA[args.corpus]
    w0, c0 = time.perf_counter(), time.process_time()

    corpus = read_corpus([path], mapping=mapping)
    truth = [list(a.tags) for a in corpus.sentences]
    injected = inject(corpus, args.seed)
    k = len(injected)
    cached = bool(args.cache and args.cache.exists())
    result = audit(
        corpus, folds=args.folds, progress=sys.stderr.isatty(), seed=args.seed,
        cache=args.cache,
    )  # fmt: skip
    rows: list[tuple[str, dict]] = [("cleanlab alone (flagged tokens -> spans)",
                                     evaluate(cleanlab_ranking(result), injected, k))]  # fmt: skip
    for name in result.signals:
        ranking = rank(result.candidates, key=lambda f, n=name: f.signals.get(n, 0.0))
        rows.append((f"signal: {name}", evaluate(ranking, injected, k)))
    moved = rank(result.candidates, key=lambda f: combine_moved(f.signals))
    rows.append(("combination: model evidence moved by consistency", evaluate(moved, injected, k)))
    combined = rank(result.candidates, key=lambda f: f.score)
    rows.append(("**combination: mean, consistency signed (shipped)**",
                 evaluate(combined, injected, k)))  # fmt: skip
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0

    base = rows[0][1]["auprc"]
    comb = rows[-1][1]
    kinds = {kd: sum(x.kind == kd for x in injected) for kd in
             ("missed", "wrong_type", "wrong_boundary", "spurious")}  # fmt: skip
    n_ents = sum(len(spans(t)) for t in truth)
    title = "injected errors" if chosen_on else f"check on {args.corpus}, seed {args.seed}"
    lines = [
        f"## Label-error audit: {title} (issue 17)",
        "",
        f"Command: `nice -n 19 .venv/bin/python bench/audit.py --corpus {args.corpus} "
        f"--seed {args.seed} --folds "
        f"{args.folds}{' --cache ' + str(args.cache) if args.cache else ''}` ({today()}, "
        f"{MACHINE}, one thread, niced beside model trainings: wall {wall:.0f} s, "
        f"process CPU {cpu:.0f} s).",
        "",
        f"Corpus: {described}, "
        f"{len(corpus.sentences)} non-empty segments, {n_ents} entities. Injected (seed "
        f"{args.seed}): {k} errors = "
        + ", ".join(f"{v} {kd}" for kd, v in kinds.items())
        + f". K = {k}. Audit: {args.folds}-fold CRF cross-fitting (project CRF defaults), "
        "corpus consistency (leave-one-out lexicon support), cleanlab "
        "`token_classification` scores on the cross-fitted probabilities; "
        f"{len(result.candidates)} candidate regions.",
        "",
        "| ranking | precision@K | recall@K | span AUPRC | findings | kind right "
        "| fix restores original |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        lines.append(
            f"| {name} | {m['p@k']:.3f} | {m['r@k']:.3f} | {m['auprc']:.3f} | {m['found']} "
            f"| {m['kind']:.3f} | {m['fix']:.3f} |"
        )
    ratio = comb["auprc"] / base if base else float("inf")
    lines += [
        "",
        f"Combination vs cleanlab alone, span AUPRC: {comb['auprc']:.3f} / {base:.3f} = "
        f"**{ratio:.2f}x** (target >= 1.25x: {'met' if ratio >= 1.25 else 'not met'}); "
        f"precision@K {comb['p@k']:.3f} (target >= 0.60: "
        f"{'met' if comb['p@k'] >= 0.60 else 'not met'}).",
        "Kind right / fix restores original: among the top-K hits, the share whose kind "
        "equals the injected kind, and whose region and suggested tags are exactly the "
        "original annotation.",
        "Timings of the audit itself: "
        + ", ".join(f"{n} {v:.0f} s" for n, v in result.timings.items())
        + (f" ({result.notes[0]})" if cached else "")
        + ".",
        "Protocol and matching rules: the docstring of `bench/audit.py`. "
        + (
            "The two combination rules were both written before any benchmark number was "
            "seen, but the shipped one was chosen after seeing both on this data (and the "
            "plain mean with consistency clipped at 0, the first draft: precision@K 0.609, "
            "AUPRC 0.662 on the same cached folds), so its numbers are optimistic by that "
            "choice."
            if chosen_on
            else "A check of the combination rules on data they were not chosen on: both "
            "were fixed before this run (the shipped one chosen on `so-train` seed 0) and "
            "neither was changed after it."
        ),
    ]
    md = "\n".join(lines)
    print(md)
    top = [f for f in combined
           if not any(x.sentence == f.sentence and x.start < f.end and f.start < x.end
                      for x in injected)][:30]  # fmt: skip
    out = ["# Top 30 combined findings that were not injected (bench/audit.py)", "",
           "| # | path:line | kind | region | given | suggested | score | original = given? |",
           "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for n, f in enumerate(top, 1):
        a = corpus.sentences[f.sentence]
        region = " ".join(a.tokens[f.start : f.end])
        left = " ".join(a.tokens[max(0, f.start - 6) : f.start])
        ctx = f"{left} [[{region}]] {' '.join(a.tokens[f.end : f.end + 6])}".replace("|", "\\|")
        out.append(
            f"| {n} | {a.where(f.start)} | {f.kind} | {ctx} | "
            f"{' '.join(f.given)} | {' '.join(f.suggested)} | {f.score:.3f} | "
            f"{truth[f.sentence][f.start : f.end] == f.given} |"
        )
    if not args.no_write:  # bench/audit_w1.py's WikiSER block lives in this section too
        update_section(section, keep_block(md) if section == "audit" else md)
    if args.top_out is not None and not args.no_write:
        args.top_out.write_text("\n".join(out) + "\n", encoding="utf-8")
    else:
        print("\n".join(out))


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
