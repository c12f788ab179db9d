"""Meters and the worker-process executor."""

from __future__ import annotations

import os
import signal
import time

import pytest

from advisor.measure.candidate import Job
from advisor.measure.executor import SubprocessExecutor
from advisor.measure.metering import CodeCarbonMeter, FakeMeter, NullMeter
from advisor.runners import RunContext
from advisor.spec.schema import CandidateSpec, MetricSpec, PromptSpec
from advisor.spec.settings import Measurement


def test_fake_meter_is_power_times_time():
    m = FakeMeter(cpu_w=5, ram_w=2, gpu_w=1)
    with m.window("w") as w:
        time.sleep(0.05)
    r = w.reading
    assert r.cpu_j == pytest.approx(5 * r.duration_s) and r.ram_j == pytest.approx(2 * r.duration_s)
    assert r.energy_j == pytest.approx(r.cpu_j + r.ram_j + r.gpu_j) and m.stop() == pytest.approx(r.energy_j)


def test_null_meter_reads_zero_energy_but_real_time():
    m = NullMeter()
    with m.window("w") as w:
        time.sleep(0.02)
    assert w.reading.energy_j == 0 and w.reading.duration_s >= 0.02 and m.method()["energy"] == "not measured"


@pytest.mark.hardware
def test_codecarbon_meter_offline_busy_costs_more_than_idle():
    m = CodeCarbonMeter("USA")
    m.start()
    try:
        with m.window("idle") as idle:
            time.sleep(1.0)
        with m.window("busy") as busy:
            t0, x = time.perf_counter(), 0
            while time.perf_counter() - t0 < 1.0:
                x += 1
        method = m.method()
    finally:
        total = m.stop()
    assert busy.reading.cpu_j > idle.reading.cpu_j
    assert busy.reading.energy_j == pytest.approx(busy.reading.cpu_j + busy.reading.ram_j + busy.reading.gpu_j, rel=1e-6)
    assert method["energy"] in {"estimated", "measured"} and method["codecarbon_version"]
    assert total >= busy.reading.energy_j + idle.reading.energy_j


def _die(job, out):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_that_dies_becomes_a_failed_result():
    spec = CandidateSpec(
        name="doomed", tier="small", kind="tfidf-logreg", backend="sklearn", task_types=["text-classification"], license="MIT"
    )
    ctx = RunContext(label_names=["a", "b"], prompt=PromptSpec())
    job = Job(
        spec=spec,
        registry_dir=None,
        texts=["x"] * 4,
        labels=["a", "b"] * 2,
        label_names=["a", "b"],
        metric=MetricSpec(name="accuracy"),
        folds=2,
        seed=0,
        measurement=Measurement(meter="null"),
        context=ctx,
    )
    m = SubprocessExecutor(target=_die).run(job, lambda *a: None)
    assert m.result.status == "failed" and "signal 9" in m.result.reason and m.result.name == "doomed"


def test_the_replay_meter_replays_recorded_powers_in_turn():
    import time

    from advisor.measure.metering import ReplayMeter

    m = ReplayMeter([(10.0, 2.0, 0.0), (20.0, 2.0, 5.0)])
    readings = []
    for _ in range(3):
        with m.window("w") as w:
            time.sleep(0.02)
        readings.append(w.reading)
    powers = [round(r.cpu_j / r.duration_s, 6) for r in readings]
    assert powers == [10.0, 20.0, 10.0] and readings[1].gpu_j > 0 == readings[0].gpu_j
    assert m.method()["energy"] == "fake" and m.stop() == sum(r.energy_j for r in readings)


def test_the_test_meter_hook_and_user_meters(monkeypatch):
    import pytest
    from pydantic import ValidationError

    from advisor.measure.metering import TEST_METER_ENV, FakeMeter, ReplayMeter, make_meter
    from advisor.spec.settings import Settings

    with pytest.raises(ValidationError):
        Settings(meter="fake")  # not a user-facing meter
    monkeypatch.setenv(TEST_METER_ENV, "replay:5/1/0,7/1/0")
    assert isinstance(make_meter("codecarbon"), ReplayMeter)
    monkeypatch.setenv(TEST_METER_ENV, "fake")
    assert type(make_meter("codecarbon")) is FakeMeter
