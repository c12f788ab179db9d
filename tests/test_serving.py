"""The serving sweep: the choice over configurations (synthetic measurements), a real sweep on a tiny model,
and bad serving settings refused with one line each."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from advisor.api import recommend
from advisor.core.results import CandidateServing, Recommendation, ServingPoint
from advisor.core.sentences import serving_answer
from advisor.errors import SpecError
from advisor.measure.candidate import Job
from advisor.measure.metering import FakeMeter
from advisor.runners import RunContext
from advisor.serving.choice import choose, decide, fill_wait_ms, frontier, with_goal
from advisor.serving.points import clearly_worse
from advisor.serving.sweep import SweepJob, sweep_candidate, thread_counts
from advisor.spec.runtimes import servable_as as runtimes
from advisor.spec.schema import CandidateSpec, MetricSpec, PromptSpec
from advisor.spec.settings import Settings
from tests import tiny_models as tm
from tests.conftest import FAST as _FAST
from tests.factories import energy as energy_stats
from tests.helpers import cli

FAST = {**_FAST, "exhaustive": True, "serving": "recommended"}  # the sweep is what these tests measure


def point(energy: float, p95: float, batch: int = 1, threads: int = 1, runtime: str = "pytorch", half: float = 0.0, qps: float = 1e6):
    """A synthetic measured configuration: energy per query (J) with an interval of +-half, batch compute p95 (ms)."""
    e = energy_stats(energy, ci=[energy - half, energy + half], repeats=2)
    return ServingPoint(
        runtime=runtime,
        batch_size=batch,
        threads=threads,
        energy=e,
        throughput_qps=qps,
        batch_p50_ms=p95 / 2,
        batch_p95_ms=p95,
        latency_p50_ms=p95 / 2,
        latency_p95_ms=p95,
        latency_batches=10,
    )


def goal(points, max_ms=None, qps=None):
    return [with_goal(p, max_ms, qps) for p in points]


# -- the choice, on synthetic measurements ------------------------------------------------------------


def test_the_slo_boundary_is_inclusive():
    pts = goal([point(1.0, 50.0, batch=16), point(2.0, 10.0, batch=1)], max_ms=50.0)
    assert choose(pts, 50.0)[0] == 0  # p95 exactly at the goal meets it: the cheaper one
    pts = goal([point(1.0, 50.001, batch=16), point(2.0, 10.0, batch=1)], max_ms=50.0)
    index, why = choose(pts, 50.0)
    assert index == 1 and "of the 1 configurations meeting p95 <= 50.0 ms" in why


def test_without_a_goal_the_least_energy_is_chosen_and_the_frontier_listed():
    pts = goal([point(3.0, 5.0), point(1.0, 40.0, batch=16), point(2.0, 20.0, batch=4), point(2.5, 45.0, batch=64)])
    assert choose(pts, None)[0] == 1
    assert frontier(pts) == [0, 2, 1]  # batch 64 is beaten on both energy and p95 by batch 16


def test_the_serving_decision_is_data_and_its_answer_is_worded_from_it():
    slow = goal([point(1.0, 80.0, batch=16), point(2.0, 60.0, batch=1)], max_ms=50)
    name, p, c = decide([CandidateServing(name="m", points=slow)], ["m"], 50)
    assert (name, p, c.case, c.models, c.fastest, c.fastest_point.latency_p95_ms) == (None, None, "none_meets", 1, "m", 60.0)
    answer = serving_answer(c, name, p, 50)
    assert answer.startswith("No configuration of m meets p95 <= 50.0 ms: the fastest is m at pytorch, batch 1, 1 thread")
    assert "--serving frontier also tries" in answer
    free = goal([point(0.0, 30.0, batch=16), point(0.0, 8.0, batch=4)], max_ms=100)  # a null meter: every point reads 0 J
    name, p, c = decide([CandidateServing(name="m", points=free)], ["m"], 100)
    assert c.energy_measured is False and p.batch_size == 4 and "energy was not measured" in serving_answer(c, name, p, 100)
    other = [
        CandidateServing(name="rec", points=goal([point(2.0, 9.0)], max_ms=10)),
        CandidateServing(name="alt", points=goal([point(1.0, 9.0)], max_ms=10)),
    ]
    name, p, c = decide(other, ["rec", "alt"], 10)
    assert (name, c.recommended, c.recommended_best_j, c.models) == ("alt", "rec", 2.0, 2)
    assert "less than rec at its best configuration meeting the goal (2 J)" in serving_answer(c, name, p, 10)
    assert decide([], ["m"], 10)[2].case == "none_measured"


def test_a_tie_on_energy_goes_to_the_faster_and_a_clear_difference_to_the_cheaper():
    tied = goal([point(1.00, 30.0, batch=16, half=0.05), point(1.02, 8.0, batch=4, half=0.05)], max_ms=100)
    index, why = choose(tied, 100)
    assert index == 1 and "tied on energy with 1 other" in why
    name, p, choice = decide([CandidateServing(name="m", points=tied)], ["m"], 100)
    assert (choice.case, choice.ties, choice.configurations, choice.models, choice.energy_measured) == ("chosen", 1, 2, 1, True)
    answer = serving_answer(choice, name, p, 100, "ESTIMATED")
    assert p.batch_size == 4 and "tied on energy with 1 other, intervals overlapping: the fastest of them" in answer
    assert "ESTIMATED" in answer and "of the 2 configurations meeting p95 <= 100.0 ms" in answer
    apart = goal([point(1.00, 30.0, batch=16, half=0.005), point(1.02, 8.0, batch=4, half=0.005)], max_ms=100)
    assert choose(apart, 100)[0] == 0
    same = goal([point(1.0, 8.0, batch=4, threads=2), point(1.0, 8.0, batch=4, threads=1)])
    assert choose(same, None)[0] == 1  # exactly equal: fewer threads


def test_a_loser_stopped_after_two_windows_does_not_tie_through_its_wide_interval():
    cheap = point(0.0023, 3.0, batch=16, half=0.0018)
    loser = point(0.0209, 1.8, batch=1).model_copy(update={"energy": energy_stats(0.0209, ci=[-0.024, 0.065], repeats=[0.0174, 0.0244])})
    pts = goal([cheap, loser])
    index, why = choose(pts, None)
    assert index == 0 and "tied" not in why  # both windows of the batch-1 point lie above the batch-16 interval
    close = point(0.0030, 1.8, batch=1).model_copy(update={"energy": energy_stats(0.0030, ci=[0.0, 0.006], repeats=[0.0035, 0.0025])})
    index, why = choose(goal([cheap, close]), None)
    assert index == 1 and "tied on energy with 1 other" in why  # a window inside the interval: a tie, the faster wins


def test_an_infeasible_goal_says_so_and_names_the_fastest():
    pts = goal([point(1.0, 80.0, batch=16), point(2.0, 30.0, batch=1, runtime="onnxruntime")], max_ms=20.0)
    index, why = choose(pts, 20.0)
    assert index is None and "no configuration meets p95 <= 20.0 ms" in why and "onnxruntime, batch 1" in why and "30.0 ms" in why
    sweep = CandidateServing(name="m", points=pts)
    model, chosen, choice = decide([sweep], ["m"], 20.0)
    answer = serving_answer(choice, model, chosen, 20.0, "ESTIMATED")
    assert model is None and chosen is None and answer.startswith("No configuration of m meets p95 <= 20.0 ms")
    assert "--serving frontier" in answer


def test_the_batch_fill_wait_counts_and_a_slow_configuration_cannot_keep_up():
    assert fill_wait_ms(16, 100.0) == pytest.approx(150.0) and fill_wait_ms(1, 100.0) == 0.0 and fill_wait_ms(16, None) == 0.0
    fast_big, small = point(0.5, 20.0, batch=16, qps=800), point(1.0, 20.0, batch=1, qps=50)
    pts = goal([fast_big, small], max_ms=100.0, qps=100.0)
    assert pts[0].latency_p95_ms == pytest.approx(170.0) and pts[0].meets_goal is False  # waits 150 ms for its batch
    assert pts[1].keeps_up is False and pts[1].meets_goal is False  # 50 q/s cannot serve 100 q/s
    assert choose(pts, 100.0)[0] is None
    assert choose(goal([fast_big, small], max_ms=200.0, qps=100.0), 200.0)[0] == 0


def test_a_larger_model_at_a_better_configuration_can_win_and_the_sentence_says_why():
    small = CandidateServing(name="small", points=goal([point(1.0, 90.0, batch=64), point(3.0, 15.0, batch=1)], max_ms=20.0))
    large = CandidateServing(name="large", points=goal([point(2.0, 18.0, batch=4, runtime="onnxruntime")], max_ms=20.0))
    model, p, choice = decide([small, large], ["small", "large"], 20.0)
    answer = serving_answer(choice, model, p, 20.0, "ESTIMATED")
    assert model == "large" and p.batch_size == 4
    assert "Serve large with onnxruntime, batch 4, 1 thread" in answer and "ESTIMATED" in answer
    assert "of the 2 configurations of 2 models meeting p95 <= 20.0 ms" in answer and "less than small" in answer
    assert answer.count(".") >= 1 and "\n" not in answer


def test_clearly_worse_needs_both_a_margin_and_separate_intervals():
    assert clearly_worse(point(2.0, 1, half=0.1), point(1.0, 1, half=0.1))
    assert not clearly_worse(point(1.1, 1, half=0.01), point(1.0, 1, half=0.01))  # under the 1.2x margin
    assert not clearly_worse(point(2.0, 1, half=0.6), point(1.0, 1, half=0.6))  # intervals overlap


def test_runtimes_a_model_can_be_served_on():
    st = CandidateSpec.model_validate(
        {
            "name": "e",
            "tier": "small",
            "kind": "encoder-head",
            "backend": "sentence-transformers",
            "license": "x",
            "source": {"local": "."},
            "task_types": ["text-classification"],
        }
    )
    found, _ = runtimes(st)
    assert list(found)[:2] == ["pytorch", "onnxruntime"] and found["onnxruntime"].options["export"] == "fp32"
    only, left = runtimes(st, ["pytorch"])
    assert list(only) == ["pytorch"] and any(line.startswith("onnxruntime: not asked for") for line in left)
    exported = st.model_copy(update={"backend": "onnx", "options": {"export": "fp32"}})
    assert "pytorch" in runtimes(exported)[0]
    quantised = st.model_copy(update={"options": {"quantize": "int8-dynamic"}})
    assert list(runtimes(quantised)[0]) == ["pytorch"]


def test_thread_counts_double_up_to_the_cores():
    cores = os.cpu_count() or 1
    counts = thread_counts(Settings().serving, "cpu")
    assert counts[0] == 1 and counts[-1] == cores and counts == sorted(set(counts))
    assert thread_counts(Settings().serving, "cuda:0") == [cores]
    assert thread_counts(Settings(serve_threads=[1]).serving, "cpu") == [1]


# -- a real sweep on a tiny model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def st_encoder(tmp_path_factory):
    return tm.make_bert_encoder(tmp_path_factory.mktemp("models") / "st-encoder")


def test_a_real_sweep_loads_once_and_measures_each_configuration(st_encoder):
    spec = CandidateSpec.model_validate(
        {
            "name": "tiny",
            "tier": "small",
            "kind": "encoder-head",
            "backend": "sentence-transformers",
            "license": "x",
            "task_types": ["text-classification"],
            "source": {"local": str(st_encoder)},
        }
    )
    texts = [f"{w} movie {i}" for i, w in enumerate(["good", "bad"] * 12)]
    labels = ["pos", "neg"] * 12
    settings = Settings(**{**FAST, "batch_size": 4}, serve_batches=[1, 4], serve_threads=[1])
    job = Job(
        spec=spec,
        registry_dir=None,
        texts=texts,
        labels=labels,
        label_names=["neg", "pos"],
        metric=MetricSpec(name="accuracy"),
        folds=3,
        seed=0,
        measurement=settings.measurement,
        context=RunContext(label_names=["neg", "pos"], prompt=PromptSpec(), batch_size=4),
    )
    meter = FakeMeter()
    sweep = sweep_candidate(SweepJob(job, serving=settings.serving), meter)
    assert sweep.failed is None, sweep.failed
    got = {(p.runtime, p.batch_size, p.threads) for p in sweep.points}
    assert ("pytorch", 1, 1) in got and ("pytorch", 4, 1) in got
    assert any(p.runtime == "onnxruntime" for p in sweep.points) or any(line.startswith("onnxruntime") for line in sweep.not_measured)
    assert [p.default for p in sweep.points].count(True) == 1  # the run's own configuration: batch 4, all (here 1) threads
    for p in sweep.points:
        assert p.energy.per_query_j > 0 and len(p.energy.repeats_per_query_j) == 2 and p.energy.ci_per_query_j is not None
        assert p.latency_batches >= 2 and 0 < p.batch_p50_ms <= p.batch_p95_ms and p.throughput_qps > 0
    loads = [name for name, _ in meter.windows if name == "serving-load"]
    assert len(loads) == len({p.runtime for p in sweep.points})  # each runtime loaded once, not once per point
    assert sweep.cost.energy_j > 0 and sweep.cost.duration_s > 0


def test_recommend_reports_how_to_serve_in_results_json(toy_task, tfidf_registry, tmp_path):
    rec = recommend(
        toy_task,
        registry=tfidf_registry,
        min_quality=0.5,
        reports_dir=tmp_path,
        store=tmp_path / "s.sqlite",
        **FAST,
        serve_batches=[1, 8],
        max_latency_ms=10_000,
    )
    s = rec.serving
    assert rec.model is not None and s is not None and s.candidates[0].name == rec.model
    assert s.model == rec.model and s.point is not None and s.point.meets_goal and s.point.runtime == "scikit-learn"
    assert s.answer.startswith(f"Serve {rec.model} with scikit-learn") and s.answer in rec.summary
    assert s.cost.duration_s > 0 and "No request rate given" in s.wait_note
    saved = Recommendation.load(tmp_path / rec.run_id / "results.json")
    assert saved.serving == s
    report = (tmp_path / rec.run_id / "report.html").read_text()
    assert "How to serve it" in report


def test_the_sweep_runs_in_a_worker_process_with_its_own_meter(toy_task, tfidf_registry, tmp_path):
    from advisor.search.plan import make_plan
    from advisor.serving.run import run_sweeps

    settings = Settings(**{**FAST, "isolate": True}, reports_dir=tmp_path, serve_batches=[1, 8], serve_threads=[1])
    plan = make_plan(toy_task, tfidf_registry, settings)
    seen = []

    class Observer:
        def progress(self, spec, phase, done, total):
            seen.append((spec.name, phase))

    sweeps, total_j, method = run_sweeps([plan.job(plan.specs[0])], settings, Observer())
    assert [s.name for s in sweeps] == [plan.specs[0].name] and sweeps[0].failed is None
    assert {p.batch_size for p in sweeps[0].points} == {1, 8}
    assert method["meter"] == "fake" and total_j >= sum(p.energy.per_query_j * p.energy.window_queries for p in sweeps[0].points)
    assert seen and seen[0] == (plan.specs[0].name, "serving scikit-learn b8 t1")  # the run's own configuration is probed first


def test_serving_off_measures_nothing_more(toy_task, tfidf_registry, tmp_path):
    rec = recommend(
        toy_task, registry=tfidf_registry, min_quality=0.5, reports_dir=tmp_path, store=tmp_path / "s.sqlite", **{**FAST, "serving": "off"}
    )
    assert rec.serving is None


# -- bad settings: one line each ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--serve-batches", "0,4"], "--serve-batches"),
        (["--batch-size", "0"], "--batch-size"),
        (["--serve-threads", str((os.cpu_count() or 1) + 1)], "more than the"),
        (["--serve-runtimes", "tensorrt"], "--serve-runtimes"),
        (["--device", "tpu"], "--device"),
        (["--max-latency-ms", "0"], "--max-latency-ms"),
        (["--serve-batches", "four"], "--serve-batches"),
    ],
)
def test_bad_serving_settings_are_one_line(args, says, tmp_path):
    r = cli("recommend", "--task", "spam", *args, "--reports-dir", tmp_path, cwd=tmp_path)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(lines) == 1 and says in r.stderr, r.stderr


@pytest.mark.slow
def test_cuda_asked_for_on_a_machine_without_one_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    r = cli("recommend", "--task", "spam", "--device", "cuda", "--reports-dir", tmp_path, "--in-process", cwd=tmp_path)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "device: 'cuda' asked for, but no CUDA GPU is usable here" in r.stderr, r.stderr


def test_cuda_without_a_gpu_is_one_line(monkeypatch):
    import torch

    from advisor.measure.device import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SpecError, match="no CUDA GPU is usable here") as exc:
        resolve_device("cuda:1")
    assert "\n" not in str(exc.value)
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in {"cpu", "cuda:0"}


def test_check_reports_how_to_serve_the_recommended_model(toy_task, tfidf_registry, tmp_path):
    from advisor.gate import check

    result = check(
        toy_task,
        "tfidf-large",
        registry=tfidf_registry,
        min_quality=0.5,
        reports_dir=tmp_path,
        store=tmp_path / "s.sqlite",
        **{**FAST, "exhaustive": False},
        serve_batches=[1, 8],
        max_latency_ms=1e-6,  # no configuration can answer in a nanosecond
    )
    assert result.serving is not None and result.serving.startswith("No configuration of")
    assert "how to serve it" in result.to_markdown()


def test_onnx_runtime_without_a_cuda_provider_is_refused_not_run_on_the_cpu(monkeypatch):
    import onnxruntime as ort

    from advisor.measure.device import onnx_providers

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeError, match="no CUDA provider for cuda:0"):
        onnx_providers("cuda:0")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert onnx_providers("cuda:1")[0] == ("CUDAExecutionProvider", {"device_id": 1})


def test_the_service_and_check_accept_the_latency_goal():
    from advisor.service import JobSettings

    js = JobSettings.model_validate({"max_latency_ms": 50, "queries_per_second": 20, "serving": "frontier"})
    assert js.max_latency_ms == 50 and js.serving == "frontier"
    with pytest.raises(ValueError):
        JobSettings.model_validate({"max_latency_ms": -1})
    r = cli("check", "--help")
    assert "--max-latency-ms" in r.stdout and "--queries-per-second" in r.stdout


def test_a_job_on_a_gpu_keeps_its_device_in_the_store_key(toy_task, tfidf_registry, tmp_path):
    from advisor.search.plan import make_plan

    plan = make_plan(toy_task, tfidf_registry, Settings(**FAST, reports_dir=tmp_path))
    assert plan.context.device == "cpu" or plan.context.device.startswith("cuda")
    spec = plan.specs[0]
    on_cpu = replace(plan, context=replace(plan.context, device="cpu")).job(spec)
    on_gpu = replace(plan, context=replace(plan.context, device="cuda:0")).job(spec)
    assert "device" not in on_cpu.identity  # stored CPU measurements keep their keys
    assert on_gpu.identity["device"] == "cuda:0" and on_gpu.context.device == "cuda:0"
