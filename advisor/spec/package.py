"""A model package (``advisor export``) as data: its manifest, its files' hashes, and its registry entry.

A package is a folder. ``advisor-package.json`` (the manifest) names the registry entry that loads the model
(paths relative to the package's ``model/`` folder), what the model must know about the task (labels, prompt,
few-shot examples), the serving configuration the loader applies, the figures measured, and the SHA-256 of every
other file: a package whose files changed after export is refused when it is read. Reading a manifest imports no
model library.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from advisor.errors import AdvisorError
from advisor.spec.schema import CandidateSpec

MANIFEST = "advisor-package.json"
FORMAT = "advisor-model-package"
VERSION = 1
MODEL_DIR = "model"
"""The folder inside a package that holds the model's files; the entry's local paths are relative to it."""


class PackageError(AdvisorError):
    """A package that cannot be read or was changed; the message names the folder and the fix."""


class ServingConfig(BaseModel):
    """How the package serves: the loader applies it."""

    model_config = ConfigDict(extra="ignore")

    runtime: str
    batch_size: int = Field(ge=1)
    threads: int | None = Field(default=None, description="intra-op threads (None: the runtime's own choice)")
    device: str = "cpu"
    chosen_by: str = Field(description="the serving sweep, or the run's own configuration when there was no sweep")


class PackageTask(BaseModel):
    """What the model must know about the task to answer as it did when measured."""

    model_config = ConfigDict(extra="ignore")

    name: str
    type: str
    metric: str
    metric_label: str
    label_names: list[str] = Field(default_factory=list)
    prompt: dict[str, Any] = Field(default_factory=dict)
    few_shot_texts: list[str] = Field(default_factory=list)
    few_shot_labels: list[str] = Field(default_factory=list)
    class_weight: str | None = None
    seed: int = 0


class Manifest(BaseModel):
    """``advisor-package.json``."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["advisor-model-package"] = FORMAT
    version: int = VERSION
    name: str
    candidate: str = Field(description="the candidate's name in the run it was measured in")
    run_id: str
    created_at: str
    advisor_version: str
    entry: dict[str, Any] = Field(description="the registry entry that loads the model; local paths relative to model/")
    task: PackageTask
    serving: ServingConfig
    measured: dict[str, Any] = Field(default_factory=dict, description="the figures the run measured, with how")
    verification: dict[str, Any] = Field(default_factory=dict, description="what the export's fresh-process check found")
    files: dict[str, str] = Field(default_factory=dict, description="SHA-256 of every file but this manifest, by relative path")


def is_package(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a package manifest."""
    return (Path(path) / MANIFEST).is_file()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` but the manifest, by POSIX relative path, sorted."""
    files = sorted(f for f in folder.rglob("*") if f.is_file() and f != folder / MANIFEST)
    return {f.relative_to(folder).as_posix(): sha256(f) for f in files}


def read_manifest(folder: str | Path, verify: bool = True) -> Manifest:
    """The package's manifest; with ``verify``, every listed file checked against its hash.

    Raises:
        PackageError: no package there, an unreadable or newer manifest, or a file missing, added or changed.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise PackageError(f"{folder}: not a model package (no {MANIFEST}); give the folder `advisor export` wrote")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError(f"'format' is not {FORMAT}")
        if int(raw.get("version", 0)) > VERSION:
            raise PackageError(f"{path}: package version {raw['version']} is newer than this advisor reads ({VERSION}); upgrade advisor")
        manifest = Manifest.model_validate(raw)
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise PackageError(f"{path}: not a readable package manifest ({first}); export the model again") from None
    if verify:
        check_files(folder, manifest)
    return manifest


def check_files(folder: Path, manifest: Manifest) -> None:
    """Every file listed with the hash it was exported with, and no other file beside them.

    Raises:
        PackageError: naming the first file missing, changed or added.
    """
    links = [f for f in folder.rglob("*") if f.is_symlink()]
    if links:
        raise PackageError(f"{folder}: '{links[0].relative_to(folder)}' is a symbolic link; a package holds plain files only")
    found = file_hashes(folder)
    for rel, digest in manifest.files.items():
        if rel not in found:
            raise PackageError(f"{folder}: '{rel}' is missing from the package; export it again")
        if found[rel] != digest:
            raise PackageError(f"{folder}: '{rel}' changed after export (its SHA-256 differs); export the model again")
    extra = sorted(set(found) - set(manifest.files))
    if extra:
        raise PackageError(f"{folder}: '{extra[0]}' was added after export; remove it or export the model again")


def package_entry(folder: str | Path, manifest: Manifest, name: str | None = None) -> CandidateSpec:
    """The package's registry entry with every path inside the package absolute (so it loads from anywhere).

    Raises:
        PackageError: a path of the entry leads outside the package's ``model/`` folder.
    """
    if manifest.entry.get("kind") == "cascade":  # stages inside the package; the runner loads them with advisor.load
        e = manifest.entry
        return CandidateSpec.model_validate(
            {
                "name": name or manifest.name,
                "tier": e.get("tier") or "small",
                "kind": "cascade-package",
                "backend": "advisor",
                "task_types": [manifest.task.type],
                "license": e.get("license") or "unknown",
                "source": {"local": str(Path(folder).resolve())},
            }
        )
    model = (Path(folder) / MODEL_DIR).resolve()

    def inside(rel: str, field: str) -> str:
        path = (model / rel).resolve()
        if not path.is_relative_to(model):
            raise PackageError(f"{Path(folder) / MANIFEST}: entry.{field} '{rel}' leads outside the package; export the model again")
        return str(path)

    entry = dict(manifest.entry)
    for role in ("source", "tokenizer"):
        src = entry.get(role)
        if isinstance(src, dict) and src.get("local"):
            entry[role] = {**src, "local": inside(str(src["local"]), f"{role}.local")}
        elif isinstance(src, dict) and (src.get("package") or src.get("parts")):
            raise PackageError(f"{Path(folder) / MANIFEST}: entry.{role} must be a file in the package or a hub reference")
    fitted = (entry.get("options") or {}).get("fitted")
    if fitted:
        entry["options"] = {**entry["options"], "fitted": inside(str(fitted), "options.fitted")}
    return CandidateSpec.model_validate({**entry, "name": name or manifest.name})
