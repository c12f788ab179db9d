"""Load the candidate registry and pick the candidates that serve a task."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from advisor.errors import SpecError, did_you_mean
from advisor.paths import REPO_ROOT
from advisor.spec.kinds import KINDS
from advisor.spec.package import MANIFEST, PackageError, is_package, package_entry, read_manifest
from advisor.spec.schema import CandidateSpec, RegistrySpec, parse
from advisor.spec.yamlio import read_yaml


def default_registry_path() -> Path:
    """``./registry.yaml`` when present, else the project's own."""
    local = Path.cwd() / "registry.yaml"
    return local if local.is_file() else REPO_ROOT / "registry.yaml"


@dataclass(frozen=True)
class Registry:
    """A validated registry and the file it came from (relative local sources resolve against it)."""

    spec: RegistrySpec
    path: Path

    @property
    def candidates(self) -> list[CandidateSpec]:
        return list(self.spec.candidates)

    def select(self, task_type: str, names: list[str] | None = None) -> list[CandidateSpec]:
        """Candidates serving ``task_type``, optionally only those named.

        Raises:
            SpecError: an unknown name (with a suggestion) or no candidate for the task type.
        """
        by_name = {c.name: c for c in self.spec.candidates}
        if names:
            for n in names:
                if n not in by_name:
                    raise SpecError(
                        self.path, "candidates", f"no candidate named '{n}'{did_you_mean(n, by_name)}", f"known: {', '.join(by_name)}"
                    )
            pool = [by_name[n] for n in names]
        else:
            pool = self.candidates
        chosen = [c for c in pool if task_type in c.task_types]
        if not chosen:
            raise SpecError(self.path, "candidates", f"no candidate serves task type '{task_type}'", "add one whose task_types lists it")
        return chosen


def load_registry(path: str | Path | None = None) -> Registry:
    """Read and validate a registry file, including each candidate's ``options`` for its kind.

    Raises:
        SpecError: naming the file and the offending field.
    """
    path = Path(path) if path else default_registry_path()
    if is_package(path):
        return Registry(spec=RegistrySpec(candidates=[exported_entry(path)]), path=(path / MANIFEST).resolve())
    raw = _with_packages(read_yaml(path), path)
    spec = parse(RegistrySpec, raw, path)
    for i, cand in enumerate(spec.candidates):
        _check_options(cand, path, i)
    spec = spec.model_copy(update={"candidates": [_fitted_absolute(c, path.resolve().parent) for c in spec.candidates]})
    expanded = [v for i, cand in enumerate(spec.candidates) for v in [cand, *expand_variants(cand, path, i)]]
    names = [c.name for c in expanded]
    clash = next((n for n in names if names.count(n) > 1), None)
    if clash:
        raise SpecError(path, "candidates", f"the expanded variant name '{clash}' is already taken", "rename that entry")
    return Registry(spec=spec.model_copy(update={"candidates": expanded}), path=path.resolve())


EXPORTED_SUFFIX = " (exported)"
"""Added to a package's name where it is listed as a candidate, so it never shadows the candidate it was measured as."""


def exported_entry(folder: Path, name: str | None = None, where: str | None = None) -> CandidateSpec:
    """An exported package as a registry candidate: a frozen model with its fitted state, files checked.

    Raises:
        SpecError: the package cannot be read or was changed (``where`` names the registry field).
    """
    try:
        manifest = read_manifest(folder)
        return package_entry(folder, manifest, name or manifest.name + EXPORTED_SUFFIX)
    except PackageError as exc:
        raise SpecError(None, where, str(exc)) from None


def _with_packages(raw: object, path: Path) -> object:
    """Entries ``{exported: <package folder>, name: <optional>}`` replaced by the package's own entry."""
    if not isinstance(raw, dict) or not isinstance(raw.get("candidates"), list):
        return raw
    out = []
    for i, entry in enumerate(raw["candidates"]):
        if isinstance(entry, dict) and "exported" in entry:
            extra = sorted(set(entry) - {"exported", "name"})
            if extra:
                raise SpecError(path, f"candidates[{i}].{extra[0]}", "an exported package takes only 'exported' and 'name'", "remove it")
            folder = Path(str(entry["exported"])).expanduser()
            folder = folder if folder.is_absolute() else path.resolve().parent / folder
            where = f"{path}: candidates[{i}].exported"
            entry = exported_entry(folder, entry.get("name"), where).model_dump(mode="json", exclude_defaults=True)
        out.append(entry)
    return {**raw, "candidates": out}


MODEL_FILE_SUFFIXES = (".gguf", ".onnx")
"""A local source may name one of these files; any other local source is a model folder."""


def check_local_sources(reg: Registry, names: Iterable[str] | None = None) -> None:
    """Every ``local`` source (and tokenizer) of the named candidates (default: all) exists and is a model folder
    or model file. Nothing is loaded.

    Raises:
        SpecError: naming the registry entry, the field and the fix.
    """
    wanted = None if names is None else set(names)
    index = -1
    for c in reg.spec.candidates:
        index += c.derived_from is None  # variants share their parent's entry
        if wanted is not None and c.name not in wanted:
            continue
        for field, source in (("source", c.source), ("tokenizer", c.tokenizer)):
            if source is None or not source.local:
                continue
            path = Path(source.local).expanduser()
            path = path if path.is_absolute() else reg.path.parent / path
            where = f"candidates[{index}].{field}.local"
            fix = "fix the path (relative to the registry file)"
            if not path.exists():
                raise SpecError(reg.path, where, f"'{path}' does not exist", fix)
            if source.file:
                if not path.is_dir():
                    raise SpecError(reg.path, where, f"'{path}' is a file, but 'file: {source.file}' names a file inside a folder", fix)
                if not (path / source.file).is_file():
                    raise SpecError(reg.path, f"candidates[{index}].{field}.file", f"'{source.file}' not found in '{path}'", fix)
            elif path.is_file() and (field == "tokenizer" or path.suffix.lower() not in MODEL_FILE_SUFFIXES):
                raise SpecError(
                    reg.path,
                    where,
                    f"'{path}' is a file, not a model folder",
                    f"point it at the model's folder (or a {' / '.join(MODEL_FILE_SUFFIXES)} file)",
                )


# What each variant changes: kind, backend and options. Only PyTorch sentence encoders can be derived today.
_VARIANTS = {
    "int8-dynamic": (
        "encoder-head",
        "sentence-transformers",
        {"quantize": "int8-dynamic"},
        "dynamic int8 quantisation of the Linear layers (PyTorch)",
    ),
    "onnx": ("encoder-head", "onnx", {"export": "fp32"}, "exported to ONNX, run by ONNX Runtime"),
    "onnx-int8": ("encoder-head", "onnx", {"export": "int8"}, "exported to ONNX and dynamically quantised to int8 (ONNX Runtime)"),
    "fine-tuned": ("encoder-finetuned", "sentence-transformers", {}, "its body fine-tuned on the task's samples (SetFit), then a head"),
    "static": ("static-head", "model2vec", {}, "distilled to static token embeddings (model2vec), then a head"),
}
# Options of the parent that a variant of another kind keeps (the rest belong to the parent's kind only).
_KEPT = {"static-head": ("C", "class_weight", "max_length")}


def _fitted_absolute(cand: CandidateSpec, base: Path) -> CandidateSpec:
    """A ``fitted:`` state file given relative to the registry file, made absolute."""
    fitted = cand.options.get("fitted")
    if not fitted or Path(fitted).is_absolute():
        return cand
    return cand.model_copy(update={"options": {**cand.options, "fitted": str(base / fitted)}})


def expand_variants(cand: CandidateSpec, path: Path, index: int) -> list[CandidateSpec]:
    """The measured variants an entry asks for with ``variants:``, each a candidate of its own.

    Raises:
        SpecError: the entry cannot be derived that way.
    """
    if not cand.variants:
        return []
    if cand.kind != "encoder-head" or cand.backend != "sentence-transformers":
        raise SpecError(
            path,
            f"candidates[{index}].variants",
            f"variants ({', '.join(cand.variants)}) are derived from PyTorch sentence encoders (kind encoder-head, backend "
            f"sentence-transformers), not {cand.kind}/{cand.backend}",
            "remove 'variants' from this entry",
        )
    out = []
    for v in dict.fromkeys(cand.variants):
        kind, backend, options, what = _VARIANTS[v]
        kept = cand.options if kind not in _KEPT else {k: x for k, x in cand.options.items() if k in _KEPT[kind]}
        out.append(
            cand.model_copy(
                update={
                    "name": f"{cand.name} [{v}]",
                    "kind": kind,
                    "backend": backend,
                    "options": {**kept, **options},
                    "variants": [],
                    "derived_from": cand.name,
                    "description": f"{cand.name}, {what}",
                }
            )
        )
    return out


def _check_options(cand: CandidateSpec, path: Path, index: int) -> None:
    options_cls = KINDS[cand.kind].options
    try:
        options_cls(**cand.options)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        field = f"candidates[{index}].options.{key}"
        if err["type"] == "extra_forbidden":
            known = list(options_cls.model_fields)
            raise SpecError(
                path, field, f"unknown option for kind '{cand.kind}'{did_you_mean(key, known)}", f"known options: {', '.join(known)}"
            ) from None
        raise SpecError(path, field, err["msg"]) from None
