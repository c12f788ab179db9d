"""Where jobs run: in this process, one fresh process per job (the default), or a Ray task per job.

A job is a candidate's measurement (:class:`advisor.measure.candidate.Job`) or one of the other job types with the
same small surface (the serving sweep's :class:`advisor.serving.sweep.SweepJob`): ``run(meter, progress)``,
``failed(why)``, ``load(payload)``, ``own_energy_j(result)``, ``replaced(**changes)`` and ``needs_idle``.
Every executor runs every job type the same way, so nothing else starts a worker of its own.

A fresh process per job gives each model a clean memory peak, its own energy tracker and isolation:
a model that crashes the interpreter becomes a failed result, not a failed run. Spawning, the message
pump and dying with the parent are :mod:`advisor.measure.supervisor`'s.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from advisor.core.results import Cost, Node, Phase
from advisor.measure import supervisor
from advisor.measure.candidate import ProgressFn
from advisor.measure.metering import PRELOAD_ENV, Meter, make_meter, test_meter_hook
from advisor.measure.windows import idle_power
from advisor.spec.settings import Measurement, Settings


class WorkerJob(Protocol):
    """What an executor needs of a job (see the module docstring)."""

    name: str
    kind: str
    measurement: Measurement
    context: Any
    meter_hook: str | None
    idle_power_w: dict[str, float]
    needs_idle: bool

    def run(self, meter: Meter, progress: ProgressFn | None = None) -> Any: ...
    def failed(self, why: str) -> Any: ...
    def load(self, payload: dict) -> Any: ...
    def own_energy_j(self, result: Any) -> float: ...
    def replaced(self, **changes: Any) -> WorkerJob: ...


@dataclass
class Measured:
    """A job's result plus what the meter said about itself and the work's total energy.

    ``result``: a :class:`CandidateResult` for a measurement, a :class:`CandidateServing` for a sweep.
    ``energy_j``: the advisor's own energy for this job (load, fit, windows), in joules.
    """

    result: Any
    method: dict
    idle_power_w: dict[str, float]
    energy_j: float


class Executor(Protocol):
    """Where jobs run. One job at a time; :meth:`close` once at the end."""

    def run(self, job: WorkerJob, progress: ProgressFn) -> Measured:
        """Run one job; a model problem is a failed result, never an exception."""

    def close(self) -> float:
        """Release workers and meters; returns the energy in joules not yet reported per job."""


def make_executor(settings: Settings) -> Executor:
    """The executor the settings ask for: a Ray task each, a fresh local process each (default), or this process."""
    m = settings.measurement
    if settings.infrastructure.executor == "ray":
        return RayExecutor(settings.infrastructure.ray_address)
    if m.isolate:
        return SubprocessExecutor(measurement=m)
    return InProcessExecutor(make_job_meter(m), m.idle_s)


def make_job_meter(m: Measurement, hook: str | None = None) -> Meter:
    """The meter a job runs with, as its measurement settings ask (``hook``: the test hook of the process that made the job)."""
    return make_meter(m.meter, m.country, m.cpu_power_w, m.ram_power_w, hook)


def _costed(m: Measured, t0: float) -> Measured:
    """``m`` with what running it cost: its energy and the wall time since ``t0``."""
    m.result = m.result.model_copy(update={"cost": Cost(energy_j=m.energy_j, duration_s=time.perf_counter() - t0)})
    return m


class InProcessExecutor:
    """Runs every job in this process with one shared meter (fast; for tests and small models).

    Peak memory is the process's peak so far, so it is marked as not isolated.
    """

    def __init__(self, meter: Meter, idle_s: float):
        self.meter = meter
        self.meter.start()
        self.idle = idle_power(meter, idle_s)
        self._reported = 0.0

    def run(self, job: WorkerJob, progress: ProgressFn) -> Measured:
        t0 = time.perf_counter()
        result = job.replaced(idle_power_w=self.idle).run(self.meter, progress)
        if getattr(result, "peak_rss_mb", None) is not None:
            result = result.model_copy(update={"isolated": False})  # its peak memory is this process's peak so far
        # windows cannot nest, so a job's own energy is that of its metered phases (loading is not metered here)
        energy = job.own_energy_j(result)
        self._reported += energy
        return _costed(Measured(result, self.meter.method(), self.idle, energy), t0)

    def close(self) -> float:
        """Stop the meter; returns the run's energy in joules not yet reported per job."""
        return max(0.0, self.meter.stop() - self._reported)


def run_alone(job: WorkerJob, progress: ProgressFn | None = None, ready=None) -> tuple[Any, dict, dict[str, float], float]:
    """Run one job in a process of its own, with its own meter: the result, the meter's method, the idle power and
    the process's total energy in joules.

    The idle baseline is measured here for a job that needs it, unless the job carries one (measured by an
    earlier worker of the same run, on the same machine, with the same meter). ``ready()`` is called once the
    meter runs, to time the worker's start-up.
    """
    meter = make_job_meter(job.measurement, job.meter_hook)
    meter.start()
    if ready is not None:
        ready()
    idle = job.idle_power_w or (idle_power(meter, job.measurement.idle_s) if job.needs_idle else {})
    result = job.replaced(idle_power_w=idle).run(meter, progress)
    method = meter.method()
    return result, method, idle, meter.stop()


def _child(job: WorkerJob, send) -> None:
    """The worker's body: run the job and send back its result, the meter's method, idle power and total energy."""
    result, method, idle, total_j = run_alone(
        job, lambda ph, d, t: send(("progress", ph, d, t)), ready=lambda: send(("ready", time.time()))
    )
    send(("result", result.to_dict(), method, idle, total_j))


def _meter_of(m: Measurement) -> str:
    """The measurement's meter, as the preloading worker server reads it (and as a key for servers already started)."""
    return json.dumps([m.meter, m.country, m.cpu_power_w, m.ram_power_w])


def worker_context(m: Measurement):
    """The measuring fork server (heavy imports done, meter probed once) for the measurement's meter, else spawn."""
    return supervisor.worker_context(PRELOAD_ENV, _meter_of(m))


class SubprocessExecutor:
    """Runs each job in a fresh process (forked from a preloaded server where possible) and gathers its result."""

    def __init__(self, target=None, measurement: Measurement | None = None) -> None:
        """``target``: the worker's body, called as ``target(job, send)`` (default: run the job); replaceable in tests."""
        self._ctx = worker_context(measurement or Measurement())
        self._worker: supervisor.Worker | None = None
        self._target = target or _child
        self._idle: dict[str, float] = {}
        supervisor.start_server_early(self._ctx)

    def run(self, job: WorkerJob, progress: ProgressFn) -> Measured:
        t0 = time.perf_counter()
        # the worker server may have started under another environment; a job made elsewhere (a Ray driver) keeps its own
        job = job.replaced(meter_hook=job.meter_hook or test_meter_hook())
        if self._idle and job.needs_idle:
            job = job.replaced(idle_power_w=self._idle)
        self._worker = worker = supervisor.Worker(self._ctx, self._target, (job,))
        try:
            got = worker.run(progress)
        finally:
            self._worker = None
        if got is None:
            return Measured(job.failed(f"worker process died ({worker.death()}) before reporting"), {}, {}, 0.0)
        _, payload, method, idle, energy = got
        if job.needs_idle:
            self._idle = self._idle or idle
        result = job.load(payload)
        if getattr(result, "peak_rss_mb", None) is not None:
            result = result.model_copy(update={"isolated": True})
        if worker.startup_s is not None and hasattr(result, "phases"):
            result = result.model_copy(update={"phases": {"startup": Phase(duration_s=worker.startup_s), **result.phases}})
        return _costed(Measured(result, method, idle, energy), t0)

    def close(self) -> float:
        """Stop any worker still running; the workers' energy was already reported per job."""
        if self._worker is not None:
            self._worker.stop()
        return 0.0


SLOT = "advisor_slot"
"""The Ray resource that stands for one node's meter: a node that declares ``{"advisor_slot": 1}`` runs one measurement at
a time, so no two candidates' energy windows ever share a node (``ray start --resources='{"advisor_slot": 1}'``)."""


_ON_NODE: dict[str, SubprocessExecutor] = {}
"""Per Ray worker process: the executor that forks each job's process from the node's preloaded server."""


def _run_remote(job: WorkerJob) -> tuple:
    """The body of a Ray task: run one job on whatever node Ray chose, in a fresh process of its own forked from that
    node's preloaded worker server (as the local executor does: a clean memory peak, no imports paid per job), with
    that node's own meter."""
    import socket

    import ray

    started = time.time()
    key = _meter_of(job.measurement)
    executor = _ON_NODE.get(key) or _ON_NODE.setdefault(key, SubprocessExecutor(measurement=job.measurement))
    m = executor.run(job, lambda phase, done, total: None)
    result = m.result
    if hasattr(result, "node"):
        node = Node(host=socket.gethostname(), node_id=ray.get_runtime_context().get_node_id(), started=started, ended=time.time())
        result = result.model_copy(update={"node": node})
    return result.to_dict(), m.method, m.idle_power_w, m.energy_j


class Pending(Protocol):
    """A job started and not yet waited for (:meth:`RayExecutor.submit`)."""

    def result(self) -> Measured:
        """Wait for the job; a model problem or a lost node is a failed result, never an exception."""

    def done(self) -> bool:
        """Whether the job has finished (its result is ready without waiting)."""

    def cancel(self) -> float:
        """Stop the job if it still runs; returns the seconds it had been running (its energy is not metered)."""


class _RayPending:
    def __init__(self, executor: RayExecutor, job: WorkerJob, ref: Any):
        self.executor, self.job, self.ref, self.t0 = executor, job, ref, time.perf_counter()

    def result(self) -> Measured:
        try:
            payload, method, idle, energy = self.executor._ray.get(self.ref)
        except Exception as exc:  # noqa: BLE001 - a worker that died, a node that left: a failed row, not a failed run
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return Measured(self.job.failed(f"ray task failed: {first[:200]}"), {}, {}, 0.0)
        finally:
            self.executor._running.discard(self.ref)
        return _costed(Measured(self.job.load(payload), method, idle, energy), self.t0)

    def done(self) -> bool:
        try:
            return bool(self.executor._ray.wait([self.ref], timeout=0)[0])
        except Exception:  # noqa: BLE001 - a cluster gone away: not done, and cancelling it is all that is left
            return False

    def cancel(self) -> float:
        if self.ref in self.executor._running:
            self.executor._running.discard(self.ref)
            try:
                self.executor._ray.cancel(self.ref, force=True)
            except Exception:  # noqa: BLE001 - already finished, or the cluster is gone: nothing left to stop
                pass
        return time.perf_counter() - self.t0


class RayExecutor:
    """Runs each job (a measurement, a sweep) as a Ray task holding a measuring slot, or else a whole node's CPUs.

    A task that holds a node's only measuring slot (:data:`SLOT`), or every CPU of its node, has the node to itself,
    so the energy windows that CodeCarbon meters on that node are not shared with another candidate. Each task meters
    its own process on its own node (RAPL/NVML where the node has them), and the result says which node it ran on and
    when. :meth:`submit` starts a job without waiting, so a search can keep every node busy; ``slots`` says how many
    jobs can run at once. ``address`` joins an existing cluster; None starts a local instance with one slot.
    """

    def __init__(self, address: str | None = None):
        import os

        import ray

        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=os.cpu_count(),
                    resources={SLOT: 1},
                    include_dashboard=False,
                    log_to_driver=False,
                    object_store_memory=100 * 2**20,
                    runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith(("HF_", "TRANSFORMERS_", "ADVISOR_"))}},
                )
        self._ray = ray
        self._task = None
        self._running: set = set()

    def _nodes(self) -> list[dict]:
        """The measuring nodes: those declaring a slot, else every live node."""
        alive = [n for n in self._ray.nodes() if n.get("Alive")]
        return [n for n in alive if n["Resources"].get(SLOT)] or alive

    @property
    def slots(self) -> int:
        """How many measurements can run at once: one per measuring node."""
        return max(1, len(self._nodes()))

    def _resources(self, gpu: bool = False) -> dict:
        """A node's measuring slot (else all its CPUs), its CPUs for the model's threads, and one GPU for ``--device cuda``."""
        nodes = self._nodes()
        cpus = min(int(n["Resources"].get("CPU", 1)) for n in nodes)
        slot = {"resources": {SLOT: 1}} if any(n["Resources"].get(SLOT) for n in nodes) else {}
        return {"num_cpus": max(1, cpus), "num_gpus": 1 if gpu else 0, **slot}

    def submit(self, job: WorkerJob, progress: ProgressFn) -> Pending:
        """Start ``job`` on the next free measuring node and return at once."""
        if self._task is None:
            gpu = job.context.device != "cpu"
            self._task = self._ray.remote(max_retries=0)(_run_remote).options(**self._resources(gpu))
        progress(f"{'sweeping' if job.kind == 'sweep' else 'measuring'} on ray", 0, 1)
        ref = self._task.remote(job.replaced(meter_hook=test_meter_hook()))
        self._running.add(ref)
        return _RayPending(self, job, ref)

    def run(self, job: WorkerJob, progress: ProgressFn) -> Measured:
        return self.submit(job, progress).result()

    def close(self) -> float:
        """Cancel the tasks still running (on interruption); the tasks' energy was reported per candidate."""
        for ref in list(self._running):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished, or the cluster is gone
                pass
        self._running.clear()
        return 0.0
