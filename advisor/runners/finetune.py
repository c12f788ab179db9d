"""A sentence encoder fine-tuned on the task's own samples, SetFit-style, then a logistic-regression head.

Why the ``setfit`` library: it is the reference implementation of the recipe (balanced positive and
negative pairs drawn from the labels, a contrastive loss on the body, then a head), it trains a
local sentence-transformers folder offline, and it stops after a stated number of pairs, so the
cost of fine-tuning is bounded and stated. The head is the advisor's own (the same regularised
logistic regression as every other encoder candidate), fitted on the fine-tuned body's embeddings.

Scoring is honest: for each fold a fresh copy of the parent body is fine-tuned on the other folds
only, and the held-out fold is predicted by it. The deployed model is fine-tuned on all samples and
kept in the cache with its lineage (:mod:`advisor.runners.bespoke`); a later run on the same
samples, parent and settings reuses it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from advisor.runners.base import Made, ModelInfo, Prediction, Progress
from advisor.runners.encoder import EncoderHead
from advisor.spec.options import FineTuneOptions

METHOD = "SetFit"


class FineTunedEncoder(EncoderHead):
    """Fine-tunes a copy of the encoder's body per fold (and once on all samples for the deployed model)."""

    Options = FineTuneOptions
    trainable = True
    inference_fixed = True  # fine-tuning changes the weights, not the architecture: inference costs the same

    def load(self) -> None:
        super().load()
        self._parent = self.model  # never trained: each fine-tuning starts from a copy of it
        self._made: Made | None = None
        self.trained_on: list[list[str]] = []  # the texts each fine-tuning saw, in order (folds, then the deployed model)

    @property
    def method(self) -> str:
        o, pairs = self.options, self._steps() * self.options.pair_batch_size
        return (
            f"fine-tuned on the samples ({METHOD}: {pairs} contrastive pairs of up to {o.train_max_length} tokens, "
            f"learning rate {o.learning_rate:g})"
        )

    def _steps(self) -> int:
        return max(1, math.ceil(self.options.pairs / self.options.pair_batch_size))

    def fine_tune(self, texts: Sequence[str], labels: Sequence[str]):
        """A copy of the parent body fine-tuned on ``texts`` only (contrastive pairs drawn from their labels)."""
        from setfit import SetFitModel, Trainer, TrainingArguments
        from transformers import set_seed

        texts, labels = list(texts), list(labels)
        self.trained_on.append(texts)
        body = copy.deepcopy(self._parent)
        body.max_seq_length = min(body.max_seq_length or self.options.train_max_length, self.options.train_max_length)
        classes = sorted(set(labels))
        index = {c: i for i, c in enumerate(classes)}
        set_seed(self.ctx.seed)
        with _quiet() as scratch:
            args = TrainingArguments(
                output_dir=scratch,
                batch_size=self.options.pair_batch_size,
                max_steps=self._steps(),
                body_learning_rate=self.options.learning_rate,
                seed=self.ctx.seed,
                report_to="none",
                save_strategy="no",
                logging_strategy="no",
                eval_strategy="no",
                show_progress_bar=False,
            )
            trainer = Trainer(model=SetFitModel(model_body=body), args=args)
            trainer.train_embeddings(x_train=texts, y_train=[index[lab] for lab in labels], args=args)
        body.max_seq_length = self._parent.max_seq_length  # inference reads as much of a text as the parent does
        return body.eval()

    def _embed_with(self, body, texts: Sequence[str]) -> np.ndarray:
        self.model = body
        return self.embed_all(texts)

    def cross_fit(self, texts: Sequence[str], labels: Sequence[str], folds: int, seed: int, progress: Progress | None = None) -> Prediction:
        from sklearn.model_selection import StratifiedKFold

        texts, y = list(texts), np.asarray(labels)
        out_labels = np.empty(len(y), dtype=object)
        out_conf = np.zeros(len(y))
        for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(texts, y):
            body = self.fine_tune([texts[i] for i in train], y[train].tolist())
            head = self._new_head().fit(self._embed_with(body, [texts[i] for i in train]), y[train])
            pred = Prediction.from_proba(head.predict_proba(self._embed_with(body, [texts[i] for i in test])), head.classes_)
            out_labels[test], out_conf[test] = pred.labels, pred.confidence
            if progress:
                progress(len(test))
        self.model = self._parent
        return Prediction([str(v) for v in out_labels], out_conf)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        """The deployed model: the body fine-tuned on all ``texts``, kept in the cache (reused when already made)."""
        import joblib

        from advisor.runners import bespoke
        from advisor.spec.sources import file_identity

        texts, labels = list(texts), list(labels)
        key = {
            "parent_files": file_identity(Path(self.path)),
            "options": self.options.model_dump(mode="json"),
            "seed": self.ctx.seed,
            "samples": bespoke.samples_digest(texts, labels),
            "class_weight": self.ctx.class_weight,
        }
        facts = {"method": self.method, "parent": self.spec.derived_from or str(self.path), "parent_path": str(self.path), **key}

        def make(folder: Path) -> None:
            body = self.fine_tune(texts, labels)
            self.head = self._new_head().fit(self._embed_with(body, texts), labels)
            body.save(str(folder / "body"))
            joblib.dump(self.head, folder / "head.joblib")

        folder, earlier = bespoke.cached(bespoke.made_folder("fine-tuned", self.spec.name, key), make, facts)
        what = "fine-tune the deployed model on all samples, then fit its head"
        self._made = Made(self.method, what, "train", str(folder), earlier)
        if earlier is not None:
            self._load_made(folder)

    def _load_made(self, folder: Path) -> None:
        import joblib
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(folder / "body"), device=self.ctx.device, local_files_only=True)
        self.model.max_seq_length = self._parent.max_seq_length
        self.head = joblib.load(folder / "head.joblib")

    def fit_deployed(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        self.fit(texts, labels)

    def fit_for_serving(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        """A head on the parent body: fine-tuning changes the weights, not what a query costs, so the sweep trains nothing."""
        EncoderHead.fit(self, texts, labels)

    def save_state(self, path: Path) -> Path:
        """For a student (``advisor distill``): the fine-tuned body beside the head, as a frozen encoder-head candidate."""
        self.model.save(str(path.parent / "body"))
        return super().save_state(path)

    def keep_state(self, folder: Path) -> dict:
        """The head, and the fine-tuned body kept in the cache's ``made/`` folder: together a frozen encoder-head."""
        made = self.made()
        if made is None or self.head is None:
            return {}
        from advisor.spec.options import EncoderOptions

        keep = {k: v for k, v in self.spec.options.items() if k in EncoderOptions.model_fields}
        fitted = str(EncoderHead.save_state(self, folder / "fitted.joblib").resolve())
        body = str((Path(made.path) / "body").resolve())
        return {"kind": "encoder-head", "source": {"local": body}, "options": {**keep, "fitted": fitted}}

    def deployed_spec(self, state: Path) -> dict:
        """Registry fields of the saved student: a frozen encoder (the fine-tuned body) with its fitted head."""
        from advisor.spec.options import EncoderOptions

        keep = {k: v for k, v in self.spec.options.items() if k in EncoderOptions.model_fields}
        return {
            "kind": "encoder-head",
            "source": {"local": str((state.parent / "body").resolve())},
            "options": {**keep, "fitted": str(state)},
        }

    def info(self) -> ModelInfo:
        info = super().info()
        info.derived = self.method
        return info


def _quiet():
    """Silence the trainer's logs and prints; yields a scratch folder for its (unused) output directory."""
    import tempfile

    @contextlib.contextmanager
    def ctx():
        for name in ("setfit", "sentence_transformers", "transformers"):
            logging.getLogger(name).setLevel(logging.ERROR)
        with (
            tempfile.TemporaryDirectory(prefix="advisor-finetune-") as scratch,
            contextlib.redirect_stdout(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", UserWarning)  # e.g. pin_memory without an accelerator
            yield scratch

    return ctx()
