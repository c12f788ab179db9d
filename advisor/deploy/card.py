"""A package's ``README.md`` in the Hugging Face model-card format: YAML metadata (``co2_eq_emissions``,
``model-index``) that hubs and registries read, then the evidence in prose."""

from __future__ import annotations

from typing import Any

import yaml

from advisor.core.results import CandidateResult, Recommendation
from advisor.outputs.text import duration, energy_note, interval, joules, milliseconds, percent, quality, ratio
from advisor.spec.package import Manifest

LIBRARY = {"scikit-learn": "sklearn", "pytorch": "sentence-transformers", "onnxruntime": "onnx", "openvino": "openvino"}


def making_energy_j(c: CandidateResult) -> tuple[float | None, str]:
    """The one-off energy of making the deployed model (training its fitted part, or making a bespoke model), and what."""
    if c.making is not None:
        return c.making.energy_j, c.making.method
    train = c.phases.get("train")
    if train is not None and train.energy_j is not None:
        return train.energy_j, "fitted on the task's samples"
    return None, "a ready model: nothing trained on the task"


def _metadata(m: Manifest, rec: Recommendation, c: CandidateResult) -> dict[str, Any]:
    from advisor.core.impact import carbon_intensity

    measured = m.measured
    made_j, how = making_energy_j(c)
    country = str(rec.settings.get("country") or "WORLD")
    intensity = carbon_intensity(country) if made_j is not None else None
    meta: dict[str, Any] = {
        "license": (c.license or "unknown").lower(),
        "library_name": LIBRARY.get(m.serving.runtime, "transformers" if c.kind in ("prompted", "hf-pipeline") else m.serving.runtime),
        "pipeline_tag": rec.task.type,
        "tags": list(dict.fromkeys(["advisor", f"energy-{rec.method.energy.replace(' ', '-')}", c.kind, m.serving.runtime])),
    }
    if made_j is not None and intensity is not None and rec.method.energy != "not measured":  # a null meter's 0 J is no emission figure
        meta["co2_eq_emissions"] = {
            "emissions": round(made_j / 3.6e6 * intensity, 6),
            "source": f"CodeCarbon, {rec.method.energy} ({joules(made_j)} to make: {how})",
            "training_type": how,
            "geographical_location": country,
            "hardware_used": rec.method.cpu_model or rec.method.cpu or "unknown",
        }
    ci = c.quality_ci or [None, None]
    meta["model-index"] = [
        {
            "name": m.name,
            "results": [
                {
                    "task": {"type": rec.task.type},
                    "dataset": {"name": rec.task.name, "type": rec.task.name, "split": f"{c.samples_evaluated} samples"},
                    "metrics": [
                        {
                            "type": rec.task.metric,
                            "name": rec.task.metric_label,
                            "value": round(c.quality, 4) if c.quality is not None else None,
                            "verified": False,
                            "args": {"ci_low": ci[0], "ci_high": ci[1], "confidence": rec.confidence, "samples": c.samples_evaluated},
                        }
                    ],
                }
            ],
        }
    ]
    meta["energy_per_query_j"] = measured.get("energy_per_query_j")
    return meta


def _why(rec: Recommendation, c: CandidateResult) -> str:
    if rec.model == c.name:
        return rec.summary
    return f"Exported on request: the run recommended {rec.model or 'no model'} ({rec.summary})"


def _energy_lines(m: Manifest, c: CandidateResult) -> list[str]:
    s, measured = m.serving, m.measured
    per = measured.get("energy_per_query_j")
    lines = [
        f"- Configuration: {s.runtime}, batch {s.batch_size}, {s.threads or 'all'} threads, on {s.device} ({s.chosen_by}).",
        f"- Energy per query at this configuration: {joules(per)} (interval {interval(measured.get('energy_interval_j'), '.4g')} J); "
        f"per 1,000 queries: {joules(per * 1000 if per is not None else None)}.",
        f"- Latency p50 / p95: {milliseconds(measured.get('latency_p50_ms'))} / {milliseconds(measured.get('latency_p95_ms'))} "
        f"({measured.get('latency_how', 'single queries')}).",
    ]
    if measured.get("run_energy_per_query_j") is not None and measured.get("run_energy_per_query_j") != per:
        lines.append(
            f"- At the run's own configuration (batch {measured.get('run_batch_size')}, all threads): "
            f"{joules(measured['run_energy_per_query_j'])} per query."
        )
    return lines


def verification_sentences(v: dict[str, Any]) -> list[str]:
    """What the export's fresh-process check found, in sentences (the card lists them; ``advisor export`` prints them)."""
    parity = v.get("parity") or {}
    lines = [f"Loaded in a fresh process in {duration(v.get('load_s'))}."]
    if parity.get("checked"):
        lines.append(
            f"Reproduced the measured model's answers on {parity['samples']} of the run's samples at batch {parity['batch_size']}: "
            f"{parity['matches']} of {parity['samples']} answers equal, largest confidence difference {parity['max_confidence_diff']:.2g} "
            f"(tolerance {parity['tolerance']:g})."
        )
    else:
        lines.append(f"Answers not compared: {parity.get('why', 'no reference')}.")
    e = v.get("energy") or {}
    if e.get("per_query_j") is not None:
        verdict = {True: "within", False: "OUTSIDE"}.get(e.get("within"), "not compared with")
        lines.append(
            f"A metered check at the package's configuration read {joules(e['per_query_j'])} per query ({e.get('method')}), "
            f"{verdict} the measured interval {interval(e.get('interval_j'), '.4g')} J" + (f" ({e['note']})" if e.get("note") else "") + "."
        )
    elif e.get("why"):
        lines.append(f"Energy not checked: {e['why']}.")
    return lines


def _use_lines(m: Manifest) -> list[str]:
    lines = [
        "```python",
        "import advisor",
        "",
        'model = advisor.load("path/to/this/folder")  # checks every file against its hash, applies the configuration',
        'model.predict(["a text to classify"])',
        "```",
        "",
        'As an MLflow model: `mlflow.pyfunc.load_model("path/to/this/folder")` (a DataFrame with a `text` column in; '
        "`label` and `confidence` out). Both need `advisor` installed (`requirements.txt` pins what the model runs on).",
    ]
    if m.serving.runtime == "onnxruntime":
        src = (m.entry.get("source") or {}).get("local", "source")
        lines += [
            "",
            f"With plain ONNX Runtime: `model/{src}` is the encoder's graph (token embeddings out) and `model/tokenizer` its "
            "tokenizer; mean-pool the token embeddings over the attention mask"
            + (", L2-normalise" if (m.entry.get("options") or {}).get("normalize", True) else "")
            + ", then apply the scikit-learn head in `model/fitted.joblib` (`predict_proba`).",
        ]
    return lines


def _what(m: Manifest, rec: Recommendation, c: CandidateResult) -> str:
    where = f"measured by advisor on the task `{rec.task.name}` in run `{rec.run_id}`"
    if c.kind != "cascade":
        return f"A {c.kind} model (source: {c.source}), {where} and exported with the fitted state that was measured."
    names, shares = m.entry.get("names") or [], m.measured.get("shares") or []
    who = "; ".join(
        f"`{rel}/` {name}" + (f" answers {percent(sh)} of queries" if sh is not None else "")
        for rel, name, sh in zip(m.entry.get("stages") or [], names, [*shares, *[None] * len(names)])
    )
    return (
        f"A cascade, {where}: each stage answers a query when its confidence is at least {m.entry.get('gate'):.2f}, the last "
        f"stage answers the rest ({who}). Each stage is a checked package of its own, exported with the fitted state that "
        "was measured; `advisor.load` on this folder routes between them."
    )


def model_card(m: Manifest, rec: Recommendation, c: CandidateResult) -> str:
    """The card's text: metadata, then why, quality, energy, lineage, verification, use and caveats."""
    meta = yaml.safe_dump(_metadata(m, rec, c), sort_keys=False, allow_unicode=True)
    made_j, how = making_energy_j(c)
    lines = [
        f"---\n{meta}---",
        "",
        f"# {m.name}",
        "",
        _what(m, rec, c),
        "",
        "## Why this model",
        "",
        _why(rec, c),
    ]
    if rec.savings is not None and rec.savings.chosen == c.name:
        sv = rec.savings
        share = "" if sv.saved_share is None else f" ({percent(sv.saved_share)} less energy per query)"
        lines += ["", f"It replaces {sv.reference}: {joules(sv.saved_per_query_j)} saved per query{share}."]
    lines += [
        "",
        "## Quality",
        "",
        f"{rec.task.metric_label}: {quality(c.quality, c.quality_ci)} ({round(rec.confidence * 100)}% interval) on "
        f"{c.samples_evaluated} samples"
        + (", each predicted by a model that did not see it in training (cross-fitting)" if c.fit is not None else "")
        + (", held out from the choice of the gate." if c.kind == "cascade" else "."),
        "",
        "## Energy and latency",
        "",
        *_energy_lines(m, c),
        "",
        energy_note(rec),
        "",
        "## Lineage",
        "",
        f"- Parent: {c.derived_from or (c.making.parent if c.making else None) or c.source}; licence of the parent: {c.license}.",
        f"- Making: {how}" + (f", {joules(made_j)} one-off" if made_j is not None else "") + ".",
    ]
    if c.kind == "cascade":
        lines[-1] = "- Making: each stage's own card (`stages/<n>/README.md`) says how it was made and what that cost."
    if c.making is not None and c.making.payback_note:
        lines.append(f"- Payback: {c.making.payback_note}.")
    share = ratio(made_j, c.energy_per_query_j)
    if share is not None:
        lines.append(f"- Making it cost as much energy as {share:,.0f} queries.")
    lines += [
        "",
        "## Verification",
        "",
        *(f"- {x}" for x in verification_sentences(m.verification)),
        "",
        "## Use",
        "",
        *(_use_lines(m) if c.kind != "cascade" else _use_lines(m)[:6]),
        "",
        "## Caveats",
        "",
    ]
    lines += [f"- {x}" for x in caveats(rec, c)]
    lines += ["", "`lineage.json` says what the model was made from; `results.json` holds the run's figures for this model."]
    return "\n".join(lines) + "\n"


def caveats(rec: Recommendation, c: CandidateResult) -> list[str]:
    out = [
        f"Quality was measured on {c.samples_evaluated} samples of `{rec.task.name}`; data that drifts from them needs "
        "`advisor check --deployed <this folder>` on fresh samples.",
    ]
    if rec.method.energy == "not measured":
        out.append("Energy was NOT MEASURED (the run's meter was off): every energy figure here reads 0 and means nothing.")
    elif rec.method.energy != "measured":
        out.append(f"Energy is {rec.method.energy.upper()}: CodeCarbon had no hardware counter on the measuring machine.")
    if rec.distillation is not None and rec.distillation.caveat:
        out.append(rec.distillation.caveat)
    if c.fit is not None:
        out.append("The fitted part was trained on all the run's samples; its quality figure is out of fold, not on held-out data.")
    return out
