"""Contract tests for every runner kind, measured end to end on tiny random-weight models.

Each kind is measured once (module-scoped fixture) through :func:`advisor.measure.candidate.measure` with a
:class:`~advisor.measure.metering.FakeMeter`; the tests then check what every result must satisfy. The
classifier kinds answer a two-label sentiment task; the ``generator`` kind answers a question-answering
task whose reference answers are, for every other question, the model's own greedy answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from advisor.core.results import CandidateResult
from advisor.measure.candidate import Job, measure, resolved_sources
from advisor.measure.metering import FakeMeter
from advisor.runners import RunContext, Runner, runner_class
from advisor.spec.schema import CandidateSpec, MetricSpec, PromptSpec
from advisor.spec.settings import Measurement
from tests import tiny_models as tm

LABELS = ["negative", "positive"]
_POS = ["good", "great", "love", "very good", "great film", "i love it"]
_NEG = ["bad", "awful", "hate", "very bad", "awful film", "i hate it"]
_TAIL = ["", " movie", " this movie", " the film was", " it is", " today", " and you"]


def _samples(n_per_label: int = 20) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for i in range(n_per_label):
        texts.append(f"{_POS[i % len(_POS)]}{_TAIL[i % len(_TAIL)]}".strip())
        labels.append("positive")
        texts.append(f"{_NEG[i % len(_NEG)]}{_TAIL[(i + 3) % len(_TAIL)]}".strip())
        labels.append("negative")
    return texts, labels


TEXTS, TRUE = _samples()
# measure() is given its meter (a FakeMeter) directly; the settings' meter is never built here
MEASUREMENT = Measurement(batch_size=8, repeats=2, min_window_s=0.05, latency_queries=3, idle_s=0, meter="null", isolate=False)
FOLDS = 3

QUESTIONS = [f"{w} {v} ?" for w, v in zip(["is", "you", "see", "the", "that", "this"] * 4, tm.WORDS[:24])]
NO_ANSWER = "zebra"  # not in the tiny vocabulary: the model can never produce it
MAX_NEW_TOKENS = 4


def spec(
    kind: str, backend: str, local: Path | str | None = None, name: str | None = None, task_types: list[str] | None = None, **options: Any
) -> CandidateSpec:
    data: dict[str, Any] = {
        "name": name or f"tiny-{kind}-{backend}",
        "tier": "small",
        "kind": kind,
        "backend": backend,
        "task_types": task_types or ["text-classification"],
        "license": "apache-2.0",
        "options": options,
    }
    if local is not None:
        data["source"] = {"local": str(local)}
    return CandidateSpec.model_validate(data)


def context(prompt: PromptSpec | None = None, label_names: list[str] | None = None) -> RunContext:
    return RunContext(label_names=label_names or LABELS, prompt=prompt or PromptSpec(), seed=0, batch_size=MEASUREMENT.batch_size)


QA_CONTEXT = RunContext(label_names=[], prompt=PromptSpec(), seed=0, batch_size=MEASUREMENT.batch_size, task_type="question-answering")


def job(candidate: CandidateSpec, prompt: PromptSpec | None = None, label_names: list[str] | None = None) -> Job:
    names = label_names or LABELS
    return Job(
        spec=candidate,
        registry_dir=None,
        texts=TEXTS,
        labels=TRUE,
        label_names=names,
        metric=MetricSpec(name="accuracy"),
        folds=FOLDS,
        seed=0,
        measurement=MEASUREMENT,
        context=context(prompt, names),
    )


def safetensors_parameters(folder: Path) -> int:
    """Numbers stored in a folder's ``.safetensors`` files, counted from the file headers."""
    from safetensors import safe_open

    total = 0
    for file in folder.rglob("*.safetensors"):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= d
                total += n
    return total


def loaded(candidate: CandidateSpec, ctx: RunContext) -> Runner:
    """The candidate's runner, sources resolved as measure() resolves them, loaded."""
    found = resolved_sources(candidate, None, ctx)
    assert not isinstance(found, CandidateResult), found.reason
    path, tokenizer = found
    runner = runner_class(candidate.kind)(candidate, path, ctx, tokenizer)
    runner.load()
    return runner


# ---------------------------------------------------------------- tiny models, built once per session


@pytest.fixture(scope="session")
def st_encoder(tmp_path_factory) -> Path:
    return tm.make_bert_encoder(tmp_path_factory.mktemp("models") / "st-encoder")


@pytest.fixture(scope="session")
def onnx_encoder(tmp_path_factory) -> Path:
    return tm.make_onnx_encoder(tmp_path_factory.mktemp("models") / "onnx-encoder")


@pytest.fixture(scope="session")
def causal_lm(tmp_path_factory) -> Path:
    return tm.make_causal_lm(tmp_path_factory.mktemp("models") / "causal-lm")


@pytest.fixture(scope="session")
def chat_lm(tmp_path_factory) -> Path:
    return tm.make_causal_lm(tmp_path_factory.mktemp("models") / "chat-lm", chat_template=True)


@pytest.fixture(scope="session")
def answering_lm(tmp_path_factory) -> Path:
    # seed 1: its greedy answers are words, not an immediate end of sequence (seed 0's are all empty)
    return tm.make_causal_lm(tmp_path_factory.mktemp("models") / "answering-lm", seed=1)


@pytest.fixture(scope="session")
def classifier(tmp_path_factory) -> Path:
    return tm.make_sequence_classifier(tmp_path_factory.mktemp("models") / "classifier")


# ---------------------------------------------------------------- the contract, one case per kind


@dataclass
class Case:
    candidate: CandidateSpec
    parameters: int
    size_bytes: int | tuple[int, int]  # exact, or (least, most) where the size is not known in advance
    trainable: bool
    details: dict[str, Any]  # expected entries of the result's details
    texts: list[str] = field(default_factory=lambda: TEXTS)
    truth: list[str] = field(default_factory=lambda: TRUE)
    ctx: RunContext = field(default_factory=context)
    metric: str = "accuracy"
    generative: bool = False

    def job(self) -> Job:
        return Job(
            spec=self.candidate,
            registry_dir=None,
            texts=self.texts,
            labels=self.truth,
            label_names=self.ctx.label_names,
            metric=MetricSpec(name=self.metric),
            folds=FOLDS,
            seed=0,
            measurement=MEASUREMENT,
            context=self.ctx,
        )

    def valid_output(self, prediction: str) -> bool:
        """A task label for a classifier; for a generator, text made of the tiny vocabulary's words (or nothing)."""
        return set(prediction.split()) <= set(tm.WORDS) if self.generative else prediction in LABELS


def _tfidf(request) -> Case:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vocabulary = len(TfidfVectorizer(ngram_range=(1, 2)).fit(TEXTS).vocabulary_)
    # binary head: coef of shape (1, V) plus one intercept; the pickled pipeline holds at least the idf and coef float64 arrays
    return Case(
        spec("tfidf-logreg", "sklearn"),
        parameters=vocabulary + 1,
        size_bytes=(2 * 8 * vocabulary, 64 * 1024),
        trainable=True,
        details={"vocabulary": vocabulary},
    )


HEAD = tm.HIDDEN + 1  # binary logistic head on HIDDEN-dim embeddings


def _encoder_details(encoder: int, backend: str) -> dict[str, Any]:
    return {"encoder_parameters": encoder, "head_parameters": HEAD, "runtime": backend}


def _prompted_details(chat: bool) -> dict[str, Any]:
    return {"format": "transformers", "chat_template": chat, "scoring": "next-token over label words", "label_words": LABELS, "few_shot": 0}


def _encoder_st(request) -> Case:
    path = request.getfixturevalue("st_encoder")
    encoder = safetensors_parameters(path)
    return Case(
        spec("encoder-head", "sentence-transformers", path),
        encoder + HEAD,
        (path / "model.safetensors").stat().st_size,
        trainable=True,
        details=_encoder_details(encoder, "sentence-transformers"),
    )


def _encoder_finetuned(request) -> Case:
    path = request.getfixturevalue("st_encoder")
    encoder = safetensors_parameters(path)
    return Case(
        spec("encoder-finetuned", "sentence-transformers", path, pairs=16, pair_batch_size=8),
        encoder + HEAD,
        (path / "model.safetensors").stat().st_size,
        trainable=True,
        details=_encoder_details(encoder, "sentence-transformers"),
    )


def _static(request) -> Case:
    """Static embeddings distilled from the tiny encoder; the count is read from the distilled file's header."""
    path = request.getfixturevalue("st_encoder")
    candidate = spec("static-head", "model2vec", path, dims=None)
    runner = loaded(candidate, context())
    try:
        folder = Path(runner.made().path)
    finally:
        runner.close()
    vectors = safetensors_parameters(folder)
    return Case(
        candidate,
        vectors + HEAD,
        (1, (folder / "model.safetensors").stat().st_size + 2**20),  # the vectors plus the tokenizer file
        trainable=True,
        details={"encoder_parameters": vectors, "head_parameters": HEAD, "runtime": "model2vec", "dimensions": tm.HIDDEN},
    )


def _onnx_parameters() -> int:
    # The exported graph holds the encoder without BERT's pooler (only last_hidden_state is an output).
    bert = tm.tiny_bert()
    return sum(p.numel() for n, p in bert.named_parameters() if not n.startswith("pooler."))


def _encoder_onnx(request) -> Case:
    path = request.getfixturevalue("onnx_encoder")
    return Case(
        spec("encoder-head", "onnx", path),
        _onnx_parameters() + HEAD,
        (path / "model.onnx").stat().st_size,
        trainable=True,
        details=_encoder_details(_onnx_parameters(), "onnx"),
    )


def _encoder_onnx_file(request) -> Case:
    path = request.getfixturevalue("onnx_encoder") / "model.onnx"
    return Case(
        spec("encoder-head", "onnx", path),
        _onnx_parameters() + HEAD,
        path.stat().st_size,
        trainable=True,
        details=_encoder_details(_onnx_parameters(), "onnx"),
    )


def _prompted(request) -> Case:
    path = request.getfixturevalue("causal_lm")
    return Case(
        spec("prompted", "transformers", path),
        safetensors_parameters(path),
        (path / "model.safetensors").stat().st_size,
        trainable=False,
        details=_prompted_details(chat=False),
    )


def _prompted_chat(request) -> Case:
    path = request.getfixturevalue("chat_lm")
    return Case(
        spec("prompted", "transformers", path),
        safetensors_parameters(path),
        (path / "model.safetensors").stat().st_size,
        trainable=False,
        details=_prompted_details(chat=True),
    )


def _pipeline(request) -> Case:
    path = request.getfixturevalue("classifier")
    return Case(
        spec("hf-pipeline", "transformers", path),
        safetensors_parameters(path),
        (path / "model.safetensors").stat().st_size,
        trainable=False,
        details={"label_map": {"NEGATIVE": "negative", "POSITIVE": "positive"}},
    )


def _generator(request) -> Case:
    """Question answering by free generation. The references are the model's own greedy answers (asked in the
    batches measure() uses) for even questions and an answer it cannot give for odd ones: exact match is 1/2."""
    path = request.getfixturevalue("answering_lm")
    candidate = spec("generator", "transformers", path, task_types=["question-answering"], max_new_tokens=MAX_NEW_TOKENS)
    runner = loaded(candidate, QA_CONTEXT)
    try:
        bs = MEASUREMENT.batch_size
        answers = [a for i in range(0, len(QUESTIONS), bs) for a in runner.predict(QUESTIONS[i : i + bs]).labels]
    finally:
        runner.close()
    assert any(answers), "the fixture model answers with words, so the vocabulary check below is not vacuous"
    truth = [a if i % 2 == 0 else NO_ANSWER for i, a in enumerate(answers)]
    details = {
        "format": "transformers",
        "chat_template": False,
        "decoding": "greedy",
        "max_new_tokens": MAX_NEW_TOKENS,
        "few_shot": 0,
        "stops_after_first_line": True,
    }
    return Case(
        candidate,
        safetensors_parameters(path),
        (path / "model.safetensors").stat().st_size,
        trainable=False,
        details=details,
        texts=QUESTIONS,
        truth=truth,
        ctx=QA_CONTEXT,
        metric="exact_match",
        generative=True,
    )


def _cascade_package(request) -> Case:
    """An exported cascade, written as ``advisor export`` writes one: two TF-IDF stage packages under ``stages/`` and a
    manifest that routes between them; its candidate entry is what ``package_entry`` makes of it."""
    import json

    from advisor.runners.packaged import package_runner
    from advisor.spec.package import MANIFEST, Manifest, PackageTask, ServingConfig, file_hashes, package_entry, read_manifest

    root = request.getfixturevalue("tmp_path_factory").mktemp("cascade-package")
    task = PackageTask(name="t", type="text-classification", metric="accuracy", metric_label="accuracy", label_names=LABELS)
    serving = ServingConfig(runtime="scikit-learn", batch_size=MEASUREMENT.batch_size, chosen_by="the test")
    common = {"run_id": "r", "created_at": "2026-01-01T00:00:00+00:00", "advisor_version": "0", "task": task, "serving": serving}
    parameters = size = 0
    for i, features in enumerate((3, 500)):
        stage = spec("tfidf-logreg", "sklearn", name=f"stage-{i}", max_features=features)
        runner = loaded(stage, context())
        runner.fit(TEXTS, TRUE)
        folder = root / "stages" / str(i)
        (folder / "model").mkdir(parents=True)
        fields = runner.keep_state(folder / "model")
        runner.close()
        entry = {**stage.model_dump(mode="json", exclude_defaults=True), "options": {**fields["options"], "fitted": "fitted.joblib"}}
        m = Manifest(name=stage.name, candidate=stage.name, entry=entry, **common)
        (folder / MANIFEST).write_text(m.model_copy(update={"files": file_hashes(folder)}).model_dump_json(), encoding="utf-8")
        alone = package_runner(folder, read_manifest(folder))  # each stage as a package of its own
        parameters, size = parameters + alone.info().parameters, size + alone.info().size_bytes
        alone.close()
    entry = {"kind": "cascade", "stages": ["stages/0", "stages/1"], "gate": 0.7, "names": ["stage-0", "stage-1"], "license": "x"}
    top = Manifest(name="stage-0+stage-1", candidate="stage-0+stage-1", entry=entry, **common)
    (root / MANIFEST).write_text(json.dumps({**top.model_dump(mode="json"), "files": file_hashes(root)}), encoding="utf-8")
    candidate = package_entry(root, read_manifest(root))
    return Case(candidate, parameters, size, trainable=False, details={"stages": 2, "gate": 0.7})


CASES = {  # id: ((kind, backend), case builder)
    "tfidf-logreg": (("tfidf-logreg", "sklearn"), _tfidf),
    "encoder-head-sentence-transformers": (("encoder-head", "sentence-transformers"), _encoder_st),
    "encoder-head-onnx": (("encoder-head", "onnx"), _encoder_onnx),
    "encoder-head-onnx-file": (("encoder-head", "onnx"), _encoder_onnx_file),
    "encoder-finetuned": (("encoder-finetuned", "sentence-transformers"), _encoder_finetuned),
    "static-head": (("static-head", "model2vec"), _static),
    "prompted": (("prompted", "transformers"), _prompted),
    "prompted-chat-template": (("prompted", "transformers"), _prompted_chat),
    "hf-pipeline": (("hf-pipeline", "transformers"), _pipeline),
    "generator": (("generator", "transformers"), _generator),
    "cascade-package": (("cascade-package", "advisor"), _cascade_package),
}


def test_every_kind_and_backend_has_a_contract_case():
    from advisor.spec.kinds import KINDS

    assert {kind_backend for kind_backend, _ in CASES.values()} == {(k.name, b) for k in KINDS.values() for b in k.backends}


@pytest.fixture(scope="module", params=list(CASES))
def measured(request) -> tuple[Case, CandidateResult]:
    (kind, backend), build = CASES[request.param]
    case = build(request)
    assert (case.candidate.kind, case.candidate.backend) == (kind, backend)
    result = measure(case.job(), FakeMeter())
    return case, result


def test_status_ok(measured):
    case, r = measured
    assert r.status == "ok", r.reason
    assert r.reason is None
    assert r.kind == case.candidate.kind and r.backend == case.candidate.backend


def test_predictions_cover_every_sample_with_valid_outputs(measured):
    case, r = measured
    assert r.predictions is not None and len(r.predictions) == len(case.texts)
    assert [p for p in r.predictions if not case.valid_output(p)] == []
    assert r.probabilities is not None and len(r.probabilities) == len(case.texts)
    assert all(0.0 <= c <= 1.0 for c in r.probabilities)


def test_quality_is_a_fraction(measured):
    case, r = measured
    assert r.quality is not None and 0.0 <= r.quality <= 1.0
    # the reported quality is the share of the stored predictions that equal the references (accuracy; exact match)
    assert r.quality == pytest.approx(sum(p == t for p, t in zip(r.predictions, case.truth)) / len(case.truth))
    if case.generative:  # its references are its own greedy answers for even questions and an impossible one for odd ones
        assert r.predictions[::2] == case.truth[::2] and r.quality == pytest.approx(0.5)


def test_energy_per_query(measured):
    _, r = measured
    e = r.energy
    assert e is not None
    assert e.per_query_j > 0
    assert len(e.repeats_per_query_j) == MEASUREMENT.repeats
    assert e.per_query_j == pytest.approx(sum(e.repeats_per_query_j) / len(e.repeats_per_query_j))
    assert e.cpu_per_query_j + e.ram_per_query_j + e.gpu_per_query_j == pytest.approx(e.per_query_j)
    assert e.gpu_per_query_j == 0.0  # the fake meter's GPU draws nothing
    assert e.cpu_per_query_j == pytest.approx(e.ram_per_query_j * 5 / 2)  # FakeMeter: 5 W CPU, 2 W RAM
    assert e.marginal_per_query_j == pytest.approx(e.per_query_j)  # idle_s=0: no idle baseline to subtract
    assert e.window_queries >= MEASUREMENT.batch_size
    assert len(e.window_durations_s) == MEASUREMENT.repeats and all(d > 0 for d in e.window_durations_s)
    assert r.throughput_qps is not None and r.throughput_qps > 0


def test_energy_per_token_only_for_generators(measured):
    case, r = measured
    e = r.energy
    if case.generative:
        assert 1 <= e.tokens_per_query <= MAX_NEW_TOKENS
        assert e.per_token_j > 0 and e.per_token_j * e.tokens_per_query == pytest.approx(e.per_query_j, rel=1e-6)
        assert 1 <= r.generation.tokens_mean <= r.generation.tokens_max <= MAX_NEW_TOKENS
        assert 0.0 <= r.generation.truncated_share <= 1.0
        assert r.answer_parser == "first_line"
    else:
        assert e.per_token_j is None and e.tokens_per_query is None
        assert r.generation is None


def test_parameters_match_the_model(measured):
    case, r = measured
    assert r.parameters is not None and r.parameters > 0
    assert r.parameters == case.parameters


def test_size_on_disk(measured):
    case, r = measured
    least, most = case.size_bytes if isinstance(case.size_bytes, tuple) else (case.size_bytes, case.size_bytes)
    assert 0 < least <= r.size_bytes <= most


def test_latency_percentiles(measured):
    _, r = measured
    assert r.latency_p50_ms is not None and r.latency_p95_ms is not None
    assert 0 < r.latency_p50_ms <= r.latency_p95_ms
    assert r.load_s is not None and r.load_s >= 0


def test_fit_stats_only_for_trainable_kinds(measured):
    case, r = measured
    assert runner_class(case.candidate.kind).trainable is case.trainable
    if case.trainable:
        assert r.fit is not None and r.fit.energy_j > 0 and r.fit.duration_s > 0
    else:
        assert r.fit is None


def test_details(measured):
    case, r = measured
    assert {k: r.details.get(k) for k in case.details} == case.details
    if case.candidate.kind in ("encoder-head", "encoder-finetuned", "static-head"):
        assert r.details["encoder_parameters"] + r.details["head_parameters"] == r.parameters


def test_predict_returns_one_output_per_input_and_info_counts_the_parameters(measured):
    """The runner protocol used directly: load, (fit), predict a batch, info(). A kind that does not train
    predicts exactly what the measurement stored; a trainable one is refitted here on every sample."""
    case, r = measured
    runner = loaded(case.candidate, case.ctx)
    try:
        if case.trainable:
            runner.fit(case.texts, case.truth)
        batch = case.texts[: MEASUREMENT.batch_size]  # measure()'s first batch: the same padding, so the same outputs
        pred = runner.predict(batch)
        assert len(pred.labels) == len(pred.confidence) == len(batch)
        assert all(case.valid_output(p) for p in pred.labels)
        if case.generative:
            assert len(pred.tokens) == len(pred.truncated) == len(batch)
            assert all(1 <= t <= MAX_NEW_TOKENS for t in pred.tokens)
        else:
            assert pred.tokens is None
        if not case.trainable:
            assert pred.labels == r.predictions[: len(batch)]
        info = runner.info()
        assert info.parameters == case.parameters > 0
        assert info.size_bytes == r.size_bytes
    finally:
        runner.close()


# ---------------------------------------------------------------- skipped and failed candidates


@pytest.mark.parametrize(
    "kind,backend",
    [
        ("encoder-head", "sentence-transformers"),
        ("encoder-head", "onnx"),
        ("prompted", "transformers"),
        ("hf-pipeline", "transformers"),
    ],
)
def test_missing_local_source_is_skipped(tmp_path, kind, backend):
    missing = tmp_path / "no-such-model"
    r = measure(job(spec(kind, backend, missing)), FakeMeter())
    assert r.status == "skipped"
    assert str(missing) in r.reason
    assert r.quality is None and r.energy is None and r.predictions is None


def test_pipeline_with_foreign_label_map_is_skipped(classifier):
    candidate = spec("hf-pipeline", "transformers", classifier, label_map={"NEGATIVE": "ham", "POSITIVE": "spam"})
    meter = FakeMeter()
    r = measure(job(candidate), meter)
    assert r.status == "skipped"
    assert "ham" in r.reason and "spam" in r.reason
    assert meter.windows == []  # nothing was loaded or measured


def _one_line_load_failure(r: CandidateResult) -> None:
    assert r.status == "failed"
    assert r.reason.startswith("load failed"), r.reason
    assert "\n" not in r.reason
    assert r.quality is None and r.energy is None


def test_onnx_graph_with_token_types_and_tokenizer_without_them(tmp_path):
    folder = tm.make_onnx_encoder(tmp_path / "onnx-no-token-types", token_type_ids=False)
    r = measure(job(spec("encoder-head", "onnx", folder)), FakeMeter())
    assert r.status == "ok", r.reason


def test_corrupt_onnx_file_fails_to_load(tmp_path):
    folder = tm.make_tokenizer_dir(tmp_path / "corrupt-onnx")
    (folder / "model.onnx").write_bytes(random.Random(0).randbytes(2048))
    r = measure(job(spec("encoder-head", "onnx", folder)), FakeMeter())
    _one_line_load_failure(r)


def test_onnx_folder_without_a_model_fails_to_load(tmp_path):
    folder = tm.make_tokenizer_dir(tmp_path / "no-onnx")
    r = measure(job(spec("encoder-head", "onnx", folder)), FakeMeter())
    _one_line_load_failure(r)


def test_pipeline_label_without_task_label_fails_to_load(tmp_path):
    folder = tm.make_sequence_classifier(tmp_path / "labels-0-1", labels=("LABEL_0", "LABEL_1"))
    r = measure(job(spec("hf-pipeline", "transformers", folder)), FakeMeter())
    _one_line_load_failure(r)
    assert "LABEL_0" in r.reason


def test_pipeline_label_map_renames_model_labels(tmp_path):
    folder = tm.make_sequence_classifier(tmp_path / "labels-0-1", labels=("LABEL_0", "LABEL_1"))
    candidate = spec("hf-pipeline", "transformers", folder, label_map={"LABEL_0": "negative", "LABEL_1": "positive"})
    r = measure(job(candidate), FakeMeter())
    assert r.status == "ok", r.reason
    assert set(r.predictions) <= set(LABELS)
    assert r.details["label_map"] == {"LABEL_0": "negative", "LABEL_1": "positive"}


# ---------------------------------------------------------------- prompted runner specifics


def _loaded(path: Path, prompt: PromptSpec | None = None, texts: list[str] | None = None, labels: list[str] | None = None, **options):
    cls = runner_class("prompted")
    ctx = RunContext(
        label_names=LABELS, prompt=prompt or PromptSpec(), seed=0, batch_size=8, few_shot_texts=texts or [], few_shot_labels=labels or []
    )
    runner = cls(spec("prompted", "transformers", path, **options), path, ctx)
    runner.load()
    return runner


def _label_logprob(runner, prompt: str, word_ids: list[int]) -> float:
    """log P(label word | prompt), computed one prompt at a time without padding."""
    import torch

    ids = runner.tokenizer(prompt, add_special_tokens=False)["input_ids"] + list(word_ids)
    with torch.inference_mode():
        logits = runner.model(input_ids=torch.tensor([ids])).logits[0]
    logp = torch.log_softmax(logits.float(), dim=-1)
    n = len(word_ids)
    return float(sum(logp[len(ids) - n - 1 + j, word_ids[j]] for j in range(n)))


def _check_scores(runner, texts: list[str]) -> None:
    """The runner's batched (left-padded) confidences equal an unpadded one-by-one computation."""
    import math

    pred = runner.predict(texts)
    for i, text in enumerate(texts):
        prompt = runner.build_prompt(text)
        scores = [_label_logprob(runner, prompt, ids) for ids in runner._label_ids]
        top = max(scores)
        proba = [math.exp(s - top) for s in scores]
        proba = [p / sum(proba) for p in proba]
        best = max(range(len(proba)), key=proba.__getitem__)
        assert pred.labels[i] == LABELS[best]
        assert pred.confidence[i] == pytest.approx(proba[best], abs=1e-4)


def test_prompted_shared_first_token_uses_full_log_likelihood(causal_lm):
    prompt = PromptSpec(verbalizers={"negative": "not good", "positive": "not bad"})
    r = measure(job(spec("prompted", "transformers", causal_lm), prompt=prompt), FakeMeter())
    assert r.status == "ok", r.reason
    assert r.details["scoring"] == "full label log-likelihood"
    assert r.details["label_words"] == ["not good", "not bad"]
    runner = _loaded(causal_lm, prompt)
    try:
        assert [len(ids) for ids in runner._label_ids] == [2, 2]
        _check_scores(runner, TEXTS[:5])
    finally:
        runner.close()


def test_prompted_full_log_likelihood_with_sentencepiece_style_tokenizer(tmp_path):
    path = tm.make_causal_lm(tmp_path / "metaspace-lm", tokenizer="metaspace")
    runner = _loaded(path, PromptSpec(verbalizers={"negative": "not good", "positive": "not bad"}))
    try:
        assert runner.info().details["scoring"] == "full label log-likelihood"
        _check_scores(runner, TEXTS[:5])
    finally:
        runner.close()


def test_prompted_distinct_first_tokens_use_one_pass(causal_lm):
    runner = _loaded(causal_lm)
    try:
        assert runner.info().details["scoring"] == "next-token over label words"
        _check_scores(runner, TEXTS[:5])
    finally:
        runner.close()


def test_prompt_without_chat_template_contains_text(causal_lm):
    runner = _loaded(causal_lm)
    try:
        prompt = runner.build_prompt("good movie")
        assert "good movie" in prompt
        assert prompt.startswith("Classify the text.")
        assert "negative, positive" in prompt
        assert runner.info().details["chat_template"] is False
    finally:
        runner.close()


def test_prompt_with_chat_template_contains_text(chat_lm):
    runner = _loaded(chat_lm)
    try:
        prompt = runner.build_prompt("good movie")
        assert "good movie" in prompt
        assert prompt.startswith("user :") and prompt.endswith("assistant :")
        assert runner.info().details["chat_template"] is True
    finally:
        runner.close()


def test_chat_template_can_be_turned_off(chat_lm):
    runner = _loaded(chat_lm, use_chat_template=False)
    try:
        prompt = runner.build_prompt("good movie")
        assert "good movie" in prompt
        assert not prompt.startswith("user :") and "assistant :" not in prompt
        assert runner.info().details["chat_template"] is False
    finally:
        runner.close()


@pytest.mark.parametrize("lm", ["causal_lm", "chat_lm"])
def test_prompted_few_shot_examples_precede_the_text(request, lm):
    path = request.getfixturevalue(lm)
    runner = _loaded(path, PromptSpec(few_shot=2), texts=["great film", "awful film", "bad"], labels=["positive", "negative", "negative"])
    try:
        prompt = runner.build_prompt("good movie")
        assert prompt.index("great film") < prompt.index("awful film") < prompt.index("good movie")
        assert "bad" not in prompt.replace("good movie", "")  # only `few_shot` examples are used
        assert runner.info().details["few_shot"] == 2
    finally:
        runner.close()


def test_prompted_contextual_calibration_makes_the_content_free_input_uniform(causal_lm):
    """With calibration on a single content-free text, that text's label probabilities become uniform."""
    plain = _loaded(causal_lm)
    calibrated = _loaded(causal_lm, calibrate=True, calibration_texts=["N/A"])
    try:
        raw = plain.predict(["N/A"]).confidence[0]
        out = calibrated.predict(["N/A", TEXTS[0]])
        assert out.confidence[0] == pytest.approx(1 / len(LABELS), abs=1e-5)
        assert raw > 1 / len(LABELS), "an uncalibrated random model prefers one label word"
        assert calibrated.info().details["calibrated"] is True and plain.info().details["calibrated"] is False
        assert set(out.labels) <= set(LABELS)
    finally:
        plain.close()
        calibrated.close()
