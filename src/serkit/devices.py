"""Where a model runs (``cpu``, ``cuda``, ``cuda:N`` or ``auto``) and in what precision
(``fp32``, ``fp16``, ``bf16``).

The one home of the device option of ``serkit tag``, ``eval``, ``serve``, ``train``, the
Python API and the Ray engine. Names are torch's; ``auto`` means a CUDA GPU when one is
there, else the CPU. torch and onnxruntime are imported only when a device is resolved
for them, so checking a name costs nothing.

Tagging defaults to ``cpu`` (as ``transformers.pipeline`` and spaCy do: results do not
depend on the machine); training defaults to ``auto`` (as ``transformers.Trainer`` does).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from serkit.errors import SerkitError

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEVICES = "cpu, cuda, cuda:N or auto (a CUDA GPU when there is one, else the CPU)"
DTYPES_HELP = (
    "fp32, fp16 or bf16: the torch runtime's precision (half precision is for GPUs; bf16 "
    "also runs on recent CPUs; ONNX graphs and the CRF keep their own)"
)
_NAME = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")
#: Precisions of the torch runtime (``--dtype``): name -> torch dtype name. fp32 is what
#: every model is saved in; half precision is for GPUs (bf16 also runs on recent CPUs).
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"


def check_device(device: str | None) -> str:
    """The normalised name (``None`` is ``cpu``); a clear error for anything else."""
    name = "cpu" if device is None else str(device).strip().lower()
    if not _NAME.match(name):
        raise SerkitError(f"unknown device {device!r}: choose {DEVICES}")
    return name


def check_dtype(dtype: str | None) -> str:
    """The precision's name (``None`` is ``fp32``); a clear error for anything else."""
    name = "fp32" if dtype is None else str(dtype).strip().lower()
    if name not in DTYPES:
        raise SerkitError(f"unknown dtype {dtype!r}: choose {', '.join(DTYPES)}")
    return name


def check_threads(threads: int | None) -> int | None:
    """Inference threads per process: ``None`` (the runtime's default), 0 (one per core, as
    ONNX Runtime counts) or more; a clear error for anything else (torch refuses a
    negative count only when the first text runs)."""
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 0
    ):
        raise SerkitError(f"threads must be an int >= 0 or None, got {threads!r}")
    return threads


def torch_dtype(dtype: str | None) -> torch.dtype:
    import torch

    return getattr(torch, DTYPES[check_dtype(dtype)])


def is_cuda(device: str | None) -> bool:
    """True for ``cuda``/``cuda:N``: a GPU was asked for by name (``auto`` may end on the CPU)."""
    return check_device(device).startswith("cuda")


def _index(name: str) -> int | None:
    return int(name.split(":", 1)[1]) if ":" in name else None


def torch_cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA GPU (False without torch)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def wants_gpu(device: str | None) -> bool:
    """``cuda``/``cuda:N``, or ``auto`` on a machine where torch sees a GPU."""
    name = check_device(device)
    return name.startswith("cuda") or (name == "auto" and torch_cuda_available())


def torch_device(device: str | None) -> torch.device:
    """The ``torch.device`` for ``device``; asking for ``cuda`` where torch sees none is an
    error in one line (a silent fall-back to the CPU would run for hours instead of minutes)."""
    import torch

    name = check_device(device)
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU wheel)"
        raise SerkitError(
            f"device {name!r}: torch sees no CUDA GPU (torch {torch.__version__}, built with "
            f"{built}); use --device cpu"
        )
    index = _index(name)
    if index is None:
        index = torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise SerkitError(
            f"device {name!r}: torch sees {torch.cuda.device_count()} CUDA GPU(s) "
            f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
        )
    return torch.device("cuda", index)


def onnx_providers(device: str | None, available: list[str] | None = None) -> list[Any]:
    """ONNX Runtime execution providers for ``device``: the CUDA provider (from the
    ``onnxruntime-gpu`` wheel) before the CPU one, which runs what CUDA cannot.
    ``available`` defaults to ``onnxruntime.get_available_providers()``."""
    name = check_device(device)
    if name == "cpu":
        return [CPU_EP]
    if available is None:
        import onnxruntime as ort

        available = list(ort.get_available_providers())
    if CUDA_EP not in available:
        if name == "auto":
            return [CPU_EP]
        raise SerkitError(
            f"device {name!r}: this onnxruntime has no {CUDA_EP} (install onnxruntime-gpu; "
            "a model folder with torch weights also runs on torch's CUDA: --runtime torch)"
        )
    return [(CUDA_EP, {"device_id": _index(name) or 0}), CPU_EP]
