"""Where measurements run: in this process, or one fresh process per candidate (the default).

A fresh process per candidate gives each model a clean memory peak, its own energy tracker and
isolation: a model that crashes the interpreter becomes a failed result, not a failed run.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import resource
import sys
import time
from dataclasses import dataclass, replace
from typing import Protocol

from advisor.measure import Job, ProgressFn, base_result, idle_power, measure
from advisor.metering import Meter, make_meter, test_meter_hook
from advisor.procs import die_with_parent
from advisor.results import CandidateResult, Cost, Phase
from advisor.settings import Settings


@dataclass
class Measured:
    """A candidate's result plus what the meter said about itself and the work's total energy.

    ``energy_j``: the advisor's own energy for this candidate (load, fit, windows), in joules.
    """

    result: CandidateResult
    method: dict
    idle_power_w: dict[str, float]
    energy_j: float


class Executor(Protocol):
    """Where candidates are measured. One candidate at a time; :meth:`close` once at the end."""

    def run(self, job: Job, progress: ProgressFn) -> Measured:
        """Measure one candidate; a model problem is a failed result, never an exception."""

    def close(self) -> float:
        """Release workers and meters; returns the energy in joules not yet reported per candidate."""


def make_executor(settings: Settings) -> Executor:
    """The executor the settings ask for: a Ray task each, a fresh local process each (default), or this process."""
    if settings.executor == "ray":
        return RayExecutor(settings.ray_address)
    if settings.isolate:
        return SubprocessExecutor(settings=settings)
    return InProcessExecutor(_meter(settings), settings.idle_s)


def _meter(settings: Settings, hook: str | None = None) -> Meter:
    return make_meter(settings.meter, settings.country, settings.cpu_power_w, settings.ram_power_w, hook)


def _costed(m: Measured, t0: float) -> Measured:
    """``m`` with what measuring it cost: its energy and the wall time since ``t0``."""
    m.result = m.result.model_copy(update={"cost": Cost(energy_j=m.energy_j, duration_s=time.perf_counter() - t0)})
    return m


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


class InProcessExecutor:
    """Runs every candidate in this process with one shared meter (fast; for tests and small models).

    Peak memory is the process's peak so far, so it is marked as not isolated.
    """

    def __init__(self, meter: Meter, idle_s: float):
        self.meter = meter
        self.meter.start()
        self.idle = idle_power(meter, idle_s)
        self._reported = 0.0

    def run(self, job: Job, progress: ProgressFn) -> Measured:
        t0 = time.perf_counter()
        result = measure(replace(job, idle_power_w=self.idle), self.meter, progress)
        if result.status == "ok":
            details = {**result.details, "peak_rss_note": "process peak, not isolated (in-process executor)"}
            result = result.model_copy(update={"peak_rss_mb": _peak_rss_mb(), "details": details})
        # windows cannot nest, so a candidate's own energy is that of its metered phases (loading is not metered here)
        energy = sum(p.energy_j or 0.0 for p in result.phases.values())
        self._reported += energy
        return _costed(Measured(result, self.meter.method(), self.idle, energy), t0)

    def close(self) -> float:
        """Stop the meter; returns the run's energy in joules not yet reported per candidate."""
        return max(0.0, self.meter.stop() - self._reported)


def _measure_alone(job: Job, progress: ProgressFn | None = None, ready=None) -> tuple[CandidateResult, dict, dict[str, float], float]:
    """Measure one candidate in a process of its own, with its own meter: the result (with this process's
    peak memory), the meter's method, the idle power and the process's total energy in joules.

    The idle baseline is measured here unless the job already carries one (measured by an earlier
    worker of the same run, on the same machine, with the same meter). ``ready()`` is called once the
    meter runs, to time the worker's start-up.
    """
    meter = _meter(job.settings, job.meter_hook)
    meter.start()
    if ready is not None:
        ready()
    idle = job.idle_power_w or idle_power(meter, job.settings.idle_s)
    result = measure(replace(job, idle_power_w=idle), meter, progress)
    if result.status == "ok":
        result = result.model_copy(update={"peak_rss_mb": _peak_rss_mb()})
    method = meter.method()
    return result, method, idle, meter.stop()


def _deaf_to_ctrl_c(start) -> None:
    """Call ``start()`` (which starts a process) with SIGINT ignored: Ctrl-C is the parent's to handle (it
    stops the worker). An ignored signal stays ignored across fork and exec and Python keeps it so, so a
    Ctrl-C during a worker's (or the worker server's) imports cannot print a traceback from it."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # only the main thread may change handlers
        start()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        start()
    finally:
        signal.signal(signal.SIGINT, previous)


def _child(job: Job, out: mp.Queue) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle, also when started some other way
    die_with_parent()
    result, method, idle, total_j = _measure_alone(
        job, lambda ph, d, t: out.put(("progress", ph, d, t)), ready=lambda: out.put(("ready", time.time()))
    )
    out.put(("result", result.to_dict(), method, idle, total_j))


def _worker_context(settings: Settings):
    """A fork server that has imported the heavy libraries and probed the meter once (Linux), else spawn.

    Each worker is still a fresh process of its own; it only starts without the imports' seconds.
    """
    import json
    import os

    from advisor.metering import PRELOAD_ENV

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    os.environ[PRELOAD_ENV] = json.dumps([settings.meter, settings.country, settings.cpu_power_w, settings.ram_power_w])
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["advisor.preload"])
    return ctx


class SubprocessExecutor:
    """Runs each candidate in a fresh process (forked from a preloaded server where possible) and gathers its result over a queue."""

    def __init__(self, target=None, settings: Settings | None = None) -> None:
        """``target``: the worker function (default: measure the job); replaceable in tests."""
        self._ctx = _worker_context(settings or Settings())
        self._proc = None
        self._target = target or _child
        self._idle: dict[str, float] = {}
        if self._ctx.get_start_method() == "forkserver":  # start the server's imports now, in the background
            from multiprocessing import forkserver

            _deaf_to_ctrl_c(forkserver.ensure_running)

    def run(self, job: Job, progress: ProgressFn) -> Measured:
        t0 = time.perf_counter()
        started = time.time()
        job = replace(job, meter_hook=test_meter_hook())  # the worker server may have started under another environment
        if self._idle:
            job = replace(job, idle_power_w=self._idle)
        out = self._ctx.Queue()
        proc = self._ctx.Process(target=self._target, args=(job, out), daemon=True)
        self._proc = proc
        if self._ctx.get_start_method() == "forkserver":
            proc.start()  # forked from a server started deaf to Ctrl-C; this call may wait for its imports, and must stay interruptible
        else:
            _deaf_to_ctrl_c(proc.start)
        got, startup_s = None, None
        try:
            while got is None:
                try:
                    msg = out.get(timeout=0.25)
                except queue_mod.Empty:
                    if not proc.is_alive():
                        try:
                            msg = out.get(timeout=1.0)
                        except queue_mod.Empty:
                            break
                    else:
                        continue
                if msg[0] == "progress":
                    progress(*msg[1:])
                elif msg[0] == "ready":
                    startup_s = max(0.0, msg[1] - started)
                else:
                    got = msg
            proc.join(timeout=30)
        finally:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            self._proc = None
        if got is None:
            code = proc.exitcode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            return Measured(base_result(job.spec, "failed", f"worker process died ({how}) before reporting"), {}, {}, 0.0)
        _, result, method, idle, energy = got
        self._idle = self._idle or idle
        result = CandidateResult.model_validate(result)
        if startup_s is not None:
            result = result.model_copy(update={"phases": {"startup": Phase(duration_s=startup_s), **result.phases}})
        return _costed(Measured(result, method, idle, energy), t0)

    def close(self) -> float:
        """Stop any worker still running; the workers' energy was already reported per candidate."""
        if self._proc is not None and self._proc.is_alive():
            self._proc.terminate()
        return 0.0


def _measure_remote(job: Job) -> tuple:
    """The body of a Ray task: measure one candidate on whatever node Ray chose, with that node's own meter."""
    import socket

    result, method, idle, total_j = _measure_alone(job)
    result = result.model_copy(update={"details": {**result.details, "node": socket.gethostname()}})
    return result.to_dict(), method, idle, total_j


class RayExecutor:
    """Runs each candidate as a Ray task holding a whole node's CPUs.

    A task that holds every CPU of its node has the node to itself, so the energy windows that
    CodeCarbon meters on that node are not shared with another candidate. Each task meters its own
    process on its own node (RAPL/NVML where the node has them), and the result says which node it
    ran on. ``address`` joins an existing cluster; None starts a local instance.
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
                    include_dashboard=False,
                    log_to_driver=False,
                    object_store_memory=100 * 2**20,
                    runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith(("HF_", "TRANSFORMERS_", "ADVISOR_"))}},
                )
        self._ray = ray
        self._task = None
        self._running = None

    def _resources(self, gpu: bool = False) -> dict:
        """A whole node's CPUs, and one GPU when the run's device is a GPU (``--device cuda``)."""
        nodes = [n for n in self._ray.nodes() if n.get("Alive")]
        cpus = min(int(n["Resources"].get("CPU", 1)) for n in nodes)
        return {"num_cpus": max(1, cpus), "num_gpus": 1 if gpu else 0}

    def run(self, job: Job, progress: ProgressFn) -> Measured:
        if self._task is None:
            gpu = job.context.device != "cpu"
            self._task = self._ray.remote(max_retries=0)(_measure_remote).options(**self._resources(gpu))
        progress("measuring on ray", 0, 1)
        t0 = time.perf_counter()
        self._running = self._task.remote(replace(job, meter_hook=test_meter_hook()))
        try:
            result, method, idle, energy = self._ray.get(self._running)
        except Exception as exc:  # noqa: BLE001 - a worker that died, a node that left: a failed row, not a failed run
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return Measured(base_result(job.spec, "failed", f"ray task failed: {first[:200]}"), {}, {}, 0.0)
        finally:
            self._running = None
        return _costed(Measured(CandidateResult.model_validate(result), method, idle, energy), t0)

    def close(self) -> float:
        """Cancel a task still running (on interruption); the tasks' energy was reported per candidate."""
        if self._running is not None:
            self._ray.cancel(self._running, force=True)
        return 0.0
