"""Test setup: no hub access, caches in temporary folders, a fake energy meter, small labelled fixtures on disk.

Energy: every test measures with the fake meter (``ADVISOR_TEST_METER=fake``, inherited by worker processes) unless
it is marked ``hardware``; those get the real CodeCarbon meter, and a test that starts a real tracker without the
mark fails, so ``-m "not hardware"`` never touches hardware counters. Time: pytest-timeout's default (pyproject) is
raised for tests marked ``slow``.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ[_var] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="advisor-hf-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
TEST_METER_ENV = "ADVISOR_TEST_METER"  # advisor.measure.metering.TEST_METER_ENV (not imported here: conftest stays light)
os.environ.setdefault(TEST_METER_ENV, "fake")

import pytest  # noqa: E402

FAST = dict(isolate=False, idle_s=0, repeats=2, min_window_s=0.05, latency_queries=3, batch_size=8, serving="off")
"""Settings for a quick in-process run, the serving sweep off: a test about serving turns it on itself."""

POS = ["good", "great", "fine", "lovely", "superb", "fun"]
NEG = ["bad", "awful", "poor", "dull", "boring", "weak"]
FILL = ["the", "film", "was", "a", "plot", "story", "really", "quite", "very", "movie"]


def toy_rows(n: int = 60, seed: int = 0) -> list[dict]:
    """Labelled toy sentences: positive ones use positive words; 10% of labels are flipped (noise)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(FILL, 4) + rng.sample(POS if label == "pos" else NEG, 2)
        rng.shuffle(words)
        if rng.random() < 0.1:
            label = "neg" if label == "pos" else "pos"
        rows.append({"text": " ".join(words), "label": label})
    return rows


def write_task(folder: Path, rows: list[dict] | None = None, **overrides) -> Path:
    """Write a JSONL sample file and a task YAML next to it; returns the task file."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "samples.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in (rows if rows is not None else toy_rows())), encoding="utf-8")
    spec = {
        "name": "toy",
        "type": "text-classification",
        "data": {"file": "samples.jsonl"},
        "labels": ["neg", "pos"],
        "metric": {"name": "accuracy"},
        "threshold": 0.6,
        "sample": {"seed": 1},
        "folds": 3,
    }
    for key, value in overrides.items():
        spec[key] = value
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


SLOW_TIMEOUT_S = 1800
"""pytest-timeout limit for tests marked slow (real models: minutes); the rest keep pyproject's ``timeout``."""


def pytest_addoption(parser):
    parser.addoption("--fault-count", type=int, default=3, help="kills in tests/faults (each followed by a rerun); e.g. 200 for a long run")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slow") is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))


@pytest.fixture(autouse=True)
def _meter_by_mark(request, monkeypatch):
    """The fake meter unless the test is marked ``hardware``; an unmarked test that starts a real tracker fails."""
    if request.node.get_closest_marker("hardware") is not None:
        monkeypatch.delenv(TEST_METER_ENV, raising=False)
        yield
        return
    from advisor.measure.metering import CodeCarbonMeter

    started = []
    real_start = CodeCarbonMeter.start

    def start(self, *args, **kwargs):
        started.append(self)
        return real_start(self, *args, **kwargs)

    monkeypatch.setattr(CodeCarbonMeter, "start", start)
    yield
    if started:
        pytest.fail(f"{request.node.nodeid} started a real CodeCarbon tracker: mark it @pytest.mark.hardware", pytrace=False)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch, request):
    """Every test gets its own advisor cache (so no test reuses another's stored measurements) unless it is marked
    ``shared_cache``: the real-model tests, which reuse the dequantised copies and downloads the cache holds."""
    if "shared_cache" not in request.keywords:
        monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "advisor-cache"))


@pytest.fixture
def toy_task(tmp_path) -> Path:
    return write_task(tmp_path / "toy")


def tfidf_registry_yaml(small: str = "{max_features: 50, ngram_max: 1}", large: str = "{max_features: 5000, ngram_max: 3}") -> str:
    """A registry of two TF-IDF candidates, ``tfidf-small`` and ``tfidf-large``, with these options."""
    entry = "  - {{name: {}, tier: {}, kind: tfidf-logreg, backend: sklearn, task_types: [text-classification], "
    entry += "license: BSD-3-Clause, options: {}}}\n"
    return "version: 1\ncandidates:\n" + entry.format("tfidf-small", "small", small) + entry.format("tfidf-large", "large", large)


@pytest.fixture
def tfidf_registry(tmp_path) -> Path:
    """A registry with two TF-IDF candidates of different sizes (fast, no weights)."""
    path = tmp_path / "registry.yaml"
    path.write_text(tfidf_registry_yaml(), encoding="utf-8")
    return path
