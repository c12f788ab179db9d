"""Sentence encoder (PyTorch via sentence-transformers, or ONNX Runtime) + logistic-regression head."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from advisor.runners.base import ModelInfo, Prediction, Progress, Runner, distilled_state
from advisor.runners.bespoke import locked
from advisor.runners.heads import Head, cross_fit_features, resolve_class_weight
from advisor.spec.options import EncoderOptions
from advisor.spec.package import sha256
from advisor.spec.sources import onnx_parameters, weights_size


def exported_onnx(folder: Path, precision: str) -> Path:
    """An ONNX export of the sentence encoder in ``folder`` (token embeddings out), made once and cached."""
    from advisor.spec.sources import cache_dir, file_identity

    target = cache_dir() / "exported" / f"{folder.name}-{file_identity(folder)}-{precision}" / "model.onnx"
    with locked(target):  # two processes asking at once export it once
        if target.is_file():
            why = _export_damaged(target)
            if why is None:
                return target
            logging.getLogger("advisor").warning("the ONNX export %s is damaged (%s): exported again", target, why)
            target.unlink()
        _export(folder, precision, target)
        target.with_name(HASH_FILE).write_text(sha256(target), encoding="utf-8")
    return target


HASH_FILE = "model.onnx.sha256"


def _export_damaged(target: Path) -> str | None:
    """Why a cached export cannot be trusted (its hash differs from the one recorded when it was exported), or None."""
    recorded = target.with_name(HASH_FILE)
    if not recorded.is_file():  # exported before hashes were kept (written whole, then renamed): its hash from now on
        recorded.write_text(sha256(target), encoding="utf-8")
        return None
    return None if recorded.read_text(encoding="utf-8").strip() == sha256(target) else "its SHA-256 differs from the export's"


def _export(folder: Path, precision: str, target: Path) -> None:
    """Export the encoder's token embeddings to ``target`` (written whole, then renamed into place)."""
    import tempfile

    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    encoder = model[0].auto_model.eval()
    enc = model.tokenizer(["an example sentence", "another"], padding=True, return_tensors="pt")
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args))).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        axes = {k: {0: "batch", 1: "tokens"} for k in [*names, "token_embeddings"]}
        torch.onnx.export(
            TokenEmbeddings(encoder),
            tuple(enc[k] for k in names),
            str(fp32),
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
        out = fp32
        if precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            out = Path(tmp) / "int8.onnx"
            quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
        out.replace(target)


def _find_onnx(folder: Path) -> Path:
    """The ONNX graph in a model folder: ``model.onnx`` (top level or ``onnx/``), else the only ``.onnx`` file."""
    for candidate in (folder / "model.onnx", folder / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    found = sorted(folder.rglob("*.onnx"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(f"no .onnx file in {folder}; point source.file at the graph")
    raise FileNotFoundError(f"{len(found)} .onnx files in {folder}; choose one with source.file")


class EncoderHead(Runner):
    """Embeds texts with a frozen encoder and classifies the embeddings with a fitted head."""

    Options = EncoderOptions
    trainable = True
    inference_fixed = True

    def _load_fitted_head(self) -> None:
        """The saved head of a ``fitted:`` candidate (advisor distill), if any."""
        self.head = None
        if self.options.fitted:
            import joblib

            self.head = joblib.load(self.options.fitted)
            self.trainable = False  # a frozen model: scored on the samples, not cross-fitted on their labels
            self._made = distilled_state(self.options.fitted) or getattr(self, "_made", None)

    def load(self) -> None:
        self._load_fitted_head()
        if self.spec.backend == "onnx":
            self._load_onnx()
        else:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(str(self.path), device=self.ctx.device, local_files_only=True)
            self.model.max_seq_length = min(self.model.max_seq_length or self.options.max_length, self.options.max_length)
            self._params = sum(p.numel() for p in self.model.parameters())
            if self.options.quantize == "int8-dynamic":
                import torch

                self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)

    def _load_onnx(self) -> None:
        from transformers import AutoTokenizer

        if self.options.export:
            model_file = exported_onnx(self.path, self.options.export)
        else:
            model_file = self.path if self.path.is_file() else _find_onnx(self.path)
        self._model_file = model_file
        self._params = onnx_parameters(model_file)
        self._new_session(self.options.threads)
        self._inputs = {i.name for i in self.session.get_inputs()}
        outputs = self.session.get_outputs()
        if self.options.output:
            self._output = self.options.output
        else:
            rank3 = [o.name for o in outputs if len(o.shape) == 3]
            if not rank3:
                raise ValueError(f"{model_file.name} has no rank-3 output of token embeddings; set options.output")
            self._output = rank3[0]
        tok_dir = self.tokenizer_path or (self.path if self.path.is_dir() else self.path.parent)  # an export keeps its source's tokenizer
        self.tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)

    def _new_session(self, threads: int | None) -> None:
        """An ONNX Runtime session on the run's device, with ``threads`` intra-op threads (None: the runtime's choice)."""
        import onnxruntime as ort

        from advisor.measure.device import onnx_providers

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self._model_file), opts, providers=onnx_providers(self.ctx.device))

    def set_threads(self, threads: int) -> None:
        """Serve with ``threads`` intra-op threads: a new ONNX Runtime session, or PyTorch's thread count."""
        if self.spec.backend == "onnx":
            self._new_session(threads)
        else:
            super().set_threads(threads)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Sentence embeddings of one batch, shape (n, dim)."""
        texts = list(texts)
        if self.spec.backend != "onnx":
            return self.model.encode(
                texts,
                batch_size=len(texts) or 1,
                convert_to_numpy=True,
                normalize_embeddings=self.options.normalize,
                show_progress_bar=False,
            )
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.options.max_length, return_tensors="np")
        feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids") if k in self._inputs and k in enc}
        if "token_type_ids" in self._inputs and "token_type_ids" not in feeds:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        tokens = self.session.run([self._output], feeds)[0]
        mask = enc["attention_mask"][..., None].astype(np.float32)
        pooled = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        if self.options.normalize:
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled

    def embed_all(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embeddings of many texts, in batches of the run's batch size."""
        texts, bs, parts = list(texts), self.ctx.batch_size, []
        for i in range(0, len(texts), bs):
            parts.append(self.embed(texts[i : i + bs]))
            if progress:
                progress(len(parts[-1]))
        return np.concatenate(parts)

    def save_state(self, path: Path) -> Path:
        """Write the fitted head for a ``fitted:`` candidate (the encoder stays at its source)."""
        import joblib

        joblib.dump(self.head, path)
        return path

    def keep_state(self, folder: Path) -> dict:
        if self.head is None:
            return {}
        head = EncoderHead.save_state(self, folder / "fitted.joblib")  # the head alone: a subclass's save_state may copy its body
        return {"options": {**self.spec.options, "fitted": str(head.resolve())}}

    def deployed_files(self, scratch: Path) -> dict[str, Path | None]:
        """On ONNX: the graph that runs (an export included) and its tokenizer, saved whole; on PyTorch: the folder."""
        if self.spec.backend != "onnx":
            return super().deployed_files(scratch)
        self.tokenizer.save_pretrained(str(scratch / "tokenizer"))
        return {"source": self._model_file, "tokenizer": scratch / "tokenizer"}

    def package_options(self) -> dict:
        return {k: v for k, v in self.spec.options.items() if k != "export"}  # the package holds the exported graph itself

    def proba(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        return self.head.predict_proba(self.embed(texts)), [str(c) for c in self.head.classes_]

    def _new_head(self) -> Head:
        return Head(self.options.C, self.ctx.seed, resolve_class_weight(self.options.class_weight, self.ctx.class_weight))

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        self.head = self._new_head().fit(self.embed_all(texts), list(labels))

    def _embeddings_kept(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        """:meth:`embed_all`, reusing what this run already embedded of the same texts (when more samples are drawn,
        the earlier ones come first). Kept only for the run, in ``ctx.work_dir``; never used for inference."""
        import hashlib

        if not self.ctx.work_dir:
            return self.embed_all(texts, progress)
        from advisor.spec.sources import file_identity

        model = self._model_file if self.spec.backend == "onnx" else self.path
        key = hashlib.sha256(f"{self.spec.model_dump_json()}|{file_identity(Path(model))}".encode()).hexdigest()[:24]
        folder = Path(self.ctx.work_dir) / "embeddings" / key
        hashes = np.array([hashlib.sha1(t.encode()).hexdigest()[:16] for t in texts])
        known = np.zeros((0, 0), dtype=np.float32)
        for f in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
            with np.load(f) as d:
                h = d["hashes"]
                if len(known) < len(h) <= len(hashes) and np.array_equal(h, hashes[: len(h)]):
                    known = d["vectors"]
        if progress and len(known):
            progress(len(known))
        rest = self.embed_all(texts[len(known) :], progress) if len(known) < len(texts) else np.zeros((0, known.shape[1]), known.dtype)
        vectors = np.concatenate([known, rest]) if len(known) else rest
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{len(texts)}.tmp.npz"
        np.savez(tmp, hashes=hashes, vectors=vectors)
        tmp.replace(folder / f"{len(texts)}.npz")
        return vectors

    def cross_fit(self, texts: Sequence[str], labels: Sequence[str], folds: int, seed: int, progress: Progress | None = None) -> Prediction:
        features = self._embeddings_kept(list(texts), progress)
        self._features = features
        return cross_fit_features(features, labels, folds, seed, self._new_head)

    def fit_deployed(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        """Fit the deployed head on the embeddings kept from :meth:`cross_fit` (no second encoder pass)."""
        features = getattr(self, "_features", None)
        if features is None or len(features) != len(labels):
            return self.fit(texts, labels)
        self.head = self._new_head().fit(features, list(labels))

    def predict(self, texts: Sequence[str]) -> Prediction:
        if self.head is None:
            raise RuntimeError("fit() must run before predict()")
        return Prediction.from_proba(self.head.predict_proba(self.embed(texts)), self.head.classes_)

    def info(self) -> ModelInfo:
        head = self.head.parameters() if self.head is not None else 0
        files: list[Path] = [self._model_file] if self.spec.backend == "onnx" else [self.path]
        return ModelInfo(
            parameters=int(self._params + head),
            size_bytes=sum(weights_size(f) for f in files),
            details={
                "encoder_parameters": int(self._params),
                "head_parameters": head,
                "runtime": self.spec.backend,
                "head_C": self.head.chosen_c if self.head is not None else None,
                "class_weight": self.head.class_weight if self.head is not None else None,
            },
            derived=self.options.quantize or (f"onnx export {self.options.export}" if self.options.export else None),
        )
