"""The one configuration object of a run; the CLI, the service and the library all build it.

:class:`Settings` is six frozen groups, each a model of its own: :class:`Goal` (what counts as good enough),
:class:`Measurement` (what one measurement is), :class:`Search` (which candidates are measured, on how many
samples), :class:`Serving` (the serving goal and sweep), :class:`Output` (what is written) and
:class:`Infrastructure` (where the work runs). A job carries only the groups its worker reads; the
:class:`Measurement` group is the settings part of every stored measurement's key.

Every field has a description and one flat name (its attribute name, unless the field says otherwise): the
CLI's options, the service's job fields and results.json's ``settings`` use the flat names, and
``Settings(batch_size=8)`` is read into the groups. A default or a bound is written once, here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo

from advisor.spec import runtimes

RUNTIMES = runtimes.NAMES
"""Runtimes the serving sweep knows (:mod:`advisor.spec.runtimes`); a candidate is swept on those it can run on."""


def _f(default: Any, description: str, job: bool = False, flat: str | None = None, **bounds: Any) -> Any:
    """A settings field with its description; ``job``: a service job may choose it (:meth:`Settings.marked`);
    ``flat``: its flat name where that is not the attribute's."""
    extra = {"job": job, **({"flat": flat} if flat else {})}
    return Field(default=default, description=description, json_schema_extra=extra, **bounds)


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Goal(_Group):
    """What counts as good enough, and how the candidates that meet it are ranked."""

    min_quality: float | None = _f(None, "Quality threshold (default: the task's).", gt=0, le=1, job=True)
    max_drop: float | None = _f(None, "Largest quality loss allowed against the reference (paired test).", ge=0, lt=1, job=True)
    reference: str | None = _f(None, "Reference candidate for max_drop (default: the highest quality).", job=True)
    confidence: float = _f(0.95, "Confidence level of the intervals and decisions.", gt=0.5, lt=1, job=True)
    by: Literal["energy", "params", "latency"] = _f("energy", "Rank candidates that meet the goal by: energy, params or latency.", job=True)
    deployed: str | None = _f(None, "The model in production (advisor check): measured first; nothing costlier is measured.")


class Measurement(_Group):
    """What one measurement of a candidate is. Any change here makes a different measurement: this group, as
    :meth:`key`, is the settings part of every stored measurement's key, and it is what a measuring worker reads of
    the settings (with ``keep_texts``, for the answers kept beside a fitted state)."""

    batch_size: int = _f(16, "Queries per batch in the energy windows.", ge=1, le=4096)
    repeats: int = _f(3, "Energy windows per candidate.", ge=1, le=100)
    min_window_s: float = _f(2.0, "Least duration of one energy window, in seconds.", gt=0, le=600)
    warmup_batches: int = _f(2, "Batches run before the energy windows (not metered).", ge=0, le=100)
    latency_queries: int = _f(20, "Single queries timed for latency p50/p95.", ge=0, le=10_000)
    idle_s: float = _f(1.0, "Idle baseline window, in seconds (0: none).", ge=0, le=600)
    meter: Literal["codecarbon", "null"] = _f("codecarbon", "Energy meter: codecarbon, or null (time only).")
    cpu_power_w: float | None = _f(
        None, "State the CPU's power in watts where CodeCarbon cannot identify the CPU (most VMs).", gt=0, le=5000
    )
    ram_power_w: float | None = _f(None, "State the RAM's power in watts instead of CodeCarbon's constant model.", gt=0, le=5000)
    country: str = _f("USA", "ISO 3166 alpha-3 country for CodeCarbon's offline carbon intensity.", min_length=3, max_length=3)
    isolate: bool = _f(True, "Measure each candidate in a fresh process of its own.")

    def key(self) -> dict[str, Any]:
        """The group as plain data, in declaration order: the settings part of a stored measurement's key."""
        return self.model_dump(mode="json")


class Search(_Group):
    """Which candidates are measured, on how many samples, and what else is searched."""

    candidates: list[str] | None = _f(None, "Only these registry names (default: all that serve the task).")
    sample_size: int | None = _f(
        None,
        "Fix the number of samples (default: a first look sized to the goal, then more for undecided candidates, up to "
        "the task's sample.size or every row).",
        ge=2,
        job=True,
    )
    seed: int | None = _f(None, "Sampling seed (default: the task's).", job=True)
    exhaustive: bool = _f(False, "Measure every candidate on every sample (default: adaptive search, cheapest first).", job=True)
    first_shard: int = _f(32, "Adaptive search: samples in the first shard; later shards double.", ge=8)
    fresh: bool = _f(False, "Measure again even when the store holds a matching measurement.")
    max_samples: int | None = _f(
        None,
        "When the samples cannot decide, draw more, up to this many (default: every row, or the task's "
        "sample.size; a fixed --samples never draws more).",
        ge=2,
        job=True,
    )
    finetune_within: float = _f(
        0.10,
        "Adaptive search: fine-tune a sentence encoder only when its frozen parent's quality is at most this far below the goal.",
        ge=0,
        le=1,
    )
    budget_j: float | None = _f(None, "Most energy, in joules, to spend on drawing more samples (default: no limit).", gt=0)
    budget_s: float | None = _f(None, "Most time, in seconds, to spend on drawing more samples (default: no limit).", gt=0)
    run_ahead: bool = _f(
        True,
        "With several measuring nodes (Ray): start the next candidates' first looks on free nodes while the current one is "
        "judged. Faster; a look the search then does not need still costs its energy (stated in the run's cost).",
    )
    cascade: Literal["auto", "off"] = _f(
        "auto",
        "Cascades (classification): auto searches the cheaper candidates that could answer before the recommended model, "
        "with gates certified on held-out samples, and meters the best as one pipeline; off leaves them out.",
        job=True,
    )


class Serving(_Group):
    """The serving goal (latency at a request rate) and the sweep of batch sizes, threads and runtimes that meets it."""

    mode: Literal["auto", "recommended", "frontier", "off"] = _f(
        "auto",
        "Serving sweep (batch size, threads, runtime): recommended (the recommended model), frontier (every Pareto-frontier "
        "candidate that meets the goal; model and configuration ranked together), auto (frontier where it matters: two "
        "candidates or more meet the goal, or a latency goal is given; else recommended) or off.",
        job=True,
        flat="serving",
    )
    max_latency_ms: float | None = _f(
        None,
        "Serving goal: p95 latency of one request in ms, its batch's wait to fill included (at --queries-per-second); "
        "picks the least-energy serving configuration that meets it.",
        gt=0,
        job=True,
    )
    queries_per_second: float | None = _f(
        None, "Expected request rate: a request waits for its batch to fill, and a configuration must keep up.", gt=0, job=True
    )
    budget: float | None = _f(
        0.25,
        "Most the serving sweep may spend on configurations not measured before, as a share of the energy and time that "
        "measuring the run's candidates took (none: no limit).",
        ge=0,
        le=100,
        flat="sweep_budget",
    )
    batches: list[Annotated[int, Field(ge=1, le=4096)]] = _f(
        [1, 4, 16, 64],
        "Batch sizes the serving sweep tries, comma-separated (default: 1,4,16,64).",
        min_length=1,
        max_length=16,
        flat="serve_batches",
    )
    threads: list[Annotated[int, Field(ge=1)]] | None = _f(
        None,
        "Intra-op thread counts the serving sweep tries, comma-separated (default: 1, doubling, up to the cores).",
        min_length=1,
        flat="serve_threads",
    )
    runtimes: list[Literal[RUNTIMES]] | None = _f(  # type: ignore[valid-type]
        None,
        "Runtimes the serving sweep tries: pytorch, onnxruntime, openvino (default: all the model can run on).",
        flat="serve_runtimes",
    )

    @field_validator("threads")
    @classmethod
    def _threads_within_cores(cls, value: list[int] | None) -> list[int] | None:
        cores = os.cpu_count() or 1
        if value and max(value) > cores:
            raise ValueError(f"{max(value)} threads is more than the {cores} cores of this machine")
        return value


class Output(_Group):
    """What is written, and where."""

    reports_dir: Path = _f(Path("reports"), "Where reports/<run-id>/ are written.")
    run_id: str | None = _f(
        None, "The run's id (default: time, a random part and the task name).", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
    )
    keep_texts: bool = _f(True, "Keep the samples' texts in results.json (labels and predictions are always kept).")
    queries_per_day: float | None = _f(None, "Expected volume, for yearly savings in the report.", gt=0)
    price_per_kwh: float | None = _f(None, "Electricity price per kWh, for yearly savings in money.", ge=0)
    mlflow: str | None = _f(None, "Log the run to MLflow at this tracking URI, e.g. file:./mlruns (needs advisor[mlflow]).")
    mlflow_experiment: str | None = _f(None, "MLflow experiment (default: advisor-<task>).")


class Infrastructure(_Group):
    """Where the work runs and what it remembers."""

    executor: Literal["local", "ray"] = _f("local", "Where candidates run: local, or ray (one Ray task per candidate).")
    ray_address: str | None = _f(None, "An existing Ray cluster's address (default: a local Ray instance).")
    store: Path | None = _f(None, "Result store (SQLite) reused across runs (default: results.sqlite in the cache folder).")
    device: str = _f(
        "auto", "Where models run: auto (a CUDA GPU when there is one), cpu, cuda or cuda:N.", pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$"
    )


GROUPS: dict[str, type[_Group]] = {
    "goal": Goal,
    "measurement": Measurement,
    "search": Search,
    "serving": Serving,
    "output": Output,
    "infrastructure": Infrastructure,
}
"""The groups, in the order their fields are listed (options, results.json)."""

FLAT: dict[str, tuple[str, str]] = {
    (info.json_schema_extra or {}).get("flat") or attr: (group, attr)  # type: ignore[union-attr]
    for group, model in GROUPS.items()
    for attr, info in model.model_fields.items()
}
"""Flat name -> (group, attribute), e.g. ``"sweep_budget" -> ("serving", "budget")``."""

_FLAT_OF = {where: name for name, where in FLAT.items()}


def _whole_group(key: str, value: Any) -> bool:
    """Whether ``key: value`` gives a group whole: a mapping or a model (``serving`` as a string, or None, is the flat
    serving mode)."""
    return key in GROUPS and (isinstance(value, (dict, BaseModel)) or (value is None and key != "serving"))


class Settings(BaseModel):
    """How candidates are measured, judged and reported, in six groups. Every field has a safe default.

    Built from flat names (``Settings(batch_size=8, serving="off")``) or from groups
    (``Settings(measurement=Measurement(batch_size=8))``); read by group (``settings.measurement.batch_size``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    goal: Goal = Field(default_factory=Goal, description=Goal.__doc__)
    measurement: Measurement = Field(default_factory=Measurement, description=Measurement.__doc__)
    search: Search = Field(default_factory=Search, description=Search.__doc__)
    serving: Serving = Field(default_factory=Serving, description=Serving.__doc__)
    output: Output = Field(default_factory=Output, description=Output.__doc__)
    infrastructure: Infrastructure = Field(default_factory=Infrastructure, description=Infrastructure.__doc__)

    @model_validator(mode="before")
    @classmethod
    def _nest(cls, data: Any) -> Any:
        """Flat names moved into their groups; a group given whole is kept, and flat names given with it go on top."""
        if not isinstance(data, dict):
            return data
        nested: dict[str, Any] = {}
        flat: dict[str, Any] = {}
        for key, value in data.items():
            if _whole_group(key, value):
                nested[key] = value.model_dump() if isinstance(value, BaseModel) else dict(value or {})
            elif key in FLAT:
                flat[key] = value
            else:
                nested[key] = value  # unknown: the model rejects it, naming it
        for key, value in flat.items():
            group, attr = FLAT[key]
            nested.setdefault(group, {})[attr] = value
        return nested

    def flat(self, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """Every field by its flat name, in group order (``mode="json"``: what results.json keeps as ``settings``)."""
        dumped = self.model_dump(mode=mode)
        return {_FLAT_OF[(g, a)]: dumped[g][a] for g, model in GROUPS.items() for a in model.model_fields}

    def replaced(self, **values: Any) -> Settings:
        """These settings with the given flat values (None included) on top, validated.

        Raises:
            pydantic.ValidationError: a value out of its bounds, or a name that is no setting.
        """
        whole = {k for k, v in values.items() if _whole_group(k, v)}
        kept = {k: v for k, v in self.flat().items() if FLAT[k][0] not in whole}  # a group given whole replaces the group
        return type(self).model_validate({**kept, **values})

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Settings:
        """As pydantic's, except that ``update`` may use flat names and is validated (an unchecked copy could
        carry a flat name no group has)."""
        return self.replaced(**update) if update else super().model_copy(deep=deep)

    @classmethod
    def merged(cls, base: Settings | None = None, **values: Any) -> Settings:
        """``base`` (default: the defaults) with the given flat values on top; None values are ignored.

        Raises:
            pydantic.ValidationError: a value out of its bounds.
        """
        return (base or cls()).replaced(**{k: v for k, v in values.items() if v is not None})

    @classmethod
    def field(cls, name: str) -> FieldInfo:
        """The field of flat name ``name`` (its type, bounds, default and description)."""
        group, attr = FLAT[name]
        return GROUPS[group].model_fields[attr]

    @classmethod
    def flat_name(cls, loc: tuple[Any, ...]) -> str:
        """The flat name behind a validation error's location (``("serving", "budget")`` -> ``sweep_budget``)."""
        return _FLAT_OF.get(tuple(loc[:2]), str(loc[-1]) if loc else "")  # type: ignore[arg-type]

    @classmethod
    def marked(cls, marker: str) -> tuple[str, ...]:
        """The flat names of the fields carrying ``marker`` (``job``, see :func:`_f`), in group order."""
        return tuple(n for n in FLAT if (cls.field(n).json_schema_extra or {}).get(marker))  # type: ignore[union-attr]

    @classmethod
    def help(cls, name: str) -> str:
        """The description of the field of flat name ``name`` (the CLI's help text)."""
        return cls.field(name).description or ""
