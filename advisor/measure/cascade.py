"""Measure a cascade as one pipeline: its stages loaded together in one worker, each batch routed by the gate, metered
with the same windows as every candidate.

A job like a candidate's measurement (:class:`CascadeJob`): any executor runs it. Each stage is the deployed model
that was measured (loaded from its kept fitted state), or, where no state was kept, the stage fitted again on the
run's samples as its measurement did. The queries of the windows are rows of the task that no stage was fitted on
when the draw has enough of them, else the run's samples (the result says which). Quality is not measured here: the
cascade's quality is its held-out figure from :mod:`advisor.core.cascades`, where the gate was certified.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from advisor.core.cascades import cascade_name
from advisor.core.results import CandidateResult, CascadeFacts, Phase
from advisor.errors import failure
from advisor.measure.candidate import Job, Measures, ProgressFn, quiet_libraries, resolved_sources
from advisor.measure.metering import Meter
from advisor.measure.windows import energy_windows, latency_percentiles, peak_rss_mb
from advisor.runners import Runner, runner_class
from advisor.runners.cascade import Pipeline

FRESH_MIN = 100
"""Rows beyond the samples needed before the windows use them instead of the samples."""
FRESH_MAX = 1000


def stage_runner(job: Job, state: str | None) -> Runner:
    """The deployed model of one stage, loaded: from its kept fitted state, else built as its measurement built it
    and fitted on the run's samples (a trainable stage).

    Raises:
        RuntimeError: the stage's files are not available here.
    """
    if state and Path(state, "state.json").is_file():
        from advisor.measure import state as kept
        from advisor.runners.packaged import runner_for
        from advisor.spec.schema import CandidateSpec

        st = kept.read(state)
        ctx = st.get("context") or {}
        runner = runner_for(
            CandidateSpec.model_validate(st["entry"]),
            ctx,
            ctx.get("task_type") or job.context.task_type,
            job.measurement.batch_size,
            job.context.device,
        )
        runner.load()
        return runner
    found = resolved_sources(job.spec, job.registry_dir, job.context)
    if isinstance(found, CandidateResult):
        raise RuntimeError(f"{job.spec.name}: {found.reason}")
    runner = runner_class(job.spec.kind)(job.spec, found[0], job.context, found[1])
    runner.load()
    if runner.trainable:
        runner.fit_deployed(job.texts, job.labels)
    return runner


@dataclass(frozen=True)
class CascadeJob(Measures):
    """A cascade's measurement as a job any executor runs: the stages' own measuring jobs, their kept states, the gate,
    the queries to meter and the held-out figures the row carries."""

    stages: tuple[Job, ...]
    states: tuple[str | None, ...]
    gate: float
    texts: list[str]
    queries_from: str
    """``fresh rows`` (rows of the task no stage was fitted on) or ``the samples``."""
    held_out: dict[str, Any]
    """What the cascade search found on the held-out samples: quality, interval, verdict, shares, computed energy."""
    meter_hook: str | None = None
    idle_power_w: dict[str, float] = field(default_factory=dict)

    kind = "cascade"
    needs_idle = True

    @property
    def name(self) -> str:
        return cascade_name([j.spec.name for j in self.stages])

    @property
    def measurement(self):
        return self.stages[-1].measurement

    @property
    def context(self):
        return self.stages[-1].context

    def replaced(self, **changes) -> CascadeJob:
        return replace(self, **changes)

    def run(self, meter: Meter, progress: ProgressFn | None = None) -> CandidateResult:
        """Load every stage, meter the routed pipeline's windows and time single queries; never raises for a model
        problem (it becomes a failed result)."""
        progress = progress or (lambda *_: None)
        quiet_libraries()
        runners: list[Runner] = []
        phase = "load"
        try:
            with meter.window("load") as lw:
                for i, (job, st) in enumerate(zip(self.stages, self.states)):
                    progress("load", i, len(self.stages))
                    runners.append(stage_runner(job, st))
            pipeline = Pipeline(runners, self.gate)
            phase = "energy"
            energy, throughput = energy_windows(pipeline, self, meter, progress)
            window_shares = pipeline.shares()
            phase = "latency"
            t1 = time.perf_counter()
            p50, p95 = latency_percentiles(pipeline, self.texts, self.measurement.latency_queries)
            latency_s = time.perf_counter() - t1
            infos = [r.info() for r in runners]
        except Exception as exc:  # noqa: BLE001 - a stage that cannot load or answer fails this row, not the run
            return self.failed(failure(phase, exc))
        finally:
            for r in runners:
                r.close()
        h = self.held_out
        return self._row(
            "ok",
            None,
            quality=h["quality"],
            quality_ci=h["quality_ci"],
            verdict=h["verdict"],
            energy=energy,
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            throughput_qps=throughput,
            parameters=sum(i.parameters for i in infos),
            size_bytes=sum(i.size_bytes for i in infos),
            load_s=lw.reading.duration_s,
            samples_evaluated=h["samples"],
            peak_rss_mb=peak_rss_mb(),
            phases={
                "load": Phase(energy_j=lw.reading.energy_j, duration_s=lw.reading.duration_s),
                "energy": Phase(
                    energy_j=sum(r * energy.window_queries for r in energy.repeats_per_query_j), duration_s=sum(energy.window_durations_s)
                ),
                "latency": Phase(duration_s=latency_s),
            },
            cascade=self._facts(window_shares),
        )

    def _facts(self, window_shares: list[float] | None = None) -> CascadeFacts:
        h = self.held_out
        return CascadeFacts(
            stages=[j.spec.name for j in self.stages],
            gate=self.gate,
            window_shares=window_shares or [],
            held_out_shares=h["shares"],
            computed_per_query_j=h["computed_j"],
            queries_from=self.queries_from,
            window_texts=len(self.texts),
            states=[bool(s) for s in self.states],
        )

    def _row(self, status: str, reason: str | None, **fields: Any) -> CandidateResult:
        specs = [j.spec for j in self.stages]
        return CandidateResult(
            name=self.name,
            tier=specs[0].tier,
            kind="cascade",
            backend="+".join(s.backend for s in specs),
            source="a cascade of " + ", ".join(s.name for s in specs),
            license=", ".join(sorted({s.license for s in specs})),
            status=status,
            reason=reason,
            **{"cascade": self._facts(), **fields},
        )

    def failed(self, why: str) -> CandidateResult:
        return self._row("failed", why)


def window_texts(samples: Sequence[str], pool: Sequence[str]) -> tuple[list[str], str]:
    """The queries a cascade's windows are metered on: rows of the draw beyond the samples (no stage was fitted on them)
    when there are at least :data:`FRESH_MIN`, else the samples."""
    if len(pool) >= FRESH_MIN:
        return list(pool[:FRESH_MAX]), "fresh rows"
    return list(samples), "the samples"
