"""The metric a task is scored with, as validated data (:class:`MetricSpec`), and the base of every validated
spec (:class:`Strict`: frozen, unknown keys refused with a suggestion). They live in the core because the
core's assessment, metrics and stopping rules take a metric as input; :mod:`advisor.spec.schema` builds every
other spec on them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from advisor.core.scores import METRICS, MetricDef, unknown_metric
from advisor.errors import did_you_mean

MetricName = Literal[tuple(METRICS)]  # type: ignore[valid-type]  # the registry's names (CLASSIFICATION_METRICS, GENERATIVE_METRICS)


class Strict(BaseModel):
    """Base for every spec: inert, frozen, unknown keys rejected with a suggestion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = set(cls.model_fields)
            for key in data:
                if key not in known:
                    hint = did_you_mean(key, known) or f" (known keys: {', '.join(sorted(known))})"
                    raise ValueError(f"unknown key '{key}'{hint}")
        return data


class MetricSpec(Strict):
    """The quality metric, one of the registry's (:data:`advisor.core.scores.METRICS`): accuracy, macro-F1 or
    F1 of one positive label (classification); exact match, token F1 or ROUGE-1/2/L (generative tasks,
    mean over samples)."""

    name: MetricName
    positive_label: str | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in METRICS:
            raise ValueError(unknown_metric(value))
        return value

    @property
    def definition(self) -> MetricDef:
        """The registry entry of this metric."""
        return METRICS[self.name]

    @property
    def generative(self) -> bool:
        """True for the free-text metrics (a mean of per-sample scores)."""
        return self.definition.generative

    @model_validator(mode="after")
    def _positive(self) -> MetricSpec:
        if self.definition.needs_positive_label and not self.positive_label:
            raise ValueError(f"metric '{self.name}' needs 'positive_label', the class whose F1 is scored")
        if not self.definition.needs_positive_label and self.positive_label:
            scoring_one = " or ".join(f"'{n}'" for n, d in METRICS.items() if d.needs_positive_label)
            raise ValueError(f"'positive_label' only applies to metric {scoring_one}, not '{self.name}'")
        return self

    def describe(self) -> str:
        """Human name, e.g. ``accuracy`` or ``F1 of 'spam'``."""
        return self.definition.describe(self.positive_label)
