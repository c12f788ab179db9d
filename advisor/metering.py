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


_MEASURED_CPU = ("rapl", "powermetrics", "power gadget", "powergadget")


class CodeCarbonMeter:
    """CodeCarbon's offline tracker, process mode, one task per window.

    On hosts with RAPL or NVML the readings are measured counters; elsewhere CodeCarbon estimates
    CPU power from load and TDP and RAM power from a constant. :meth:`method` says which.
    """

    def __init__(self, country_iso_code: str = "USA", tracking_mode: str = "process"):
        self.country = country_iso_code
        self.tracking_mode = tracking_mode
        self._tracker = None

    def start(self) -> None:
        from codecarbon import OfflineEmissionsTracker

        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self._tracker = OfflineEmissionsTracker(
            country_iso_code=self.country,
            tracking_mode=self.tracking_mode,
            save_to_file=False,
            log_level="error",
            allow_multiple_runs=True,
        )
        self._tracker.start()
        with self.window("warm-up"):  # the first task probes hardware
            time.sleep(0.2)

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
        import codecarbon

        conf = getattr(self._tracker, "_conf", {}) if self._tracker else {}
        hardware = [str(h) for h in conf.get("hardware", [])]
        cpu = next((h for h in hardware if h.startswith("CPU")), "")
        gpu = next((h for h in hardware if h.startswith("GPU")), "")
        cpu_measured = any(k in cpu.lower() for k in _MEASURED_CPU)
        tdp = next((getattr(h, "_tdp", None) for h in getattr(self._tracker, "_hardware", []) if type(h).__name__ == "CPU"), None)
        return {
            "energy": "measured" if cpu_measured or gpu else "estimated",
            "meter": "codecarbon",
            "codecarbon_version": codecarbon.__version__,
            "tracking_mode": self.tracking_mode,
            "cpu": f"measured ({cpu})" if cpu_measured else f"{cpu or 'CPU'}, load x TDP model",
            "gpu": f"measured ({gpu}, NVML)" if gpu else "none detected",
            "ram": "constant RAM power model",
            "cpu_tdp_w": tdp,
            "cpu_model": conf.get("cpu_model"),
            "cpu_count": conf.get("cpu_count"),
            "gpu_model": conf.get("gpu_model") or None,
            "ram_total_gb": conf.get("ram_total_size"),
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


def make_meter(kind: str, country: str = "USA") -> Meter:
    """A meter by name: ``codecarbon``, ``null`` or ``fake``."""
    if kind == "codecarbon":
        return CodeCarbonMeter(country)
    if kind == "null":
        return NullMeter()
    if kind == "fake":
        return FakeMeter()
    raise ValueError(f"unknown meter '{kind}'")
