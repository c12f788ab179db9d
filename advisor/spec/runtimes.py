"""Runtimes: what executes a model's inference, declared once (like task types and kinds in :mod:`advisor.spec.kinds`).

A registry entry runs on one runtime as written (:func:`runtime_of`); the serving sweep may also serve it on
others (:func:`servable_as`: a PyTorch sentence encoder as its ONNX export, an ONNX graph on OpenVINO). Each
runtime says which devices it can use, which package provides it and, when it needs one, which runner class
replaces the kind's own. Imports nothing heavy.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the settings import this module: start-up stays free of the spec models
    from advisor.spec.schema import CandidateSpec


@dataclass(frozen=True)
class Runtime:
    """One inference runtime.

    Attributes:
        name: as written in ``--serve-runtimes`` and in results (``ServingPoint.runtime``).
        module: the importable module that provides it (whether it is installed).
        install: how to install it when it is missing.
        gpu: whether it can run on a CUDA device (else it always runs on the CPU).
        runner: ``module:Class`` of the runner that serves on it, when not the kind's own runner.
        marker: the chart marker of its points.
    """

    name: str
    module: str
    install: str
    gpu: bool = False
    runner: str | None = None
    marker: str = "o"

    def available(self) -> bool:
        """Whether its package is installed here."""
        return importlib.util.find_spec(self.module) is not None

    def device(self, requested: str) -> str:
        """Where it runs when ``requested`` (a torch device string) is asked for: a CPU-only runtime stays on the CPU."""
        return requested if self.gpu else "cpu"


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("pytorch", "torch", "pip install torch", gpu=True, marker="o"),
        Runtime("onnxruntime", "onnxruntime", "pip install onnxruntime (onnxruntime-gpu on a GPU)", gpu=True, marker="s"),
        Runtime("openvino", "openvino", "pip install openvino", runner="advisor.runners.openvino:OpenVinoEncoderHead", marker="D"),
        Runtime("scikit-learn", "sklearn", "pip install scikit-learn", marker="^"),
        Runtime("model2vec", "model2vec", "pip install model2vec", marker="v"),
    )
}
NAMES: tuple[str, ...] = tuple(RUNTIMES)


def runtime_of(spec: CandidateSpec) -> str:
    """The runtime a registry entry runs on as written."""
    if spec.backend == "onnx":
        return "onnxruntime"
    if spec.backend == "model2vec":
        return "model2vec"
    return "scikit-learn" if spec.backend == "sklearn" else "pytorch"


def servable_as(spec: CandidateSpec, wanted: Sequence[str] | None = None) -> tuple[dict[str, CandidateSpec], list[str]]:
    """The runtimes ``spec`` can be served on (its own first), each as the registry entry that runs on it, and
    those left out with why.

    A PyTorch sentence encoder also runs as its ONNX export; an encoder exported to ONNX from a PyTorch
    folder also runs on PyTorch; an ONNX graph also runs on OpenVINO when that is installed.
    """
    own = runtime_of(spec)
    found = {own: spec}
    if spec.kind == "encoder-head" and not spec.options.get("quantize"):
        opts = {k: v for k, v in spec.options.items() if k not in ("export", "threads")}
        if spec.backend != "onnx":
            found["onnxruntime"] = spec.model_copy(update={"backend": "onnx", "options": {**opts, "export": "fp32"}})
        elif spec.options.get("export"):
            found["pytorch"] = spec.model_copy(update={"backend": "sentence-transformers", "options": opts})
        if "onnxruntime" in found:
            found["openvino"] = found["onnxruntime"]
    left = []
    for name in [r for r in found if r != own and not RUNTIMES[r].available()]:
        del found[name]
        left.append(f"{name}: not installed ({RUNTIMES[name].install})")
    if wanted:
        left += [f"{r}: not asked for (--serve-runtimes)" for r in found if r not in wanted and r != own]
        left += [f"{r}: this model cannot run on it" for r in wanted if r not in found and not any(x.startswith(f"{r}:") for x in left)]
        found = {r: s for r, s in found.items() if r in wanted or r == own}
    return found, left
