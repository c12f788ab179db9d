"""Test setup: no hub access, caches in temporary folders, small labelled fixtures on disk."""

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

import pytest  # noqa: E402

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


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch, request):
    """Every test gets its own advisor cache unless it is a slow real-model test (which reuses dequantised copies)."""
    if "slow" not in request.keywords:
        monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "advisor-cache"))


@pytest.fixture
def toy_task(tmp_path) -> Path:
    return write_task(tmp_path / "toy")


@pytest.fixture
def tfidf_registry(tmp_path) -> Path:
    """A registry with two TF-IDF candidates of different sizes (fast, no weights)."""
    path = tmp_path / "registry.yaml"
    path.write_text(
        """
version: 1
candidates:
  - name: tfidf-small
    tier: small
    kind: tfidf-logreg
    backend: sklearn
    task_types: [text-classification]
    license: BSD-3-Clause
    options: {max_features: 50, ngram_max: 1}
  - name: tfidf-large
    tier: large
    kind: tfidf-logreg
    backend: sklearn
    task_types: [text-classification]
    license: BSD-3-Clause
    options: {max_features: 5000, ngram_max: 3}
""",
        encoding="utf-8",
    )
    return path
