"""Progress while a run measures: live bars on a terminal, plain lines in logs and CI (an observer of the search)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape


def reused_note(result) -> str:
    """Says when a measurement came from the result store instead of being made now."""
    origin = result.reused_from
    return f" (reused from run {origin.run_id}; --fresh measures again)" if origin else ""


class Bars:
    """Rich progress: one bar per candidate, advanced by phase."""

    def __init__(self, progress):
        self.p = progress
        self.tasks: dict[str, int] = {}

    def candidate_started(self, spec, index, total):
        self.tasks[spec.name] = self.p.add_task(escape(f"[{index + 1}/{total}] {spec.name}"), total=None, phase="starting")

    def progress(self, spec, phase, done, total):
        self.p.update(self.tasks[spec.name], completed=done, total=total, phase=phase)

    def candidate_finished(self, result):
        note = (result.status if result.status == "ok" else f"{result.status}: {result.reason}") + reused_note(result)
        self.p.update(self.tasks[result.name], completed=1, total=1, phase=escape(note[:70]))


class Lines:
    """Plain progress lines for logs and CI (no live bars when stderr is not a terminal)."""

    def __init__(self, err: Console):
        self.err = err

    def candidate_started(self, spec, index, total):
        self.err.print(escape(f"[{index + 1}/{total}] {spec.name}: measuring"), highlight=False, soft_wrap=True)

    def progress(self, spec, phase, done, total):
        pass

    def candidate_finished(self, result):
        note = f"quality {result.quality:.3f}" if result.status == "ok" else f"{result.status}: {result.reason}"
        self.err.print(escape(f"      {result.name}: {note}{reused_note(result)}"), highlight=False, soft_wrap=True)


def observed(err: Console, run):
    """Call ``run(observer)`` with live bars on ``err`` when it is a terminal, plain lines otherwise."""
    if not err.is_terminal:
        return run(Lines(err))
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    cols = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[dim]{task.fields[phase]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*cols, console=err, transient=False) as progress:
        return run(Bars(progress))
