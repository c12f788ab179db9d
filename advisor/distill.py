"""``advisor distill``: a teacher labels unlabelled texts, a small student learns those labels.

The distilled student is saved (its fitted state and a ``lineage.json``) with a registry entry of
its own, then measured beside its teacher and the same student trained on the true labels, on the
task's samples, like every candidate. Its predictions on the samples are those of a frozen model:
it never sees a sample's label.

One caveat is stated with every result: a *trainable* teacher is fitted on the task's labelled
samples, so the student learns, at one remove, from the labels it is judged on. Judge such a
student on fresh samples as well.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from advisor.api import recommend
from advisor.core.results import CandidateResult, Distillation, Recommendation
from advisor.errors import AdvisorError, SpecError, did_you_mean
from advisor.measure.candidate import resolved_sources
from advisor.measure.executor import make_job_meter
from advisor.measure.windows import predict_all
from advisor.outputs.text import ratio
from advisor.paths import replace_folder, write_atomic
from advisor.runners import runner_class
from advisor.runners.bespoke import lineage as read_lineage
from advisor.runners.bespoke import making, record_cost
from advisor.search.plan import run_context
from advisor.spec.registry import Registry, load_registry
from advisor.spec.schema import CandidateSpec, SourceSpec
from advisor.spec.settings import Settings
from advisor.spec.tasks import Task, load_task

STUDENT_KINDS = ("tfidf-logreg", "encoder-head", "encoder-finetuned", "static-head")
MIN_TEXTS = 20
CAVEAT = "the teacher was fitted on the task's samples, so judge the student on fresh samples too"


def _pick(reg: Registry, name: str, role: str) -> CandidateSpec:
    by = {c.name: c for c in reg.candidates}
    if name not in by:
        raise SpecError(reg.path, f"--{role}", f"no candidate named '{name}'{did_you_mean(name, by)}", f"known: {', '.join(by)}")
    return by[name]


def unlabelled_texts(path: Path, field: str) -> list[str]:
    """Texts from a .txt (one per line), .jsonl, .csv/.tsv or .parquet file's ``field`` column."""
    import pandas as pd

    if not path.is_file():
        raise AdvisorError(f"{path}: file not found; give a file of unlabelled texts with --unlabelled")
    suffix = path.suffix.lower()
    try:
        if suffix == ".txt":
            return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        frame = {
            ".jsonl": lambda: pd.read_json(path, lines=True),
            ".csv": lambda: pd.read_csv(path),
            ".tsv": lambda: pd.read_csv(path, sep="\t"),
            ".parquet": lambda: pd.read_parquet(path),
        }[suffix]()
    except KeyError:
        raise AdvisorError(f"{path}: unknown format '{suffix}'; use .txt, .jsonl, .csv, .tsv or .parquet") from None
    except Exception as exc:  # noqa: BLE001 - many parser errors
        raise AdvisorError(f"{path}: could not be read ({str(exc).splitlines()[0][:160]}); check the file") from None
    if field not in frame.columns:
        cols = [str(c) for c in frame.columns]
        raise AdvisorError(
            f"{path}: no column '{field}'{did_you_mean(field, cols)}; choose it with --text-field (columns: {', '.join(cols)})"
        )
    return [t for t in frame[field].astype(str).str.strip() if t]


def _runner(spec: CandidateSpec, reg: Registry, context):
    found = resolved_sources(spec, reg.path.parent, context)
    if isinstance(found, CandidateResult):
        raise AdvisorError(f"{spec.name} cannot run here: {found.reason}")
    runner = runner_class(spec.kind)(spec, found[0], context, found[1])
    runner.load()
    return runner


def _absolute(source: SourceSpec | None, base: Path) -> SourceSpec | None:
    """A source whose ``local`` path no longer depends on the registry it came from."""
    if source is None or not source.local or Path(source.local).is_absolute():
        return source
    return source.model_copy(update={"local": str((base / source.local).resolve())})


def distill(
    task: str | Path | Task,
    teacher: str,
    student: str,
    registry: str | Path | Registry | None = None,
    unlabelled: Path | None = None,
    text_field: str | None = None,
    out: Path | None = None,
    settings: Settings | None = None,
    observer=None,
    **overrides: Any,
) -> tuple[Recommendation, dict]:
    """Distil ``teacher`` into ``student`` and measure the result beside both.

    Returns:
        The recommendation over teacher, student (trained on true labels) and distilled student, and
        the lineage (also in ``<out>/lineage.json``; ``rec.distillation`` holds it with the comparison).
    """
    settings = Settings.merged(settings, **overrides)
    task = task if isinstance(task, Task) else load_task(task)
    reg = registry if isinstance(registry, Registry) else load_registry(registry)
    t_spec, s_spec = _pick(reg, teacher, "teacher"), _pick(reg, student, "student")
    if s_spec.kind not in STUDENT_KINDS:
        raise SpecError(
            reg.path, "--student", f"'{student}' is a {s_spec.kind}; a student is trained, so it must be one of: {', '.join(STUDENT_KINDS)}"
        )
    for spec, role in ((t_spec, "teacher"), (s_spec, "student")):
        if task.spec.type not in spec.task_types:
            raise SpecError(reg.path, f"--{role}", f"'{spec.name}' does not serve {task.spec.type} tasks")
    seed = task.spec.sample.seed if settings.search.seed is None else settings.search.seed
    samples = task.samples(size=settings.search.sample_size, seed=seed)
    context = run_context(task, samples, settings, seed)
    taken = set(samples.texts)
    pool = unlabelled_texts(unlabelled, text_field or task.spec.data.text_field) if unlabelled else list(samples.pool_texts)
    texts = [t for t in dict.fromkeys(pool) if t not in taken]  # never a sample the student will be judged on
    where = str(unlabelled) if unlabelled else f"the task's {len(samples.pool_texts)} rows outside the sample (labels unused)"
    if len(texts) < MIN_TEXTS:
        raise AdvisorError(f"only {len(texts)} unlabelled texts from {where} outside the samples; give more with --unlabelled FILE")

    name = f"{student} distilled from {teacher}"
    folder = (out or Path(settings.output.reports_dir) / "distilled") / name.replace(" ", "_").replace("/", "_")
    meter = make_job_meter(settings.measurement)  # the making is metered in its own phase, apart from the measurements that follow
    meter.start()
    try:
        with meter.window("distill-label") as labelled:
            t_run = _runner(t_spec, reg, context)
            teacher_trained = bool(t_run.trainable)
            if teacher_trained:
                t_run.fit(samples.texts, samples.labels)
            teacher_labels = predict_all(t_run, texts, settings.measurement.batch_size, lambda *_: None, "label").labels
            t_run.close()
        if len(set(teacher_labels)) < 2:
            raise AdvisorError(
                f"the teacher '{teacher}' gave every one of the {len(texts)} texts the same label; a student cannot learn from that"
            )
        facts = {
            "method": "distilled",
            "name": name,
            "parent": student,
            "teacher": teacher,
            "student": student,
            "task": task.name,
            "task_samples_sha256": samples.sha256,
            "unlabelled": where,
            "texts": len(texts),
            "teacher_label_counts": {lab: teacher_labels.count(lab) for lab in sorted(set(teacher_labels))},
            "teacher_fitted_on_task_samples": teacher_trained,
            "caveat": CAVEAT if teacher_trained else None,
            "state": str((folder / "state.joblib").resolve()),
        }
        fresh = folder.with_name(folder.name + ".new")
        shutil.rmtree(fresh, ignore_errors=True)
        with making(fresh, facts) as tmp, meter.window("distill-train") as trained:
            s_run = _runner(s_spec, reg, context)
            s_run.fit(texts, teacher_labels)
            s_run.save_state(tmp / "state.joblib")  # anything else it keeps (a body, vectors) goes beside the state
        method = meter.method()
    finally:
        meter.stop()
    replace_folder(fresh, folder)  # a distillation of the same name is replaced whole, only once the new one is complete
    state = folder / "state.joblib"
    deployed = s_run.deployed_spec(state.resolve()) if hasattr(s_run, "deployed_spec") else {}  # e.g. a fine-tuned body
    s_run.close()
    readings = (labelled.reading, trained.reading)
    energy = None if method.get("energy") == "not measured" else sum(r.energy_j for r in readings)
    record_cost(folder, energy, sum(r.duration_s for r in readings), str(method.get("energy", "unknown")))
    lineage = {**facts, "seconds": round(sum(r.duration_s for r in readings), 1), "cost": (read_lineage(folder) or {}).get("cost")}
    distilled = s_spec.model_copy(
        update={
            "name": name,
            "tier": "distilled",
            "derived_from": student,
            "variants": [],
            "source": _absolute(s_spec.source, reg.path.parent) or SourceSpec(local=str(folder.resolve())),
            "tokenizer": _absolute(s_spec.tokenizer, reg.path.parent),
            "options": {**s_spec.options, "fitted": str(state.resolve())},
            "description": f"{student} trained on {len(texts)} texts labelled by {teacher}",
            **{k: SourceSpec(**v) if k == "source" else v for k, v in deployed.items()},
        }
    )
    write_atomic(folder / "registry.yaml", _entry_yaml(distilled))
    trio = Registry(spec=reg.spec.model_copy(update={"candidates": [t_spec, s_spec, distilled]}), path=reg.path)

    def with_lineage(rec: Recommendation) -> Recommendation:
        return rec.model_copy(update={"distillation": Distillation(**lineage, **compare_to_teacher(rec, teacher, name))})

    rec = recommend(
        task=task,
        registry=trio,
        settings=settings.model_copy(update={"exhaustive": True, "candidates": None}),
        observer=observer,
        annotate=with_lineage,
    )
    return rec, lineage


def compare_to_teacher(rec: Recommendation, teacher: str, student: str) -> dict:
    """How close the distilled student comes to its teacher on the samples, and at what energy."""
    t, s = rec.candidate(teacher), rec.candidate(student)
    if t.status != "ok" or s.status != "ok":
        return {"agreement": None, "note": f"not compared: teacher {t.status}, student {s.status}"}
    agree = sum(a == b for a, b in zip(t.predictions, s.predictions)) / len(s.predictions)
    share = ratio(s.energy_per_query_j, t.energy_per_query_j)
    note = (
        f"{student}: {rec.task.metric_label} {s.quality:.3f} against its teacher's {t.quality:.3f} ({s.quality - t.quality:+.3f}); "
        f"it agrees with the teacher on {agree:.0%} of the samples, at {share:.2%} of its energy per query"
        if share
        else ""
    )
    return {"agreement": agree, "quality_change": s.quality - t.quality, "energy_ratio": share, "note": note}


def _entry_yaml(spec: CandidateSpec) -> str:
    import yaml

    entry = spec.model_dump(mode="json", exclude_defaults=True)
    return "# A distilled candidate; merge it into a registry (local paths are absolute).\nversion: 1\ncandidates:\n" + yaml.safe_dump(
        [entry], sort_keys=False, allow_unicode=True
    )
