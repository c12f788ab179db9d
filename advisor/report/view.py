"""Results -> view model: every figure the report shows, formatted once, with nothing left to compute in templates."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from advisor.ranking import pareto_front, verdict_of
from advisor.results import CandidateResult, Recommendation
from advisor.view import cost_line, human_count, verdict_text


def fmt(v: float | None, spec: str, unit: str = "") -> str:
    """Format a number, or a dash when absent."""
    return "–" if v is None else f"{format(v, spec)}{unit}"


def human_bytes(n: int | None) -> str:
    """Bytes with a binary unit."""
    if n is None:
        return "–"
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


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


@dataclass
class Sample:
    """A misclassified sample of the recommended model."""

    text: str
    label: str
    predicted: str
    confidence: str


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
    task_json: str
    registry_json: str
    run: list[tuple[str, str]] = field(default_factory=list)


COLUMNS = [
    ("quality", "quality"), ("energy", "J/query"), ("cpu", "CPU J"), ("ram", "RAM J"), ("gpu", "GPU J"), ("marginal", "marginal J"),
    ("p50", "p50 ms"), ("p95", "p95 ms"), ("throughput", "queries/s"), ("memory", "peak MB"), ("params", "params"), ("size", "size"),
]


TOKEN_COLUMNS = [("per_token", "J/token"), ("tokens", "tokens/query")]  # generative tasks: real generated lengths


def _row(c: CandidateResult, rec: Recommendation, front: list[str]) -> Row:
    e = c.energy
    cells = {
        "quality": fmt(c.quality, ".3f") + (f" ({c.quality_ci[0]:.2f}–{c.quality_ci[1]:.2f})" if c.quality_ci else ""), "energy": fmt(e and e.per_query_j, ".4g"), "cpu": fmt(e and e.cpu_per_query_j, ".3g"),
        "ram": fmt(e and e.ram_per_query_j, ".3g"), "gpu": fmt(e and e.gpu_per_query_j, ".3g"), "marginal": fmt(e and e.marginal_per_query_j, ".3g"),
        "p50": fmt(c.latency_p50_ms, ".1f"), "p95": fmt(c.latency_p95_ms, ".1f"), "throughput": fmt(c.throughput_qps, ".1f"),
        "memory": fmt(c.peak_rss_mb, ".0f"), "params": human_count(c.parameters) if c.parameters is not None else "–", "size": human_bytes(c.size_bytes),
        "per_token": fmt(e and e.per_token_j, ".3g"), "tokens": fmt(e and e.tokens_per_query, ".1f"),
    }
    sort = {
        "quality": c.quality, "energy": e and e.per_query_j, "cpu": e and e.cpu_per_query_j, "ram": e and e.ram_per_query_j,
        "gpu": e and e.gpu_per_query_j, "marginal": e and e.marginal_per_query_j, "p50": c.latency_p50_ms, "p95": c.latency_p95_ms,
        "throughput": c.throughput_qps, "memory": c.peak_rss_mb, "params": c.parameters, "size": c.size_bytes,
        "per_token": e and e.per_token_j, "tokens": e and e.tokens_per_query,
    }
    return Row(
        name=c.name, tier=c.tier, kind=f"{c.kind} / {c.backend}", status=c.status, reason=c.reason or "", cells=cells,
        sort={k: ("" if v is None else v) for k, v in sort.items()}, recommended=c.name == rec.model,
        meets=c.status == "ok" and verdict_of(c, rec.threshold) == "meets",
        on_front=c.name in front, status_text=verdict_text(c, rec) if c.status == "ok" else c.status,
    )


def goal(rec: Recommendation) -> str:
    """The goal the run held candidates to, in words."""
    parts = []
    if rec.threshold is not None:
        parts.append(f"{rec.task.metric_label} ≥ {rec.threshold:.2f}")
    if rec.max_drop is not None:
        parts.append(f"at most {rec.max_drop:.3f} below {rec.reference or 'the reference'}")
    return " and ".join(parts) + f", decided at {rec.confidence:.0%} confidence on {rec.task.samples} samples"


def build_view(rec: Recommendation, energy_note: str, savings: list[str]) -> ReportView:
    """Assemble the view model (charts included) from saved results."""
    from advisor.report.charts import energy_breakdown_chart, quality_energy_chart

    front = rec.pareto or pareto_front(rec.candidates)
    s, env, m = rec.settings, rec.environment, rec.method
    misclassified: list[Sample] = []
    if rec.model:
        c = rec.candidate(rec.model)
        wrong = [i for i, (p, y) in enumerate(zip(c.predictions or [], rec.samples.get("labels", []))) if p != y]
        for i in wrong[:8]:
            conf = c.confidence[i] if c.confidence else None
            misclassified.append(Sample(rec.samples["texts"][i], rec.samples["labels"][i], c.predictions[i], fmt(conf, ".2f")))
    versions = ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items() if v)
    method = [
        ("Energy", m.get("energy", "unknown") + (" (CodeCarbon load model, not hardware counters)" if m.get("energy") == "estimated" else "")),
        ("CPU", f"{m.get('cpu', '–')}; TDP {m.get('cpu_tdp_w', '–')} W"), ("RAM", str(m.get("ram", "–"))), ("GPU", str(m.get("gpu", "–"))),
        ("CodeCarbon", f"{m.get('codecarbon_version', '–')}, {m.get('tracking_mode', '–')} tracking"),
        ("Idle baseline", f"{rec.idle_power_w.get('total', 0):.2f} W"),
        ("Hardware", f"{m.get('cpu_model') or env.get('processor') or '–'}, {m.get('cpu_count', '–')} CPUs, {fmt(m.get('ram_total_gb'), '.1f', ' GB')} RAM, GPU: {m.get('gpu_model') or 'none'}"),
        ("Software", f"Python {env.get('python', '–')}; {versions}"), ("Platform", str(env.get("platform", "–"))),
        ("Windows", f"batch size {s.get('batch_size')}, {s.get('repeats')} repeats of ≥ {s.get('min_window_s')} s after {s.get('warmup_batches')} warm-up batches"),
        ("Latency", f"{s.get('latency_queries')} single queries (batch 1)"),
        ("Samples", f"{rec.task.samples} of {rec.task.source_rows} rows, seed {rec.task.seed}, {rec.task.folds}-fold cross-fitting; sha256 {rec.task.data_sha256[:16]}…"),
        ("Search", f"{rec.search.get('strategy', 'exhaustive')}: {rec.search.get('note') or 'every candidate on every sample'}"),
        ("Advisor's own cost", f"{cost_line(rec)} Energy {m.get('energy', 'unknown')}."),
    ]
    run = [("Run", rec.run_id), ("Created", rec.created_at), ("Status", rec.status), ("Ranked by", rec.ranked_by), ("Registry", rec.registry.get("path", "–"))]
    return ReportView(
        title=f"{rec.task.name}: which model is good enough?", answer=rec.summary, recommended=rec.model is not None,
        threshold=goal(rec), savings=savings,
        energy_note=energy_note, estimated=m.get("energy") == "estimated",
        quality_chart=quality_energy_chart(rec, front), energy_chart=energy_breakdown_chart(rec),
        columns=COLUMNS + (TOKEN_COLUMNS if any(c.energy and c.energy.per_token_j for c in rec.candidates) else []), rows=[_row(c, rec, front) for c in rec.candidates], front=front, method=method, misclassified=misclassified,
        task_json=json.dumps(rec.task.spec, indent=2), registry_json=json.dumps(rec.registry.get("candidates", []), indent=2), run=run,
    )
