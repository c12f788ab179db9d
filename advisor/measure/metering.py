"""Energy meters behind one protocol: CodeCarbon (real or estimated counters), null, and a fake for tests.

A meter is started once per process (CodeCarbon allows one tracker per process and one task at
a time) and then measures non-overlapping windows. Readings are in joules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

KWH_TO_J = 3.6e6


@dataclass
class Reading:
    """Energy of one window, in joules, and its wall duration in seconds."""

    energy_j: float = 0.0
    cpu_j: float = 0.0
    ram_j: float = 0.0
    gpu_j: float = 0.0
    duration_s: float = 0.0

    def __add__(self, other: Reading) -> Reading:
        """Two windows' energy and duration summed."""
        return Reading(
            self.energy_j + other.energy_j,
            self.cpu_j + other.cpu_j,
            self.ram_j + other.ram_j,
            self.gpu_j + other.gpu_j,
            self.duration_s + other.duration_s,
        )


@dataclass
class Window:
    """Filled in when the ``with meter.window()`` block ends."""

    reading: Reading = field(default_factory=Reading)


class Meter(Protocol):
    """What the measurement code needs from an energy meter."""

    def start(self) -> None:
        """Begin metering (probes hardware; may take seconds)."""

    def window(self, name: str) -> contextmanager:
        """Context manager measuring the enclosed work; yields a :class:`Window`."""

    def method(self) -> dict:
        """How energy is obtained: measured or estimated, per component, with versions and wattages."""

    def stop(self) -> float:
        """Release the meter; returns the energy in joules of everything since :meth:`start`."""


class FakeMeter:
    """A deterministic stand-in for tests: constant powers (W) times each window's wall time."""

    def __init__(self, cpu_w: float = 5.0, ram_w: float = 2.0, gpu_w: float = 0.0):
        self.cpu_w, self.ram_w, self.gpu_w = cpu_w, ram_w, gpu_w
        self.windows: list[tuple[str, Reading]] = []

    def start(self) -> None:
        pass

    @contextmanager
    def window(self, name: str) -> Iterator[Window]:
        w = Window()
        t0 = time.perf_counter()
        yield w
        d = time.perf_counter() - t0
        cpu, ram, gpu = self.cpu_w * d, self.ram_w * d, self.gpu_w * d
        w.reading = Reading(cpu + ram + gpu, cpu, ram, gpu, d)
        self.windows.append((name, w.reading))

    def method(self) -> dict:
        return {"energy": "fake", "meter": "fake", "cpu_w": self.cpu_w, "ram_w": self.ram_w}

    def stop(self) -> float:
        return sum(r.energy_j for _, r in self.windows)


class NullMeter(FakeMeter):
    """Measures time only; energy reads zero. For dry runs and machines without CodeCarbon."""

    def __init__(self) -> None:
        super().__init__(cpu_w=0.0, ram_w=0.0, gpu_w=0.0)

    def method(self) -> dict:
        return {"energy": "not measured", "meter": "null"}


class ReplayMeter(FakeMeter):
    """Replays recorded power figures, one per window in turn (cycling), times each window's wall time.

    For tests and benches that need readings which differ from window to window, reproducibly.
    ``powers_w`` is a list of ``(cpu_w, ram_w, gpu_w)``.
    """

    def __init__(self, powers_w: list[tuple[float, float, float]]):
        super().__init__()
        if not powers_w:
            raise ValueError("a replay meter needs at least one recorded (cpu_w, ram_w, gpu_w)")
        self.powers_w = [tuple(float(x) for x in p) for p in powers_w]
        self._next = 0

    @contextmanager
    def window(self, name: str) -> Iterator[Window]:
        self.cpu_w, self.ram_w, self.gpu_w = self.powers_w[self._next % len(self.powers_w)]
        self._next += 1
        with super().window(name) as w:
            yield w

    def method(self) -> dict:
        return {"energy": "fake", "meter": "replay", "windows_recorded": len(self.powers_w)}


def _rapl_readable() -> bool:
    """True when the Linux powercap RAPL counters CodeCarbon reads are present and readable."""
    import glob
    import os

    return any(os.access(p, os.R_OK) for p in glob.glob("/sys/class/powercap/intel-rapl*/energy_uj"))


class CodeCarbonMeter:
    """CodeCarbon's offline tracker, process mode, one task per window.

    On hosts with RAPL or NVML the readings are measured counters; elsewhere CodeCarbon estimates
    CPU power from load and TDP and RAM power from a constant. :meth:`method` says which. On a VM
    whose CPU CodeCarbon cannot identify, ``cpu_power_w`` and ``ram_power_w`` state the power
    (passed to CodeCarbon's ``force_cpu_power`` / ``force_ram_power``).
    """

    def __init__(
        self,
        country_iso_code: str = "USA",
        tracking_mode: str = "process",
        cpu_power_w: float | None = None,
        ram_power_w: float | None = None,
    ):
        self.country = country_iso_code
        self.tracking_mode = tracking_mode
        self.cpu_power_w, self.ram_power_w = cpu_power_w, ram_power_w
        self._tracker = None
        self._hardware: dict = {}

    def key(self) -> tuple:
        """What a prepared tracker must match to be used by this meter."""
        return (self.country, self.tracking_mode, self.cpu_power_w, self.ram_power_w)

    def tracker(self):
        """A new CodeCarbon tracker for this meter's configuration (not started; hardware not probed yet)."""
        from codecarbon import OfflineEmissionsTracker

        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        forced = {k: v for k, v in (("force_cpu_power", self.cpu_power_w), ("force_ram_power", self.ram_power_w)) if v is not None}
        return OfflineEmissionsTracker(
            country_iso_code=self.country,
            tracking_mode=self.tracking_mode,
            save_to_file=False,
            log_level="error",
            allow_multiple_runs=True,
            **forced,
        )

    def start(self) -> None:
        global _prepared
        if _prepared is not None and _prepared[0] == self.key():
            self._tracker, _prepared = _prepared[1], None  # probed before this process was forked: starts at once
        else:
            self._tracker = self.tracker()
        self._tracker.start()
        with self.window("warm-up"):  # the first task probes hardware
            time.sleep(0.2)
        self._hardware = self._tracker.get_detected_hardware()

    @contextmanager
    def window(self, name: str) -> Iterator[Window]:
        if self._tracker is None:
            raise RuntimeError("start() the meter first")
        w = Window()
        self._tracker.start_task(name)
        try:
            yield w
        finally:
            data = self._tracker.stop_task()
            if data is not None:
                w.reading = Reading(
                    energy_j=data.energy_consumed * KWH_TO_J,
                    cpu_j=data.cpu_energy * KWH_TO_J,
                    ram_j=data.ram_energy * KWH_TO_J,
                    gpu_j=data.gpu_energy * KWH_TO_J,
                    duration_s=float(data.duration),
                )

    def method(self) -> dict:
        """How the readings were obtained, from CodeCarbon's public hardware report and the host's counters."""
        import codecarbon

        hw = self._hardware
        gpus = int(hw.get("gpu_count") or 0)
        rapl = _rapl_readable()
        if rapl:
            cpu = "measured (RAPL counters)"
        elif self.cpu_power_w is not None:
            cpu = f"estimated: load x {self.cpu_power_w:g} W stated by the user"
        else:
            cpu = "estimated: load x TDP (CodeCarbon's CPU table, or its small default for an unknown CPU)"
        ram = (
            f"estimated: {self.ram_power_w:g} W stated by the user"
            if self.ram_power_w is not None
            else "estimated: CodeCarbon's constant RAM power model"
        )
        return {
            "energy": "measured" if rapl or gpus else "estimated",
            "meter": "codecarbon",
            "codecarbon_version": codecarbon.__version__,
            "tracking_mode": self.tracking_mode,
            "cpu": cpu,
            "gpu": f"measured ({gpus} GPU, NVML)" if gpus else "none detected",
            "ram": ram,
            "cpu_power_w": self.cpu_power_w,
            "ram_power_w": self.ram_power_w,
            "cpu_model": hw.get("cpu_model"),
            "cpu_count": hw.get("cpu_count"),
            "gpu_model": hw.get("gpu_model") or None,
            "ram_total_gb": hw.get("ram_total_size"),
            "country_iso_code": self.country,
        }

    def stop(self) -> float:
        if self._tracker is None:
            return 0.0
        try:
            self._tracker.stop()
            data = getattr(self._tracker, "final_emissions_data", None)
            return data.energy_consumed * KWH_TO_J if data is not None else 0.0
        finally:
            self._tracker = None


_prepared: tuple | None = None
"""A CodeCarbon tracker whose hardware was probed before this process forked, with the meter key it fits."""

PRELOAD_ENV = "ADVISOR_PRELOAD_METER"
"""The meter a measuring fork server prepares: JSON ``[kind, country, cpu_power_w, ram_power_w]``."""


def prepare_from_env() -> None:
    """Probe the hardware for the meter named in :data:`PRELOAD_ENV` (no thread is started), for forked workers."""
    global _prepared
    import json
    import os

    raw = os.environ.get(PRELOAD_ENV)
    if not raw or os.environ.get(TEST_METER_ENV):
        return
    kind, country, cpu_w, ram_w = json.loads(raw)
    if kind != "codecarbon":
        return
    meter = CodeCarbonMeter(country, cpu_power_w=cpu_w, ram_power_w=ram_w)
    try:
        tracker = meter.tracker()
        tracker.get_detected_hardware()  # the slow part (about 2 s): done once, before the workers fork
    except Exception:  # noqa: BLE001 - the worker then probes for itself and reports any problem
        return
    _prepared = (meter.key(), tracker)


TEST_METER_ENV = "ADVISOR_TEST_METER"
"""Test hook: ``fake`` or ``replay:CPU_W/RAM_W/GPU_W,...`` replaces the chosen meter in every process of
the run (workers inherit the environment). Never set it for real measurements: results then say ``fake``."""


def test_meter_hook() -> str:
    """The test hook in force in this process (``""`` when none): a run reads it once and hands it to its workers,
    which may have been forked from a server started under another environment."""
    import os

    return os.environ.get(TEST_METER_ENV, "")


def make_meter(
    kind: str, country: str = "USA", cpu_power_w: float | None = None, ram_power_w: float | None = None, hook: str | None = None
) -> Meter:
    """A meter by name: ``codecarbon`` or ``null``; ``hook`` (default: :func:`test_meter_hook`) may replace it in tests."""
    hook = test_meter_hook() if hook is None else hook
    if hook == "fake":
        return FakeMeter()
    if hook.startswith("replay:"):
        return ReplayMeter([tuple(float(x) for x in w.split("/")) for w in hook.removeprefix("replay:").split(",") if w])
    if kind == "codecarbon":
        return CodeCarbonMeter(country, cpu_power_w=cpu_power_w, ram_power_w=ram_power_w)
    if kind == "null":
        return NullMeter()
    raise ValueError(f"unknown meter '{kind}'")
