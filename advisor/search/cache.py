"""The caching layer: an executor that looks in the result store before measuring, and stores after.

A measurement is reused only when everything that determines it matches: the candidate's entry,
its files, the samples, the task's metric and folds, the measuring settings, the adaptive rules,
the machine and the version of the measuring method (:data:`advisor.measure.candidate.METHOD_VERSION`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from advisor.core.results import CandidateResult, Reuse
from advisor.measure.candidate import METHOD_VERSION, Job, ProgressFn
from advisor.measure.cascade import CascadeJob
from advisor.measure.executor import Executor, Measured, Pending
from advisor.store import ResultStore, measurement_key
from advisor.version import __version__


def fingerprint(job: Job) -> dict[str, Any]:
    """Everything that determines a candidate's measurement, as plain JSON-ready data."""
    ctx = job.context
    return {
        "advisor": __version__,
        "method_version": METHOD_VERSION,
        "candidate": job.spec.model_dump(mode="json"),
        **job.identity,
        "labels": job.label_names,
        "metric": job.metric.model_dump(mode="json"),
        "folds": job.folds,
        "seed": job.seed,
        "prompt": ctx.prompt.model_dump(mode="json"),
        "few_shot": [ctx.few_shot_texts, ctx.few_shot_labels],
        "class_weight": ctx.class_weight,
        "settings": job.measurement.key(),  # the settings that change a measurement (the rest change how it is judged)
        "rules": None if job.rules is None else {**dataclasses.asdict(job.rules), "metric": job.rules.metric.model_dump(mode="json")},
    }


def cascade_fingerprint(job: CascadeJob) -> dict[str, Any]:
    """Everything that determines a cascade's measurement: its stages' measurements, the gate and the queries."""
    texts = hashlib.sha256("\x1f".join(job.texts).encode()).hexdigest()
    return {"cascade": [fingerprint(j) for j in job.stages], "gate": job.gate, "queries": texts, "held_out": job.held_out}


def states_dir(store: ResultStore) -> Path:
    """Where the fitted states of a store's measurements are kept: ``states/`` beside the store's file."""
    return Path(store.path).resolve().parent / "states"


WAIT_S = 3600.0
"""How long a run waits for another run's measurement of the same candidate before measuring it itself."""


class CachedExecutor:
    """Wraps an executor: a stored measurement is reused (unless ``fresh``); a new ok or dropped one is stored.

    Two runs sharing a store never measure the same candidate at the same time: the first claims the
    measurement, the second waits for it and reuses it (or measures itself if the first gives up or
    dies). Failures are not remembered: they are retried on the next run.
    """

    def __init__(self, inner: Executor, store: ResultStore, run_id: str, fresh: bool = False):
        self.inner, self.store, self.run_id, self.fresh = inner, store, run_id, fresh

    def _keyed(self, job: Job | CascadeJob) -> tuple[str, Job | CascadeJob]:
        """The job's key in the store, and the job with its fitted state kept under that key."""
        if job.kind == "cascade":
            return measurement_key(cascade_fingerprint(job)), job
        key = measurement_key(fingerprint(job))
        return key, job.replaced(state_dir=str(states_dir(self.store) / key[:32]))

    def run(self, job: Job | CascadeJob, progress: ProgressFn) -> Measured:
        key, job = self._keyed(job)
        if not self.fresh:
            hit = self.store.get_measurement(key)
            while hit is None and not self.store.claim_measurement(key, self.run_id):
                progress("waiting for another run measuring it", 0, 1)
                hit = self.store.wait_for_measurement(key, WAIT_S)
                if hit is None and self.store.measurement_claim(key) is not None:
                    break  # still held after the wait: measure anyway rather than wait forever
            if hit is not None:
                return self._reused(hit, key)
        try:
            m = self.inner.run(job, progress)
        except BaseException:
            self.store.release_measurement(key, self.run_id)
            raise
        return self._kept(m, key, job)

    @property
    def slots(self) -> int:
        """How many jobs the wrapped executor runs at once."""
        return getattr(self.inner, "slots", 1)

    def submit(self, job: Job | CascadeJob, progress: ProgressFn) -> Pending | None:
        """Start ``job`` without waiting where the wrapped executor can (:meth:`RayExecutor.submit`): a stored measurement
        is ready at once; None when it cannot start now (another run is measuring it, or jobs run one at a time)."""
        if getattr(self.inner, "submit", None) is None:
            return None
        key, job = self._keyed(job)
        if not self.fresh:
            hit = self.store.get_measurement(key)
            if hit is not None:
                return _Ready(self._reused(hit, key))
            if not self.store.claim_measurement(key, self.run_id):
                return None  # another run measures it: the search waits for it in turn, like any run
        return _Stored(self, key, job, self.inner.submit(job, progress))

    def _kept(self, m: Measured, key: str, job: Job | CascadeJob) -> Measured:
        """Store an ok or dropped measurement under ``key`` (ending the claim), or just end the claim."""
        if m.result.status in ("ok", "dropped"):
            payload = {"result": m.result.to_dict(), "method": m.method, "idle_power_w": m.idle_power_w, "run_id": self.run_id}
            self.store.put_measurement(key, self.run_id, job.name, payload)  # also ends the claim
        else:
            self.store.release_measurement(key, self.run_id)
        return m

    @staticmethod
    def _reused(hit: dict, key: str) -> Measured:
        result = CandidateResult.model_validate(hit["result"])
        reuse = Reuse(run_id=hit["run_id"], key=key[:16])
        return Measured(result.model_copy(update={"reused_from": reuse}), hit["method"], hit["idle_power_w"], 0.0)

    def close(self) -> float:
        """Close the wrapped executor; returns its unreported energy in joules."""
        return self.inner.close()


class _Ready:
    """A stored measurement, as a started job that has already finished."""

    def __init__(self, m: Measured):
        self.m = m

    def result(self) -> Measured:
        return self.m

    def done(self) -> bool:
        return True

    def cancel(self) -> float:
        return 0.0


class _Stored:
    """A started job whose measurement is stored (or its claim released) when it is waited for or cancelled."""

    def __init__(self, owner: CachedExecutor, key: str, job: Job | CascadeJob, inner: Pending):
        self.owner, self.key, self.job, self.inner = owner, key, job, inner

    def result(self) -> Measured:
        try:
            m = self.inner.result()
        except BaseException:
            self.owner.store.release_measurement(self.key, self.owner.run_id)
            raise
        return self.owner._kept(m, self.key, self.job)

    def done(self) -> bool:
        return self.inner.done()

    def cancel(self) -> float:
        seconds = self.inner.cancel()
        self.owner.store.release_measurement(self.key, self.owner.run_id)
        return seconds
