"""The service's request and response models, its limits, and the job settings derived from :class:`advisor.spec.settings.Settings`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, create_model

from advisor.spec.kinds import TASK_TYPES
from advisor.spec.settings import Settings

MAX_BODY_BYTES = 5 * 2**20
MIN_TOKEN_CHARS = 32
MAX_ROWS = 20_000
MAX_OPEN_JOBS = 32
"""Jobs queued or running at once; a submission past it is answered 429 with Retry-After."""
JOB_ID = r"^[0-9a-f]{32}$"
PROBLEM = "application/problem+json"


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sample(_Req):
    text: str = Field(min_length=1, max_length=20_000)
    label: str = Field(min_length=1, max_length=20_000, description="the class, or the reference answer/summary for generative tasks")


class TaskUpload(_Req):
    """A task defined in the request, with its samples inline (no file paths)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    type: Literal[tuple(TASK_TYPES)] = "text-classification"  # type: ignore[valid-type]
    metric: dict[str, Any] = Field(default_factory=lambda: {"name": "accuracy"})
    threshold: float = Field(gt=0, le=1)
    labels: list[str] | None = Field(default=None, max_length=1000)
    folds: int = Field(default=5, ge=2, le=20)
    prompt: dict[str, Any] | None = None
    samples: list[Sample] = Field(min_length=2, max_length=MAX_ROWS)


JOB_FIELDS = Settings.marked("job")
"""The settings a job may choose (how energy is metered, and where, stay the server's choice)."""

_SERVICE_LIMITS = {
    "sample_size": [annotated_types.Le(MAX_ROWS)],
    "max_samples": [annotated_types.Le(MAX_ROWS)],
    "reference": [annotated_types.MaxLen(200)],
    "seed": [annotated_types.Ge(0), annotated_types.Le(2**31)],
}
"""Bounds the service adds to the settings' own, for requests from the network."""


def _job_settings() -> type[BaseModel]:
    """The job settings model, derived from :class:`advisor.spec.settings.Settings` (types, bounds, defaults, descriptions)."""
    fields = {}
    for name in JOB_FIELDS:
        f = Settings.field(name)
        meta = [*f.metadata, *_SERVICE_LIMITS.get(name, [])]
        annotation = Annotated[(f.annotation, *meta)] if meta else f.annotation
        fields[name] = (annotation, Field(default=f.default, description=f.description))
    return create_model(
        "JobSettings", __base__=_Req, __doc__="What a job may choose; how energy is metered is the server's choice.", **fields
    )


JobSettings = _job_settings()


class JobRequest(_Req):
    """Exactly one of ``task`` (a built-in task name) or ``upload``."""

    task: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    upload: TaskUpload | None = None
    candidates: list[str] | None = Field(default=None, max_length=200)
    settings: JobSettings = JobSettings()


class Progress(BaseModel):
    candidate: str | None = None
    index: int | None = None
    total: int | None = None
    phase: str | None = None
    done: int | None = None
    of: int | None = None


class Job(BaseModel):
    id: str
    status: Literal["queued", "running", "cancelling", "cancelled", "complete", "failed"]
    created_at: str
    updated_at: str
    progress: Progress | None = None
    run_id: str | None = None
    error: str | None = None
    decision: str | None = None
    model: str | None = None
    summary: str | None = None
