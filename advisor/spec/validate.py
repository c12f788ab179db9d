"""``advisor validate``: check the registry and task files without loading a model or reading data (imports nothing heavy)."""

from __future__ import annotations

from pathlib import Path

from advisor.errors import SpecError
from advisor.spec.registry import check_local_sources, load_registry
from advisor.spec.tasks import available_tasks, load_task


def _installed(package: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(package)
        return True
    except metadata.PackageNotFoundError:
        return False


def validate_all(registry: str | Path | None = None, tasks: list[str] | None = None) -> list[str]:
    """Load the registry and tasks (reading no data). Returns one line per file checked.

    Raises:
        SpecError: on the first invalid file.
    """
    reg = load_registry(registry)
    if not reg.candidates:
        raise SpecError(reg.path, "candidates", "empty")
    lines = [f"{reg.path}: {len(reg.candidates)} candidates ok"]
    check_local_sources(reg)
    for c in reg.spec.candidates:
        for source in (c.source, c.tokenizer):
            if source is not None and source.package and not _installed(source.package):
                lines.append(f"{reg.path}: {c.name}: package '{source.package}' is not installed here; the run will skip it")
    for name in tasks or sorted(available_tasks()):
        t = load_task(name)
        lines.append(f"{t.path}: task '{t.name}' ok")
    return lines
