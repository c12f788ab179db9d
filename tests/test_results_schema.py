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


def test_a_results_file_of_schema_1_6_reads_its_details_into_the_typed_fields():
    from advisor.core.results import CandidateResult

    old = {
        "name": "a+b",
        "tier": "small",
        "kind": "cascade",
        "backend": "sklearn+sklearn",
        "source": "a cascade of a, b",
        "license": "MIT",
        "status": "ok",
        "details": {
            "stages": ["a", "b"],
            "gate": 0.8,
            "window_shares": [0.9, 0.1],
            "queries_from": "fresh rows",
            "reused_from": {"run_id": "r1", "key": "abc"},
            "node": "host-1",
            "node_id": "n1",
            "window": [10.0, 12.5],
            "generated_tokens_mean": 3.0,
            "generated_tokens_max": 5,
            "truncated_share": 0.25,
            "derived": "int8-dynamic",
            "vocabulary": 50,
        },
    }
    c = CandidateResult.model_validate(old)
    assert c.cascade.stages == ["a", "b"] and c.cascade.gate == 0.8 and c.cascade.window_shares == [0.9, 0.1]
    assert c.reused_from.run_id == "r1" and (c.node.host, c.node.started, c.node.ended) == ("host-1", 10.0, 12.5)
    assert (c.generation.tokens_mean, c.generation.tokens_max, c.generation.truncated_share) == (3.0, 5, 0.25)
    assert c.derivation == "int8-dynamic" and c.details == {"vocabulary": 50}  # only the runner's own facts stay
    assert CandidateResult.model_validate(c.to_dict()) == c  # and a 1.7 file reads back the same
