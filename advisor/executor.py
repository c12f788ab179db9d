"""Where measurements run: in this process, or one fresh process per candidate (the default).

A fresh process per candidate gives each model a clean memory peak, its own energy tracker and
isolation: a model that crashes the interpreter becomes a failed result, not a failed run.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import resource
import sys
from dataclasses import replace

from advisor.measure import Job, ProgressFn, base_result, idle_power, measure
from advisor.metering import Meter, make_meter
from advisor.results import CandidateResult


class Measured:
    """A candidate's result plus what the meter said about itself and the work's total energy."""

    def __init__(self, result: CandidateResult, method: dict, idle_power_w: dict[str, float], energy_j: float):
        """``energy_j``: the advisor's own energy for this candidate (load, fit, windows), in joules."""
        self.result, self.method, self.idle_power_w, self.energy_j = result, method, idle_power_w, energy_j


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
        result = measure(replace(job, idle_power_w=self.idle), self.meter, progress)
        if result.status == "ok":
            details = {**result.details, "peak_rss_note": "process peak, not isolated (in-process executor)"}
            result = result.model_copy(update={"peak_rss_mb": _peak_rss_mb(), "details": details})
        # windows cannot nest, so a candidate's own energy is that of its metered phases (loading is not metered here)
        energy = sum(p["energy_j"] or 0.0 for p in result.phases.values())
        self._reported += energy
        return Measured(result, self.meter.method(), self.idle, energy)

    def close(self) -> float:
        """Stop the meter; returns the run's energy in joules not yet reported per candidate."""
        return max(0.0, self.meter.stop() - self._reported)


def _child(job: Job, out: mp.Queue) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops this worker
    meter = make_meter(job.settings.meter, job.settings.country)
    meter.start()
    idle = idle_power(meter, job.settings.idle_s)
    result = measure(replace(job, idle_power_w=idle), meter, lambda ph, d, t: out.put(("progress", ph, d, t)))
    if result.status == "ok":
        result = result.model_copy(update={"peak_rss_mb": _peak_rss_mb()})
    method = meter.method()
    total_j = meter.stop()
    out.put(("result", result.to_dict(), method, idle, total_j))


class SubprocessExecutor:
    """Runs each candidate in a fresh spawned process and gathers its result over a queue."""

    def __init__(self, target=None) -> None:
        """``target``: the worker function (default: measure the job); replaceable in tests."""
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._target = target or _child

    def run(self, job: Job, progress: ProgressFn) -> Measured:
        out = self._ctx.Queue()
        proc = self._ctx.Process(target=self._target, args=(job, out), daemon=True)
        self._proc = proc
        proc.start()
        got = None
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
        return Measured(CandidateResult.model_validate(result), method, idle, energy)

    def close(self) -> float:
        """Stop any worker still running; the workers' energy was already reported per candidate."""
        if self._proc is not None and self._proc.is_alive():
            self._proc.terminate()
        return 0.0
