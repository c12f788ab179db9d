"""The task types and candidate kinds the advisor knows, each defined once.

The schema's allowed values, the "unknown kind" errors, the runner lookup and the prompt defaults
are all derived from these two tables. Importing this module loads no model library.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.spec.options import (
    EncoderOptions,
    FineTuneOptions,
    GenerationOptions,
    PipelineOptions,
    PromptedOptions,
    RunnerOptions,
    StaticOptions,
    TfidfOptions,
)


@dataclass(frozen=True)
class TaskType:
    """A kind of task: whether it is generative, and how a model is asked to do it."""

    name: str
    generative: bool
    instruction: str
    fields: tuple[str, str] = ("Text", "Answer")  # the prompt's input and output labels for free generation


@dataclass(frozen=True)
class CandidateKind:
    """A kind of candidate: which backends run it, its options and where its runner lives (imported on use)."""

    name: str
    backends: tuple[str, ...]
    options: type[RunnerOptions]
    runner: str  # "module:Class"
    needs_source: bool = True
    description: str = ""
    trains_body: bool = False  # the model itself is trained on the samples (not only a head): costly to make


TASK_TYPES: dict[str, TaskType] = {
    t.name: t
    for t in (
        TaskType("text-classification", False, "Classify the text."),
        TaskType("question-answering", True, "Answer the question in a few words.", ("Question", "Answer")),
        TaskType("summarization", True, "Summarize the text in one or two sentences.", ("Text", "Summary")),
    )
}

KINDS: dict[str, CandidateKind] = {
    k.name: k
    for k in (
        CandidateKind(
            "tfidf-logreg",
            ("sklearn",),
            TfidfOptions,
            "advisor.runners.tfidf:TfidfLogReg",
            needs_source=False,
            description="TF-IDF features and a logistic-regression head, trained on the samples",
        ),
        CandidateKind(
            "encoder-head",
            ("sentence-transformers", "onnx"),
            EncoderOptions,
            "advisor.runners.encoder:EncoderHead",
            description="a frozen sentence encoder with a logistic-regression head",
        ),
        CandidateKind(
            "encoder-finetuned",
            ("sentence-transformers",),
            FineTuneOptions,
            "advisor.runners.finetune:FineTunedEncoder",
            trains_body=True,
            description="a sentence encoder fine-tuned on the samples (SetFit: contrastive pairs), then a logistic-regression head",
        ),
        CandidateKind(
            "static-head",
            ("model2vec",),
            StaticOptions,
            "advisor.runners.static:StaticHead",
            description="static token embeddings (model2vec; distilled from a sentence encoder) with a logistic-regression head",
        ),
        CandidateKind(
            "prompted",
            ("transformers",),
            PromptedOptions,
            "advisor.runners.prompted:PromptedClassifier",
            description="a causal LM scoring the label words (zero-/few-shot)",
        ),
        CandidateKind(
            "hf-pipeline",
            ("transformers",),
            PipelineOptions,
            "advisor.runners.pipeline:HfPipelineClassifier",
            description="a ready-made transformers text-classification model",
        ),
        CandidateKind(
            "cascade-package",
            ("advisor",),
            RunnerOptions,
            "advisor.runners.cascade:CascadePackage",
            description="an exported cascade: stages that answer in order of cost, each when its confidence reaches the certified gate",
        ),
        CandidateKind(
            "generator",
            ("transformers",),
            GenerationOptions,
            "advisor.runners.generative:GenerativeRunner",
            description="a causal LM answering by free generation",
        ),
    )
}

BACKENDS: tuple[str, ...] = tuple(dict.fromkeys(b for k in KINDS.values() for b in k.backends))
GENERATIVE_TASK_TYPES: tuple[str, ...] = tuple(n for n, t in TASK_TYPES.items() if t.generative)
