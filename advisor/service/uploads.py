"""Checks at submit: uploaded samples written under the job's folder, labels that occur, candidates the registry knows."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.exceptions import HTTPException

from advisor.errors import AdvisorError, did_you_mean
from advisor.service.files import private_dir, write_private
from advisor.service.models import JobRequest, TaskUpload

# -- submit-time checks ------------------------------------------------------------------------------------


def write_upload(folder: Path, upload: TaskUpload) -> None:
    """The uploaded task as a task folder under the job's own folder (private), validated like any task file."""
    import yaml

    from advisor.spec.tasks import load_task

    task_dir = private_dir(folder / "task")
    write_private(task_dir / "samples.jsonl", "".join(json.dumps(s.model_dump()) + "\n" for s in upload.samples))
    spec = {
        "name": upload.name,
        "type": upload.type,
        "data": {"file": "samples.jsonl", "text_field": "text", "label_field": "label"},
        "metric": upload.metric,
        "threshold": upload.threshold,
        "folds": upload.folds,
    }
    if upload.labels is not None:
        spec["labels"] = upload.labels
    if upload.prompt is not None:
        spec["prompt"] = upload.prompt
    write_private(task_dir / "task.yaml", yaml.safe_dump(spec, sort_keys=False))
    load_task(task_dir / "task.yaml").samples()  # SpecError for a bad task, before it is queued


def unused_labels(upload: TaskUpload) -> str | None:
    """The problem with declared classes that no sample carries, or None."""
    if upload.type != "text-classification" or not upload.labels:
        return None
    present = {s.label for s in upload.samples}
    missing = [label for label in dict.fromkeys(upload.labels) if label not in present]
    if not missing:
        return None
    names = ", ".join(f"'{m}'" for m in missing)
    return (
        f"upload.labels: {names} never {'occurs' if len(missing) == 1 else 'occur'} in the samples; "
        "remove it from labels or add samples with that label"
    )


class LiveRegistry:
    """The server's registry, read again when its file changes."""

    def __init__(self, path: Path | None):
        self.path, self._key, self._reg = path, None, None

    def get(self):
        from advisor.spec.registry import default_registry_path, load_registry

        path = Path(self.path) if self.path else default_registry_path()
        try:
            key = (path, path.stat().st_mtime_ns)
        except OSError:
            key = (path, None)
        if key != self._key or self._reg is None:
            self._reg, self._key = load_registry(path), key
        return self._reg


def candidate_problem(body: JobRequest, registry: LiveRegistry, task_type: str | None) -> str | None:
    """Names the request gives that the server's registry does not know (with a did-you-mean), or None."""
    try:
        reg = registry.get()
    except AdvisorError:
        raise HTTPException(503, "the server's registry cannot be read; tell its operator") from None
    by_name = {c.name: c for c in reg.candidates}
    known = ", ".join(by_name)
    reference = [body.settings.reference] if body.settings.reference else []
    for field, names in (("candidates", body.candidates or []), ("settings.reference", reference)):
        for name in names:
            if name not in by_name:
                return f"{field}: no candidate named '{name}'{did_you_mean(name, by_name)}; known: {known}"
    if task_type is not None:
        pool = [by_name[n] for n in body.candidates] if body.candidates else list(by_name.values())
        if not any(task_type in c.task_types for c in pool):
            serving = ", ".join(n for n, c in by_name.items() if task_type in c.task_types) or "none"
            return f"candidates: none of them serves task type '{task_type}'; candidates that do: {serving}"
    return None


def builtin_type(name: str) -> str | None:
    from advisor.spec.tasks import available_tasks, load_task

    try:
        return load_task(available_tasks()[name]).spec.type
    except (AdvisorError, KeyError, OSError):
        return None
