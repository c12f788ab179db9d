"""Find, load and sample tasks. Listing and loading a task reads no data; :meth:`Task.samples` does."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from advisor.errors import SpecError, did_you_mean
from advisor.paths import REPO_ROOT
from advisor.spec.data import Samples, load_samples
from advisor.spec.schema import TaskSpec, parse
from advisor.spec.sources import SourceUnavailable, package_file
from advisor.spec.yamlio import read_yaml


def task_dirs() -> list[Path]:
    """Folders searched for named tasks: ``$ADVISOR_TASKS_PATH`` (os.pathsep-separated), ./tasks, the project's tasks/."""
    dirs = [Path(p) for p in os.environ.get("ADVISOR_TASKS_PATH", "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "tasks", REPO_ROOT / "tasks"]
    seen: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in seen:
            seen.append(d.resolve())
    return seen


def _task_file(entry: Path) -> Path | None:
    if entry.is_dir() and (entry / "task.yaml").is_file():
        return entry / "task.yaml"
    if entry.is_file() and entry.suffix in {".yaml", ".yml"}:
        return entry
    return None


def available_tasks() -> dict[str, Path]:
    """Map of task name (file or folder name) to task file, first search folder wins."""
    found: dict[str, Path] = {}
    for d in task_dirs():
        for entry in sorted(d.iterdir()):
            f = _task_file(entry)
            name = entry.stem if entry.is_file() else entry.name
            if f is not None and name not in found:
                found[name] = f
    return found


@dataclass(frozen=True)
class Task:
    """A validated task spec and the file it came from."""

    spec: TaskSpec
    path: Path

    @property
    def name(self) -> str:
        return self.spec.name

    def data_path(self) -> Path:
        """Resolve the sample file without reading it.

        Raises:
            SpecError: the file or package is missing.
        """
        data = self.spec.data
        if data.package:
            try:
                return package_file(data.package, data.path or "")
            except SourceUnavailable as exc:
                raise SpecError(self.path, "data.package", str(exc)) from None
        p = Path(data.file or "").expanduser()
        if not p.is_absolute():
            p = (self.path.parent / p).resolve()
        if not p.is_file():
            raise SpecError(self.path, "data.file", f"sample file '{p}' not found", "fix the path (relative to the task file)")
        return p

    def samples(self, size: int | None = None, seed: int | None = None) -> Samples:
        """Read, filter, validate and sample the task's data (see :mod:`advisor.spec.data`)."""
        return load_samples(self, size=size, seed=seed)


def load_task(ref: str | Path) -> Task:
    """Load a task by built-in name, task folder or YAML file.

    Raises:
        SpecError: unknown name (with suggestions) or invalid file.
    """
    path = Path(ref)
    f = _task_file(path) if path.exists() else None
    if f is None:
        if path.suffix in {".yaml", ".yml"} or os.sep in str(ref):
            raise SpecError(path, None, "task file not found", "check the path, or use a built-in task name")
        known = available_tasks()
        if str(ref) not in known:
            names = ", ".join(sorted(known)) or "none"
            raise SpecError(None, "task", f"unknown task '{ref}'{did_you_mean(str(ref), known)}; available: {names}")
        f = known[str(ref)]
    spec = parse(TaskSpec, read_yaml(f), f)
    return Task(spec=spec, path=f.resolve())
