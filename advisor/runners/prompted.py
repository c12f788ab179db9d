"""A generative model prompted as a zero- or few-shot classifier.

Each label gets a verbalizer word; the model scores the words as the answer to the prompt (in
its chat template where it has one). When the words start with distinct tokens, one forward pass
per batch reads the next-token distribution; otherwise each word's full log-likelihood is summed.
Scoring, not free generation, so malformed output cannot occur and every query costs the same.
GGUF files are dequantised once and cached in full precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from advisor.runners.base import ModelInfo, Prediction, Runner
from advisor.runners.gguf import is_gguf, load_causal_lm
from advisor.spec.options import PromptedOptions
from advisor.spec.sources import weights_size


class PromptedClassifier(Runner):
    """Zero-/few-shot classification by scoring label words with a causal language model."""

    Options = PromptedOptions

    def load(self) -> None:
        path = self.path
        self._gguf = path if is_gguf(path) else None
        self.tokenizer, self.model = load_causal_lm(path, self.ctx.device)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self._chat = bool(self.options.use_chat_template and getattr(self.tokenizer, "chat_template", None))
        prompt = self.ctx.prompt
        verbal = prompt.verbalizers or {}
        self.words = [verbal.get(label, label) for label in self.ctx.label_names]
        self._shots = list(zip(self.ctx.few_shot_texts, self.ctx.few_shot_labels))[: prompt.few_shot]
        self._label_ids = self._continuations()
        firsts = [ids[0] for ids in self._label_ids]
        self._single_pass = len(set(firsts)) == len(firsts)
        self._log_prior = None
        if self.options.calibrate:  # the model's bias towards each label word when the text says nothing
            import torch

            prior = torch.softmax(self._label_scores(self.options.calibration_texts), dim=1).mean(0)
            self._log_prior = torch.log(prior)

    def _user_turn(self, text: str) -> str:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][: self.options.max_text_tokens]
        clipped = self.tokenizer.decode(ids)
        p = self.ctx.prompt
        return p.template.format(instruction=p.instruction_for("text-classification"), options=", ".join(self.words), text=clipped)

    def build_prompt(self, text: str) -> str:
        """The exact prompt string the model sees for ``text``."""
        word_of = dict(zip(self.ctx.label_names, self.words))
        if self._chat:
            messages = []
            for shot_text, shot_label in self._shots:
                messages += [{"role": "user", "content": self._user_turn(shot_text)}, {"role": "assistant", "content": word_of[shot_label]}]
            messages.append({"role": "user", "content": self._user_turn(text)})
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        shots = "".join(f"{self._user_turn(t)} {word_of[y]}\n\n" for t, y in self._shots)
        return shots + self._user_turn(text)

    def _continuations(self) -> list[list[int]]:
        """Token ids each label word adds after a prompt (with a leading space outside chat templates)."""
        probe = self.build_prompt("x")
        base = self.tokenizer(probe, add_special_tokens=False)["input_ids"]
        out = []
        for word in self.words:
            full = self.tokenizer(probe + ("" if self._chat else " ") + word, add_special_tokens=False)["input_ids"]
            k = 0
            while k < min(len(base), len(full)) and base[k] == full[k]:
                k += 1
            out.append(full[k:] or full[-1:])
        return out

    def _forward_ids(self, rows: list[list[int]]):
        """Logits for token-id rows, left-padded by hand so the label tokens stay exactly as scored."""
        import torch

        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            dev = self.ctx.device
            return self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=position_ids.to(dev)).logits.cpu()

    def _label_scores(self, texts: Sequence[str]):
        """Log-scores of each label word as the answer for each text, shape (n, labels)."""
        import torch

        prompts = [self.tokenizer(self.build_prompt(t), add_special_tokens=False)["input_ids"] for t in texts]
        if self._single_pass:
            logits = self._forward_ids(prompts)[:, -1, :]
            return torch.log_softmax(logits.float(), dim=-1)[:, [ids[0] for ids in self._label_ids]]
        cols = []
        for ids in self._label_ids:
            n = len(ids)
            logp = torch.log_softmax(self._forward_ids([p + ids for p in prompts]).float(), dim=-1)
            target = torch.tensor(ids).expand(len(prompts), n)[..., None]
            cols.append(logp[:, -n - 1 : -1, :].gather(-1, target).squeeze(-1).sum(-1))
        return torch.stack(cols, dim=1)

    def predict(self, texts: Sequence[str]) -> Prediction:
        import torch

        scores = torch.log_softmax(self._label_scores(texts), dim=1)
        if self._log_prior is not None:
            scores = scores - self._log_prior
        proba = torch.softmax(scores, dim=1).numpy()
        return Prediction.from_proba(np.asarray(proba), self.ctx.label_names)

    def info(self) -> ModelInfo:
        params = sum(p.numel() for p in self.model.parameters())
        src = self._gguf or self.path
        return ModelInfo(
            parameters=int(params),
            size_bytes=weights_size(src),
            details={
                "format": "gguf (dequantised to float32 for inference)" if self._gguf else "transformers",
                "chat_template": self._chat,
                "scoring": "next-token over label words" if self._single_pass else "full label log-likelihood",
                "label_words": self.words,
                "few_shot": len(self._shots),
                "calibrated": self._log_prior is not None,
            },
        )
