"""Validated specifications for tasks, registries and run settings.

Every model forbids unknown keys and suggests the closest known one, so a typo never passes
silently. :func:`parse` turns pydantic's errors into a one-line :class:`SpecError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from advisor.core.answers import Strategy
from advisor.core.answers import parse as parse_answer
from advisor.core.metricspec import MetricSpec, Strict  # re-exported with every spec
from advisor.core.scores import CLASSIFICATION_METRICS, GENERATIVE_METRICS
from advisor.errors import SpecError, did_you_mean
from advisor.spec.kinds import BACKENDS, KINDS, TASK_TYPES

TaskType = Literal[tuple(TASK_TYPES)]
Tier = Literal["small", "distilled", "large"]
Kind = Literal[tuple(KINDS)]
Backend = Literal[BACKENDS]
Variant = Literal["int8-dynamic", "onnx", "onnx-int8", "fine-tuned", "static"]


class PackageFile(Strict):
    """A file or folder inside an installed PyPI distribution."""

    package: str
    path: str


class SourceSpec(Strict):
    """Where a model's files come from: exactly one of hub, local, package or parts."""

    hub: str | None = None
    revision: str | None = None
    local: str | None = None
    package: str | None = None
    path: str | None = None
    parts: list[PackageFile] | None = None
    unpack: Literal["zip", "concat"] | None = Field(
        default=None, description="parts: 'zip' (pieces of one zip archive) or 'concat' (pieces of one file, named by 'file')"
    )
    file: str | None = Field(default=None, description="File inside the resolved folder (e.g. a .gguf or .onnx)")

    @model_validator(mode="after")
    def _one_origin(self) -> SourceSpec:
        given = [k for k in ("hub", "local", "package", "parts") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of 'hub', 'local', 'package' or 'parts'")
        if self.hub and not self.revision:
            raise ValueError("a hub source needs a pinned 'revision' (a commit sha)")
        if self.package and not self.path:
            raise ValueError("a package source needs 'path', the file or folder inside the distribution")
        if self.parts and not self.unpack:
            raise ValueError("a source made of 'parts' needs 'unpack: zip' or 'unpack: concat'")
        if self.unpack == "concat" and not self.file:
            raise ValueError("'unpack: concat' needs 'file', the name of the joined file (e.g. model.gguf)")
        return self

    def describe(self) -> str:
        """A short human-readable origin, e.g. ``hub:org/model@abc1234``."""
        if self.hub:
            return f"hub:{self.hub}@{(self.revision or '')[:7]}"
        if self.local:
            return f"local:{self.local}"
        if self.package:
            return f"package:{self.package}/{self.path}"
        return f"package parts:{self.parts[0].package}+{len(self.parts) - 1}"


class CandidateSpec(Strict):
    """One registry entry: a model that may serve some task types."""

    name: str = Field(min_length=1, description="unique; no commas (the CLI takes comma-separated names)")
    tier: Tier
    kind: Kind
    backend: Backend
    source: SourceSpec | None = None
    tokenizer: SourceSpec | None = None
    task_types: list[TaskType] = Field(min_length=1)
    license: str
    description: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    variants: list[Variant] = Field(default_factory=list, description="derived candidates to measure as well (see advisor.spec.registry)")
    derived_from: str | None = Field(default=None, description="set on expanded variants: the entry they were derived from")

    @field_validator("name")
    @classmethod
    def _no_comma(cls, v: str) -> str:
        if "," in v:
            raise ValueError(f"'{v}' contains a comma, which --candidates uses to separate names; rename it without commas")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> CandidateSpec:
        allowed = KINDS[self.kind].backends
        if self.backend not in allowed:
            raise ValueError(f"kind '{self.kind}' runs on backend {' or '.join(allowed)}, not '{self.backend}'")
        if KINDS[self.kind].needs_source and self.source is None:
            raise ValueError(f"kind '{self.kind}' needs a 'source'")
        return self


class RegistrySpec(Strict):
    """The registry file: a list of candidates with unique names."""

    version: Literal[1] = 1
    candidates: list[CandidateSpec] = Field(min_length=1)

    @field_validator("candidates")
    @classmethod
    def _unique(cls, candidates: list[CandidateSpec]) -> list[CandidateSpec]:
        seen: set[str] = set()
        for c in candidates:
            if c.name in seen:
                raise ValueError(f"two candidates are named '{c.name}'; names must be unique")
            seen.add(c.name)
        return candidates


class CsvOptions(Strict):
    """How to read a delimited text file."""

    delimiter: str = ","
    header: bool = True
    column_names: list[str] | None = None
    quoting: bool = True


class DataSpec(Strict):
    """Where a task's samples come from and which fields hold text and label."""

    file: str | None = None
    package: str | None = None
    path: str | None = None
    format: Literal["csv", "jsonl", "json", "parquet"] | None = None
    csv: CsvOptions = CsvOptions()
    text_field: str = "text"
    label_field: str = "label"
    where: dict[str, str | int | float | bool] = Field(default_factory=dict)
    drop_empty: bool = False
    dedupe: bool = False

    @model_validator(mode="after")
    def _one_origin(self) -> DataSpec:
        if bool(self.file) == bool(self.package):
            raise ValueError("give exactly one of 'file' (a local path) or 'package' with 'path'")
        if self.package and not self.path:
            raise ValueError("a package data source needs 'path', the file inside the distribution")
        return self


class SampleSpec(Strict):
    """How many samples to draw, with which seed."""

    size: int | None = Field(default=None, ge=1)
    seed: int = 0
    stratify: bool = True


class AnswerSpec(Strict):
    """How a generative task reads the answer out of generated text (see :mod:`advisor.core.answers`)."""

    strategy: Strategy = "first_line"
    pattern: str | None = None

    @model_validator(mode="after")
    def _pattern(self) -> AnswerSpec:
        import re

        if self.strategy != "regex":
            if self.pattern is not None:
                raise ValueError(f"'pattern' only applies to strategy 'regex', not '{self.strategy}'")
            return self
        if not self.pattern:
            raise ValueError("strategy 'regex' needs 'pattern', a regular expression whose first group is the answer")
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            where = f" at position {exc.pos}" if exc.pos is not None else ""
            raise ValueError(f"pattern {self.pattern!r} does not compile: {exc.msg}{where}") from None
        if compiled.groups < 1:
            raise ValueError(f"pattern {self.pattern!r} has no group; wrap the answer part in parentheses, e.g. 'Answer: (.+)'")
        return self

    def parse(self, text: object) -> str:
        """The answer in ``text`` by this spec; ``""`` for malformed output (never raises)."""
        return parse_answer(text, self.strategy, self.pattern)


class PromptSpec(Strict):
    """How a generative model is prompted: to classify (label words scored) or to answer (free generation)."""

    instruction: str | None = Field(default=None, description="default: one suited to the task type")
    verbalizers: dict[str, str] | None = None
    template: str = "{instruction}\nOptions: {options}\n\nText: {text}\nAnswer:"
    few_shot: int = Field(default=0, ge=0, le=16)
    answer: AnswerSpec = AnswerSpec()

    def instruction_for(self, task_type: str) -> str:
        """The instruction given, or the default for ``task_type``."""
        return self.instruction if self.instruction is not None else TASK_TYPES[task_type].instruction


class TaskSpec(Strict):
    """A task: type, samples, labels, metric, default threshold and sampling."""

    name: str = Field(min_length=1)
    type: TaskType
    description: str = ""
    data: DataSpec
    labels: list[str] | dict[str, str] | None = None
    metric: MetricSpec
    threshold: float = Field(gt=0, le=1)
    sample: SampleSpec = SampleSpec()
    folds: int = Field(default=5, ge=2, le=20)
    prompt: PromptSpec = PromptSpec()

    @model_validator(mode="after")
    def _metric_fits_type(self) -> TaskSpec:
        generative = TASK_TYPES[self.type].generative
        allowed = GENERATIVE_METRICS if generative else CLASSIFICATION_METRICS
        if self.metric.name not in allowed:
            raise ValueError(f"metric '{self.metric.name}' does not apply to a {self.type} task; use one of: {', '.join(allowed)}")
        if generative and self.labels is not None:
            raise ValueError(
                f"a {self.type} task has references, not labels; remove 'labels' (data.label_field names the reference column)"
            )
        return self

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_as_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        if isinstance(value, list):
            return [str(v) for v in value]
        return value

    def label_names(self) -> list[str] | None:
        """The declared label names in order, or None if they are to be read from the data."""
        if self.labels is None:
            return None
        return list(self.labels.values()) if isinstance(self.labels, dict) else list(self.labels)


M = TypeVar("M", bound=BaseModel)


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "literal[", "list[", "dict[", "str", "int")):
            out += f".{part}" if out else str(part)
    return out


def parse(model: type[M], data: Any, path: str | Path | None, prefix: str = "") -> M:
    """Validate ``data`` as ``model``.

    Raises:
        SpecError: naming the file and the first offending field, with the fix.
    """
    if not isinstance(data, dict):
        raise SpecError(path, prefix or None, f"expected a mapping, got {type(data).__name__}", "see the README for the format")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _loc(tuple(err["loc"]))
        if prefix:
            field = f"{prefix}.{field}" if field else prefix
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            raise SpecError(path, field, "required field is missing", "add it") from None
        if err["type"] == "literal_error":
            bad = err.get("input")
            expected = err.get("ctx", {}).get("expected", "")
            raise SpecError(
                path, field, f"'{bad}' is not allowed{did_you_mean(bad, _literal_choices(expected))}", f"use one of {expected}"
            ) from None
        raise SpecError(path, field or None, msg) from None


def _literal_choices(expected: str) -> list[str]:
    return [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]
