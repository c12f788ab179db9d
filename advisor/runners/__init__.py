"""Candidate kinds behind one small protocol (:class:`~advisor.runners.base.Runner`)."""

from __future__ import annotations

from importlib import import_module

from advisor.runners.base import ModelInfo, Prediction, RunContext, Runner

_KINDS = {
    "tfidf-logreg": "advisor.runners.tfidf:TfidfLogReg",
    "encoder-head": "advisor.runners.encoder:EncoderHead",
    "prompted": "advisor.runners.prompted:PromptedClassifier",
    "hf-pipeline": "advisor.runners.pipeline:HfPipelineClassifier",
    "generator": "advisor.runners.generative:GenerativeRunner",
}


def runner_class(kind: str) -> type[Runner]:
    """The runner class for a registry ``kind`` (imported lazily: heavy libraries load only when used)."""
    module, name = _KINDS[kind].split(":")
    return getattr(import_module(module), name)


__all__ = ["ModelInfo", "Prediction", "RunContext", "Runner", "runner_class"]
