"""Data-parallel training: the same ``serkit train`` on several processes.

``torchrun --nproc_per_node N`` and ``accelerate launch --multi_gpu --num_processes N``
(torch's launcher too, on CPUs as well) start N copies of the command and tell each its
place through the standard variables ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (plus
``MASTER_ADDR``/``MASTER_PORT``); ``mpirun`` (``accelerate launch --cpu`` with a host file)
through its own (Open MPI's, MPICH's, MVAPICH's), read when those are absent;
:func:`context` reads them once. With none (or ``WORLD_SIZE=1``) it returns
:data:`SINGLE`, whose every hook is the identity, so a single-process run is exactly what it
always was. ``accelerate launch [--cpu] --num_processes N`` on a machine without GPUs and
without a host file starts ONE process: that is refused rather than run as one.

With N ranks (:class:`Group`):

* every rank reads the data and builds the same model (same seed); step ``s`` of an epoch
  gives rank ``r`` the length-bucketed batch ``s * N + r`` of that epoch's order
  (:meth:`Group.share`), so one step trains on N batches and an epoch has N times fewer
  steps; the last round wraps around to the epoch's first batches, as torch's
  ``DistributedSampler`` pads;
* ``DistributedDataParallel`` averages the gradients; each rank's loss is weighted by its
  share of the step's labelled words (:meth:`Group.weigh`), so a step equals one
  single-process step on the union of the N batches (losses are means over labelled
  words), and the loss logged is that global mean;
* rank 0 alone writes: the output folder, metrics, evaluation, checkpoints and the model;
  the others wait for it in the next step's gradient exchange and at barriers
  (:meth:`Group.on_main`, the end of a run). A resume reads the same checkpoint on every
  rank.

The processes talk over gloo for CPU tensors and NCCL for CUDA tensors where torch has
it; with ``device = "cuda"`` (or ``auto`` on a GPU machine) each rank trains on its own
GPU (``LOCAL_RANK``).
"""

from __future__ import annotations

import atexit
import json
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import torch

from serkit.errors import SerkitError

T = TypeVar("T")

#: How long ranks wait for each other: rank 0 evaluates and saves while the others wait,
#: and a large dev set on CPU takes longer than torch's default (30 minutes for gloo). A
#: rank that fails ends the others sooner: torchrun stops the whole group.
TIMEOUT = timedelta(hours=3)


class Single:
    """One process: nothing is shared, every hook returns what it is given."""

    rank = 0
    world = 1
    is_main = True

    def share(self, batches: list[list[int]]) -> list[list[int]]:
        """This rank's batch for each step of an epoch."""
        return batches

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module that runs the training forward (gradients synchronised)."""
        return model

    def weigh(
        self, loss: torch.Tensor, parts: dict[str, float], labelled: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss to backpropagate and the step's parts; ``labelled`` marks the
        positions the loss averages over."""
        return loss, parts

    def total(self, count: int) -> int:
        """``count`` summed over the ranks."""
        return count

    def on_main(self, fn: Callable[[], T]) -> T:
        """``fn()`` on rank 0 only; every rank gets its (JSON) result or its error."""
        return fn()

    def barrier(self) -> None:
        """Wait until every rank is here."""


SINGLE = Single()


class Group(Single):
    """Rank ``rank`` of ``world`` processes in torch's default process group."""

    def __init__(self, rank: int, world: int, local_rank: int) -> None:
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self.is_main = rank == 0

    def share(self, batches: list[list[int]]) -> list[list[int]]:
        n = len(batches)
        if not n:
            return []
        steps = -(-n // self.world)
        return [batches[(s * self.world + self.rank) % n] for s in range(steps)]

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        ids = [device.index if device.index is not None else self.local_rank]
        # No module buffer holds running statistics (LayerNorm, not BatchNorm): nothing to
        # broadcast before each forward.
        return DistributedDataParallel(
            model, device_ids=ids if device.type == "cuda" else None, broadcast_buffers=False
        )

    def weigh(self, loss, parts, labelled):
        n = float(labelled.sum())
        keys = sorted(parts)
        local = [n, n * float(loss.detach())] + [n * parts[k] for k in keys]
        sums = torch.tensor(local, dtype=torch.float64)
        torch.distributed.all_reduce(sums)
        total = float(sums[0])
        if total == 0.0:  # no rank has a labelled word: the loss is 0 with no gradient
            return loss, {k: 0.0 for k in keys}
        # DDP averages gradients over the ranks: world * n / total turns that average into
        # the gradient of the mean over every rank's labelled words. The value is the
        # global mean, so every rank sees the same (non-)finite loss and logs the same.
        scaled = loss * (self.world * n / total)
        mean = float(sums[1]) / total
        mean_t = torch.tensor(mean, dtype=scaled.dtype, device=scaled.device)
        out = scaled + (mean_t - scaled).detach()
        return out, {k: float(sums[2 + i]) / total for i, k in enumerate(keys)}

    def total(self, count: int) -> int:
        t = torch.tensor([count], dtype=torch.int64)
        torch.distributed.all_reduce(t)
        return int(t[0])

    def on_main(self, fn):
        result: Any = None
        if self.is_main:
            try:
                result = fn()
                msg = json.dumps({"ok": result})
            except Exception as e:
                msg = json.dumps({"error": str(e) or type(e).__name__})
                self._broadcast(msg)
                raise
        else:
            msg = ""
        doc = json.loads(self._broadcast(msg))
        if self.is_main:
            return result
        if "error" in doc:
            raise SerkitError(f"rank 0 stopped: {doc['error']}")
        return doc["ok"]

    def _broadcast(self, text: str) -> str:
        """Rank 0's ``text`` on every rank (bytes in a tensor, no pickle)."""
        data = text.encode() if self.is_main else b""
        size = torch.tensor([len(data)], dtype=torch.int64)
        torch.distributed.broadcast(size, 0)
        buf = torch.zeros(int(size[0]), dtype=torch.uint8)
        if self.is_main:
            buf.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        torch.distributed.broadcast(buf, 0)
        return bytes(buf.tolist()).decode()

    def barrier(self) -> None:
        torch.distributed.barrier()


_CONTEXT: Single | None = None


def _env_int(name: str, env: dict[str, str], default: int | None = None) -> int:
    raw = env.get(name)
    if raw is None:
        if default is None:
            raise SerkitError(f"{name} is not set but WORLD_SIZE is: start with torchrun")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SerkitError(f"{name}={raw!r}: not a whole number") from None
    if value < 0:
        raise SerkitError(f"{name}={raw!r}: must not be negative")
    return value


#: ``(rank, world, local rank)`` variables of MPI launchers, read when ``WORLD_SIZE`` is not
#: set (accelerate maps the same ones).
MPI_VARIABLES = (
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
    ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_LOCAL_RANK"),
)


def from_env(env: dict[str, str] | None = None) -> tuple[int, int, int]:
    """``(rank, world, local_rank)`` from the launcher's variables; ``(0, 1, 0)`` if none."""
    env = dict(os.environ if env is None else env)
    if "WORLD_SIZE" not in env:
        for rank_var, size_var, local_var in MPI_VARIABLES:
            if size_var in env:
                env["WORLD_SIZE"] = env[size_var]
                for var, name in ((rank_var, "RANK"), (local_var, "LOCAL_RANK")):
                    if var in env:
                        env.setdefault(name, env[var])
                break
    # accelerate's one-process launcher (it alone sets ACCELERATE_USE_CPU) sets MASTER_ADDR
    # only when asked for more than one process.
    if "WORLD_SIZE" not in env and "ACCELERATE_USE_CPU" in env and "MASTER_ADDR" in env:
        raise SerkitError(
            "accelerate launch started one process although more were asked for (without "
            "GPUs it starts several only with --multi_gpu, or through mpirun with --cpu "
            "--mpirun_hostfile): use accelerate launch --multi_gpu --num_processes N (CPUs "
            "too) or torchrun --nproc_per_node N"
        )
    world = _env_int("WORLD_SIZE", env, 1)
    if world <= 1:
        return 0, 1, 0
    rank = _env_int("RANK", env)
    if rank >= world:
        raise SerkitError(f"RANK={rank} is not below WORLD_SIZE={world}")
    return rank, world, _env_int("LOCAL_RANK", env, rank)


def backends() -> str:
    """gloo for CPU tensors; NCCL for CUDA tensors where torch was built with it."""
    import torch.distributed as dist

    if torch.cuda.is_available() and dist.is_nccl_available():
        return "cpu:gloo,cuda:nccl"
    return "gloo"


def context() -> Single:
    """This process's place: :data:`SINGLE`, or a :class:`Group` (joined on first use;
    a process group someone already started, e.g. by accelerate, is used as it is)."""
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        world = dist.get_world_size()
        rank = dist.get_rank()
        local = _env_int("LOCAL_RANK", dict(os.environ), rank)
    else:
        rank, world, local = from_env()
        if world > 1:
            if not dist.is_available():
                raise SerkitError("WORLD_SIZE > 1 but this torch has no torch.distributed")
            if torch.cuda.is_available():
                torch.cuda.set_device(local % max(1, torch.cuda.device_count()))
            try:
                dist.init_process_group(backends(), rank=rank, world_size=world, timeout=TIMEOUT)
            except (ValueError, RuntimeError) as e:
                first = (str(e).splitlines() or [""])[0]
                raise SerkitError(f"cannot join the other training processes: {first}") from e
            atexit.register(dist.destroy_process_group)
    _CONTEXT = SINGLE if world <= 1 else Group(rank, world, local)
    return _CONTEXT


__all__ = ["SINGLE", "Group", "Single", "backends", "context", "from_env"]
