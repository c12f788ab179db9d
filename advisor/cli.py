"""Command line: a thin shell over the library (:mod:`advisor.api`, :mod:`advisor.gate`, :mod:`advisor.distill`).

Options that configure a run are derived from :class:`advisor.spec.settings.Settings` (help and default
written once there). Exit codes are those of :mod:`advisor.exits`. This module imports nothing
heavy at start: ``advisor --help``, ``advisor ls`` and ``advisor validate`` load no model library.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from advisor import exits
from advisor.cli_export import export as export_command
from advisor.cli_options import DEFAULTS, Budget, InProcess, help_of, settings_from, with_settings
from advisor.errors import AdvisorError
from advisor.outputs.progress import Lines, observed
from advisor.spec.settings import Settings

SERVING = ("max_latency_ms", "queries_per_second", "serving", "sweep_budget", "serve_batches", "serve_threads", "serve_runtimes", "device")
"""The serving options (latency goal, sweep, device), shared by ``recommend`` and ``check``."""

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Which is the smallest model that is good enough for my task?")
ls_app = typer.Typer(no_args_is_help=True, help="List models or tasks.")
app.add_typer(ls_app, name="ls")
err = Console(stderr=True)

# -- commands -----------------------------------------------------------------------------------------

TaskOpt = Annotated[str, typer.Option(help="Built-in task name, task folder or task YAML file.")]
RegistryOpt = Annotated[Optional[Path], typer.Option(help="Registry YAML (default ./registry.yaml or the project's).")]


@app.command()
@with_settings(
    "min_quality", "max_drop", "reference", "confidence", "by", "candidates", "sample_size", "max_samples", "finetune_within",
    "seed", "batch_size", "repeats", "country", "cpu_power_w", "ram_power_w", "queries_per_day", "price_per_kwh", "meter",
    "exhaustive", "cascade", "store", "fresh", "reports_dir", "keep_texts", "mlflow", "executor", "ray_address", "run_ahead", *SERVING,
)  # fmt: skip
def recommend(
    settings: Settings,
    task: TaskOpt = "sentiment",
    registry: RegistryOpt = None,
    budget: Budget = None,
    in_process: InProcess = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print results JSON on stdout (tables go to stderr).")] = False,
) -> None:
    """Measure the candidates on the task and recommend the least costly one that meets the goal."""
    from advisor.api import recommend as run
    from advisor.outputs.terminal import render_table

    rec = observed(err, lambda observer: run(task=task, registry=registry, settings=settings, observer=observer))
    render_table(rec, Console(stderr=as_json))
    if as_json:
        sys.stdout.write(rec.to_json() + "\n")
    if not any(c.status == "ok" for c in rec.candidates):  # nothing measurable: the registry or the selection, not the goal
        why = "; ".join(f"{c.name}: {c.status}" + (f" ({c.reason})" if c.reason else "") for c in rec.candidates)
        err.print(
            f"[red]error:[/] no candidate could be measured: {escape(why)}; fix those registry entries or choose others with --candidates",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(exits.BAD_INPUT)
    raise typer.Exit(exits.FOR_DECISION.get(rec.decision, exits.NONE_MEETS))


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="A run's results.json.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for report.html and report.md (default: beside results.json).")] = None,
) -> None:
    """Re-render report.html and report.md from a saved results.json, without running any model."""
    from advisor.outputs.report import write_reports
    from advisor.store import load_run

    if not results.is_file():
        raise AdvisorError(f"{results}: file not found; give the path of a run's results.json")
    rec = load_run(str(results))
    html_path, md_path = write_reports(rec, out or results.parent)
    Console().print(f"wrote {html_path}\nwrote {md_path}", highlight=False)


@app.command()
@with_settings(
    "min_quality", "confidence", "candidates", "sample_size", "store", "fresh", "meter", "cpu_power_w", "ram_power_w", "reports_dir",
    *SERVING,
)  # fmt: skip
def check(
    settings: Settings,
    deployed: Annotated[str, typer.Option(help="Registry name of the model in production, or the folder of its exported package.")],
    task: TaskOpt = "sentiment",
    registry: RegistryOpt = None,
    max_energy_increase: Annotated[
        float, typer.Option(help="Largest rise of energy per query tolerated against the baseline (0.2 = +20%).")
    ] = 0.2,
    baseline: Annotated[
        Optional[str], typer.Option(help="Stored run id to compare energy with (default: the newest earlier run that measured it).")
    ] = None,
    in_process: InProcess = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the check result as JSON on stdout.")] = False,
    markdown: Annotated[Optional[Path], typer.Option(help="Append a Markdown summary to this file (e.g. $GITHUB_STEP_SUMMARY).")] = None,
) -> None:
    """CI gate: is the deployed model right-sized? Exit 0 right-sized, 3 undecided, 4 oversized, 5 below goal, 6 energy regression."""
    from advisor.gate import check as run_check

    result = run_check(
        task,
        deployed,
        registry=registry,
        settings=settings,
        max_energy_increase=max_energy_increase,
        baseline=baseline,
        observer=Lines(err),
    )
    if markdown is not None:
        with markdown.open("a", encoding="utf-8") as f:
            f.write(result.to_markdown())
    if as_json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        Console().print(f"{result.verdict}: {result.message}", highlight=False, soft_wrap=True)
        if result.serving:
            Console().print(f"How to serve it: {result.serving}", highlight=False, soft_wrap=True)
        Console().print(f"[dim]Energy {result.energy_method}. Results: {result.results}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(result.exit_code)


@app.command()
@with_settings("min_quality", "sample_size", "meter", "reports_dir")
def distill(
    settings: Settings,
    teacher: Annotated[str, typer.Option(help="Registry name of the model whose labels are learnt.")],
    student: Annotated[
        str, typer.Option(help="Registry name of the small model to train (tfidf-logreg, encoder-head, encoder-finetuned or static-head).")
    ],
    task: TaskOpt = "sentiment",
    registry: RegistryOpt = None,
    unlabelled: Annotated[
        Optional[Path],
        typer.Option(help="Unlabelled texts (.txt, .jsonl, .csv, .tsv, .parquet); default: the task's rows outside the sample."),
    ] = None,
    text_field: Annotated[
        Optional[str], typer.Option(help="Column of --unlabelled holding the text (default: the task's text field).")
    ] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the distilled model (default: <reports-dir>/distilled).")] = None,
    in_process: InProcess = False,
) -> None:
    """Train a small student on a teacher's labels of unlabelled texts, then measure it beside both."""
    from advisor.distill import distill as run_distill
    from advisor.outputs.terminal import render_table

    rec, lineage = run_distill(
        task,
        teacher,
        student,
        registry=registry,
        unlabelled=unlabelled,
        text_field=text_field,
        out=out,
        settings=settings,
        observer=Lines(err),
    )
    render_table(rec, Console())
    Console().print(f"[dim]Distilled model and lineage: {Path(lineage['state']).parent}[/]", highlight=False, soft_wrap=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    data_dir: Annotated[Optional[Path], typer.Option(help="Jobs, reports, the store and the token (default: <cache>/service).")] = None,
    registry: RegistryOpt = None,
    meter: Annotated[str, typer.Option(help=help_of("meter"))] = DEFAULTS["meter"],
    in_process: Annotated[bool, typer.Option("--in-process", help="Measure candidates inside each job's worker process.")] = False,
) -> None:
    """Serve recommendation jobs over HTTP (bearer token on every route but /health)."""
    settings_from(meter=meter)  # the same check as every other command
    import uvicorn

    from advisor.paths import cache_dir
    from advisor.service import create_app, token_for

    folder = data_dir or cache_dir() / "service"
    app_ = create_app(folder, registry.resolve() if registry else None, token_for(folder), {"meter": meter, "isolate": not in_process})
    where = "$ADVISOR_TOKEN" if os.environ.get("ADVISOR_TOKEN") else str(folder / "token")
    err.print(f"advisor serve on http://{host}:{port} (token: {where}; OpenAPI at /openapi.json)", highlight=False, soft_wrap=True)
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command()
def history(
    task: Annotated[Optional[str], typer.Option(help="Only runs of this task.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
    store: Annotated[Optional[Path], typer.Option(help=help_of("store"))] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
) -> None:
    """List past runs from the result store."""
    from dataclasses import asdict

    from advisor.outputs.terminal import print_table
    from advisor.store import ResultStore

    with ResultStore(store) as s:
        rows = [r for r in s.runs(limit=10_000 if task else limit) if task is None or r.task == task][:limit]
        path = s.path
    if as_json:
        sys.stdout.write(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
        return
    from advisor.outputs.text import DASH

    columns = ["run id", "task", "status", "recommended", ("candidates", "right"), "created", "updated"]
    print_table(
        Console(),
        f"runs in {path}",
        columns,
        [[r.run_id, r.task, r.status, r.model or DASH, str(r.n_candidates), r.created_at, r.updated_at] for r in rows],
    )


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="A stored run id or a results.json path.")],
    b: Annotated[str, typer.Argument(help="Another stored run id or results.json path.")],
    store: Annotated[Optional[Path], typer.Option(help=help_of("store"))] = None,
) -> None:
    """Compare two runs: each candidate's quality and energy per query, and the recommendation."""
    from advisor.outputs.compare import compare
    from advisor.outputs.terminal import print_table
    from advisor.store import load_run

    d = compare(load_run(a, store), load_run(b, store))
    print_table(Console(), d.title, d.columns, d.rows)


app.command("export")(export_command)


@app.command()
def schema() -> None:
    """Print the JSON Schema of results.json (the same as advisor/results.schema.json)."""
    from advisor.core.results import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@ls_app.command("models")
def ls_models(
    registry: RegistryOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the candidates as JSON.")] = False,
) -> None:
    """List the registry's candidates (reads no model)."""
    from advisor.outputs.terminal import print_table
    from advisor.spec.registry import load_registry

    reg = load_registry(registry)
    if as_json:
        sys.stdout.write(json.dumps([c.model_dump(mode="json", exclude_defaults=True) for c in reg.candidates], indent=2) + "\n")
        return
    rows = [
        [c.name, c.tier, c.kind, c.backend, c.source.describe() if c.source else "built in", ", ".join(c.task_types), c.license]
        for c in reg.candidates
    ]
    print_table(Console(), str(reg.path), ["name", "tier", "kind", "backend", "source", "task types", "licence"], rows)


@ls_app.command("tasks")
def ls_tasks(as_json: Annotated[bool, typer.Option("--json", help="Print the tasks as JSON.")] = False) -> None:
    """List the tasks found (reads no data)."""
    from advisor.outputs.terminal import print_table
    from advisor.spec.tasks import available_tasks, load_task

    tasks = [(name, load_task(path).spec, path) for name, path in sorted(available_tasks().items())]
    if as_json:
        out = [
            {
                "name": n,
                "type": t.type,
                "metric": t.metric.name,
                "metric_label": t.metric.describe(),
                "threshold": t.threshold,
                "samples": t.sample.size,
                "file": str(p),
            }
            for n, t, p in tasks
        ]
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    rows = [[n, t.type, t.metric.describe(), f"{t.threshold:.2f}", str(t.sample.size or "all"), str(p)] for n, t, p in tasks]
    print_table(Console(), "tasks", ["name", "type", "metric", ("threshold", "right"), ("samples", "right"), "file"], rows)


@app.command()
def validate(
    task: Annotated[Optional[list[str]], typer.Option("--task", help="A task to check (repeatable; default: all found).")] = None,
    registry: RegistryOpt = None,
    tasks: Annotated[Optional[list[str]], typer.Argument(help="Tasks to check, as arguments (same as --task).")] = None,
) -> None:
    """Check the registry and task files without loading models or data."""
    from advisor.spec.validate import validate_all

    for line in validate_all(registry, [*(task or []), *(tasks or [])] or None):
        Console().print(f"[green]ok[/] {line}", highlight=False, soft_wrap=True)


# -- entry point ----------------------------------------------------------------------------------------


def _interrupted() -> None:
    err.print("[yellow]interrupted:[/] what was measured is saved in the run's results.json and report.html")
    sys.exit(exits.INTERRUPTED)


def main() -> None:
    """Entry point: user mistakes (usage errors included) print one line and exit 1, never a traceback."""
    try:
        code = app(standalone_mode=False)
        if code == exits.INTERRUPTED:  # typer turns Ctrl-C into this exit code
            _interrupted()
        sys.exit(code if isinstance(code, int) else exits.OK)
    except AdvisorError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exits.BAD_INPUT)
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors from click (vendored by newer typer releases, so matched by behaviour)
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exits.BAD_INPUT)
        if type(exc).__name__ == "Abort":
            _interrupted()
        raise


if __name__ == "__main__":
    main()
