"""A cascade as one package: each stage exported and checked as a package of its own under ``stages/``, and a manifest
whose entry routes between them by the gate the run certified.

``advisor.load`` of the package loads every stage and answers each query with the first stage confident enough (the
same rule the run metered). Before it is handed out, the package is loaded in a fresh process and must reproduce the
cascade's answers on the run's first samples: those the stages' own references route to at the gate.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from advisor.core.cascades import route
from advisor.core.results import CandidateResult, Recommendation
from advisor.paths import replace_folder
from advisor.spec.package import MANIFEST, Manifest, PackageTask, ServingConfig, file_hashes, read_manifest, sha256
from advisor.version import __version__

STAGES_DIR = "stages"


def routed_reference(refs: list[dict[str, Any]], gate: float) -> dict[str, Any]:
    """The cascade's answers on the first samples all stages' references share: the rule applied to their answers.

    Each stage's reference holds its deployed model's answers on the run's first samples, in order; the cascade answers
    each with the first stage whose confidence reaches ``gate`` (the last stage answering the rest)."""
    n = min(len(r.get("labels") or []) for r in refs)
    texts = (refs[0].get("texts") or [])[:n] or None
    who = route([r["confidence"][:n] for r in refs[:-1]], gate)
    return {
        "batch_size": refs[0].get("batch_size"),
        "samples": n,
        "texts": texts,
        "labels": [refs[who[i]]["labels"][i] for i in range(n)],
        "confidence": [float(refs[who[i]]["confidence"][i]) for i in range(n)],
    }


def export_cascade(rec: Recommendation, c: CandidateResult, target: Path, say, mlflow_uri: str | None = None):
    """Export the cascade ``c`` of ``rec`` to ``target`` (checked in a fresh process before it is renamed into place).

    Raises:
        ExportError: a stage cannot be exported, or the package did not reproduce the cascade's answers.
    """
    from advisor.deploy.build import Exported, ExportError, export
    from advisor.deploy.verify import failure, verify
    from advisor.measure import state as kept_state

    t0 = time.perf_counter()
    stages, gate = (list(c.cascade.stages), c.cascade.gate) if c.cascade else ([], 1.0)
    if len(stages) < 2:
        raise ExportError(f"{c.name} in run {rec.run_id} names no stages; it cannot be exported")
    tmp = target.parent / f".{target.name}.export-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / STAGES_DIR).mkdir(parents=True)
    try:
        folders, refs = [], []
        for i, name in enumerate(stages):
            say(f"stage {i + 1} of {len(stages)}: {name}")
            rel = f"{STAGES_DIR}/{i}"
            export(rec, tmp / rel, candidate=name, progress=say)
            folders.append(rel)
            refs.append(kept_state.read(rec.candidate(name).state).get("reference") or {})
        first = read_manifest(tmp / folders[0], verify=False)
        manifest = _manifest(rec, c, first.task, folders, gate)
        _write(tmp, rec, c)
        (tmp / MANIFEST).write_text(manifest.model_copy(update={"files": file_hashes(tmp)}).model_dump_json(indent=2), encoding="utf-8")
        manifest = read_manifest(tmp, verify=False)
        say("checking the cascade in a fresh process")
        config = manifest.serving
        verification = verify(tmp, {"reference": routed_reference(refs, gate)}, manifest.measured.get("energy_interval_j"), config, rec)
        if not verification.get("ok"):
            raise ExportError(failure(verification, c.name))
        manifest = manifest.model_copy(update={"verification": verification})
        from advisor.deploy.card import model_card

        (tmp / "README.md").write_text(model_card(manifest, rec, c), encoding="utf-8")
        files = {**manifest.files, "README.md": sha256(tmp / "README.md")}
        (tmp / MANIFEST).write_text(manifest.model_copy(update={"files": files}).model_dump_json(indent=2), encoding="utf-8")
        replace_folder(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    notes = [f"{len(stages)} stages, each a checked package of its own under {target / STAGES_DIR}"]
    done = Exported(target, c.name, rec.run_id, size, time.perf_counter() - t0, verification, notes=notes)
    if mlflow_uri:
        done.notes.append("not registered in MLflow: a cascade has no MLflow flavour yet; register its stages one by one")
    return done


def _manifest(rec: Recommendation, c: CandidateResult, task: PackageTask, folders: list[str], gate: float) -> Manifest:
    from advisor.deploy.build import measured_figures

    measured = {
        **measured_figures(rec, c),
        "quality_how": "held out: samples the gate was not chosen on",
        "latency_how": "single queries through the cascade",
        "shares": c.cascade.window_shares if c.cascade else None,
        "held_out_shares": c.cascade.held_out_shares if c.cascade else None,
        "computed_per_query_j": c.cascade.computed_per_query_j if c.cascade else None,
    }
    return Manifest(
        name=c.name,
        candidate=c.name,
        run_id=rec.run_id,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        advisor_version=__version__,
        entry={
            "kind": "cascade",
            "stages": folders,
            "gate": gate,
            "names": list(c.cascade.stages) if c.cascade else [],
            "tier": c.tier,
            "license": c.license,
        },
        task=task,
        serving=ServingConfig(
            runtime="cascade",
            batch_size=int(rec.settings.get("batch_size") or 1),
            chosen_by="the run's own configuration (each stage applies its own package's)",
        ),
        measured=measured,
    )


def _write(folder: Path, rec: Recommendation, c: CandidateResult) -> None:
    """``results.json``: the run's figures for the cascade (each stage's own are in its folder)."""
    from advisor.deploy.build import run_summary

    (folder / "results.json").write_text(json.dumps(run_summary(rec, c), indent=2), encoding="utf-8")
