"""Measure one candidate: load, score quality out of fold, meter inference windows, time latency.

This decides what a candidate's measurement is; :mod:`advisor.measure.executor` decides where a job runs. A
:class:`Job` is one of the job types every executor runs (the serving sweep's :class:`advisor.serving.sweep.SweepJob`
is another): it runs with a started meter, says what a failure looks like and reads its result back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from advisor.core.results import CandidateResult, FitStats, Generation, Making, MakingStep, Phase
from advisor.core.rules import Rules
from advisor.errors import failure
from advisor.measure.metering import Meter, Reading
from advisor.measure.state import keep_measured
from advisor.measure.windows import energy_windows, from_quality_pass, latency_percentiles, peak_rss_mb, predict_all
from advisor.runners import Prediction, RunContext, Runner, runner_class
from advisor.spec.runtimes import RUNTIMES, runtime_of
from advisor.spec.schema import CandidateSpec, MetricSpec
from advisor.spec.settings import Measurement
from advisor.spec.sources import SourceUnavailable, resolve

ProgressFn = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)``."""

METHOD_VERSION = 3
"""Version of what :func:`measure` measures and how. Part of every stored measurement's key: bump it
whenever a figure would be obtained differently, so that no measurement made the old way is reused."""


class Measures:
    """What the jobs that measure a row of the table share: reading a result back, and the energy it metered."""

    @staticmethod
    def load(payload: dict) -> CandidateResult:
        """A result sent back from a worker as :meth:`CandidateResult.to_dict`."""
        return CandidateResult.model_validate(payload)

    @staticmethod
    def own_energy_j(result: CandidateResult) -> float:
        """The energy of the job's metered phases, in joules (what a shared meter can attribute to it)."""
        return sum(p.energy_j or 0.0 for p in result.phases.values())


@dataclass(frozen=True)
class Job(Measures):
    """Everything a measurement needs, picklable so it can cross into a worker process."""

    spec: CandidateSpec
    registry_dir: Path | None
    texts: list[str]
    labels: list[str]
    label_names: list[str]
    metric: MetricSpec
    folds: int
    seed: int
    measurement: Measurement  # the only settings a measuring worker reads
    context: RunContext
    idle_power_w: dict[str, float] = field(default_factory=dict)
    rules: Rules | None = None  # adaptive search: stop a dead end early (None: measure everything)
    identity: dict = field(default_factory=dict)  # the files, samples and machine behind this job (for the result store's key)
    previous: CandidateResult | None = None  # this candidate measured on a prefix of these samples (a ready model reuses it)
    meter_hook: str | None = None  # the test meter hook of the process that made the job (None: the worker's own)
    state_dir: str | None = None  # where to keep the deployed model's fitted state (None: not kept)
    keep_texts: bool = True  # the reference answers kept with a fitted state carry the texts

    kind = "measure"
    needs_idle = True
    """Whether the job's energy figures need the idle baseline (the executor measures it once per run)."""

    @property
    def name(self) -> str:
        return self.spec.name

    def replaced(self, **changes) -> Job:
        """This job with ``meter_hook`` / ``idle_power_w`` / ``state_dir`` changed (what an executor sets before running it)."""
        return replace(self, **changes)

    def run(self, meter: Meter, progress: ProgressFn | None = None) -> CandidateResult:
        """Measure the candidate with ``meter`` (started); the result carries this process's peak memory."""
        result = measure(self, meter, progress)
        if result.status not in ("ok", "dropped"):
            return result
        device = RUNTIMES[runtime_of(self.spec)].device(self.context.device)
        return result.model_copy(update={"device": device, **({"peak_rss_mb": peak_rss_mb()} if result.status == "ok" else {})})

    def failed(self, why: str) -> CandidateResult:
        """The result of a job whose worker could not report (it died, a remote task failed)."""
        return base_result(self.spec, "failed", why)


def base_result(spec: CandidateSpec, status: str, reason: str | None = None) -> CandidateResult:
    """A result that carries only the candidate's identity (and its parent, if derived), a status and the reason."""
    return CandidateResult(
        name=spec.name,
        derived_from=spec.derived_from,
        tier=spec.tier,
        kind=spec.kind,
        backend=spec.backend,
        source=spec.source.describe() if spec.source else "built in (scikit-learn)",
        license=spec.license,
        status=status,
        reason=reason,
    )


def _quality_pass(
    runner: Runner, job: Job, meter: Meter, progress: ProgressFn
) -> tuple[Prediction, FitStats | None, Reading, Reading | None]:
    """Out-of-fold predictions (trainable) or plain predictions; with adaptive rules, possibly on a prefix only.

    For a ready model the reading covers the predictions only (the looks between shards are not
    metered), so it is pure inference at the run's batch size. A trainable model's cross-fitting and
    the training of its deployed model (on all samples) are metered apart: the second is the one-off
    cost of making what would be deployed.

    Returns:
        The predictions, the fitting cost, the quality pass's reading and the deployed model's training reading.
    """
    if not runner.trainable:
        if job.rules is None:
            with meter.window("evaluate") as w:
                pred = predict_all(runner, job.texts, job.measurement.batch_size, progress, "evaluate")
            return pred, None, w.reading, None
        pred, reading = _predict_in_shards(runner, job, meter, progress)
        return pred, None, reading, None
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        progress("fit", done[0], len(job.texts))

    with meter.window("fit") as w:
        oof = runner.cross_fit(job.texts, job.labels, job.folds, job.seed, tick)
    progress("train", 0, 1)
    with meter.window("train") as t:
        runner.fit_deployed(job.texts, job.labels)
    progress("train", 1, 1)
    both = w.reading + t.reading
    return oof, FitStats(energy_j=both.energy_j, duration_s=both.duration_s), w.reading, t.reading


def _predict_in_shards(runner: Runner, job: Job, meter: Meter, progress: ProgressFn) -> tuple[Prediction, Reading]:
    """Predict shard by shard, each shard metered; stop as soon as the quality's upper bound falls below the threshold."""
    n, parts, start, total = len(job.texts), [], 0, Reading()
    for end in job.rules.shards(n):
        with meter.window(f"evaluate-{end}") as w:
            parts.append(
                predict_all(
                    runner,
                    job.texts[start:end],
                    job.measurement.batch_size,
                    lambda ph, d, t, done=start: progress(ph, done + d, n),
                    "evaluate",
                )
            )
        total = total + w.reading
        start = end
        so_far = Prediction.concat(parts)
        if end < n and job.rules.should_drop(so_far.labels, job.labels, n):
            return so_far, total
    return Prediction.concat(parts), total


def resolved_sources(
    spec: CandidateSpec, registry_dir: Path | None, context: RunContext
) -> CandidateResult | tuple[Path | None, Path | None]:
    """The resolved model and tokenizer paths, or a skipped result saying why the candidate cannot run here."""
    why = runner_class(spec.kind).not_applicable(spec, context)
    if why:
        return base_result(spec, "skipped", why)
    try:
        return tuple(resolve(s, registry_dir) if s is not None else None for s in (spec.source, spec.tokenizer))
    except SourceUnavailable as exc:
        return base_result(spec, "skipped", str(exc))


def quiet_libraries() -> None:
    """Silence library progress bars and info logs: the advisor draws its own progress."""
    import logging
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # e.g. GGUF de-quantisation: the advisor shows its own "load" phase
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("transformers", "sentence_transformers", "datasets", "huggingface_hub", "codecarbon"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as tlog

        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
    except ImportError:
        pass


def measure(job: Job, meter: Meter, progress: ProgressFn | None = None) -> CandidateResult:
    """Measure one candidate; never raises for model problems: they become a failed result.

    Args:
        job: the candidate, the samples and the settings.
        meter: a started energy meter.
        progress: optional callback ``(phase, done, total)``.
    """
    from advisor.core.metrics import score

    progress = progress or (lambda *_: None)
    quiet_libraries()
    spec = job.spec
    found = resolved_sources(spec, job.registry_dir, job.context)
    if isinstance(found, CandidateResult):
        return found
    path, tok = found
    runner = runner_class(spec.kind)(spec, path, job.context, tok)
    prev = job.previous
    if (
        prev is not None
        and not runner.trainable
        and prev.status == "ok"
        and prev.predictions
        and prev.energy
        and prev.energy.source == "windows"
    ):
        return _extend(runner, job, meter, progress)
    phase = "load"
    phases: dict[str, list[float]] = {}
    try:
        progress("load", 0, 1)
        with meter.window("load") as lw:
            runner.load()
        load_s = lw.reading.duration_s
        phases["load"] = [lw.reading.energy_j, load_s]
        phase = "quality"
        oof, fit, qr, tr = _quality_pass(runner, job, meter, progress)
        phases["quality"] = [qr.energy_j, qr.duration_s]
        if tr is not None:
            phases["train"] = [tr.energy_j, tr.duration_s]
        n_seen = len(oof.labels)
        quality = score(job.metric, oof.labels, job.labels[:n_seen])
        cut = job.rules is not None and (n_seen < len(job.texts) or job.rules.clearly_fails(oof.labels, job.labels))
        p50 = p95 = None
        kept, seen = _kept_inference(runner, prev), []
        if kept is not None:  # more samples for the head only: the frozen encoder's inference was measured already
            energy, throughput, p50, p95 = kept
            cut = True  # nothing more to measure
        elif cut and not runner.trainable:  # a dead end whose quality pass was pure inference at the run's batch size
            energy, throughput = from_quality_pass(qr, n_seen, job.idle_power_w, oof.tokens), n_seen / max(qr.duration_s, 1e-9)
        else:  # inference windows, short ones for a trainable dead end (its quality pass was mostly fitting)
            phase = "energy"
            energy, throughput = energy_windows(runner, job, meter, progress, short=cut, seen=seen)
            phases["energy"] = [sum(r * energy.window_queries for r in energy.repeats_per_query_j), sum(energy.window_durations_s)]
        if not cut:
            phase = "latency"
            t1 = time.perf_counter()
            p50, p95 = latency_percentiles(runner, job.texts, job.measurement.latency_queries)
            phases["latency"] = [float("nan"), time.perf_counter() - t1]
        state = keep_measured(runner, job, oof, seen) if n_seen == len(job.texts) else None
        info = runner.info()
        making = _making(runner, lw.reading, tr, meter.method())
    except Exception as exc:  # noqa: BLE001 - a broken model must not stop the run
        return base_result(spec, "failed", failure(phase, exc))
    finally:
        runner.close()
    if n_seen < len(job.texts):
        result = base_result(
            spec, "dropped", f"stopped after {n_seen} of {len(job.texts)} samples: its quality's upper bound is already below the threshold"
        )
    else:
        result = base_result(spec, "ok")
    return result.model_copy(
        update={
            "quality": quality,
            "energy": energy,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "throughput_qps": throughput,
            "parameters": info.parameters,
            "size_bytes": info.size_bytes,
            "load_s": load_s,
            "fit": fit,
            "making": making,
            "predictions": oof.labels,
            "samples_evaluated": n_seen,
            "probabilities": [round(float(c), 4) for c in oof.confidence],
            "details": info.details,
            "derivation": info.derived,
            "answer_parser": info.answer_parser,
            "generation": Generation.of(oof.tokens, oof.truncated),
            "inference_from": prev.samples_evaluated if kept else None,
            "phases": {k: Phase(energy_j=None if math.isnan(v[0]) else v[0], duration_s=v[1]) for k, v in phases.items()},
            "peak_rss_mb": prev.peak_rss_mb if kept else None,
            "state": state,
        }
    )


def _making(runner: Runner, load: Reading, train: Reading | None, method: dict) -> Making | None:
    """How a bespoke model was made and what it cost, for a runner that makes one (else None).

    The runner says in which phase the model was made (:meth:`Runner.made`): a fine-tuned model when its
    deployed model is trained (the ``train`` window), a distilled one when it loads (once per parent;
    later loads reuse it). A step an earlier run did is reported with that run's recorded figures and
    marked so. The cost measured now is added to the made model's lineage. A model made at load still
    has its head fitted on all samples: that step is listed too.
    """
    made = runner.made()
    if made is None:
        return None
    from advisor.runners import bespoke

    main, what = {"load": load, "train": train}[made.during], made.what
    earlier = made.earlier
    if earlier is not None:
        cost = earlier.get("cost") or {}
        steps = [MakingStep(what=what, energy_j=cost.get("energy_j"), duration_s=cost.get("duration_s"), earlier=True)]
    else:
        steps = [MakingStep(what=what, energy_j=main.energy_j, duration_s=main.duration_s)]
        bespoke.record_cost(Path(made.path), main.energy_j, main.duration_s, str(method.get("energy", "unknown")))
    if made.during != "train" and train is not None:
        steps.append(MakingStep(what="fit the head on all samples", energy_j=train.energy_j, duration_s=train.duration_s))
    known = all(st.energy_j is not None for st in steps)
    return Making(
        parent=runner.spec.derived_from or (earlier or {}).get("parent") or str(runner.path),
        method=made.method,
        path=made.path,
        steps=steps,
        energy_j=sum(st.energy_j for st in steps) if known else None,
        duration_s=sum(st.duration_s for st in steps) if all(st.duration_s is not None for st in steps) else None,
    )


def _kept_inference(runner: Runner, prev: CandidateResult | None) -> tuple | None:
    """The inference figures of an earlier measurement on fewer samples, when more training samples cannot change
    them (a frozen encoder with a small head: ``Runner.inference_fixed``), else None."""
    if prev is None or not runner.trainable or not runner.inference_fixed or prev.status != "ok":
        return None
    if prev.energy is None or prev.energy.source != "windows" or prev.latency_p50_ms is None:
        return None
    return prev.energy, prev.throughput_qps, prev.latency_p50_ms, prev.latency_p95_ms


def _extend(runner: Runner, job: Job, meter: Meter, progress: ProgressFn) -> CandidateResult:
    """A ready model measured before on a prefix of these samples: predict only the new samples.

    Its predictions do not depend on the others, and its energy and latency do not depend on how many
    samples were scored, so both are kept from the earlier measurement (nothing measured is wasted).
    """
    from advisor.core.metrics import score

    prev, known = job.previous, len(job.previous.predictions)
    try:
        t0 = time.perf_counter()
        runner.load()
        load_s = time.perf_counter() - t0
        with meter.window("evaluate-more") as w:
            new = predict_all(
                runner, job.texts[known:], job.measurement.batch_size, lambda ph, d, t: progress(ph, known + d, len(job.texts)), "evaluate"
            )
    except Exception as exc:  # noqa: BLE001 - a broken model must not stop the run
        return base_result(
            job.spec, "failed", f"evaluating more samples failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
    finally:
        runner.close()
    predictions = [*prev.predictions, *new.labels]
    return prev.model_copy(
        update={
            "quality": score(job.metric, predictions, job.labels[: len(predictions)]),
            "quality_ci": None,
            "verdict": None,
            "samples_needed": None,
            "vs_reference": None,
            "samples_evaluated": len(predictions),
            "predictions": predictions,
            "probabilities": [*(prev.probabilities or [0.0] * known), *(round(float(c), 4) for c in new.confidence)],
            "extended_from": known,
            "generation": Generation.of(new.tokens, new.truncated, prev.generation, known) if prev.generation else None,
            "phases": {"load": Phase(duration_s=load_s), "quality": Phase(energy_j=w.reading.energy_j, duration_s=w.reading.duration_s)},
            "cost": None,
            "peak_rss_mb": prev.peak_rss_mb,
        }
    )
