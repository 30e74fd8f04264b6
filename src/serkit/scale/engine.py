"""``serkit tag --engine ray`` and ``serkit weak-label --engine ray``: tag or weak-label a
corpus on a Ray cluster (or all cores of this machine) with Ray Data.

The driver cuts the inputs into shards (``serkit.scale.shards``), skips those the manifest
lists as finished, and hands the rest to ``Dataset.map_batches`` over a fixed pool of
actors (``ActorPoolStrategy``), one shard per call. What an actor does to a shard is its
run's *job* (``serkit.scale.jobs``): it loads the model (or the lexicon) once, reads its
shard's documents, tags them with the library's ``Tagger`` (or labels them with the
lexicon: the very code of a local run, so the output is the same) and writes the shard's
output file atomically. Results stream back to the driver as shards finish (Ray Data's
streaming executor: nothing is materialised), which records each in the manifest at once. An actor
that dies is restarted by Ray and its shard run again; a run that stops (crash, Ctrl-C)
is resumed by running the same command again.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serkit.devices import check_device
from serkit.errors import SerkitError
from serkit.scale.jobs import Job, TagJob, WeakLabelJob
from serkit.scale.jobs import run_identity as run_identity  # it lived here
from serkit.scale.manifest import Manifest
from serkit.scale.shards import DOCS_PER_SHARD, Shard, plan, read_shard
from serkit.workers import usable_cores

#: Environment variable Ray itself reads for the address of an existing cluster.
RAY_ADDRESS = "RAY_ADDRESS"


@dataclass
class RunSummary:
    """What a scaled-out run did; ``lines()`` is what the CLI prints on stderr."""

    out_dir: Path
    shards: int
    reused: int
    tagged: int
    docs: int
    entities: int
    skipped: list[str] = field(default_factory=list)
    actors: int = 0
    seconds: float = 0.0
    #: One entry per shard tagged in this run: its actor's pid, node, peak RSS, seconds.
    workers: list[dict[str, Any]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"serkit: skipped: {s}" for s in self.skipped]
        out.append(
            f"{self.out_dir}: {self.shards} shards ({self.tagged} tagged now by "
            f"{self.actors} actors in {self.seconds:.1f} s, {self.reused} from an earlier "
            f"run), {self.docs} documents, {self.entities} entities"
            + (
                f", {len(self.skipped)} skipped (unreadable inputs or bad records)"
                if self.skipped
                else ""
            )
        )
        return out

    @property
    def exit_code(self) -> int:
        """0, or 1 when inputs were skipped (as a local ``serkit tag``)."""
        return 1 if self.skipped else 0


def ray_tag(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    model: str | Path | None = None,
    runtime: str = "auto",
    scheme: str | None = None,
    fmt: str = "jsonl",
    batch_size: int = 32,
    threads_per_actor: int = 1,
    device: str = "cpu",
    gpus_per_actor: float = 0.0,
    dtype: str = "fp32",
    **options: Any,
) -> RunSummary:
    """Tag ``inputs`` (files, folders, globs: texts and record files read as a local
    ``serkit tag`` reads them, ``input_format``/``text_field``/``id_field`` included, plus
    Parquet files with a ``text_field`` column) into ``out_dir``: one output file per
    shard (``jsonl`` or ``parquet``) and ``manifest.json``. ``options`` are
    :func:`run_job`'s: ``actors``, ``address``, ``docs_per_shard``, ``pattern``,
    ``encoding``, ``input_format``, ``text_field``, ``id_field``, ``progress``.
    ``address`` (or ``RAY_ADDRESS``) names an existing Ray cluster; without one a local
    Ray instance with ``actors`` CPUs is started and shut down. ``actors`` defaults to the
    usable cores here, or the cluster's CPUs divided by ``threads_per_actor``. Re-running
    the same call resumes: finished shards are skipped. On a Ray instance the caller
    started, a failed run's actors are freed only once nothing references its error (Ray
    Data releases them by reference counting): re-run from a new process, as the CLI does,
    or after ``ray.shutdown()``.

    GPUs: ``gpus_per_actor`` > 0 asks Ray for that many GPUs per actor (a fraction lets
    actors share one) and runs the model on ``cuda`` there; ``device="cuda"`` alone asks
    one GPU per actor. The driver checks the model on its CPU and fixes the actors'
    runtime (:func:`serkit.models.registry.runtime_on`); actor count defaults to what the
    cluster's GPUs hold.

    ``_fault`` (an option, for tests only): ``{"shard": i, "mode": "exit"|"raise",
    "marker": path}`` makes the actor working on shard ``i`` die (or raise) after its
    first document, once (while ``marker`` does not exist).
    """
    if not gpus_per_actor >= 0:
        raise SerkitError(f"gpus_per_actor must be >= 0, got {gpus_per_actor!r}")
    if gpus_per_actor > 0:
        device = "cuda" if check_device(device) == "cpu" else device
    elif check_device(device) == "cuda":
        gpus_per_actor = 1.0
    job = TagJob(str(model) if model is not None else None, runtime, scheme, fmt,
                 threads_per_actor, batch_size, device, dtype)  # fmt: skip
    return run_job(job, inputs, out_dir, threads_per_actor=threads_per_actor,
                   gpus_per_actor=gpus_per_actor, **options)  # fmt: skip


def ray_weak_label(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    lexicon: str | Path,
    case: str = "smart",
    min_ratio: float = 0.0,
    min_count: int = 1,
    fmt: str = "jsonl",
    **options: Any,
) -> RunSummary:
    """Weak-label ``inputs`` (read as :func:`ray_tag` reads them) with the ``lexicon`` TSV
    into ``out_dir``: each document's text labelled as a local ``serkit weak-label``
    labels a text file (``case``, ``min_ratio``, ``min_count``: ``Lexicon.matcher``'s
    options and defaults; the command passes its own), one output file per shard in the
    corpus format ``fmt`` and ``manifest.json``; resumed, and run on a cluster or a local
    Ray instance, as :func:`ray_tag` (``options``: :func:`run_job`'s)."""
    job = WeakLabelJob(str(lexicon), case, min_ratio, min_count, fmt)
    return run_job(job, inputs, out_dir, **options)


def run_job(
    job: Job,
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    actors: int | None = None,
    address: str | None = None,
    docs_per_shard: int = DOCS_PER_SHARD,
    pattern: str = "*.txt",
    encoding: str = "utf-8",
    input_format: str = "auto",
    text_field: str = "text",
    id_field: str = "id",
    threads_per_actor: int = 1,
    gpus_per_actor: float = 0.0,
    progress: bool = False,
    _fault: dict[str, Any] | None = None,
) -> RunSummary:
    """Run ``job`` over the shards of ``inputs`` into ``out_dir`` (see :func:`ray_tag`)."""
    if actors is not None and actors < 1:
        raise SerkitError(f"actors must be >= 1, got {actors}")
    out_dir = Path(out_dir)
    shards = plan(
        [str(p) for p in inputs],
        pattern=pattern,
        docs_per_shard=docs_per_shard,
        input_format=input_format,
        text_field=text_field,
        id_field=id_field,
        encoding=encoding,
    )
    check_inputs_outside(shards, out_dir)
    # Checked (and the model or lexicon loaded) once here: a bad one fails now, in one
    # line, not in every actor.
    job, run = job.prepare()
    manifest = Manifest(out_dir, run)
    todo = manifest.plan(shards)
    summary = RunSummary(out_dir, len(shards), len(shards) - len(todo), 0, 0, 0)
    if todo:
        out_dir.mkdir(parents=True, exist_ok=True)
    manifest.save()
    t0 = time.perf_counter()
    if todo:
        worker_args = {"job": job, "out_dir": str(out_dir.resolve()), "fault": _fault}
        with ray_session(address, actors * threads_per_actor if actors else None) as have:
            n = actors_for(len(todo), actors, have, threads_per_actor, gpus_per_actor)
            summary.actors = n
            need = {"num_cpus": threads_per_actor, "num_gpus": gpus_per_actor}
            for entry in _run_shards(todo, worker_args, n, need, progress):
                manifest.record(entry)
                manifest.save()
                summary.tagged += 1
                summary.workers.append({"shard": entry["index"], **entry["worker"]})
    summary.seconds = time.perf_counter() - t0
    manifest.complete = True
    manifest.save()
    for entry in manifest.shards.values():
        summary.docs += entry["docs"]
        summary.entities += entry["entities"]
    summary.skipped = list(manifest.skipped())
    return summary


def check_inputs_outside(shards: Sequence[Shard], out_dir: Path) -> None:
    """Refuse an input file that lies in the output folder: the run writes ``part-NNNNN``
    files and ``manifest.json`` there, so it could replace an input before it is read (a
    former run's shards tagged again in place) or read its own output on a re-run."""
    try:
        out = out_dir.stat()
    except OSError:
        return  # not there yet: no input lies in it
    for shard in shards:
        for path in shard.paths:
            with contextlib.suppress(OSError):
                if os.path.samestat(Path(path).absolute().parent.stat(), out):
                    raise SerkitError(
                        f"{path}: an input in the output folder {out_dir}; the run writes its "
                        "shards and manifest there: give -o another folder"
                    )


#: Ray settings of a local instance: on a loaded machine Ray's agents can take longer to
#: come up than its default wait (the raylet then aborts), and no metrics are collected.
LOCAL_SYSTEM_CONFIG = {
    "agent_register_timeout_ms": 600_000,
    "raylet_start_wait_time_s": 600,
    "enable_metrics_collection": False,
}


def init_local(num_cpus: int) -> None:
    """Start a local Ray instance with ``num_cpus`` CPUs: no dashboard, warnings only."""
    import logging

    import ray

    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        logging_level=logging.WARNING,
        _system_config=LOCAL_SYSTEM_CONFIG,
    )


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None) -> Iterator[float]:
    """Connect to ``address`` (or ``RAY_ADDRESS``), or start a local Ray instance (no
    dashboard) and shut it down afterwards; an instance already started by the caller is
    used as is. Yields the cluster's resources (``{"CPU": 2.0, "GPU": 1.0, ...}``)."""
    import logging

    import ray

    if ray.is_initialized():
        yield ray.cluster_resources()
        return
    address = address or os.environ.get(RAY_ADDRESS) or None
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            init_local(num_cpus or usable_cores())
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise SerkitError(f"cannot start or reach {where}: {str(e).splitlines()[0]}") from None
    try:
        yield ray.cluster_resources()
    finally:
        ray.shutdown()


def actors_for(
    shards: int, actors: int | None, have: dict[str, float], cpus: int, gpus: float
) -> int:
    """How many actors a run gets: ``actors``, or as many as the cluster's CPUs (and GPUs,
    for GPU actors) hold; at most one per shard (another would load the model and get no
    work); more than the cluster holds is an error (Ray would wait for them forever)."""
    n_cpu, n_gpu = have.get("CPU", 1.0), have.get("GPU", 0.0)
    if actors is None:
        fit = int(n_cpu // cpus)
        if gpus > 0:
            fit = min(fit, int(n_gpu // gpus + 1e-9))
        actors = max(1, min(shards, fit))
    actors = max(1, min(actors, shards))
    if actors * cpus > n_cpu:
        raise SerkitError(
            f"{actors} actors x {cpus} threads need {actors * cpus} CPUs; the Ray cluster "
            f"has {n_cpu:g}"
        )
    if gpus > 0 and actors * gpus > n_gpu + 1e-9:
        raise SerkitError(
            f"{actors} actors x {gpus:g} GPUs need {actors * gpus:g} GPUs; the Ray cluster "
            f"has {n_gpu:g}"
        )
    return actors


def _run_shards(
    todo: list[Shard],
    worker_args: dict[str, Any],
    actors: int,
    need: dict[str, float],
    progress: bool,
) -> Iterator[dict[str, Any]]:
    """Ray Data over the shards: one row per shard, one shard per ``map_batches`` call on a
    fixed pool of ``actors``; yields each shard's manifest entry as it finishes."""
    import ray
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    ctx.print_on_execution_start = False
    ds = ray.data.from_items(
        [{"shard": s.to_json()} for s in todo], override_num_blocks=len(todo)
    ).map_batches(
        ShardWorker,
        fn_constructor_kwargs=worker_args,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=actors),
        **need,
    )
    cause = None
    try:
        for row in ds.iter_rows():
            yield json.loads(row["result"])
    except SerkitError:
        raise
    except Exception as e:  # Ray wraps the worker's error; say it in one line
        cause = _root_cause(e)
    finally:
        # Ray Data releases its actors by dropping references, and the failed run's
        # traceback (and the dataset itself) still hold some: without this the actors keep
        # their CPUs, and a next run on the same Ray instance waits for them for ever.
        del ds
        gc.collect()
    if cause is not None:
        raise SerkitError(
            f"the Ray run stopped: {cause}; finished shards are kept: run the same command "
            "again to resume"
        )


#: A line of a remote traceback that names an exception: ``module.Type: message``.
_ERROR_LINE = re.compile(r"^((?:\w+\.)*\w*(?:Error|Exception|Exit|Interrupt)): (.*)$")


def _root_cause(e: BaseException) -> str:
    """The worker's own error in one line. Ray wraps it (``RayTaskError`` around
    ``UserCodeException: UDF failed ...``) and keeps the original only as text in the
    remote traceback, so that text is searched for the first error not raised by Ray."""
    chain: list[BaseException] = []
    while e is not None and all(e is not c for c in chain):
        chain.append(e)
        nxt = getattr(e, "cause", None)
        e = nxt if isinstance(nxt, BaseException) else e.__cause__
    for exc in chain:
        for line in str(exc).splitlines():
            m = _ERROR_LINE.match(line.strip())
            if m and not m.group(1).startswith("ray."):
                return f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2)}"
    last = chain[-1]
    lines = str(last).strip().splitlines()
    return f"{type(last).__name__}: {lines[-1] if lines else ''}".rstrip(": ")


class ShardWorker:
    """One Ray actor: starts its run's job once (loads the model or the lexicon), then
    does whole shards, one per call."""

    def __init__(self, job: Job, out_dir: str, fault: dict[str, Any] | None = None) -> None:
        from serkit.workers import process_memory

        self.memory_before_job = process_memory()  # Ray's and Ray Data's share of an actor
        self.job, self.work = job, job.start()
        self.out_dir, self.fault = Path(out_dir), fault

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        return {"result": [json.dumps(self.do_shard(Shard.from_json(s))) for s in batch["shard"]]}

    def do_shard(self, shard: Shard) -> dict[str, Any]:
        """Write one shard's output file (atomically); its manifest entry."""
        from serkit.files.atomic import atomic_write
        from serkit.models.folder import sha256_file

        t0 = time.perf_counter()
        skipped: list[str] = []
        name = shard.output_name(self.job.suffix)
        path = self.out_dir / name
        counts = {"docs": 0, "words": 0, "entities": 0}

        def done(entities: int, words: int) -> None:
            counts["docs"] += 1
            counts["entities"] += entities
            counts["words"] += words
            self._maybe_fail(shard)

        with atomic_write(path, "wb" if self.job.binary else "w") as f:
            self.work.write(read_shard(shard, skipped), f, done)
        return {
            "index": shard.index,
            "key": shard.key,
            "file": name,
            "bytes": path.stat().st_size,
            "sha256": sha256_file(path),
            **counts,
            "skipped": skipped,
            "worker": {
                **_worker_stats(time.perf_counter() - t0),
                "memory_before_job_mb": self.memory_before_job,
            },
        }

    def _maybe_fail(self, shard: Shard) -> None:
        f = self.fault
        if not f or f["shard"] != shard.index:
            return
        marker = Path(f["marker"])
        if marker.exists():
            return
        marker.touch()
        if f["mode"] == "exit":
            os._exit(1)  # the actor process dies mid-shard, its temp file left behind
        raise RuntimeError(f"injected failure in shard {shard.index}")


def _worker_stats(seconds: float) -> dict[str, Any]:
    import socket

    from serkit.workers import process_memory

    mem = process_memory()
    return {
        "pid": os.getpid(),
        "node": socket.gethostname(),
        "memory_mb": mem,
        "seconds": round(seconds, 3),
    }
