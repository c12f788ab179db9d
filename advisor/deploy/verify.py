"""The export's check, run in a fresh process: ``python -m advisor.deploy.verify PACKAGE CHECK.json``.

It loads the package as a user would (:func:`advisor.load`), answers the reference samples at the batch size they
were answered at when measured, then meters a few windows of inference at the package's serving configuration
(the meter configured as the run's). Prints one JSON object: the load time, the answers, and the energy readings.
:func:`verify` runs it from the exporting process and compares what it prints with what was measured.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from advisor.core.results import Recommendation
    from advisor.spec.package import ServingConfig

CONFIDENCE_TOLERANCE = 1e-4
"""Largest difference between a packaged model's confidence and the measured model's, per answer."""


def check(folder: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Load ``folder``, answer ``spec['texts']`` at ``spec['batch_size']``, meter ``spec['repeats']`` windows."""
    t0 = time.perf_counter()
    from advisor.deploy.predictor import load

    predictor = load(folder)
    out: dict[str, Any] = {"load_s": time.perf_counter() - t0}
    texts = spec.get("texts") or []
    if texts:
        labels, confidence = predictor.predict_with_confidence(texts, batch_size=spec["batch_size"])
        out["labels"], out["confidence"] = labels, [float(c) for c in confidence]
    if spec.get("energy") and texts:
        out["energy"] = _windows(predictor, texts, spec["energy"])
    predictor.close()
    return out


def _windows(predictor, texts: list[str], how: dict[str, Any]) -> dict[str, Any]:
    """Energy per query in repeated windows at the package's batch size, after warm-up batches (not metered), as the
    run metered its windows."""
    from advisor.measure.executor import make_job_meter
    from advisor.spec.settings import Settings

    bs = predictor.batch_size
    batches = [texts[i : i + bs] for i in range(0, len(texts), bs)]
    for b in batches[: max(1, how.get("warmup_batches", 1))]:
        predictor.predict(b, batch_size=bs)
    t0 = time.perf_counter()
    predictor.predict(batches[0], batch_size=bs)
    per_batch = max(time.perf_counter() - t0, 1e-6)
    n_batches = max(1, math.ceil(how["window_s"] / per_batch))
    meter = make_job_meter(Settings.model_validate(how.get("settings") or {}).measurement)
    meter.start()
    per_query, seconds = [], []
    try:
        for r in range(how["repeats"]):
            with meter.window(f"verify-{r}") as w:
                queries = 0
                for i in range(n_batches):
                    batch = batches[i % len(batches)]
                    predictor.predict(batch, batch_size=bs)
                    queries += len(batch)
            per_query.append(w.reading.energy_j / queries)
            seconds.append(w.reading.duration_s)
        method = meter.method()
    finally:
        meter.stop()
    return {
        "per_query_j": statistics.fmean(per_query),
        "repeats_per_query_j": per_query,
        "window_queries": queries,
        "window_durations_s": seconds,
        "method": str(method.get("energy", "unknown")),
    }


def verify(folder: Path, st: dict, point_interval: list[float] | None, config: ServingConfig, rec: Recommendation) -> dict[str, Any]:
    """Load the package in a fresh process; compare its answers with the reference and its energy with the interval."""
    ref = st.get("reference") or {}
    texts = ref.get("texts")
    settings = {k: rec.settings.get(k) for k in ("meter", "cpu_power_w", "ram_power_w", "country") if rec.settings.get(k) is not None}
    spec = {
        "texts": texts,
        "batch_size": ref.get("batch_size") or config.batch_size,
        "energy": {  # windows as the run's: as many, as long, after as many warm-up batches
            "repeats": max(2, int(rec.settings.get("repeats") or 3)),
            "window_s": float(rec.settings.get("min_window_s") or 2.0),
            "warmup_batches": int(rec.settings.get("warmup_batches") or 0),
            "settings": settings,
        },
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(spec, f)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "advisor.deploy.verify", str(folder), f.name], capture_output=True, text=True, timeout=3600
        )
    finally:
        os.unlink(f.name)
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        out = {"error": f"the checking process ended with code {proc.returncode}: {tail[0][:200]}"}
    if "error" in out:
        return {"ok": False, "error": out["error"]}
    result: dict[str, Any] = {"load_s": out.get("load_s"), "parity": _parity(ref, out)}
    result["energy"] = _energy_check(out.get("energy"), point_interval)
    result["ok"] = result["parity"].get("ok", True)
    return result


def _parity(ref: dict, out: dict) -> dict[str, Any]:
    if not ref.get("texts"):
        return {"checked": False, "why": "the run kept no sample texts (--no-keep-texts), so there is nothing to answer"}
    labels, conf = out.get("labels") or [], out.get("confidence") or []
    n = len(ref["labels"])
    matches = sum(a == b for a, b in zip(labels, ref["labels"]))
    diff = max((abs(a - b) for a, b in zip(conf, ref["confidence"])), default=0.0)
    ok = len(labels) == n and matches == n and diff <= CONFIDENCE_TOLERANCE
    return {
        "checked": True,
        "ok": ok,
        "samples": n,
        "matches": matches,
        "batch_size": ref.get("batch_size"),
        "max_confidence_diff": diff,
        "tolerance": CONFIDENCE_TOLERANCE,
    }


def _energy_check(e: dict | None, interval_j: list[float] | None) -> dict[str, Any]:
    if not e:
        return {"why": "no samples to run"}
    out = {**e, "interval_j": interval_j}
    if e.get("method") in ("not measured",) or not e.get("per_query_j"):
        return {**out, "within": None, "note": "the meter reads no energy (null meter): nothing to compare"}
    if not interval_j or interval_j[0] == interval_j[1]:
        return {**out, "within": None, "note": "the measurement has no interval (a single window)"}
    out["within"] = bool(interval_j[0] <= e["per_query_j"] <= interval_j[1])
    return out


def failure(v: dict[str, Any], name: str) -> str:
    if v.get("error"):
        return f"the package of {name} did not load in a fresh process ({v['error']}); nothing was written"
    p = v["parity"]
    return (
        f"the package of {name} did not reproduce the measured answers: {p['matches']} of {p['samples']} equal, largest "
        f"confidence difference {p['max_confidence_diff']:.3g} (tolerance {p['tolerance']:g}); nothing was written"
    )


def main(argv: list[str] | None = None) -> int:
    folder, spec_file = (argv or sys.argv[1:])[:2]
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    try:
        result = check(Path(folder), spec)
    except Exception as exc:  # noqa: BLE001 - reported to the exporting process, which refuses the package
        first = str(exc).splitlines()[0] if str(exc) else ""
        result = {"error": f"{type(exc).__name__}: {first}"}
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
