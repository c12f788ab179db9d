"""Derived candidates: `variants:` expands an entry into dynamic-int8 and ONNX (fp32/int8) versions, each measured."""

from __future__ import annotations

import numpy as np
import pytest

import advisor
import tests.tiny_models as tm
from advisor import Settings
from advisor.errors import SpecError
from advisor.spec.registry import load_registry
from tests.conftest import FAST as _FAST

FAST = {**_FAST, "repeats": 1, "latency_queries": 2, "exhaustive": True}


def _registry(tmp_path, encoder, variants="[int8-dynamic, onnx, onnx-int8]", kind="encoder-head", backend="sentence-transformers"):
    path = tmp_path / "registry.yaml"
    path.write_text(f"""
version: 1
candidates:
  - name: enc
    tier: small
    kind: {kind}
    backend: {backend}
    source: {{local: {encoder}}}
    task_types: [text-classification]
    license: MIT
    variants: {variants}
""")
    return path


@pytest.mark.slow
def test_variants_expand_and_are_measured_like_any_candidate(tmp_path, toy_task):
    encoder = tm.make_bert_encoder(tmp_path / "enc")
    reg = load_registry(_registry(tmp_path, encoder))
    by = {c.name: c for c in reg.candidates}
    assert list(by) == ["enc", "enc [int8-dynamic]", "enc [onnx]", "enc [onnx-int8]"]
    assert by["enc [onnx]"].backend == "onnx" and by["enc [onnx]"].options["export"] == "fp32" and by["enc [onnx]"].derived_from == "enc"
    rec = advisor.recommend(task=toy_task, registry=reg, settings=Settings(reports_dir=tmp_path / "r", min_quality=0.5, **FAST))
    got = {c.name: c for c in rec.candidates}
    assert all(c.status == "ok" for c in got.values()), [c.reason for c in got.values()]
    assert got["enc [onnx-int8]"].derivation == "onnx export int8" and got["enc [int8-dynamic]"].derivation == "int8-dynamic"
    # the fp32 export computes the same embeddings: same out-of-fold predictions as the PyTorch original
    agree = np.mean([a == b for a, b in zip(got["enc"].predictions, got["enc [onnx]"].predictions)])
    assert agree >= 0.95
    # the int8 graph really is quantised (on a model this tiny the quantisation scales outweigh the saved bytes)
    import onnx

    from advisor.spec.sources import cache_dir

    (int8,) = (cache_dir() / "exported").glob("*-int8/model.onnx")
    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeLinear"}, ops


@pytest.mark.parametrize("kind, backend", [("tfidf-logreg", "sklearn"), ("encoder-head", "onnx")])
def test_variants_only_for_pytorch_sentence_encoders(tmp_path, kind, backend):
    path = _registry(tmp_path, tmp_path, "[onnx]", kind, backend)
    if kind == "tfidf-logreg":
        path.write_text(path.read_text().replace(f"    source: {{local: {tmp_path}}}\n", ""))
    with pytest.raises(SpecError, match=r"candidates\[0\]\.variants: variants \(onnx\) are derived from PyTorch sentence encoders"):
        load_registry(path)


def test_an_unknown_variant_suggests(tmp_path):
    with pytest.raises(SpecError, match="variants"):
        load_registry(_registry(tmp_path, tmp_path, "[onnx-int4]"))
