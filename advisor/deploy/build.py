"""``advisor export``: the model a run measured, as a deployable package that is checked before it is handed out.

The package is built from the candidate's fitted state, kept beside its measurement (:mod:`advisor.measure.state`),
on the runtime the serving sweep chose. It is written to a temporary folder beside the target, loaded in a fresh
process that must reproduce the measured model's answers on the run's samples and meter its energy at the chosen
configuration, and only then renamed into place: a package that fails its check is never left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from advisor.core.formats import latency_goal
from advisor.core.results import CandidateResult, Recommendation, ServingPoint
from advisor.core.stats import mean_interval
from advisor.deploy.pyfunc import write_flavour
from advisor.deploy.verify import failure, verify
from advisor.errors import AdvisorError, did_you_mean
from advisor.measure import state as kept_state
from advisor.paths import replace_folder
from advisor.runners.packaged import runner_for
from advisor.spec.package import MANIFEST, MODEL_DIR, Manifest, PackageTask, ServingConfig, file_hashes, sha256
from advisor.spec.runtimes import runtime_of, servable_as
from advisor.spec.schema import CandidateSpec, SourceSpec
from advisor.version import __version__


class ExportError(AdvisorError):
    """The run, the candidate or the target cannot give a package; one line with the fix."""


@dataclass
class Exported:
    """What ``export`` wrote and what its check found."""

    folder: Path
    name: str
    run_id: str
    size_bytes: int
    seconds: float
    verification: dict[str, Any]
    state_bytes: int | None = None
    notes: list[str] = field(default_factory=list)
    mlflow: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "folder": str(self.folder)}

    def lines(self) -> list[str]:
        """What was written and what the check found, in sentences."""
        from advisor.deploy.card import verification_sentences
        from advisor.outputs.text import duration, human_bytes

        out = [f"exported {self.name} from run {self.run_id} to {self.folder} ({human_bytes(self.size_bytes)}, {duration(self.seconds)})"]
        out += verification_sentences(self.verification)
        out += self.notes
        if self.mlflow:
            out.append(
                f"registered in MLflow as {self.mlflow['registered_model']} version {self.mlflow['version']} ({self.mlflow['model_uri']})"
            )
        pyfunc = f"  or  mlflow.pyfunc.load_model({str(self.folder)!r})" if (self.folder / "MLmodel").is_file() else ""
        out.append(f"load it with: advisor.load({str(self.folder)!r}){pyfunc}")
        return out


def find_run(ref: str | Path, store: Path | None = None) -> Recommendation:
    """A run from a results.json path, a stored run id, or a task name (its newest complete run)."""
    from advisor.store import ResultStore, StoreError, load_run

    text = str(ref)
    if Path(text).suffix == ".json" or Path(text).is_file():
        return load_run(text, store)
    with ResultStore(store) as s:
        try:
            return Recommendation.model_validate(s.get_run(text))
        except StoreError as exc:
            row = s.latest_run(text, "complete")
            if row is None:
                raise ExportError(f"{exc}; or give a task name that has a complete run, or a results.json path") from None
            return Recommendation.model_validate(s.get_run(row.run_id))


def _candidate(rec: Recommendation, name: str | None) -> CandidateResult:
    names = [c.name for c in rec.candidates]
    if name is None:
        if rec.model is None:
            raise ExportError(
                f"run {rec.run_id} recommends no model ({rec.decision}); name the candidate to export with --candidate "
                f"(measured: {', '.join(c.name for c in rec.candidates if c.status == 'ok') or 'none'})"
            )
        name = rec.model
    if name not in names:
        raise ExportError(f"run {rec.run_id} has no candidate '{name}'{did_you_mean(name, names)}; measured: {', '.join(names)}")
    c = rec.candidate(name)
    if c.status != "ok":
        why = f" ({c.reason})" if c.reason else ""
        raise ExportError(
            f"{name} was {c.status} in run {rec.run_id}{why}: only a fully measured model can be exported; measure it with "
            f"advisor recommend --task {rec.task.path} --candidates '{name}' --exhaustive, then export that run"
        )
    if not c.state and c.kind != "cascade":  # a cascade is exported from its stages' states
        raise ExportError(
            f"run {rec.run_id} kept no fitted state for {name} (results schema {rec.schema_version}, written before runs kept "
            f"fitted models); measure it again: advisor recommend --task {rec.task.path} --candidates '{name}' --fresh"
        )
    return c


def serving_config(rec: Recommendation, c: CandidateResult, spec: CandidateSpec) -> tuple[ServingConfig, ServingPoint | None]:
    """The configuration the sweep chose for ``c``; else the run's own (the candidate's runtime, batch, all threads)."""
    for cs in rec.serving.candidates if rec.serving else []:
        if cs.name == c.name and cs.chosen is not None:
            p = cs.points[cs.chosen]
            how = "chosen by the serving sweep" + (f" ({latency_goal(rec.serving.max_latency_ms)})" if rec.serving.max_latency_ms else "")
            return ServingConfig(runtime=p.runtime, batch_size=p.batch_size, threads=p.threads, device=p.device, chosen_by=how), p
    bs = int(rec.settings.get("batch_size") or 16)
    how = "the run's own configuration: no serving sweep chose one"
    return ServingConfig(runtime=runtime_of(spec), batch_size=bs, threads=None, device=c.device or "cpu", chosen_by=how), None


def _hub_revision(path: Path, asked: str | None) -> str | None:
    """The commit a hub snapshot folder holds (``…/snapshots/<commit>/…``), else the revision asked for."""
    parts = path.parts
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts[:-1] else asked


def _copy(src: Path, dest: Path) -> str:
    """Copy a file or folder into ``dest`` (a folder); returns the path of the copy relative to the model folder."""
    if src.is_dir():
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".*"))
        return dest.name
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest / src.name)
    return f"{dest.name}/{src.name}"


def _package_model(runner, spec: CandidateSpec, model: Path, scratch: Path) -> dict[str, Any]:
    """Copy what the loaded ``runner`` needs into ``model``; returns its entry with paths relative to ``model``."""
    entry = spec.model_dump(mode="json", exclude_defaults=True)
    entry.pop("variants", None)
    entry["options"] = runner.package_options()
    files = runner.deployed_files(scratch)
    for role in ("source", "tokenizer"):
        asked: SourceSpec | None = getattr(spec, role)
        path = files.get(role)
        if path is None:
            entry.pop(role, None)
        elif asked is not None and asked.hub and Path(path) == Path(runner.path if role == "source" else runner.tokenizer_path or ""):
            entry[role] = {"hub": asked.hub, "revision": _hub_revision(Path(path), asked.revision)}  # a reference, not a copy
        else:
            entry[role] = {"local": _copy(Path(path), model / role)}
    fitted = entry["options"].get("fitted")
    if fitted:
        shutil.copy2(fitted, model / "fitted.joblib")
        entry["options"]["fitted"] = "fitted.joblib"
    return entry


def _runner_for(entry: CandidateSpec, st: dict[str, Any], config: ServingConfig):
    from advisor.spec.sources import SourceUnavailable

    context = st.get("context") or {}
    try:
        return runner_for(entry, context, context.get("task_type") or "text-classification", config.batch_size, config.device)
    except SourceUnavailable as exc:
        raise ExportError(f"{entry.name}'s files are not available here: {exc}") from None


def export(
    run: str | Path | Recommendation,
    to: str | Path,
    candidate: str | None = None,
    force: bool = False,
    store: Path | None = None,
    mlflow_uri: str | None = None,
    progress=None,
) -> Exported:
    """Export the model ``run`` measured (its recommendation, or ``candidate``) as a checked package in ``to``.

    Raises:
        ExportError: the run, candidate or target cannot give a package, or the package failed its check.
    """
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    rec = run if isinstance(run, Recommendation) else find_run(run, store)
    c = _candidate(rec, candidate)
    target = Path(to)
    if target.exists() and not force:
        raise ExportError(f"{target}: already exists; choose another folder with --to, or replace it with --force")
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target}: is a file; give a folder with --to")
    if c.kind == "cascade":
        from advisor.deploy.cascade import export_cascade

        return export_cascade(rec, c, target, say, mlflow_uri)
    try:
        st = kept_state.read(c.state)
    except FileNotFoundError:
        raise ExportError(
            f"the fitted state of {c.name} from run {rec.run_id} is gone ({c.state}); measure it again: "
            f"advisor recommend --task {rec.task.path} --candidates '{c.name}' --fresh"
        ) from None
    except ValueError as exc:
        raise ExportError(f"{exc}; measure it again with --fresh") from None
    measured_spec = CandidateSpec.model_validate(st["entry"])
    config, point = serving_config(rec, c, measured_spec)
    spec = measured_spec
    if config.runtime != runtime_of(measured_spec):
        spec = servable_as(measured_spec)[0].get(config.runtime) or measured_spec
        if spec is measured_spec:
            config = config.model_copy(update={"runtime": runtime_of(measured_spec)})
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.export-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    notes: list[str] = []
    try:
        say(f"loading {c.name} ({config.runtime})")
        runner = _runner_for(spec, st, config)
        try:
            runner.load()
            texts = (st.get("reference") or {}).get("texts") or []
            example = [t[:200] for t in texts[:2]] or ["an example text"]
            why_not = write_flavour(tmp, spec, config.runtime, example)
            if why_not:
                notes.append(why_not)
            tmp.mkdir(exist_ok=True)
            (tmp / MODEL_DIR).mkdir()
            scratch = Path(tempfile.mkdtemp(prefix="advisor-export-"))
            try:
                say("copying the model's files")
                entry = _package_model(runner, spec, tmp / MODEL_DIR, scratch)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        finally:
            runner.close()
        manifest = _manifest(rec, c, st, entry, config, point)
        _write_extras(tmp, rec, c)
        manifest = _write_manifest(tmp, manifest.model_copy(update={"files": file_hashes(tmp)}))
        say("checking the package in a fresh process")
        verification = verify(tmp, st, manifest.measured.get("energy_interval_j"), config, rec)
        if not verification.get("ok"):
            raise ExportError(failure(verification, c.name))
        manifest = manifest.model_copy(update={"verification": verification})
        from advisor.deploy.card import model_card

        (tmp / "README.md").write_text(model_card(manifest, rec, c), encoding="utf-8")
        _write_manifest(tmp, manifest.model_copy(update={"files": {**manifest.files, "README.md": sha256(tmp / "README.md")}}))
        replace_folder(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    done = Exported(
        folder=target,
        name=manifest.name,
        run_id=rec.run_id,
        size_bytes=size,
        seconds=time.perf_counter() - t0,
        verification=verification,
        state_bytes=kept_state.disk_bytes(c.state),
        notes=notes,
    )
    if mlflow_uri:
        from advisor.outputs.tracking import register_package

        done.mlflow = register_package(target, manifest, mlflow_uri)
    return done


def _manifest(
    rec: Recommendation, c: CandidateResult, st: dict, entry: dict, config: ServingConfig, point: ServingPoint | None
) -> Manifest:
    ctx = st.get("context") or {}
    measured = measured_figures(rec, c, point)
    return Manifest(
        name=c.name,
        candidate=c.name,
        run_id=rec.run_id,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        advisor_version=__version__,
        entry=entry,
        task=PackageTask(
            name=rec.task.name,
            type=rec.task.type,
            metric=rec.task.metric,
            metric_label=rec.task.metric_label,
            label_names=list(ctx.get("label_names") or []),
            prompt=ctx.get("prompt") or {},
            few_shot_texts=list(ctx.get("few_shot_texts") or []),
            few_shot_labels=list(ctx.get("few_shot_labels") or []),
            class_weight=ctx.get("class_weight"),
            seed=int(ctx.get("seed") or 0),
        ),
        serving=config,
        measured=measured,
    )


def measured_figures(rec: Recommendation, c: CandidateResult, point: ServingPoint | None = None) -> dict[str, Any]:
    """The figures the run measured for ``c`` (at the serving sweep's ``point`` where one was chosen), for a manifest."""
    energy = point.energy if point is not None else c.energy
    repeats = energy.repeats_per_query_j if energy is not None else []
    return {
        "quality": c.quality,
        "quality_ci": c.quality_ci,
        "metric": rec.task.metric,
        "confidence": rec.confidence,
        "samples": c.samples_evaluated,
        "energy_per_query_j": energy.per_query_j if energy is not None else None,
        "energy_interval_j": list(mean_interval(repeats, rec.confidence)) if repeats else None,
        "energy_method": rec.method.energy,
        "hardware": rec.method.cpu_model or rec.method.cpu,
        "latency_p50_ms": point.latency_p50_ms if point is not None else c.latency_p50_ms,
        "latency_p95_ms": point.latency_p95_ms if point is not None else c.latency_p95_ms,
        "latency_how": "a request's batch compute plus its fill wait (serving sweep)" if point is not None else "single queries",
        "run_energy_per_query_j": c.energy_per_query_j,
        "run_batch_size": rec.settings.get("batch_size"),
        "parameters": c.parameters,
    }


def run_summary(rec: Recommendation, c: CandidateResult) -> dict[str, Any]:
    """A package's ``results.json``: the run's figures for the model it holds."""
    return {
        "schema_version": rec.schema_version,
        "run_id": rec.run_id,
        "created_at": rec.created_at,
        "task": rec.task.model_dump(mode="json", exclude={"spec"}),
        "threshold": rec.threshold,
        "decision": rec.decision,
        "model": rec.model,
        "summary": rec.summary,
        "method": rec.method.model_dump(mode="json"),
        "candidate": c.model_dump(mode="json", exclude={"predictions", "probabilities", "state"}),
        "serving": rec.serving.model_dump(mode="json") if rec.serving else None,
        "cascade": rec.cascade.model_dump(mode="json") if rec.cascade and rec.cascade.candidate == c.name else None,
    }


def _write_extras(folder: Path, rec: Recommendation, c: CandidateResult) -> None:
    """``lineage.json`` (what the model was made from) and ``results.json`` (the run's figures for this model)."""
    made = json.loads((Path(c.making.path) / "lineage.json").read_text(encoding="utf-8")) if c.making and c.making.path else None
    lineage = {
        "model": c.name,
        "parent": c.derived_from or (c.making.parent if c.making else None),
        "source": c.source,
        "license": c.license,
        "making": c.making.model_dump(mode="json") if c.making else None,
        "made": made,
        "run_id": rec.run_id,
        "task": rec.task.name,
        "task_data_sha256": rec.task.data_sha256,
    }
    (folder / "lineage.json").write_text(json.dumps(lineage, indent=2, default=str), encoding="utf-8")
    (folder / "results.json").write_text(json.dumps(run_summary(rec, c), indent=2), encoding="utf-8")


def _write_manifest(folder: Path, manifest: Manifest) -> Manifest:
    """Write the manifest (its ``files`` already hashed: the model's files once, only the card again after the check)."""
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    return manifest
