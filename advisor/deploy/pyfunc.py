"""The MLflow ``python_function`` flavour of a package: :func:`write_flavour` makes the package folder an MLflow
model (no data copied: the package is its own model), and ``mlflow.pyfunc.load_model(DIR)`` calls :func:`_load_pyfunc`
with the folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advisor.deploy.predictor import Predictor, load
from advisor.spec.schema import CandidateSpec
from advisor.version import __version__


class PackagedModel:
    """What ``mlflow.pyfunc.load_model`` returns inside its wrapper: texts in, ``label`` and ``confidence`` out."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor

    def predict(self, model_input: Any, params: dict[str, Any] | None = None):
        import pandas as pd

        if isinstance(model_input, pd.DataFrame):
            texts = model_input["text"] if "text" in model_input.columns else model_input.iloc[:, 0]
        else:
            texts = model_input
        labels, confidence = self.predictor.predict_with_confidence([str(t) for t in texts])
        return pd.DataFrame({"label": labels, "confidence": confidence})


def _load_pyfunc(path: str) -> PackagedModel:
    return PackagedModel(load(path))


def _requirements(spec: CandidateSpec, runtime: str) -> list[str]:
    """The packages the model runs on, pinned to the versions it was measured with."""
    import importlib.metadata as md

    need = {
        "scikit-learn": ["scikit-learn", "joblib"],
        "onnxruntime": ["onnxruntime", "transformers", "scikit-learn"],
        "openvino": ["openvino", "transformers", "scikit-learn"],
        "model2vec": ["model2vec", "scikit-learn"],
    }.get(runtime, ["torch", "transformers", *(["sentence-transformers", "scikit-learn"] if "encoder" in spec.kind else [])])
    out = [f"advisor=={__version__}"]
    for name in need:
        try:
            out.append(f"{name}=={md.version(name)}")
        except md.PackageNotFoundError:
            out.append(name)
    return out


def write_flavour(folder: Path, spec: CandidateSpec, runtime: str, example: list[str]) -> str | None:
    """Make ``folder`` (not existing yet) an MLflow pyfunc model; None when done, else why it is not one."""
    try:
        import mlflow.pyfunc
        import pandas as pd
        from mlflow.models import ModelSignature
        from mlflow.types import ColSpec, Schema
    except ImportError:
        return "not an MLflow model: MLflow is not installed (pip install 'advisor[mlflow]')"
    signature = ModelSignature(
        inputs=Schema([ColSpec("string", "text")]), outputs=Schema([ColSpec("string", "label"), ColSpec("double", "confidence")])
    )
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    mlflow.pyfunc.save_model(
        str(folder),
        loader_module="advisor.deploy.pyfunc",
        signature=signature,
        input_example=pd.DataFrame({"text": example}),
        pip_requirements=_requirements(spec, runtime),
    )
    return None
