"""``advisor export``: the command line over :func:`advisor.deploy.build.export` (registered by :mod:`advisor.cli`).

Imports nothing heavy until it runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from advisor.cli_options import help_of


def export(
    run: Annotated[str, typer.Argument(help="A stored run id, a results.json path, or a task name (its newest complete run).")],
    to: Annotated[Path, typer.Option("--to", help="Folder to write the package to (refused if it exists, unless --force).")],
    candidate: Annotated[Optional[str], typer.Option(help="Export this candidate instead of the recommended one.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the folder given with --to (only once the new package passed).")] = False,
    store: Annotated[Optional[Path], typer.Option(help=help_of("store"))] = None,
    mlflow: Annotated[
        Optional[str], typer.Option(help="Also log the package to this MLflow tracking URI and register it in its model registry.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written and checked as JSON on stdout.")] = False,
) -> None:
    """Export the model a run measured (fitted state, serving configuration, model card) as a package checked in a fresh process."""
    from advisor.deploy.build import export as run_export

    err = Console(stderr=True)
    done = run_export(
        run, to, candidate=candidate, force=force, store=store, mlflow_uri=mlflow, progress=lambda m: err.print(f"[dim]{m}[/]")
    )
    if as_json:
        sys.stdout.write(json.dumps(done.to_dict(), indent=2, default=str) + "\n")
        return
    out = Console()
    for line in done.lines():
        out.print(line, highlight=False, soft_wrap=True)
