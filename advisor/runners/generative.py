"""Free text generation with a causal language model, for question answering and summarisation.

The prompt is an instruction, optional worked examples and the input, in the model's chat template
where it has one, else as plain text (``Question: ...\\nAnswer:``). Decoding is greedy by default,
in left-padded batches. Each output records how many tokens the model produced (its cost) and
whether it was cut off at ``max_new_tokens`` instead of ending by itself. GGUF files are
dequantised once and cached in full precision.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from advisor.runners.base import ModelInfo, Prediction, Progress, RunContext, Runner
from advisor.runners.gguf import is_gguf, load_causal_lm
from advisor.spec.kinds import GENERATIVE_TASK_TYPES, TASK_TYPES
from advisor.spec.options import GenerationOptions
from advisor.spec.schema import CandidateSpec
from advisor.spec.sources import weights_size

_LINE_DONE = re.compile(r"\S[^\n]*\n")
DEFAULT_INSTRUCTION = "Answer the question in a few words."


@dataclass(frozen=True)
class Generation:
    """One generated output.

    ``new_tokens`` counts the tokens the model produced for this input, including the end-of-sequence
    token that stopped it and excluding batch padding; ``truncated`` is true when no end-of-sequence
    token came within ``max_new_tokens``.
    """

    text: str
    new_tokens: int
    prompt_tokens: int
    truncated: bool = False


def count_new_tokens(ids: Sequence[int], eos_ids: Iterable[int]) -> tuple[int, bool]:
    """Tokens produced up to and including the first end-of-sequence token, and whether none came.

    ``ids`` are the generated ids of one row (after the prompt); whatever follows the first
    end-of-sequence token is padding added while other rows of the batch went on.
    """
    stops = set(eos_ids)
    for i, token in enumerate(ids):
        if token in stops:
            return i + 1, False
    return len(ids), True


class _LineDone:
    """A stopping criterion: a row is done once its generated text holds a complete non-empty line."""

    def __init__(self, tokenizer, width: int):
        self.tokenizer, self.width = tokenizer, width

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.width :], skip_special_tokens=True)
        return torch.tensor([bool(_LINE_DONE.search(t)) for t in texts], device=input_ids.device)


class Generator:
    """A causal LM answering texts by free generation. Construction is inert; :meth:`load` does the work.

    Args:
        path: a model folder or a ``.gguf`` file.
        instruction: what the model is asked to do with each input.
        shots: worked examples as (input, output) pairs, shown before the input.
        options: decoding and prompting settings.
        device: torch device to run on.
        tokenizer_path: a folder holding the tokenizer, when it is not beside the model.
        input_label, output_label: the field names of a plain-text prompt (``Question``/``Answer``,
            ``Text``/``Summary``, ...).
    """

    def __init__(
        self,
        path: Path,
        instruction: str = DEFAULT_INSTRUCTION,
        shots: Sequence[tuple[str, str]] = (),
        options: GenerationOptions | None = None,
        device: str = "cpu",
        tokenizer_path: Path | None = None,
        input_label: str = "Question",
        output_label: str = "Answer",
        stop_after_line: bool = False,
    ):
        self.path = Path(path)
        self.instruction = instruction.strip()
        self.shots = [(str(x), str(y)) for x, y in shots]
        self.options = options or GenerationOptions()
        self.device = device
        self.tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        self.input_label = input_label
        self.output_label = output_label
        self.stop_after_line = stop_after_line  # the answer is one line: generating past it would only cost energy
        self.model = None
        self.tokenizer = None

    def load(self) -> None:
        """Load tokenizer and weights (dequantising a GGUF file on first use)."""
        self._gguf = self.path if is_gguf(self.path) else None
        self.tokenizer, self.model = load_causal_lm(self.path, self.device, self.tokenizer_path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self._chat = bool(self.options.use_chat_template and getattr(self.tokenizer, "chat_template", None))
        self._eos = self._eos_ids()
        self._pad = [int(self.tokenizer.pad_token_id)] if self.tokenizer.pad_token_id not in self._eos else []

    def _eos_ids(self) -> list[int]:
        """Every token id that ends a generation: the model's generation config and the tokenizer's eos."""
        ids: set[int] = set()
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif configured:
            ids.update(int(i) for i in configured)
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        if not ids:
            raise ValueError(f"{self.path}: neither the tokenizer nor the generation config names an end-of-sequence token")
        return sorted(ids)

    def _clip(self, text: str) -> str:
        """``text`` cut to at most ``max_input_tokens`` tokens."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        limit = self.options.max_input_tokens
        return text if len(ids) <= limit else self.tokenizer.decode(ids[:limit])

    def _user_turn(self, text: str) -> str:
        return f"{self.instruction}\n\n{text}" if self.instruction else text

    def build_prompt(self, text: str) -> str:
        """The exact prompt string the model sees for ``text``."""
        text = self._clip(str(text))
        if self._chat:
            messages = []
            for shot_in, shot_out in self.shots:
                messages += [{"role": "user", "content": self._user_turn(shot_in)}, {"role": "assistant", "content": shot_out}]
            messages.append({"role": "user", "content": self._user_turn(text)})
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        head = f"{self.instruction}\n\n" if self.instruction else ""
        shots = "".join(f"{self.input_label}: {x}\n{self.output_label}: {y}\n\n" for x, y in self.shots)
        return f"{head}{shots}{self.input_label}: {text}\n{self.output_label}:"

    def _decoding(self) -> dict:
        """Keyword arguments for ``generate`` that fix the decoding, overriding the model's defaults."""
        o = self.options
        kwargs = dict(
            max_new_tokens=o.max_new_tokens,
            do_sample=o.do_sample,
            eos_token_id=self._eos,
            pad_token_id=self.tokenizer.pad_token_id,
            num_beams=1,
        )
        if o.do_sample:
            kwargs.update(temperature=o.temperature)
        else:  # keep sampling knobs from the model's generation config out of a greedy run
            kwargs.update(temperature=None, top_k=None, top_p=None)
        return kwargs

    def _generate_batch(self, texts: Sequence[str]) -> list[Generation]:
        import torch

        prompts = [self.build_prompt(t) for t in texts]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=not self._chat)
        enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        width = enc["input_ids"].shape[1]
        extra = {"stopping_criteria": [_LineDone(self.tokenizer, width)]} if self.stop_after_line else {}
        with torch.inference_mode():
            out = self.model.generate(**enc, **self._decoding(), **extra)
        prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
        results = []
        for row, prompt_tokens in zip(out[:, width:].tolist(), prompt_lengths):
            # a row finished by the line criterion is padded after its last token; otherwise only an end token finishes it
            n, truncated = count_new_tokens(row, self._eos + (self._pad if self.stop_after_line else []))
            line_done = False
            if self.stop_after_line:  # stopped once its answer line was complete: the token after it is padding
                line_done = bool(_LINE_DONE.search(self.tokenizer.decode(row[: n if truncated else n - 1], skip_special_tokens=True)))
                n, truncated = (n if truncated else n - 1, False) if line_done else (n, truncated)
            kept = row[: n if truncated or line_done else n - 1]
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            results.append(Generation(text=text, new_tokens=n, prompt_tokens=int(prompt_tokens), truncated=truncated))
        return results

    def generate(self, texts: Sequence[str], progress: Progress | None = None) -> list[Generation]:
        """One :class:`Generation` per text, in order; loads the model on first use."""
        import torch

        if self.model is None:
            self.load()
        texts = list(texts)
        if self.options.do_sample:
            torch.manual_seed(self.options.seed)
        size = self.options.batch_size or max(len(texts), 1)  # None: the caller's batch as given
        results: list[Generation] = []
        for start in range(0, len(texts), size):
            batch = texts[start : start + size]
            results += self._generate_batch(batch)
            if progress:
                progress(len(batch))
        return results

    def info(self) -> ModelInfo:
        """Parameter count of the loaded model and size of its weights on disk."""
        if self.model is None:
            self.load()
        params = sum(p.numel() for p in self.model.parameters())
        o = self.options
        return ModelInfo(
            parameters=int(params),
            size_bytes=weights_size(self._gguf or self.path),
            details={
                "format": "gguf (dequantised to float32 for inference)" if self._gguf else "transformers",
                "chat_template": self._chat,
                "decoding": f"sampling at temperature {o.temperature} (seed {o.seed})" if o.do_sample else "greedy",
                "max_new_tokens": o.max_new_tokens,
                "few_shot": len(self.shots),
                "device": self.device,
                "stops_after_first_line": self.stop_after_line,
            },
        )

    def close(self) -> None:
        """Release the model's memory."""
        self.model = None
        self.tokenizer = None


class GenerativeRunner(Runner):
    """The ``generator`` kind: answers by free generation; the task's answer parser reads the answer.

    Malformed or empty output parses to ``""`` and is scored wrong; output that never ends is cut
    at ``max_new_tokens`` and flagged. Generated token counts are kept for energy per token.
    """

    Options = GenerationOptions

    def __init__(self, spec: CandidateSpec, path: Path | None, ctx: RunContext, tokenizer_path: Path | None = None):
        super().__init__(spec, path, ctx, tokenizer_path)
        prompt = ctx.prompt
        shots = list(zip(ctx.few_shot_texts, ctx.few_shot_labels))[: prompt.few_shot]
        labels = TASK_TYPES[ctx.task_type].fields
        self.generator = Generator(
            path,
            prompt.instruction_for(ctx.task_type),
            shots,
            self.options,
            device=ctx.device,
            tokenizer_path=tokenizer_path,
            input_label=labels[0],
            output_label=labels[1],
            stop_after_line=prompt.answer.strategy == "first_line",
        )

    @classmethod
    def not_applicable(cls, spec: CandidateSpec, ctx: RunContext) -> str | None:
        if ctx.task_type not in GENERATIVE_TASK_TYPES:
            return f"a generator answers generative tasks ({', '.join(GENERATIVE_TASK_TYPES)}), not {ctx.task_type}"
        return None

    def load(self) -> None:
        self.generator.load()

    def predict(self, texts: Sequence[str]) -> Prediction:
        import numpy as np

        outputs = self.generator.generate(texts)
        answers = [self.ctx.prompt.answer.parse(g.text) for g in outputs]
        return Prediction(answers, np.zeros(len(answers)), [g.new_tokens for g in outputs], [g.truncated for g in outputs])

    def info(self) -> ModelInfo:
        info = self.generator.info()
        answer = self.ctx.prompt.answer
        info.answer_parser = answer.strategy + (f" {answer.pattern!r}" if answer.pattern else "")
        return info

    def close(self) -> None:
        self.generator.close()
