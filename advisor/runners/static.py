"""Static token embeddings (model2vec) and a logistic-regression head.

A text's embedding is the mean of its tokens' fixed vectors: no attention, no layers, so a query
costs a tokenizer pass and a lookup. The vectors are either a ready model2vec model (its folder has
``"model_type": "model2vec"`` in ``config.json``) or distilled once from a sentence encoder's folder
(model2vec's distillation: the encoder embeds its vocabulary, PCA reduces the dimensions) and kept
in the cache with their lineage.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from advisor.runners.base import Made, ModelInfo
from advisor.runners.encoder import EncoderHead
from advisor.spec.options import StaticOptions


def is_static(folder: Path) -> bool:
    """Whether ``folder`` holds a ready model2vec model."""
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type") == "model2vec"
    except (OSError, ValueError, AttributeError):
        return False


class StaticHead(EncoderHead):
    """Embeds texts with static token vectors and classifies the embeddings with a fitted head."""

    Options = StaticOptions
    trainable = True
    inference_fixed = True

    @property
    def method(self) -> str:
        model = getattr(self, "model", None)
        dims = f"{model.dim} dimensions" if model is not None else f"PCA to at most {self.options.dims} dimensions"
        return f"distilled to static token embeddings (model2vec, {dims})"

    def load(self) -> None:
        from model2vec import StaticModel

        self._made = None
        self._load_fitted_head()
        ready = is_static(Path(self.path))
        folder, earlier = (Path(self.path), None) if ready else self._distilled(Path(self.path))
        self._folder = folder
        self.model = StaticModel.from_pretrained(str(folder), force_download=False)
        self._params = int(self.model.embedding.size)
        if not ready:  # distilled here or by an earlier run; the method names the dimensions it has
            self._made = Made(self.method, "distil the parent", "load", str(folder), earlier)

    def _distilled(self, parent: Path) -> tuple[Path, dict | None]:
        """The parent sentence encoder distilled to static embeddings, made once and cached, and the lineage of an
        earlier run's distillation (None when made now)."""
        from advisor.runners import bespoke
        from advisor.spec.sources import file_identity

        key = {"parent_files": file_identity(parent), "dims": self.options.dims}
        facts = {"method": self.method, "parent": self.spec.derived_from or str(parent), "parent_path": str(parent), **key}

        def make(folder: Path) -> None:
            import contextlib
            import io

            from model2vec.distill import distill

            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                model = distill(model_name=str(parent), pca_dims=self.options.dims)
            model.save_pretrained(str(folder))

        try:
            folder, earlier = bespoke.cached(bespoke.made_folder("static", parent.name, key), make, facts)
        except ImportError as exc:
            raise RuntimeError(f"distillation needs model2vec's extra: pip install 'model2vec[distill]' ({exc})") from None
        return folder, earlier

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        kw = {"max_length": self.options.max_length} if self.options.max_length else {}
        return np.asarray(self.model.encode(list(texts), batch_size=max(1, len(texts)), use_multiprocessing=False, **kw))

    def save_state(self, path: Path) -> Path:
        """For a student (``advisor distill``): the head, with a copy of the static vectors beside it (not only in the cache)."""
        import shutil

        shutil.copytree(self._folder, path.parent / "vectors", dirs_exist_ok=True)
        return super().save_state(path)

    def keep_state(self, folder: Path) -> dict:
        """The head, and the static vectors it reads (the made ones where they were distilled here)."""
        kept = super().keep_state(folder)
        return {**kept, "source": {"local": str(Path(self._folder).resolve())}} if kept and self._made else kept

    def deployed_files(self, scratch: Path) -> dict[str, Path | None]:
        return {"source": Path(self._folder), "tokenizer": None}

    def deployed_spec(self, state: Path) -> dict:
        """Registry fields of a saved student: the static vectors saved beside it, with the fitted head."""
        return {"source": {"local": str((state.parent / "vectors").resolve())}, "options": {**self.spec.options, "fitted": str(state)}}

    def info(self) -> ModelInfo:
        head = self.head.parameters() if self.head is not None else 0
        return ModelInfo(
            parameters=self._params + head,
            size_bytes=sum(f.stat().st_size for f in Path(self._folder).rglob("*") if f.is_file() and f.name != "lineage.json"),
            details={
                "encoder_parameters": self._params,
                "head_parameters": head,
                "runtime": "model2vec",
                "dimensions": int(self.model.dim),
                "head_C": self.head.chosen_c if self.head is not None else None,
                "class_weight": self.head.class_weight if self.head is not None else None,
            },
            derived=self.method if self._made else None,
        )
