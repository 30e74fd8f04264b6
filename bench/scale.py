"""Issue 18, Ray side: ``serkit tag --engine ray`` with N actors vs one local process.

Measures, in one run, on WikiSER-small test sentences tagged by the shipped default:

* words per wall-second of one local process (the library's ``tag_documents``, model
  load excluded) and of Ray Data with N actors (``serkit.scale.ray_tag``; its wall time
  includes starting the actors and loading the model in each, not ``ray.init``);
* whether the entities are identical (every record compared);
* per-document overhead on short texts (one clipped sentence per document);
* memory of one local process and of each actor: peak RSS, and PSS/USS (shared library
  pages counted once per node / not at all), read when each shard is done;

and projects, on paper, the 1.7M-sentence WikiSER corpus on a 16-node CPU cluster and on
one GPU from the per-actor figures. Writes the ``scale`` section of bench/RESULTS.md.

    python bench/scale.py [--sentences 2000] [--short 2000] [--actors 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, today, update_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WIKISER_TEST = ROOT.parent / "shared" / "data" / "wikiser-small" / "test.txt"
#: The full WikiSER corpus (README of the shared data: 1.7M sentences, 79k articles).
WIKISER_SENTENCES = 1_700_000
#: Paper assumptions for the projection (not measured here).
NODE_CPUS = 16
NODES = 16
#: Memory rows of the table: key of ``serkit.workers.process_memory`` -> row name.
MEMORY_ROWS = {"peak": "peak RSS", "pss": "PSS", "uss": "USS (private)"}
#: Assumptions of the one-GPU projection (not measured): an A100's dense fp16 tensor-core
#: peak, the share of it a small encoder's inference reaches, host cores feeding it.
GPU_PEAK_TFLOPS = 312
#: The same GPU's fp32 peak (no tensor cores): what serkit's torch tagger runs on a GPU today.
GPU_PEAK_TFLOPS_FP32 = 19.5
GPU_UTILISATION = 0.25
GPU_HOST_CORES = 16
CLUSTER_EFFICIENCY_NOTE = "per-actor rate measured here x actors x measured scaling efficiency"


def load_sentences(n: int) -> list[str]:
    from serkit.files import read

    out = []
    for s in read(WIKISER_TEST, "wikiser"):
        out.append(" ".join(s.tokens))
        if len(out) >= n:
            break
    return out


def write_jsonl(path: Path, texts: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for k, t in enumerate(texts):
            f.write(json.dumps({"id": f"d{k}", "text": t}) + "\n")


def child_local(path: str, out: str, host_only: bool = False) -> None:
    """One local process: load the default, tag ``path`` (JSONL records), write records.

    Counts the sub-word tokens the model is given. ``host_only``: the model's forward pass
    is replaced by an instant stand-in (zero logits), so what is timed is everything else
    (reading, sentence splitting, tokenising, lexicon feature, windows, decoding, writing):
    the CPU work that stays on the host when a GPU runs the model."""
    import numpy as np

    from serkit.documents import Reading, Source, read_documents, tag_documents
    from serkit.models.registry import load_tagger
    from serkit.render import DocWriter
    from serkit.workers import process_memory

    t0 = time.perf_counter()
    tagger = load_tagger(None, threads=1)
    load_s = time.perf_counter() - t0
    forward, n_out = tagger.logits, len(tagger.raw_labels or tagger.labels)
    fed = {"tokens": 0, "padded": 0, "windows": 0}

    def counted(inputs: dict) -> np.ndarray:
        fed["tokens"] += int(inputs["attention_mask"].sum())
        fed["padded"] += int(inputs["input_ids"].size)
        fed["windows"] += int(inputs["input_ids"].shape[0])
        if host_only:
            return np.zeros((*inputs["input_ids"].shape, n_out), dtype=np.float32)
        return forward(inputs)

    tagger.logits = counted
    t0 = time.perf_counter()
    words = docs = 0
    with open(out, "w", encoding="utf-8") as f:
        writer = DocWriter(f, "jsonl")
        items = read_documents([Source(path, path)], Reading())
        for doc in tag_documents(tagger, items):
            writer.write(doc)
            docs += 1
            words += sum(len(s.tokens) for s in doc.sentences)
    seconds = time.perf_counter() - t0
    print(json.dumps({"load_s": load_s, "seconds": seconds, "words": words, "docs": docs,
                      "memory_mb": process_memory(), **fed}))  # fmt: skip


def run_local(path: Path, out: Path, host_only: bool = False) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    mode = "--child-host" if host_only else "--child-local"
    res = subprocess.run(
        [sys.executable, __file__, mode, str(path), str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_ray(path: Path, out: Path, actors: int, per_shard: int) -> dict:
    from serkit.scale import ray_tag, read_manifest

    t0 = time.perf_counter()
    run = ray_tag([path], out, actors=actors, docs_per_shard=per_shard)
    wall = time.perf_counter() - t0
    man = read_manifest(out)
    words = sum(e["words"] for e in man.shards.values())
    by_actor: dict[int, dict] = {}
    for e in man.shards.values():
        w = e["worker"]
        a = by_actor.setdefault(w["pid"], {"seconds": 0.0, "words": 0, "docs": 0, "memory": {}})
        a["seconds"] += w["seconds"]
        a["words"] += e["words"]
        a["docs"] += e["docs"]
        for k, v in w["memory_mb"].items():
            a["memory"][k] = max(a["memory"].get(k, 0.0), v)
        a["before_job"] = w["memory_before_job_mb"]
    return {
        "wall": wall,
        "run_seconds": run.seconds,
        "words": words,
        "docs": run.docs,
        "shards": run.shards,
        "actors": by_actor,
        "records": list(man.records()),
    }


def uptime() -> list[str]:
    return Path("/proc/loadavg").read_text().split(" ")[:3]


def cpu_busy(seconds: float = 3.0) -> float:
    """Cores in use by anything over ``seconds`` (from /proc/stat): whether the machine is
    idle now, which the load average, a slow moving mean, cannot say."""

    def sample() -> tuple[int, int]:
        f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(f), f[3] + f[4]  # total, idle + iowait

    (t0, i0), _ = sample(), time.sleep(seconds)
    t1, i1 = sample()
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(1, t1 - t0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", type=int, default=2000, help="WikiSER test sentences")
    ap.add_argument("--per-doc", type=int, default=8, help="sentences per document")
    ap.add_argument(
        "--repeat", type=int, default=1, help="the documents K times over (a longer input)"
    )
    ap.add_argument("--short", type=int, default=2000, help="short documents (8 words)")
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--child-local", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--child-host", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_local or args.child_host:
        child_local(*(args.child_local or args.child_host), host_only=bool(args.child_host))
        return

    import ray

    from serkit.scale.engine import init_local

    started = time.perf_counter()
    load_before, busy_before = uptime(), cpu_busy()
    sents = load_sentences(args.sentences)
    k = args.per_doc
    long_docs = [" ".join(sents[i : i + k]) for i in range(0, len(sents), k)] * args.repeat
    short_docs = [" ".join(s.split()[:8]) for s in (sents * 4)[: args.short]]
    tmp = Path(tempfile.mkdtemp(prefix="serkit-bench-scale-"))
    write_jsonl(tmp / "long.jsonl", long_docs)
    write_jsonl(tmp / "short.jsonl", short_docs)

    local_long = run_local(tmp / "long.jsonl", tmp / "local-long.jsonl")
    local_short = run_local(tmp / "short.jsonl", tmp / "local-short.jsonl")
    host = run_local(tmp / "long.jsonl", tmp / "host-long.jsonl", host_only=True)

    t0 = time.perf_counter()
    init_local(args.actors)
    init_s = time.perf_counter() - t0
    try:
        per_shard = max(1, len(long_docs) // (4 * args.actors))  # 4 shards per actor
        ray_long = run_ray(tmp / "long.jsonl", tmp / "ray-long", args.actors, per_shard)
        per_shard = max(1, len(short_docs) // (4 * args.actors))
        ray_short = run_ray(tmp / "short.jsonl", tmp / "ray-short", args.actors, per_shard)
    finally:
        ray.shutdown()
    load_after = uptime()

    def same(records: list[dict], local_file: Path) -> bool:
        with open(local_file, encoding="utf-8") as f:
            return records == [json.loads(line) for line in f]

    identical = same(ray_long["records"], tmp / "local-long.jsonl") and same(
        ray_short["records"], tmp / "local-short.jsonl"
    )
    write_section(args, local_long, local_short, host, ray_long, ray_short, init_s, identical,
                  (load_before, busy_before), load_after,
                  time.perf_counter() - started)  # fmt: skip


def gpu_projection(ll: dict, host: dict, corpus_words: float, efficiency: float) -> str:
    """One GPU for the corpus, on paper: the model's forward FLOPs per token (from the
    shipped model's config) at an assumed GPU rate, against the measured host-side cost."""
    from serkit.models.registry import DEFAULT_DIR

    cfg = json.loads((DEFAULT_DIR / "config.json").read_text())
    n_layers, h, inter = cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"]
    # Per token and layer: Q, K, V and output projections (4 h^2 MACs), the feed-forward
    # (2 h I) and attention over its window (2 h x the mean window length, measured).
    window = ll["padded"] / max(1, ll["windows"])
    flops = 2 * n_layers * (4 * h * h + 2 * h * inter + 2 * h * window)
    tokens_per_word = ll["tokens"] / ll["words"]
    gpu_tokens = GPU_PEAK_TFLOPS * 1e12 * GPU_UTILISATION / flops
    gpu_words = gpu_tokens / tokens_per_word
    host_wps = host["words"] / host["seconds"]
    host_words = GPU_HOST_CORES * host_wps * min(1.0, efficiency)
    rate = min(gpu_words, host_words)
    bound = "the host CPUs" if host_words < gpu_words else "the GPU"
    fp32_words = gpu_words * GPU_PEAK_TFLOPS_FP32 / GPU_PEAK_TFLOPS
    rate32 = min(fp32_words, host_words)
    bound32 = "the host CPUs" if host_words < fp32_words else "the GPU"
    return (
        f"**One GPU, on paper** (projected, not measured: no GPU here): the model costs "
        f"{flops / 1e6:.0f} MFLOP per sub-word token ({n_layers} layers, hidden {h}, "
        f"feed-forward {inter}; "
        f"{tokens_per_word:.2f} tokens per word, measured); at an assumed {GPU_UTILISATION:.0%} "
        f"of an A100's {GPU_PEAK_TFLOPS} fp16 TFLOP/s the forward pass alone would run "
        f"{gpu_words / 1e6:.1f}M words/s. Everything else (reading, splitting, tokenising, "
        f"the lexicon feature, windows, decoding, writing) stays on the host: measured here "
        f"with an instant stand-in for the model, {host_wps:,.0f} words/s per core, so "
        f"{GPU_HOST_CORES} host cores feeding the GPU (at the scaling efficiency measured "
        f"above) give {host_words / 1e6:.2f}M words/s. "
        f"The slower of the two, {bound}, sets the rate: {rate:,.0f} words/s, about "
        f"{corpus_words / rate / 60:.0f} min for the corpus in fp16 (`serkit tag --engine ray "
        f"--device cuda --dtype fp16`: the torch weights in one actor holding one GPU; not "
        f"run on a GPU here). In fp32, the default dtype, the same share of the A100's "
        f"{GPU_PEAK_TFLOPS_FP32} fp32 TFLOP/s gives {fp32_words / 1e6:.2f}M words/s: "
        f"{bound32} set the rate, {rate32:,.0f} words/s, about "
        f"{corpus_words / rate32 / 60:.0f} min."
    )


def write_section(args, ll, ls, host, rl, rs, init_s, identical, before, load_after, wall):
    load_before, busy_before = before
    local_wps = ll["words"] / ll["seconds"]
    ray_wps = rl["words"] / rl["wall"]
    actors = list(rl["actors"].values())
    actor_wps = [a["words"] / a["seconds"] for a in actors]
    per_actor = sum(actor_wps) / len(actor_wps)
    every_actor = actors + list(rs["actors"].values())
    mem_actor = {k: max(a["memory"].get(k, 0.0) for a in every_actor) for k in MEMORY_ROWS}
    mem_local = {k: max(x["memory_mb"].get(k, 0.0) for x in (ll, ls)) for k in MEMORY_ROWS}
    bare = {k: max(a["before_job"].get(k, 0.0) for a in every_actor) for k in MEMORY_ROWS}
    mem_ratio = {
        k: mem_actor[k] / mem_local[k] if mem_local[k] else float("nan") for k in MEMORY_ROWS
    }
    efficiency = ray_wps / (args.actors * local_wps)
    startup = rl["wall"] - max(a["seconds"] for a in actors)  # not spent tagging
    # short texts: per-document cost, local vs in the actors and end to end
    local_doc_ms = 1000 * ls["seconds"] / ls["docs"]
    short_actor_s = sum(a["seconds"] for a in rs["actors"].values())
    actor_doc_ms = 1000 * short_actor_s / rs["docs"]
    e2e_doc_ms = 1000 * rs["wall"] * args.actors / rs["docs"]
    words_per_sentence = ll["words"] / (args.sentences * args.repeat)
    corpus_words = WIKISER_SENTENCES * words_per_sentence
    cluster_actors = NODES * NODE_CPUS
    cluster_wps = cluster_actors * per_actor * min(1.0, efficiency)
    hours = corpus_words / cluster_wps / 3600
    one_proc_hours = corpus_words / local_wps / 3600
    n = args.actors
    busy = busy_before > 0.2  # cores in use by something else just before the run
    load_note = (
        ": the machine was shared with other work, so these are lower bounds of what an "
        "idle machine gives"
        if busy
        else " (idle before the run; the run itself loads both cores)"
    )
    rows = [
        ("words/s, long documents (wall)", f"{local_wps:,.0f}",
         f"{ray_wps:,.0f} (x{ray_wps / local_wps:.2f})"),
        ("words/s per actor, inside the actor", f"{local_wps:,.0f}", f"{per_actor:,.0f}"),
        ("model load; Ray start; run incl. actor start", f"{ll['load_s']:.1f} s",
         f"`ray.init` {init_s:.1f} s; {rl['wall']:.1f} s"),
        ("ms per short document", f"{local_doc_ms:.2f}",
         f"{actor_doc_ms:.2f} in the actors, {e2e_doc_ms:.2f} end to end (wall x actors)"),
        *((f"{MEMORY_ROWS[k]} per process / actor", f"{mem_local[k]:.0f} MB",
           f"{mem_actor[k]:.0f} MB (x{mem_ratio[k]:.2f})") for k in MEMORY_ROWS),
        ("entities identical to local (every record)", "", "yes" if identical else "NO"),
    ]  # fmt: skip
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    md = f"""## Scale: Ray Data vs one local process (issue 18)

Command: `python bench/scale.py --sentences {args.sentences} --short {args.short} \
--actors {n} --repeat {args.repeat}` · {machine()} · {today()} · wall {wall:.0f} s.
Cores busy just before the run: {busy_before:.2f}; load average (1/5/15 min) before:
{" ".join(load_before)}, after: {" ".join(load_after)}{load_note}.
Model: the shipped default (ONNX int8), one thread per process/actor. Corpus: the first
{args.sentences} WikiSER-small test sentences in documents of {args.per_doc} sentences,
{args.repeat} time(s) over ({ll["docs"]} JSONL records, {ll["words"]:,} words); short
texts: {args.short} documents of one sentence clipped to 8 words.

| measured | local, 1 process | Ray Data, {n} actors |
|---|---:|---:|
{table}

Issue 18's target, Ray with {n} actors >= 1.6x one local process: \
{"met" if ray_wps / local_wps >= 1.6 else "**not met**"} on this input (x{ray_wps / local_wps:.2f}).
Scaling efficiency (Ray words/s / ({n} x local)): {efficiency:.2f}. Per-document overhead
of Ray on short texts: {actor_doc_ms - local_doc_ms:+.2f} ms inside the actors (shard
reading, output writing) and {e2e_doc_ms - local_doc_ms:+.2f} ms end to end, which
includes the fixed cost of starting {n} actors and loading the model in each.

Memory: RSS counts the shared libraries (ONNX Runtime, Arrow, Ray's core) in full in every
process; PSS divides each shared page among the processes that map it; USS is what one
more actor adds. Issue 18's target, memory per actor <= 1.2x one process:
{"met" if mem_ratio["uss"] <= 1.2 else "**not met**"} (USS x{mem_ratio["uss"]:.2f}, RSS
x{mem_ratio["peak"]:.2f}). Before it loads the model, an actor already holds
{bare["uss"]:.0f} MB USS ({bare["peak"]:.0f} MB RSS): Ray's worker and what Ray Data's
workers import (pandas, pyarrow), measured when the actor starts; the model then adds about
what it adds to a local process. Read with `serkit.workers.process_memory`.

**Projection, on paper (not measured)**: WikiSER, {WIKISER_SENTENCES:,} sentences x
{words_per_sentence:.1f} words (the measured mean here) = {corpus_words / 1e6:.0f}M words.
One local process at the measured {local_wps:,.0f} words/s: {one_proc_hours:.1f} h.
A {NODES}-node cluster of {NODE_CPUS}-CPU nodes ({cluster_actors} actors, one per CPU):
{CLUSTER_EFFICIENCY_NOTE} = {cluster_wps:,.0f} words/s, about {hours * 60:.0f} min of
tagging plus start-up (actors start in parallel: {startup:.0f} s here), i.e.
{NODES * hours:.1f} node-hours; cost = node-hours x the price of one node-hour.

{gpu_projection(ll, host, corpus_words, efficiency)}
"""
    update_section("scale", md)
    print(md)


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
