"""Command line: a thin shell over :mod:`advisor.api`.

Exit codes of ``recommend``: 0 recommended, 1 bad input, 2 no candidate meets the goal, 3 the
samples cannot decide, 130 interrupted. ``check`` adds 4 oversized, 5 below goal and 6 energy
regression (see :mod:`advisor.gate`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from advisor.errors import AdvisorError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Which is the smallest model that is good enough for my task?")
ls_app = typer.Typer(no_args_is_help=True, help="List models or tasks.")
app.add_typer(ls_app, name="ls")
err = Console(stderr=True)

EXIT_OK, EXIT_INPUT, EXIT_NOT_MET, EXIT_UNDECIDED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Bars:
    """Rich progress: one bar per candidate, advanced by phase."""

    def __init__(self, progress: Progress):
        self.p = progress
        self.tasks: dict[str, int] = {}

    def candidate_started(self, spec, index, total):
        self.tasks[spec.name] = self.p.add_task(f"[{index + 1}/{total}] {spec.name}", total=None, phase="starting")

    def progress(self, spec, phase, done, total):
        self.p.update(self.tasks[spec.name], completed=done, total=total, phase=phase)

    def candidate_finished(self, result):
        tid = self.tasks[result.name]
        note = (result.status if result.status == "ok" else f"{result.status}: {result.reason}") + _reused(result)
        self.p.update(tid, completed=1, total=1, phase=note[:70])


class _Lines:
    """Plain progress lines for logs and CI (no live bars when stderr is not a terminal)."""

    def candidate_started(self, spec, index, total):
        err.print(f"[{index + 1}/{total}] {spec.name}: measuring", highlight=False)

    def progress(self, spec, phase, done, total):
        pass

    def candidate_finished(self, result):
        note = f"quality {result.quality:.3f}" if result.status == "ok" else f"{result.status}: {result.reason}"
        err.print(f"      {result.name}: {note}{_reused(result)}", highlight=False)


def _reused(result) -> str:
    """Says when a measurement came from the result store instead of being made now."""
    origin = result.details.get("reused_from")
    return f" (reused from run {origin['run_id']}; --fresh measures again)" if origin else ""


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
def recommend(
    task: Annotated[str, typer.Option(help="Built-in task name, task folder or task YAML file.")] = "sentiment",
    registry: Annotated[Optional[Path], typer.Option(help="Registry YAML (default ./registry.yaml or the project's).")] = None,
    min_quality: Annotated[Optional[float], typer.Option(help="Quality threshold (default: the task's).")] = None,
    max_drop: Annotated[Optional[float], typer.Option(help="Largest quality loss allowed against the reference (paired test).")] = None,
    reference: Annotated[Optional[str], typer.Option(help="Reference candidate for --max-drop (default: the highest quality).")] = None,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals and decisions.")] = 0.95,
    by: Annotated[str, typer.Option(help="Rank passing candidates by: energy, params or latency.")] = "energy",
    candidates: Annotated[Optional[str], typer.Option(help="Comma-separated registry names to run (default: all).")] = None,
    samples: Annotated[Optional[int], typer.Option(help="Number of samples (default: the task's).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Sampling seed (default: the task's).")] = None,
    batch_size: Annotated[int, typer.Option(help="Queries per batch in energy windows.")] = 16,
    repeats: Annotated[int, typer.Option(help="Energy windows per candidate.")] = 3,
    country: Annotated[str, typer.Option(help="ISO alpha-3 country for CodeCarbon's carbon intensity.")] = "USA",
    queries_per_day: Annotated[Optional[float], typer.Option(help="Expected volume, for yearly savings in the report.")] = None,
    price_per_kwh: Annotated[Optional[float], typer.Option(help="Electricity price per kWh, for yearly savings in money.")] = None,
    meter: Annotated[str, typer.Option(help="Energy meter: codecarbon or null.")] = "codecarbon",
    exhaustive: Annotated[bool, typer.Option("--exhaustive", help="Measure every candidate on every sample (default: adaptive search, cheapest first).")] = False,
    store: Annotated[Optional[Path], typer.Option(help="Result store (SQLite) reused across runs (default: results.sqlite in the cache folder).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Measure again even when the store holds a matching measurement.")] = False,
    in_process: Annotated[bool, typer.Option("--in-process", help="Measure in this process instead of one process per candidate.")] = False,
    reports_dir: Annotated[Path, typer.Option(help="Where reports/<run-id>/ are written.")] = Path("reports"),
    mlflow: Annotated[Optional[str], typer.Option(help="Log the run to MLflow at this tracking URI, e.g. file:./mlruns (needs advisor[mlflow]).")] = None,
    executor: Annotated[str, typer.Option(help="Where candidates run: local, or ray (one Ray task per candidate; needs advisor[ray]).")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="An existing Ray cluster's address (default: a local Ray instance).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results JSON on stdout (tables go to stderr).")] = False,
) -> None:
    """Measure the candidates on the task and recommend the least costly one that meets the threshold."""
    from advisor.api import recommend as run
    from advisor.view import render_table

    settings = _settings(min_quality=min_quality, max_drop=max_drop, reference=reference, confidence=confidence, by=by, candidates=_csv(candidates),
                         sample_size=samples, seed=seed, batch_size=batch_size, repeats=repeats, country=country, queries_per_day=queries_per_day,
                         price_per_kwh=price_per_kwh, meter=meter, isolate=not in_process, reports_dir=reports_dir, exhaustive=exhaustive,
                         store=store, fresh=fresh, mlflow=mlflow, executor=executor, ray_address=ray_address)
    cols = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("[dim]{task.fields[phase]}"), TimeElapsedColumn()]
    if err.is_terminal:
        with Progress(*cols, console=err, transient=False) as progress:
            rec = run(task=task, registry=registry, settings=settings, observer=_Bars(progress))
    else:
        rec = run(task=task, registry=registry, settings=settings, observer=_Lines())
    out = Console(stderr=as_json)
    render_table(rec, out)
    if as_json:
        sys.stdout.write(rec.to_json() + "\n")
    raise typer.Exit({"recommended": EXIT_OK, "undecided": EXIT_UNDECIDED}.get(rec.decision, EXIT_NOT_MET))


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="A run's results.json.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for report.html and report.md (default: beside results.json).")] = None,
) -> None:
    """Re-render report.html and report.md from a saved results.json, without running any model."""
    from pydantic import ValidationError

    from advisor.report import write_reports
    from advisor.results import Recommendation

    if not results.is_file():
        raise AdvisorError(f"{results}: file not found; give the path of a run's results.json")
    try:
        rec = Recommendation.load(results)
    except ValueError as exc:
        if not isinstance(exc, ValidationError):
            raise AdvisorError(f"{results}: {exc}; re-run the recommendation with this version") from None
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"]) or "file"
        raise AdvisorError(f"{results}: {where}: {e['msg']}; not a results.json this version of advisor can read") from None
    html_path, md_path = write_reports(rec, out or results.parent)
    Console().print(f"wrote {html_path}\nwrote {md_path}", highlight=False)


@app.command()
def check(
    deployed: Annotated[str, typer.Option(help="Registry name of the model in production.")],
    task: Annotated[str, typer.Option(help="Built-in task name, task folder or task YAML file.")] = "sentiment",
    registry: Annotated[Optional[Path], typer.Option(help="Registry YAML (default ./registry.yaml or the project's).")] = None,
    min_quality: Annotated[Optional[float], typer.Option(help="Quality threshold (default: the task's).")] = None,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals and decisions.")] = 0.95,
    candidates: Annotated[Optional[str], typer.Option(help="Comma-separated registry names to consider (default: all).")] = None,
    samples: Annotated[Optional[int], typer.Option(help="Number of samples (default: the task's).")] = None,
    max_energy_increase: Annotated[float, typer.Option(help="Largest rise of energy per query tolerated against the baseline (0.2 = +20%).")] = 0.2,
    baseline: Annotated[Optional[str], typer.Option(help="Stored run id to compare energy with (default: the newest earlier run that measured it).")] = None,
    store: Annotated[Optional[Path], typer.Option(help="Result store (SQLite).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Measure again even when the store holds a matching measurement.")] = False,
    meter: Annotated[str, typer.Option(help="Energy meter: codecarbon or null.")] = "codecarbon",
    in_process: Annotated[bool, typer.Option("--in-process", help="Measure in this process instead of one process per candidate.")] = False,
    reports_dir: Annotated[Path, typer.Option(help="Where reports/<run-id>/ are written.")] = Path("reports"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the check result as JSON on stdout.")] = False,
    markdown: Annotated[Optional[Path], typer.Option(help="Append a Markdown summary to this file (e.g. $GITHUB_STEP_SUMMARY).")] = None,
) -> None:
    """CI gate: is the deployed model right-sized? Exit 0 right-sized, 3 undecided, 4 oversized, 5 below goal, 6 energy regression."""
    from advisor.gate import check as run_check

    settings = _settings(min_quality=min_quality, confidence=confidence, candidates=_csv(candidates), sample_size=samples, meter=meter,
                         isolate=not in_process, reports_dir=reports_dir, store=store, fresh=fresh)
    result = run_check(task, deployed, registry=registry, settings=settings, max_energy_increase=max_energy_increase, baseline=baseline,
                       observer=_Lines())
    if markdown is not None:
        with markdown.open("a", encoding="utf-8") as f:
            f.write(result.to_markdown())
    if as_json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        Console().print(f"{result.verdict}: {result.message}", highlight=False)
        Console().print(f"[dim]Energy {result.energy_method}. Results: {result.results}[/]", highlight=False)
    raise typer.Exit(result.exit_code)


@app.command()
def distill(
    teacher: Annotated[str, typer.Option(help="Registry name of the model whose labels are learnt.")],
    student: Annotated[str, typer.Option(help="Registry name of the small model to train (tfidf-logreg or encoder-head).")],
    task: Annotated[str, typer.Option(help="Built-in task name, task folder or task YAML file.")] = "sentiment",
    registry: Annotated[Optional[Path], typer.Option(help="Registry YAML.")] = None,
    unlabelled: Annotated[Optional[Path], typer.Option(help="Unlabelled texts (.txt, .jsonl, .csv, .tsv, .parquet); default: the task's rows outside the sample.")] = None,
    text_field: Annotated[Optional[str], typer.Option(help="Column of --unlabelled holding the text (default: the task's text field).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the distilled model (default: <reports-dir>/distilled).")] = None,
    min_quality: Annotated[Optional[float], typer.Option(help="Quality threshold (default: the task's).")] = None,
    samples: Annotated[Optional[int], typer.Option(help="Number of samples (default: the task's).")] = None,
    meter: Annotated[str, typer.Option(help="Energy meter: codecarbon or null.")] = "codecarbon",
    in_process: Annotated[bool, typer.Option("--in-process", help="Measure in this process instead of one process per candidate.")] = False,
    reports_dir: Annotated[Path, typer.Option(help="Where reports/<run-id>/ are written.")] = Path("reports"),
) -> None:
    """Train a small student on a teacher's labels of unlabelled texts, then measure it beside both."""
    from advisor.distill import distill as run_distill
    from advisor.view import render_table

    settings = _settings(min_quality=min_quality, sample_size=samples, meter=meter, isolate=not in_process, reports_dir=reports_dir)
    rec, lineage = run_distill(task, teacher, student, registry=registry, unlabelled=unlabelled, text_field=text_field, out=out,
                               settings=settings, observer=_Lines())
    render_table(rec, Console())
    Console().print(f"[dim]Distilled model and lineage: {Path(lineage['state']).parent}[/]", highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    data_dir: Annotated[Optional[Path], typer.Option(help="Jobs, reports, the store and the token (default: <cache>/service).")] = None,
    registry: Annotated[Optional[Path], typer.Option(help="Registry YAML the jobs choose candidates from.")] = None,
    meter: Annotated[str, typer.Option(help="Energy meter: codecarbon or null.")] = "codecarbon",
    in_process: Annotated[bool, typer.Option("--in-process", help="Measure candidates inside each job's worker process.")] = False,
) -> None:
    """Serve recommendation jobs over HTTP (bearer token on every route but /health)."""
    import uvicorn

    from advisor.service import create_app, token_for
    from advisor.sources import cache_dir

    folder = data_dir or cache_dir() / "service"
    app_ = create_app(folder, registry.resolve() if registry else None, token_for(folder), {"meter": meter, "isolate": not in_process})
    where = "$ADVISOR_TOKEN" if os.environ.get("ADVISOR_TOKEN") else str(folder / "token")
    err.print(f"advisor serve on http://{host}:{port} (token: {where}; OpenAPI at /openapi.json)", highlight=False)
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command()
def history(
    task: Annotated[Optional[str], typer.Option(help="Only runs of this task.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
    store: Annotated[Optional[Path], typer.Option(help="Result store (SQLite).")] = None,
) -> None:
    """List past runs from the result store."""
    from rich.table import Table

    from advisor.store import ResultStore

    with ResultStore(store) as s:
        rows = [r for r in s.runs(limit=10_000 if task else limit) if task is None or r.task == task][:limit]
        path = s.path
    table = Table(title=f"runs in {path}")
    for col in ("run id", "task", "status", "recommended", "candidates", "created", "updated"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.run_id, r.task, r.status, r.model or "–", str(r.n_candidates), r.created_at, r.updated_at)
    Console().print(table)


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="A stored run id or a results.json path.")],
    b: Annotated[str, typer.Argument(help="Another stored run id or results.json path.")],
    store: Annotated[Optional[Path], typer.Option(help="Result store (SQLite).")] = None,
) -> None:
    """Compare two runs: each candidate's quality and energy per query, and the recommendation."""
    from advisor.compare import compare, load_run

    Console().print(compare(load_run(a, store), load_run(b, store)), highlight=False)


def _settings(**values):
    """The run's :class:`~advisor.settings.Settings` from CLI values; a bad value is one line naming the option."""
    from advisor.settings import Settings

    try:
        return Settings(**values)
    except Exception as exc:  # pydantic validation of CLI values
        raise AdvisorError(f"invalid option: {_first_error(exc)}") from None


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        e = errors()[0]
        return f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
    return str(exc)


@ls_app.command("models")
def ls_models(registry: Annotated[Optional[Path], typer.Option(help="Registry YAML.")] = None) -> None:
    """List the registry's candidates (reads no model)."""
    from rich.table import Table

    from advisor.registry import load_registry

    reg = load_registry(registry)
    table = Table(title=str(reg.path))
    for col in ("name", "tier", "kind", "backend", "source", "task types", "licence"):
        table.add_column(col)
    for c in reg.candidates:
        table.add_row(c.name, c.tier, c.kind, c.backend, c.source.describe() if c.source else "built in", ", ".join(c.task_types), c.license)
    Console().print(table)


@ls_app.command("tasks")
def ls_tasks() -> None:
    """List the tasks found (reads no data)."""
    from rich.table import Table

    from advisor.tasks import available_tasks, load_task

    table = Table()
    for col in ("name", "type", "metric", "threshold", "samples", "file"):
        table.add_column(col)
    for name, path in sorted(available_tasks().items()):
        t = load_task(path).spec
        table.add_row(name, t.type, t.metric.describe(), f"{t.threshold:.2f}", str(t.sample.size or "all"), str(path))
    Console().print(table)


@app.command()
def validate(
    tasks: Annotated[Optional[list[str]], typer.Argument(help="Tasks to check (default: all found).")] = None,
    registry: Annotated[Optional[Path], typer.Option(help="Registry YAML.")] = None,
) -> None:
    """Check the registry and task files without loading models or data."""
    from advisor.api import validate_all

    for line in validate_all(registry, tasks):
        Console().print(f"[green]ok[/] {line}")


def _interrupted() -> None:
    err.print("[yellow]interrupted:[/] what was measured is saved in the run's results.json and report.html")
    sys.exit(EXIT_INTERRUPTED)


def main() -> None:
    """Entry point: user mistakes print one line, never a traceback."""
    try:
        code = app(standalone_mode=False)
        if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into this exit code
            _interrupted()
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except AdvisorError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_INPUT)
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors from click (vendored by newer typer releases, so matched by behaviour)
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            _interrupted()
        raise


if __name__ == "__main__":
    main()
