"""Tiny random-weight models written to disk for the runner tests (no network, about a second each).

Each ``make_*`` function writes one model folder and returns its path. The models are useless as
classifiers; they exist so that every runner can load, predict and report facts quickly.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "good",
    "bad",
    "great",
    "awful",
    "spam",
    "free",
    "win",
    "positive",
    "negative",
    "ham",
    "normal",
    "the",
    "a",
    "is",
    "it",
    "this",
    "that",
    "movie",
    "film",
    "was",
    "very",
    "not",
    "and",
    "i",
    "you",
    "money",
    "now",
    "click",
    "here",
    "prize",
    "meeting",
    "today",
    "see",
    "lunch",
    "love",
    "hate",
    "text",
    "answer",
    "options",
    "classify",
    "label",
    "x",
    "user",
    "assistant",
    ":",
    ",",
    ".",
    "!",
    "?",
]
VOCAB = SPECIAL + WORDS

HIDDEN = 16
LAYERS = 2
HEADS = 2
INTERMEDIATE = 32
MAX_POSITIONS = 64

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} [SEP] {% endfor %}{% if add_generation_prompt %}assistant :{% endif %}"
)


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def make_tokenizer(eos: bool = False, token_type_ids: bool | None = None):
    """A WordLevel ``PreTrainedTokenizerFast`` over :data:`VOCAB`.

    BERT-style by default ([CLS] text [SEP], returns ``token_type_ids``); with ``eos`` a causal-LM
    tokenizer instead: no added specials, [SEP] as eos, [CLS] as bos, no ``token_type_ids``.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if not eos:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
        )
    kwargs = dict(
        unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", model_max_length=MAX_POSITIONS
    )
    if eos:
        kwargs["eos_token"] = "[SEP]"
        kwargs["bos_token"] = "[CLS]"
    if token_type_ids is None:
        token_type_ids = not eos
    kwargs["model_input_names"] = ["input_ids", "token_type_ids", "attention_mask"] if token_type_ids else ["input_ids", "attention_mask"]
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)


def make_tokenizer_dir(path: str | Path, eos: bool = False, token_type_ids: bool | None = None) -> Path:
    """Save the tiny tokenizer to ``path`` so ``AutoTokenizer.from_pretrained(path)`` loads it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    make_tokenizer(eos=eos, token_type_ids=token_type_ids).save_pretrained(str(path))
    return path


def _bert_config(**extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=MAX_POSITIONS,
        pad_token_id=0,
        **extra,
    )


def randomize(model, std: float = 0.1):
    """Give every parameter (biases and norm weights too) distinct random values, so that no two
    tensors are equal and exporters cannot merge them; returns ``model``."""
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * std)
    return model


def tiny_bert(seed: int = 0):
    """A random-weight tiny ``BertModel`` in eval mode."""
    from transformers import BertModel

    _seed(seed)
    return randomize(BertModel(_bert_config())).eval()


def make_bert_encoder(path: str | Path, seed: int = 0) -> Path:
    """A sentence-transformers folder (tiny BERT + mean pooling) loadable by ``SentenceTransformer(path)``."""
    from sentence_transformers import SentenceTransformer, models

    path = Path(path)
    with tempfile.TemporaryDirectory() as raw:
        make_tokenizer_dir(raw)
        tiny_bert(seed).save_pretrained(raw)
        word = models.Transformer(raw, max_seq_length=MAX_POSITIONS)
        dim = word.get_embedding_dimension() if hasattr(word, "get_embedding_dimension") else word.get_word_embedding_dimension()
        pooling = models.Pooling(dim, pooling_mode="mean")
        SentenceTransformer(modules=[word, pooling], device="cpu").save(str(path))
    return path


def make_onnx_encoder(path: str | Path, seed: int = 0, token_type_ids: bool = True) -> Path:
    """``model.onnx`` (inputs input_ids, attention_mask, token_type_ids; output last_hidden_state) + tokenizer.

    With ``token_type_ids=False`` the saved tokenizer does not return ``token_type_ids`` although
    the graph takes them (as with tokenizers of models that have no segment embeddings).
    """
    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    make_tokenizer_dir(path, token_type_ids=token_type_ids)
    model = Wrapper(tiny_bert(seed)).eval()
    ids = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]], dtype=torch.long)
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, mask, types),
            str(path / "model.onnx"),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )
    return path


def make_metaspace_tokenizer():
    """A sentencepiece-style tokenizer (BPE over ``▁``-prefixed words, as Llama/Mistral/Gemma use), trained
    in milliseconds on a tiny corpus. Its decoder drops the leading space of a decoded piece."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [" ".join(WORDS)] * 5 + ["Classify the text.\nOptions: negative, positive\n\nText: good movie\nAnswer: not good not bad"] * 5
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<s>", "</s>", "<pad>"], show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_input_names=["input_ids", "attention_mask"],
    )


def make_causal_lm(path: str | Path, seed: int = 0, chat_template: bool = False, tokenizer: str = "wordlevel") -> Path:
    """A tiny random ``LlamaForCausalLM`` + tokenizer; optionally a chat template.

    ``tokenizer="wordlevel"``: the WordLevel vocabulary ([SEP] is eos, [PAD] pad); ``"metaspace"``:
    :func:`make_metaspace_tokenizer` (``</s>`` eos, ``<pad>`` pad).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(eos=True) if tokenizer == "wordlevel" else make_metaspace_tokenizer()
    if chat_template:
        tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(str(path))
    _seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS,
        max_position_embeddings=256,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).eval().save_pretrained(str(path))
    return path


def make_sequence_classifier(path: str | Path, labels: tuple[str, ...] = ("NEGATIVE", "POSITIVE"), seed: int = 0) -> Path:
    """A tiny random ``BertForSequenceClassification`` with ``id2label`` + tokenizer, for ``pipeline("text-classification")``."""
    from transformers import BertForSequenceClassification

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    make_tokenizer_dir(path)
    _seed(seed)
    config = _bert_config(
        num_labels=len(labels),
        id2label={i: label for i, label in enumerate(labels)},
        label2id={label: i for i, label in enumerate(labels)},
    )
    randomize(BertForSequenceClassification(config)).eval().save_pretrained(str(path))
    return path
