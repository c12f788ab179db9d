"""The settings: six frozen groups read by group, built from flat names; a job carries only what its worker reads."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from advisor.search.cache import fingerprint
from advisor.search.plan import make_plan
from advisor.spec.settings import FLAT, GROUPS, Measurement, Settings


def test_flat_names_and_groups_build_the_same_settings():
    flat = Settings(batch_size=8, serving="off", sweep_budget=None, serve_threads=[1], min_quality=0.7, store="s.sqlite")
    nested = Settings(
        measurement=Measurement(batch_size=8),
        serving={"mode": "off", "budget": None, "threads": [1]},
        goal={"min_quality": 0.7},
        infrastructure={"store": "s.sqlite"},
    )
    assert flat == nested
    assert flat.measurement.batch_size == 8 and flat.serving.mode == "off" and flat.serving.budget is None
    assert Settings.model_validate(flat.flat(mode="json")) == flat  # results.json's flat settings read back
    assert Settings.model_validate(flat.model_dump()) == flat


def test_every_flat_name_is_one_field_and_every_field_has_a_description():
    fields = [(g, a) for g, model in GROUPS.items() for a in model.model_fields]
    assert sorted(FLAT.values()) == sorted(fields) and len(FLAT) == len(fields)
    assert all(Settings.help(name) for name in FLAT)
    assert list(Settings().flat()) == list(FLAT)


def test_a_bad_value_or_an_unknown_name_is_refused_and_the_error_gives_the_flat_name():
    with pytest.raises(ValidationError) as bad:
        Settings(sweep_budget=-1)
    assert Settings.flat_name(bad.value.errors()[0]["loc"]) == "sweep_budget"
    with pytest.raises(ValidationError, match="frobnicate"):
        Settings(frobnicate=1)
    with pytest.raises(ValidationError):  # a copy with flat names is validated, not set blindly
        Settings().model_copy(update={"batch_size": 0})
    assert Settings().model_copy(update={"fresh": True}).search.fresh is True


def test_the_groups_are_frozen():
    s = Settings()
    with pytest.raises(ValidationError):
        s.measurement.batch_size = 4  # type: ignore[misc]


def test_merged_ignores_none_and_replaced_does_not():
    base = Settings(candidates=["a"], batch_size=4)
    assert Settings.merged(base, candidates=None, repeats=5).search.candidates == ["a"]
    assert base.replaced(candidates=None).search.candidates is None and base.replaced(candidates=None).measurement.batch_size == 4


def test_a_job_carries_the_measurement_group_and_no_infrastructure(toy_task, tfidf_registry, tmp_path):
    secret = "file:/private/mlruns-4f1c"
    settings = Settings(
        reports_dir=tmp_path / "r", store=tmp_path / "private-store.sqlite", mlflow=secret, ray_address="10.9.8.7:6379", batch_size=4
    )
    plan = make_plan(toy_task, str(tfidf_registry), settings)
    job = plan.job(plan.specs[0])
    assert job.measurement == settings.measurement and not hasattr(job, "settings")
    blob = pickle.dumps(job)
    for private in (secret.encode(), b"private-store", b"10.9.8.7"):
        assert private not in blob


def test_the_cache_key_changes_with_the_measurement_group_only(toy_task, tfidf_registry, tmp_path):
    def key(**values):
        plan = make_plan(toy_task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r", run_id="same", **values))
        return fingerprint(plan.job(plan.specs[0]))

    base = key()
    assert base["settings"] == Settings().measurement.model_dump(mode="json")
    assert key(queries_per_day=1e6, mlflow="file:x", by="params", serving="off") == base  # judged or reported, not measured
    assert key(repeats=5) != base and key(country="FRA") != base


def test_a_group_given_whole_replaces_the_group_and_the_flat_serving_mode_stays_flat():
    base = Settings(batch_size=8, repeats=5, serving="off")
    swapped = base.model_copy(update={"measurement": Measurement(batch_size=32)})
    assert swapped.measurement.batch_size == 32 and swapped.measurement.repeats == Measurement().repeats
    assert Settings.merged(None, measurement=Measurement(batch_size=32)).measurement.batch_size == 32
    assert base.replaced(serving={"budget": None}).serving.mode == "auto"  # the whole group, its defaults included
    assert base.replaced(serving="frontier").serving.mode == "frontier" and base.replaced(serving="frontier").measurement.batch_size == 8
    with pytest.raises(ValidationError):
        base.replaced(serving=None)  # the flat mode cannot be None
