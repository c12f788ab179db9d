"""Load the candidate registry and pick the candidates that serve a task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from advisor.errors import SpecError, did_you_mean
from advisor.runners import runner_class
from advisor.schema import CandidateSpec, RegistrySpec, parse
from advisor.tasks import REPO_ROOT
from advisor.yamlio import read_yaml


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
                    raise SpecError(self.path, "candidates", f"no candidate named '{n}'{did_you_mean(n, by_name)}", f"known: {', '.join(by_name)}")
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
    raw = read_yaml(path)
    spec = parse(RegistrySpec, raw, path)
    for i, cand in enumerate(spec.candidates):
        _check_options(cand, path, i)
    return Registry(spec=spec, path=path.resolve())


def _check_options(cand: CandidateSpec, path: Path, index: int) -> None:
    options_cls = runner_class(cand.kind).Options
    try:
        options_cls(**cand.options)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        field = f"candidates[{index}].options.{key}"
        if err["type"] == "extra_forbidden":
            known = list(options_cls.model_fields)
            raise SpecError(path, field, f"unknown option for kind '{cand.kind}'{did_you_mean(key, known)}", f"known options: {', '.join(known)}") from None
        raise SpecError(path, field, err["msg"]) from None
