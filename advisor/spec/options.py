"""Each candidate kind's ``options:`` block, validated without importing the kind's heavy libraries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RunnerOptions(BaseModel):
    """Base for a kind's ``options:`` block in the registry; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EncoderOptions(RunnerOptions):
    """Encoder and head settings."""

    max_length: int = Field(default=256, ge=8)
    normalize: bool = True
    C: float | None = Field(default=None, gt=0, description="head regularisation; None: chosen by inner cross-validation")
    class_weight: Literal["auto", "balanced", "none"] = "auto"
    output: str | None = Field(default=None, description="ONNX output holding token embeddings (default: first rank-3 output)")
    threads: int | None = Field(default=None, ge=1)
    quantize: Literal["int8-dynamic"] | None = Field(default=None, description="PyTorch: dynamic int8 quantisation of the Linear layers")
    export: Literal["fp32", "int8"] | None = Field(
        default=None, description="ONNX backend: export this PyTorch sentence encoder first (cached)"
    )
    fitted: str | None = Field(default=None, description="a saved fitted head (advisor distill): used as is, never refitted")


class FineTuneOptions(EncoderOptions):
    """A sentence encoder whose body is fine-tuned on the task's samples (SetFit: contrastive pairs), then a head."""

    pairs: int = Field(default=640, ge=16, le=1_000_000, description="contrastive pairs per fine-tuning (each fold and the deployed model)")
    learning_rate: float = Field(default=2e-5, gt=0, lt=1, description="the body's learning rate")
    pair_batch_size: int = Field(default=16, ge=2, le=1024, description="pairs per training step")
    train_max_length: int = Field(
        default=128, ge=8, description="tokens of each text the fine-tuning sees (inference keeps max_length): bounds its cost"
    )


class StaticOptions(RunnerOptions):
    """Static token embeddings (model2vec) and a logistic-regression head."""

    dims: int | None = Field(
        default=256, ge=2, description="distilling a sentence encoder: PCA dimensions of the static embeddings (None: the encoder's own)"
    )
    max_length: int | None = Field(default=512, ge=8, description="longer texts are cut to this many tokens")
    C: float | None = Field(default=None, gt=0, description="head regularisation; None: chosen by inner cross-validation")
    class_weight: Literal["auto", "balanced", "none"] = "auto"
    fitted: str | None = Field(default=None, description="a saved fitted head (advisor distill): used as is, never refitted")


class GenerationOptions(RunnerOptions):
    """Decoding and prompting settings."""

    max_new_tokens: int = Field(default=32, ge=1, le=4096)
    do_sample: bool = False
    temperature: float = Field(default=1.0, gt=0, description="only used when do_sample is true")
    seed: int = 0
    batch_size: int | None = Field(default=None, ge=1, description="generation batch; None: the batches the run gives (its --batch-size)")
    max_input_tokens: int = Field(default=512, ge=8, description="longer inputs are clipped to this many tokens")
    use_chat_template: bool = True


class PipelineOptions(RunnerOptions):
    """How the model's own labels map onto the task's labels."""

    label_map: dict[str, str] = Field(default_factory=dict, description="model label -> task label")
    max_length: int = Field(default=512, ge=8)


class PromptedOptions(RunnerOptions):
    """Prompting settings."""

    max_text_tokens: int = Field(default=256, ge=8)
    use_chat_template: bool = True
    calibrate: bool = Field(default=False, description="contextual calibration: divide out the label prior seen on content-free inputs")
    calibration_texts: list[str] = Field(default_factory=lambda: ["N/A", "", "[MASK]"], min_length=1)


class TfidfOptions(RunnerOptions):
    """Vectoriser and head settings."""

    max_features: int = Field(default=50_000, ge=1)
    ngram_max: int = Field(default=2, ge=1, le=5)
    min_df: int = Field(default=1, ge=1)
    sublinear_tf: bool = True
    C: float | None = Field(default=None, gt=0, description="head regularisation; None: chosen by inner cross-validation")
    class_weight: Literal["auto", "balanced", "none"] = "auto"
    fitted: str | None = Field(default=None, description="a saved fitted pipeline (advisor distill): used as is, never refitted")
