"""A ready fine-tuned classifier from the hub, run through ``transformers.pipeline``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from advisor.runners.base import ModelInfo, Prediction, Runner
from advisor.spec.options import PipelineOptions
from advisor.spec.sources import weights_size


class HfPipelineClassifier(Runner):
    """``pipeline("text-classification")`` over a local or hub model directory."""

    Options = PipelineOptions

    @classmethod
    def not_applicable(cls, spec, ctx) -> str | None:
        targets = set(cls.Options(**spec.options).label_map.values())
        if targets and not targets <= set(ctx.label_names):
            return f"predicts {', '.join(sorted(targets))}, not this task's labels ({', '.join(ctx.label_names)})"
        return None

    def load(self) -> None:
        from transformers import pipeline

        tokenizer = self.tokenizer_path or self.path
        self.pipe = pipeline("text-classification", model=str(self.path), tokenizer=str(tokenizer), device=self.ctx.device)
        task_labels = {label.lower(): label for label in self.ctx.label_names}
        mapping = {}
        for model_label in self.pipe.model.config.id2label.values():
            target = self.options.label_map.get(model_label) or task_labels.get(model_label.lower())
            if target is None or target not in self.ctx.label_names:
                raise ValueError(
                    f"model label '{model_label}' has no task label; set options.label_map (task labels: {', '.join(self.ctx.label_names)})"
                )
            mapping[model_label] = target
        self._mapping = mapping

    def predict(self, texts: Sequence[str]) -> Prediction:
        out = self.pipe(list(texts), batch_size=len(texts) or 1, truncation=True, max_length=self.options.max_length)
        return Prediction([self._mapping[o["label"]] for o in out], np.array([float(o["score"]) for o in out]))

    def info(self) -> ModelInfo:
        return ModelInfo(
            parameters=int(sum(p.numel() for p in self.pipe.model.parameters())),
            size_bytes=weights_size(self.path),
            details={"label_map": self._mapping},
        )
