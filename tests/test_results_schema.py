"""The published JSON Schema of results.json: current with the models, and a real results.json satisfies it."""

from __future__ import annotations

import json

import jsonschema

import advisor
from advisor.core.results import SCHEMA_FILE, json_schema
from tests.conftest import FAST as _FAST

FAST = {**_FAST, "latency_queries": 2, "exhaustive": True}


def test_the_published_schema_is_the_models_schema():
    published = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert published == json_schema(), "regenerate advisor/results.schema.json: advisor schema > advisor/results.schema.json"


def test_a_real_results_json_satisfies_the_schema(toy_task, tfidf_registry, tmp_path):
    settings = {**FAST, "serving": "recommended"}  # the serving sweep on: its part of results.json is checked too
    rec = advisor.recommend(task=toy_task, registry=tfidf_registry, reports_dir=tmp_path, store=tmp_path / "s.sqlite", **settings)
    data = json.loads((tmp_path / rec.run_id / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    broken = {**data, "candidates": [{**data["candidates"][0], "status": "great"}]}
    try:
        jsonschema.validate(broken, json_schema())
    except jsonschema.ValidationError as exc:
        assert "great" in str(exc)
    else:
        raise AssertionError("a status outside the schema was accepted")


def test_the_cli_prints_the_schema():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "advisor.cli", "schema"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout) == json_schema()
