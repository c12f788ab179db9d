"""Results -> view model: every figure the report shows, formatted once, with nothing left to compute in templates."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from advisor.core.ranking import pareto_front, verdict_of
from advisor.core.results import CandidateResult, Recommendation
from advisor.outputs.report.charts import energy_breakdown_chart, quality_energy_chart
from advisor.outputs.report.serving import ServingView, serving_view
from advisor.outputs.text import (
    DASH,
    cost_line,
    derivation,
    duration,
    energy_cell,
    energy_note,
    goal_of,
    human_bytes,
    human_count,
    joules,
    lineage_lines,
    megabytes,
    milliseconds,
    number,
    outcome_lines,
    percent,
    quality_of,
    verdict_text,
    watts,
)


@dataclass
class Row:
    """One table row; ``sort`` holds raw values for the sortable columns."""

    name: str
    tier: str
    kind: str
    status: str
    reason: str
    cells: dict[str, str]
    sort: dict[str, float | str]
    recommended: bool
    meets: bool
    on_front: bool
    status_text: str = ""
    derived: str = ""  # a derived candidate: its parent and how it was made


@dataclass
class Sample:
    """A misclassified sample of the recommended model; ``text`` is None when the run did not keep the texts."""

    index: int
    text: str | None
    label: str
    predicted: str
    probability: str


@dataclass
class ReportView:
    """Everything the HTML and Markdown templates show."""

    title: str
    answer: str
    recommended: bool
    threshold: str
    savings: list[str]
    energy_note: str
    estimated: bool
    quality_chart: str | None
    energy_chart: str | None
    columns: list[tuple[str, str]]
    rows: list[Row]
    front: list[str]
    method: list[tuple[str, str]]
    misclassified: list[Sample]
    texts_kept: bool
    task_json: str
    registry_json: str
    run: list[tuple[str, str]] = field(default_factory=list)
    lineage: list[str] = field(default_factory=list)  # derived and bespoke candidates: parent, method, making cost, payback
    serving: ServingView | None = None  # the serving sweep, when the run had one


COLUMNS = [
    ("quality", "quality"),
    ("energy", "J/query"),
    ("cpu", "CPU J"),
    ("ram", "RAM J"),
    ("gpu", "GPU J"),
    ("marginal", "marginal J"),
    ("p50", "p50 ms"),
    ("p95", "p95 ms"),
    ("throughput", "queries/s"),
    ("memory", "peak MB"),
    ("params", "params"),
    ("size", "size"),
]


TOKEN_COLUMNS = [("per_token", "J/token"), ("tokens", "tokens/query")]  # generative tasks: real generated lengths


def _row(c: CandidateResult, rec: Recommendation, front: list[str]) -> Row:
    e = c.energy
    cells = {
        "quality": quality_of(c, rec.task.samples),
        "energy": energy_cell(e),
        "cpu": joules(e and e.cpu_per_query_j, ""),
        "ram": joules(e and e.ram_per_query_j, ""),
        "gpu": joules(e and e.gpu_per_query_j, ""),
        "marginal": joules(e and e.marginal_per_query_j, ""),
        "p50": milliseconds(c.latency_p50_ms, ""),
        "p95": milliseconds(c.latency_p95_ms, ""),
        "throughput": number(c.throughput_qps, ".1f"),
        "memory": megabytes(c.peak_rss_mb, ""),
        "params": human_count(c.parameters),
        "size": human_bytes(c.size_bytes),
        "per_token": joules(e and e.per_token_j, ""),
        "tokens": number(e and e.tokens_per_query, ".1f"),
    }
    sort = {
        "quality": c.quality,
        "energy": e and e.per_query_j,
        "cpu": e and e.cpu_per_query_j,
        "ram": e and e.ram_per_query_j,
        "gpu": e and e.gpu_per_query_j,
        "marginal": e and e.marginal_per_query_j,
        "p50": c.latency_p50_ms,
        "p95": c.latency_p95_ms,
        "throughput": c.throughput_qps,
        "memory": c.peak_rss_mb,
        "params": c.parameters,
        "size": c.size_bytes,
        "per_token": e and e.per_token_j,
        "tokens": e and e.tokens_per_query,
    }
    return Row(
        name=c.name,
        tier=c.tier,
        kind=f"{c.kind} / {c.backend}",
        status=c.status,
        reason=c.reason or "",
        cells=cells,
        sort={k: ("" if v is None else v) for k, v in sort.items()},
        recommended=c.name == rec.model,
        meets=c.status == "ok" and verdict_of(c, rec.threshold) == "meets",
        on_front=c.name in front,
        status_text=verdict_text(c, rec, verdict_of(c, rec.threshold)) if c.status == "ok" else c.status,
        derived=_derived(c),
    )


def _derived(c: CandidateResult) -> str:
    if c.making is not None:
        return f"from {c.making.parent}: {c.making.method}; making it: {joules(c.making.energy_j)}, {duration(c.making.duration_s)}"
    if c.derived_from:
        return f"from {c.derived_from}: {derivation(c)}"
    return ""


def goal(rec: Recommendation) -> str:
    """The goal the run held candidates to, and how it was decided, in words."""
    return f"{goal_of(rec, ge='≥')}, decided at {percent(rec.confidence)} confidence on {rec.task.samples} samples"


def _misclassified(rec: Recommendation, limit: int = 8) -> list[Sample]:
    """Up to ``limit`` samples the recommended model got wrong (the texts only when the run kept them)."""
    if not rec.model:
        return []
    c, labels, texts = rec.candidate(rec.model), rec.samples.labels, rec.samples.texts
    wrong = [i for i, (p, y) in enumerate(zip(c.predictions or [], labels)) if p != y][:limit]
    return [
        Sample(
            i,
            texts[i] if texts is not None and i < len(texts) else None,
            labels[i],
            c.predictions[i],
            number(c.probabilities[i] if c.probabilities else None, ".2f"),
        )
        for i in wrong
    ]


def build_view(rec: Recommendation) -> ReportView:
    """Assemble the view model (charts included) from saved results."""
    front = rec.pareto or pareto_front(rec.candidates)
    s, env, m = rec.settings, rec.environment, rec.method
    versions = ", ".join(f"{k} {v}" for k, v in env.versions.items() if v)
    method = [
        ("Energy", m.energy + (" (CodeCarbon load model, not hardware counters)" if m.energy == "estimated" else "")),
        ("CPU", m.cpu or DASH),
        ("RAM", m.ram or DASH),
        ("GPU", m.gpu or DASH),
        ("CodeCarbon", f"{m.codecarbon_version or DASH}, {m.tracking_mode or DASH} tracking"),
        ("Idle baseline", watts(rec.idle_power_w.total)),
        (
            "Hardware",
            (
                f"{m.cpu_model or env.processor or DASH}, {number(m.cpu_count, 'd')} CPUs, {number(m.ram_total_gb, '.1f', ' GB')} RAM, "
                f"GPU: {m.gpu_model or 'none'}"
            ),
        ),
        ("Software", f"Python {env.python or DASH}; {versions}"),
        ("Platform", env.platform or DASH),
        (
            "Windows",
            (
                f"batch size {s.get('batch_size')}, {s.get('repeats')} repeats of ≥ {s.get('min_window_s')} s after "
                f"{s.get('warmup_batches')} warm-up batches"
            ),
        ),
        ("Latency", f"{s.get('latency_queries')} single queries (batch 1)"),
        (
            "Samples",
            (
                f"{rec.task.samples} of {rec.task.source_rows} rows, seed {rec.task.seed}, {rec.task.folds}-fold cross-fitting; "
                f"sha256 {rec.task.data_sha256[:16]}…"
            ),
        ),
        ("Search", f"{rec.search.strategy}: {rec.search.note or 'every candidate on every sample'}"),
        ("Advisor's own cost", f"{cost_line(rec)} Energy {m.energy}."),
    ]
    run = [
        ("Run", rec.run_id),
        ("Created", rec.created_at),
        ("Status", rec.status),
        ("Ranked by", rec.ranked_by),
        ("Registry", rec.registry.path or DASH),
    ]
    tokens = any(c.energy and c.energy.per_token_j for c in rec.candidates)
    return ReportView(
        title=f"{rec.task.name}: which model is good enough?",
        answer=rec.summary,
        recommended=rec.model is not None,
        threshold=goal(rec),
        savings=outcome_lines(rec),
        energy_note=energy_note(rec),
        estimated=m.energy == "estimated",
        quality_chart=quality_energy_chart(rec, front),
        energy_chart=energy_breakdown_chart(rec),
        columns=COLUMNS + (TOKEN_COLUMNS if tokens else []),
        rows=[_row(c, rec, front) for c in rec.candidates],
        front=front,
        method=method,
        misclassified=_misclassified(rec),
        texts_kept=rec.samples.texts is not None,
        task_json=json.dumps(rec.task.spec, indent=2),
        registry_json=json.dumps(rec.registry.candidates, indent=2),
        run=run,
        lineage=lineage_lines(rec),
        serving=serving_view(rec),
    )
