"""``advisor.load(DIR)``: an exported package as a predictor, served at the configuration the package names.

Only what the model needs is imported: a TF-IDF package loads scikit-learn, not PyTorch; an ONNX package loads
ONNX Runtime and a tokenizer. The package's files are checked against their hashes first (``verify=False`` skips
that, e.g. in a serving container whose image was checked once).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.spec.package import Manifest, read_manifest

if TYPE_CHECKING:
    import numpy as np

    from advisor.runners import Prediction, Runner


class Predictor:
    """A loaded package. ``predict`` answers labels (or generated answers), ``predict_proba`` a probability per label
    (models with a fitted head), ``predict_with_confidence`` both the answer and its confidence.

    Attributes:
        folder: the package folder.
        manifest: its manifest (task, serving configuration, measured figures).
    """

    def __init__(self, folder: Path, manifest: Manifest, runner: Runner):
        self.folder, self.manifest, self._runner = folder, manifest, runner

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def labels(self) -> list[str]:
        """The task's labels (empty for a generative task)."""
        return list(self.manifest.task.label_names)

    @property
    def batch_size(self) -> int:
        return self.manifest.serving.batch_size

    def _answers(self, texts: Sequence[str], batch_size: int | None = None) -> Prediction:
        from advisor.runners import Prediction

        if isinstance(texts, str):
            raise TypeError("predict takes a list of texts, not one string: predict([text])")
        texts, bs = [str(t) for t in texts], batch_size or self.batch_size
        return Prediction.concat([self._runner.predict(texts[i : i + bs]) for i in range(0, len(texts), bs)])

    def predict(self, texts: Sequence[str], batch_size: int | None = None) -> list[str]:
        """The answer for each text, in batches of the package's batch size (or ``batch_size``)."""
        return self._answers(texts, batch_size).labels

    def predict_with_confidence(self, texts: Sequence[str], batch_size: int | None = None) -> tuple[list[str], np.ndarray]:
        """The answer for each text and the probability the model gave it."""
        pred = self._answers(texts, batch_size)
        return pred.labels, pred.confidence

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """A probability per label for each text; columns follow :attr:`classes`.

        Raises:
            TypeError: the model gives the confidence of its answer only (a prompted or ready hub classifier).
        """
        import numpy as np

        texts, bs = [str(t) for t in texts], batch_size or self.batch_size
        parts = [self._proba(texts[i : i + bs]) for i in range(0, len(texts), bs)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.classes)))

    def _proba(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        matrix, order = self._runner.proba(texts)
        return matrix[:, [order.index(c) for c in self.classes]] if order != self.classes else np.asarray(matrix)

    @property
    def classes(self) -> list[str]:
        """The column order of :meth:`predict_proba`: the task's labels."""
        return self.labels

    def generate(self, texts: Sequence[str], batch_size: int | None = None) -> list[str]:
        """Generated answers (generative tasks)."""
        if self.manifest.task.type == "text-classification":
            raise TypeError(f"{self.name} classifies; use predict()")
        return self.predict(texts, batch_size)

    def close(self) -> None:
        """Release the model's memory."""
        self._runner.close()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.manifest.serving
        return f"Predictor({self.name!r}, {s.runtime}, batch {s.batch_size}, threads {s.threads or 'all'}, {s.device})"


def load(folder: str | Path, verify: bool = True, device: str | None = None, threads: int | None = None) -> Predictor:
    """Load an exported package, applying its serving configuration.

    Args:
        folder: the package folder (``advisor export --to``).
        verify: check every file against the hash it was exported with.
        device: run elsewhere than the package says (e.g. ``cpu`` where it was measured on ``cuda:0``).
        threads: intra-op threads instead of the package's.

    Raises:
        PackageError: no package there, a changed file, or a model that cannot load here (one line, with the fix).
    """
    from advisor.runners.packaged import package_runner

    folder = Path(folder)
    manifest = read_manifest(folder, verify=verify)
    return Predictor(folder, manifest, package_runner(folder, manifest, device, threads))
