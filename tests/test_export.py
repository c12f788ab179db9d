"""Export: the model a run measured, as a package that loads in a fresh process and answers as measured.

One run (module-scoped) measures a tiny model of every kind that can be recommended; each test exports from it.
Every export is itself a round trip: it loads the package in a subprocess and compares its answers with the
measured model's before it keeps the package.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

import advisor
from advisor import Settings
from advisor.core.results import CandidateServing, Recommendation, Serving, ServingPoint
from advisor.deploy.build import ExportError, export
from advisor.spec.package import MANIFEST, PackageError, read_manifest
from tests import tiny_models as tm
from tests.conftest import FAST, toy_rows, write_task
from tests.factories import energy
from tests.helpers import cli

KINDS = {
    "tfidf": {"kind": "tfidf-logreg", "backend": "sklearn", "options": {"max_features": 50}},
    "encoder": {"kind": "encoder-head", "backend": "sentence-transformers", "source": "st"},
    "encoder-onnx": {"kind": "encoder-head", "backend": "onnx", "source": "onnx"},
    "static": {"kind": "static-head", "backend": "model2vec", "source": "st", "options": {"dims": None}},
    "fine-tuned": {"kind": "encoder-finetuned", "backend": "sentence-transformers", "source": "st", "options": {"pairs": 16}},
    "prompted": {"kind": "prompted", "backend": "transformers", "source": "lm"},
}


def _registry(path: Path, models: dict[str, Path]) -> Path:
    entries = []
    for name, k in KINDS.items():
        entry = {"name": name, "tier": "small", "kind": k["kind"], "backend": k["backend"], "task_types": ["text-classification"]}
        entry |= {"license": "apache-2.0", "options": k.get("options", {})}
        if "source" in k:
            entry["source"] = {"local": str(models[k["source"]])}
        entries.append(entry)
    path.write_text(yaml.safe_dump({"version": 1, "candidates": entries}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> tuple[Recommendation, Path]:
    """One exhaustive run over every kind on the toy task; returns it and its folder (store, registry, task)."""
    root = tmp_path_factory.mktemp("export-run")
    models = {
        "st": tm.make_bert_encoder(root / "st-encoder"),
        "onnx": tm.make_onnx_encoder(root / "onnx-encoder"),
        "lm": tm.make_causal_lm(root / "causal-lm"),
    }
    task = write_task(root / "toy")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_CACHE", str(root / "cache"))
        settings = Settings(**{**FAST, "exhaustive": True}, store=root / "store.sqlite", reports_dir=root / "reports", min_quality=0.01)
        rec = advisor.recommend(task=task, registry=_registry(root / "registry.yaml", models), settings=settings)
    return rec, root


@pytest.fixture(scope="module")
def package(measured, tmp_path_factory):
    """``package(name)``: the folder and the :class:`Exported` of that candidate's package, exported once per module
    (tests that change a package change a copy)."""
    rec, _ = measured
    made: dict[str, tuple[Path, object]] = {}

    def get(name: str) -> tuple[Path, object]:
        if name not in made:
            folder = tmp_path_factory.mktemp("packages") / name
            made[name] = (folder, export(rec, folder, candidate=name))
        return made[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", list(KINDS))
def test_each_kind_exports_a_package_that_answers_as_measured(measured, package, name):
    rec, root = measured
    c = rec.candidate(name)
    assert c.status == "ok", c.reason
    folder, done = package(name)
    parity = done.verification["parity"]
    assert parity["checked"] and parity["ok"] and parity["matches"] == parity["samples"] > 0  # a fresh process answered as measured
    ref = json.loads((Path(c.state) / "state.json").read_text())["reference"]
    with advisor.load(folder) as model:  # and here too, at the reference's batch size
        labels, conf = model.predict_with_confidence(ref["texts"], batch_size=ref["batch_size"])
        assert labels == ref["labels"]
        assert max(abs(a - b) for a, b in zip(conf, ref["confidence"])) <= 1e-4
        assert model.predict(ref["texts"][:3]) == ref["labels"][:3]  # at the package's own batch size
    manifest = read_manifest(folder)
    assert manifest.candidate == name and manifest.run_id == rec.run_id
    assert manifest.serving.batch_size == rec.settings["batch_size"] and manifest.serving.chosen_by.startswith("the run's own")
    for role in ("source", "tokenizer"):  # a local model is copied in: the package does not point back at this machine
        local = (manifest.entry.get(role) or {}).get("local")
        assert local is None or not Path(local).is_absolute()


def test_a_package_holds_the_fitted_state_not_a_refit(measured, package):
    """The head in the package is the one measured: its coefficients equal the kept state's."""
    import joblib
    import numpy as np

    rec, _ = measured
    c = rec.candidate("encoder")
    kept = joblib.load(Path(c.state) / "fitted.joblib")
    packaged = joblib.load(package("encoder")[0] / "model" / "fitted.joblib")
    assert np.array_equal(kept.model_.coef_, packaged.model_.coef_)


def test_predict_proba_follows_the_task_labels(package):
    with advisor.load(package("tfidf")[0]) as model:
        proba = model.predict_proba(["good great fun", "awful dull weak"])
        assert model.classes == ["neg", "pos"] and proba.shape == (2, 2)
        assert [model.classes[i] for i in proba.argmax(1)] == model.predict(["good great fun", "awful dull weak"])
    with advisor.load(package("prompted")[0]) as model, pytest.raises(TypeError, match="confidence of its answer only"):
        model.predict_proba(["good"])


@pytest.mark.slow
def test_the_serving_configuration_the_sweep_chose_is_applied(measured, tmp_path):
    """A PyTorch encoder whose sweep chose ONNX Runtime at batch 4 on 1 thread is packaged as its ONNX graph, answers as
    the PyTorch model did, and the loader serves at batch 4."""
    rec, _ = measured
    point = ServingPoint(
        runtime="onnxruntime",
        batch_size=4,
        threads=1,
        energy=energy(0.002, repeats=[0.0018, 0.0022]),
        throughput_qps=100.0,
        batch_p50_ms=1.0,
        batch_p95_ms=2.0,
        latency_p50_ms=1.0,
        latency_p95_ms=2.0,
        latency_batches=4,
    )
    swept = rec.model_copy(
        update={
            "serving": Serving(
                scope="recommended", candidates=[CandidateServing(name="encoder", points=[point], chosen=0)], model="encoder", point=point
            )
        }
    )
    done = export(swept, tmp_path / "pkg", candidate="encoder")
    assert done.verification["parity"]["ok"]
    m = read_manifest(tmp_path / "pkg")
    assert (m.serving.runtime, m.serving.batch_size, m.serving.threads) == ("onnxruntime", 4, 1)
    assert m.entry["backend"] == "onnx" and "export" not in m.entry["options"]
    assert (tmp_path / "pkg" / "model" / "source" / "model.onnx").is_file()
    assert m.measured["energy_per_query_j"] == 0.002 and m.measured["energy_interval_j"][0] < 0.002
    with advisor.load(tmp_path / "pkg") as model:
        assert model.batch_size == 4 and "onnxruntime" in repr(model)


def test_the_model_card_is_a_hugging_face_card_with_the_evidence(measured, package):
    rec, _ = measured
    folder = package("tfidf")[0]
    text = (folder / "README.md").read_text()
    head, body = text.split("---\n", 2)[1:]
    meta = yaml.safe_load(head)
    c = rec.candidate("tfidf")
    result = meta["model-index"][0]["results"][0]
    metric = result["metrics"][0]
    assert metric["type"] == "accuracy" and metric["value"] == pytest.approx(c.quality, abs=1e-4)
    assert metric["args"]["samples"] == c.samples_evaluated and metric["args"]["ci_low"] == pytest.approx(c.quality_ci[0])
    co2 = meta["co2_eq_emissions"]
    assert co2["emissions"] >= 0 and "CodeCarbon" in co2["source"] and co2["geographical_location"]
    assert meta["license"] == "apache-2.0" and meta["pipeline_tag"] == "text-classification"
    for section in ("## Why this model", "## Quality", "## Energy and latency", "## Lineage", "## Verification", "## Caveats"):
        assert section in body
    assert "per 1,000 queries" in body and "answers equal" in body
    lineage = json.loads((folder / "lineage.json").read_text())
    assert lineage["run_id"] == rec.run_id and lineage["task_data_sha256"] == rec.task.data_sha256
    summary = json.loads((folder / "results.json").read_text())
    assert summary["candidate"]["name"] == "tfidf" and "predictions" not in summary["candidate"]


def test_a_made_model_carries_its_lineage(package):
    folder = package("fine-tuned")[0]
    lineage = json.loads((folder / "lineage.json").read_text())
    assert lineage["made"]["method"].startswith("fine-tuned") and lineage["making"]["steps"]
    m = read_manifest(folder)
    assert m.entry["kind"] == "encoder-head" and (folder / "model" / "source" / "config.json").is_file()  # the tuned body


def test_the_package_is_an_mlflow_model_and_can_be_registered(measured, package, tmp_path):
    mlflow = pytest.importorskip("mlflow")
    import pandas as pd

    from advisor.outputs.tracking import register_package

    rec, _ = measured
    folder = package("tfidf")[0]
    uri = (tmp_path / "mlruns").as_uri()
    registered = register_package(folder, read_manifest(folder), uri)
    model = mlflow.pyfunc.load_model(str(folder))
    texts = ["good great fun", "awful dull weak"]
    out = model.predict(pd.DataFrame({"text": texts}))
    with advisor.load(folder) as own:
        assert list(out["label"]) == own.predict(texts)
    assert model.metadata.get_input_schema().input_names() == ["text"]
    assert registered["version"] == "1"
    assert list(
        mlflow.pyfunc.load_model(f"models:/{registered['registered_model']}/1").predict(pd.DataFrame({"text": texts}))["label"]
    ) == list(out["label"])
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    version = client.get_model_version(registered["registered_model"], "1")
    assert version.tags["advisor.candidate"] == "tfidf" and version.tags["advisor.energy"] == rec.method.energy
    metrics = client.get_run(registered["run_id"]).data.metrics
    assert metrics["quality"] == pytest.approx(rec.candidate("tfidf").quality) and "energy_per_query_j" in metrics


def test_a_changed_package_is_refused(package, tmp_path):
    shutil.copytree(package("tfidf")[0], tmp_path / "pkg")
    shutil.copytree(package("tfidf")[0], tmp_path / "pkg2")
    fitted = tmp_path / "pkg" / "model" / "fitted.joblib"
    fitted.write_bytes(fitted.read_bytes() + b"\0")
    with pytest.raises(PackageError, match=r"fitted.joblib' changed after export"):
        advisor.load(tmp_path / "pkg")
    (tmp_path / "pkg2" / "model" / "extra.py").write_text("print('hi')")
    with pytest.raises(PackageError, match="added after export"):
        advisor.load(tmp_path / "pkg2")
    (tmp_path / "pkg2" / "model" / "extra.py").unlink()
    advisor.load(tmp_path / "pkg2").close()
    (tmp_path / "pkg2" / "model" / "link").symlink_to("/etc/hostname")
    with pytest.raises(PackageError, match="'model/link' is a symbolic link"):
        advisor.load(tmp_path / "pkg2")
    (tmp_path / "pkg2" / "model" / "link").unlink()
    manifest = json.loads((tmp_path / "pkg2" / MANIFEST).read_text())
    manifest["entry"]["options"]["fitted"] = "../../outside.joblib"  # the manifest itself edited to lead out
    (tmp_path / "pkg2" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(PackageError, match="entry.options.fitted '../../outside.joblib' leads outside the package"):
        advisor.load(tmp_path / "pkg2")


def test_a_package_that_does_not_answer_as_measured_is_not_kept(measured, tmp_path):
    rec, root = measured
    c = rec.candidate("tfidf")
    state = tmp_path / "state"
    shutil.copytree(c.state, state)
    data = json.loads((state / "state.json").read_text())
    data["reference"]["labels"] = ["pos" if x == "neg" else "neg" for x in data["reference"]["labels"]]
    (state / "state.json").write_text(json.dumps(data))
    bad = rec.model_copy(
        update={"candidates": [c.model_copy(update={"state": str(state)}) if x.name == "tfidf" else x for x in rec.candidates]}
    )
    with pytest.raises(ExportError, match="did not reproduce the measured answers"):
        export(bad, tmp_path / "pkg", candidate="tfidf")
    assert not (tmp_path / "pkg").exists() and not list(tmp_path.glob(".pkg*"))


def test_bad_exports_get_one_line_each(measured, tmp_path):
    rec, root = measured
    with pytest.raises(ExportError, match=r"no candidate 'tfidff' \(did you mean 'tfidf'\?\)"):
        export(rec, tmp_path / "a", candidate="tfidff")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ExportError, match="already exists; .*--force"):
        export(rec, tmp_path / "taken", candidate="tfidf")
    rec.export(tmp_path / "taken", candidate="tfidf", force=True)  # the library's call on a Recommendation
    assert read_manifest(tmp_path / "taken").candidate == "tfidf" and (tmp_path / "taken" / MANIFEST).is_file()
    skipped = rec.candidate("tfidf").model_copy(update={"status": "skipped", "reason": "not installed", "state": None})
    older = rec.model_copy(update={"candidates": [skipped]})
    with pytest.raises(ExportError, match=r"tfidf was skipped in run .* \(not installed\): only a fully measured model"):
        export(older, tmp_path / "b", candidate="tfidf")
    stateless = rec.model_copy(
        update={"schema_version": "1.4", "candidates": [c.model_copy(update={"state": None}) for c in rec.candidates]}
    )
    with pytest.raises(ExportError, match=r"kept no fitted state for tfidf \(results schema 1.4"):
        export(stateless, tmp_path / "c", candidate="tfidf")
    gone = rec.model_copy(update={"candidates": [c.model_copy(update={"state": str(tmp_path / "nowhere")}) for c in rec.candidates]})
    with pytest.raises(ExportError, match="fitted state of tfidf .* is gone"):
        export(gone, tmp_path / "d", candidate="tfidf")
    with pytest.raises(ExportError, match="recommends no model"):
        export(rec.model_copy(update={"model": None, "decision": "none"}), tmp_path / "e")


def test_a_package_listed_in_a_registry_is_measured_as_a_frozen_candidate(package, tmp_path):
    shutil.copytree(package("tfidf")[0], tmp_path / "pkg")
    reg = tmp_path / "registry.yaml"
    reg.write_text(yaml.safe_dump({"version": 1, "candidates": [{"exported": "pkg"}]}))
    task = write_task(tmp_path / "fresh", toy_rows(60, seed=7))  # new rows, the same labels: the drift case
    settings = Settings(**FAST, store=tmp_path / "s.sqlite", reports_dir=tmp_path / "r", min_quality=0.01)
    got = advisor.recommend(task=task, registry=reg, settings=settings)
    c = got.candidate("tfidf (exported)")
    assert c.status == "ok" and c.fit is None and c.samples_evaluated == 60  # frozen: scored, never refitted
    with advisor.load(tmp_path / "pkg") as model:
        assert c.predictions == model.predict(got.samples.texts)
    same = advisor.recommend(task=task, registry=tmp_path / "pkg", settings=settings.model_copy(update={"fresh": True}))
    assert [x.name for x in same.candidates] == ["tfidf (exported)"]


def test_check_measures_the_deployed_package_on_fresh_samples(measured, package, tmp_path):
    rec, root = measured
    shutil.copytree(package("encoder")[0], tmp_path / "pkg")
    task = write_task(tmp_path / "fresh", toy_rows(60, seed=11))
    settings = Settings(**FAST, store=tmp_path / "s.sqlite", reports_dir=tmp_path / "r", min_quality=0.01)
    result = advisor.check(task, str(tmp_path / "pkg"), registry=root / "registry.yaml", settings=settings, candidates=["tfidf"])
    assert result.deployed == "encoder (exported)"
    assert result.deployed_quality is not None and result.verdict in ("right-sized", "oversized", "undecided")
    other = write_task(tmp_path / "other", [{"text": r["text"], "label": "x" if r["label"] == "pos" else "y"} for r in toy_rows()])
    yaml_path = other
    spec = yaml.safe_load(yaml_path.read_text())
    yaml_path.write_text(yaml.safe_dump({**spec, "labels": ["x", "y"]}))
    with pytest.raises(advisor.SpecError, match="answers neg, pos, but task 'toy' has the labels x, y"):
        advisor.check(other, str(tmp_path / "pkg"), registry=root / "registry.yaml", settings=settings)


@pytest.mark.slow
def test_export_and_check_from_the_command_line(measured, tmp_path):
    rec, root = measured
    env = {"ADVISOR_CACHE": str(root / "cache")}
    store = str(root / "store.sqlite")
    out = cli("export", "toy", "--store", store, "--to", tmp_path / "pkg", "--candidate", "tfidf", "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["run_id"] == rec.run_id and data["verification"]["parity"]["ok"] and data["size_bytes"] > 0
    again = cli("export", rec.run_id, "--store", store, "--to", tmp_path / "pkg", env=env)
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "already exists" in again.stderr
    fitted = tmp_path / "pkg" / "model" / "fitted.joblib"
    fitted.write_bytes(b"tampered")
    task = write_task(tmp_path / "fresh", toy_rows(60, seed=3))
    tampered = cli("check", "--task", task, "--deployed", tmp_path / "pkg", "--store", store, "--in-process", env=env)
    assert tampered.returncode == 1 and "changed after export" in tampered.stderr and "Traceback" not in tampered.stderr


def test_a_reused_measurement_keeps_its_state(measured, tmp_path):
    rec, root = measured
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_CACHE", str(root / "cache"))
        settings = Settings(**{**FAST, "exhaustive": True}, store=root / "store.sqlite", reports_dir=tmp_path, min_quality=0.01)
        again = advisor.recommend(task=root / "toy" / "task.yaml", registry=root / "registry.yaml", settings=settings, candidates=["tfidf"])
    c = again.candidate("tfidf")
    assert c.reused_from is not None and c.state == rec.candidate("tfidf").state
    assert os.path.isdir(c.state)


def test_loading_a_package_imports_only_what_its_model_needs(package):
    import subprocess
    import sys

    folder = package("tfidf")[0]
    code = (
        "import sys, advisor; m = advisor.load(sys.argv[1]); m.predict(['good']); "
        "print(sorted(k for k in ('torch', 'transformers', 'onnxruntime', 'mlflow', 'codecarbon') if k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.slow
def test_a_generative_model_exports_with_its_prompt_and_generates_as_measured(tmp_path):
    from tests.test_generative_task import qa_task
    from tests.test_generative_task import registry as qa_registry

    lm = tm.make_causal_lm(tmp_path / "lm", chat_template=True)
    settings = Settings(**{**FAST, "exhaustive": True, "batch_size": 4}, store=tmp_path / "s.sqlite", reports_dir=tmp_path / "r")
    rec = advisor.recommend(
        task=qa_task(tmp_path / "qa"), registry=qa_registry(tmp_path, lm), settings=settings, candidates=["tiny-generator"]
    )
    done = export(rec, tmp_path / "pkg", candidate="tiny-generator")
    assert done.verification["parity"]["ok"]  # the same generated answers, few-shot examples and prompt included
    m = read_manifest(tmp_path / "pkg")
    assert m.task.type == "question-answering" and len(m.task.few_shot_texts) == 2
    ref = json.loads((Path(rec.candidate("tiny-generator").state) / "state.json").read_text())["reference"]
    with advisor.load(tmp_path / "pkg") as model:
        assert model.generate(ref["texts"][:4], batch_size=ref["batch_size"]) == ref["labels"][:4]
        with pytest.raises(TypeError, match="confidence of its answer only"):
            model.predict_proba(ref["texts"][:1])


def test_a_hub_model_is_a_reference_by_commit():
    from advisor.deploy.build import _hub_revision

    snapshot = Path("/cache/hub/models--org--name/snapshots/0123abcd/model.onnx")
    assert _hub_revision(snapshot, "main") == "0123abcd"
    assert _hub_revision(Path("/somewhere/else"), "v1") == "v1"


def test_a_card_from_a_run_without_energy_claims_no_emissions(measured, package):
    from advisor.deploy.card import model_card

    rec, _ = measured
    off = rec.model_copy(update={"method": rec.method.model_copy(update={"energy": "not measured"})})
    text = model_card(read_manifest(package("tfidf")[0]), off, off.candidate("tfidf"))
    meta = yaml.safe_load(text.split("---\n", 2)[1])
    assert "co2_eq_emissions" not in meta and "energy-not-measured" in meta["tags"]
    assert "Energy was NOT MEASURED (the run's meter was off)" in text
