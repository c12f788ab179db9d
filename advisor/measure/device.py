"""Where models run: ``--device auto|cpu|cuda|cuda:N`` resolved once, at planning, to a torch device string.

Resolving imports torch only when a GPU may be present (a CUDA device asked for, or NVIDIA's driver
visible), so a CPU machine plans a run without loading torch.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from advisor.errors import SpecError


def _nvidia_driver() -> bool:
    """Whether an NVIDIA driver is visible (cheap: no library is imported)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir())) or shutil.which("nvidia-smi") is not None


def resolve_device(requested: str) -> str:
    """The torch device string for ``requested`` (``auto``, ``cpu``, ``cuda`` or ``cuda:N``).

    ``auto`` is the first CUDA GPU when one is usable, else the CPU.

    Raises:
        SpecError: a CUDA device was asked for and none (or not that one) is usable here.
    """
    if requested == "cpu" or (requested == "auto" and not _nvidia_driver()):
        return "cpu"
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if requested == "auto":
        return "cuda:0" if count else "cpu"
    index = int(requested.partition(":")[2] or 0)
    if count == 0:
        raise SpecError(None, "device", f"'{requested}' asked for, but no CUDA GPU is usable here", "use --device cpu (or auto)")
    if index >= count:
        raise SpecError(
            None, "device", f"'{requested}' asked for, but this machine has {count} CUDA GPU(s)", f"use cuda:0 to cuda:{count - 1}"
        )
    return f"cuda:{index}"


def onnx_providers(device: str) -> list:
    """ONNX Runtime execution providers for a torch device string (CUDA first, the CPU for operators it lacks).

    Raises:
        RuntimeError: a CUDA device, but this ONNX Runtime has no CUDA provider (it would silently run on the CPU).
    """
    if not device.startswith("cuda"):
        return ["CPUExecutionProvider"]
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise RuntimeError(
            f"onnxruntime {ort.__version__} here has no CUDA provider for {device}; install onnxruntime-gpu or use --device cpu"
        )
    return [("CUDAExecutionProvider", {"device_id": int(device.partition(":")[2] or 0)}), "CPUExecutionProvider"]
