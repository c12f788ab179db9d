"""Read a task's samples through ``datasets``, validate them and draw a seeded sample."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from advisor.errors import SpecError, did_you_mean
from advisor.spec.kinds import GENERATIVE_TASK_TYPES

if TYPE_CHECKING:
    import pandas as pd

    from advisor.spec.tasks import Task

_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}


@dataclass(frozen=True)
class Samples:
    """The evaluation samples of a task, with labels as names, and the unused rows for few-shot prompts."""

    texts: list[str]
    labels: list[str]
    label_names: list[str]
    pool_texts: list[str] = field(default_factory=list)
    pool_labels: list[str] = field(default_factory=list)
    source_rows: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def sha256(self) -> str:
        """Hash of the texts and labels, in order: identifies exactly what was measured."""
        h = hashlib.sha256()
        for t, y in zip(self.texts, self.labels):
            h.update(t.encode())
            h.update(b"\x1f")
            h.update(y.encode())
            h.update(b"\x1e")
        return h.hexdigest()


def data_format(task: Task, path: Path) -> str:
    """The declared or inferred format of the sample file."""
    fmt = task.spec.data.format or _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SpecError(task.path, "data.format", f"cannot tell the format of '{path.name}'", "set format: csv, jsonl, json or parquet")
    return fmt


def read_frame(task: Task) -> pd.DataFrame:
    """Read the task's sample file into a DataFrame with ``datasets`` (offline, absolute paths only).

    Raises:
        SpecError: missing file, unreadable content.
    """
    import datasets

    path = task.data_path()
    fmt = data_format(task, path)
    opts = task.spec.data.csv
    kwargs: dict = {}
    if fmt == "csv":
        kwargs = {"delimiter": opts.delimiter, "quoting": 0 if opts.quoting else 3}
        if not opts.header:
            kwargs["header"] = None
        if opts.column_names:
            kwargs["column_names"] = opts.column_names
    builder = {"csv": "csv", "jsonl": "json", "json": "json", "parquet": "parquet"}[fmt]
    check_size(path)
    if fmt != "parquet":
        _check_text(path, opts.delimiter if fmt == "csv" else None, lines=fmt != "json")  # a JSON array may be one line
    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train", **kwargs).to_pandas()
    except Exception as exc:  # noqa: BLE001 - the library raises many types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(path, None, f"could not read as {fmt}: {first[:200]}", "check the file and data.format / data.csv") from None


def _fewer_rows(task: Task, wanted: int, rows: int, field: str) -> None:
    """Warn (the run stays valid, on every row) when more samples are asked for than the data holds."""
    import logging

    where = "--samples" if field == "size" else f"{task.path}: sample.size"
    logging.getLogger("advisor").warning(
        "%s asks for %d samples but the data holds %d usable rows: measuring on all %d", where, wanted, rows, rows
    )


MAX_DATA_MB = 512
"""Largest sample file read, in MiB (``ADVISOR_MAX_DATA_MB`` changes it): the whole table is held in memory once read."""
MAX_LINE_MB = 8
"""Longest line of a text sample file, in MiB: one sample is one line (JSONL) or row (CSV)."""
MAX_COLUMNS = 10_000
"""Most columns in a CSV header: a task reads two of them."""
CHUNK = 1 << 20
"""Bytes read at a time while checking a file: the check's memory, whatever the file's size."""


def _limit_mb(env: str, default: int) -> int:
    import os

    raw = os.environ.get(env, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


def check_size(path: Path) -> None:
    """Refuse a sample file larger than :data:`MAX_DATA_MB` before anything is read.

    Raises:
        SpecError: naming the file, its size and the way out.
    """
    limit = _limit_mb("ADVISOR_MAX_DATA_MB", MAX_DATA_MB)
    size = path.stat().st_size
    if size > limit * 2**20:
        raise SpecError(
            path,
            None,
            f"{size / 2**20:,.1f} MiB is more than the {limit} MiB a sample file may hold (it is read into memory whole)",
            "keep the rows you want measured in a smaller file (the advisor measures a sample), or raise ADVISOR_MAX_DATA_MB",
        )


def _check_text(path: Path, csv_delimiter: str | None = None, lines: bool = True) -> None:
    """A text data file must be UTF-8, with no line over :data:`MAX_LINE_MB` (``lines``: one sample per line) and (CSV)
    a header of at most :data:`MAX_COLUMNS` columns: say where it is not, before a library fails deep inside or memory
    runs out. Read in :data:`CHUNK` pieces: the check's memory stays bounded (about one chunk), whatever the file's size.

    Raises:
        SpecError: naming the line of the first byte that is not UTF-8, the first line too long, or the header.
    """
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    max_line = MAX_LINE_MB * 2**20
    line, current = 1, 0
    header_cols = 1
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                where = line + chunk[: exc.start].count(b"\n")
                raise SpecError(
                    path, None, f"not UTF-8 text (byte 0x{chunk[exc.start]:02x} on line {where})", "save the file as UTF-8"
                ) from None
            parts = chunk.split(b"\n")
            for i, part in enumerate(parts):
                current += len(part)
                if line == 1 and csv_delimiter:
                    header_cols += part.count(csv_delimiter.encode())
                    if header_cols > MAX_COLUMNS:
                        raise SpecError(path, None, f"the header has more than {MAX_COLUMNS:,} columns", "keep the text and label columns")
                if lines and current > max_line:
                    raise SpecError(
                        path, None, f"line {line} is longer than {MAX_LINE_MB} MiB", "one sample per line: split or shorten that row"
                    )
                if i < len(parts) - 1:
                    line, current = line + 1, 0
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise SpecError(
                path, None, f"not UTF-8 text (the file ends inside a character, line {line})", "save the file as UTF-8"
            ) from None


def _require_column(task: Task, frame: pd.DataFrame, field: str, column: str, data_file) -> None:
    if column not in frame.columns:
        cols = [str(c) for c in frame.columns]
        raise SpecError(
            task.path, field, f"column '{column}' not in {data_file.name}{did_you_mean(column, cols)}", f"columns are: {', '.join(cols)}"
        )


def load_samples(task: Task, size: int | None = None, seed: int | None = None) -> Samples:
    """Filter, validate and sample a task's rows.

    Args:
        task: the task.
        size: override of ``sample.size`` (None: the task's, or all rows).
        seed: override of ``sample.seed``.

    Raises:
        SpecError: unknown columns, empty text, labels the task does not declare, too few samples.
    """
    spec = task.spec
    data = spec.data
    path = task.data_path()
    frame = read_frame(task)
    frame.index = range(1, len(frame) + 1)  # 1-based row numbers for messages
    _require_column(task, frame, "data.text_field", data.text_field, path)
    _require_column(task, frame, "data.label_field", data.label_field, path)
    for col, value in data.where.items():
        _require_column(task, frame, f"data.where.{col}", col, path)
        frame = frame[frame[col].astype(str) == str(value)]
    if frame.empty:
        raise SpecError(task.path, "data.where", f"no rows of {path.name} match the filter", "check the values")
    texts = frame[data.text_field].astype("string").fillna("").str.strip()
    empty = texts == ""
    if empty.any():
        if not data.drop_empty:
            row = int(texts.index[empty.argmax()])
            raise SpecError(
                task.path,
                "data.text_field",
                f"row {row} of {path.name} has empty text ({int(empty.sum())} such rows)",
                "remove them or set data.drop_empty: true",
            )
        frame, texts = frame[~empty], texts[~empty]
    if spec.type in GENERATIVE_TASK_TYPES:
        return _generative_samples(task, frame.assign(_text=texts.astype(str)), size, seed)
    frame = frame.assign(_text=texts.astype(str), _label=_label_names(task, frame[data.label_field], path))
    if data.dedupe:
        frame = frame.drop_duplicates(subset="_text", keep="first")
    names = spec.label_names() or sorted(frame["_label"].unique())
    absent = [n for n in names if n not in set(frame["_label"])]
    if absent:  # a class no sample holds can never be learnt or scored: refuse rather than report a skewed metric
        raise SpecError(
            task.path,
            "labels",
            f"label '{absent[0]}' is declared but no row of {path.name} has it"
            + (f" ({len(absent)} such labels)" if len(absent) > 1 else ""),
            "remove it from labels, or check data.label_field and data.where",
        )
    if len(set(frame["_label"])) < 2:
        raise SpecError(
            task.path, "data.label_field", "the data holds fewer than 2 distinct labels", "a classification task needs at least two"
        )
    if spec.metric.positive_label and spec.metric.positive_label not in names:
        raise SpecError(
            task.path,
            "metric.positive_label",
            f"'{spec.metric.positive_label}' is not a label of this task{did_you_mean(spec.metric.positive_label, names)}",
            f"labels are: {', '.join(names)}",
        )
    chosen, pool = _sample(task, frame, size, seed, spec.sample.stratify)
    _check_folds(task, chosen)
    return Samples(
        texts=list(chosen["_text"]),
        labels=list(chosen["_label"]),
        label_names=list(names),
        pool_texts=list(pool["_text"]),
        pool_labels=list(pool["_label"]),
        source_rows=len(frame),
    )


def _generative_samples(task: Task, frame: pd.DataFrame, size: int | None, seed: int | None) -> Samples:
    """Inputs and their reference outputs (answers, summaries), drawn at random: there are no classes to stratify."""
    spec, path = task.spec, task.data_path()
    refs = frame[spec.data.label_field].astype("string").fillna("").str.strip()
    empty = refs == ""
    if empty.any():
        if not spec.data.drop_empty:
            row = int(refs.index[empty.argmax()])
            raise SpecError(
                task.path,
                "data.label_field",
                f"row {row} of {path.name} has an empty reference ({int(empty.sum())} such rows)",
                "remove them or set data.drop_empty: true",
            )
        frame, refs = frame[~empty], refs[~empty]
    frame = frame.assign(_label=refs.astype(str))
    if spec.data.dedupe:
        frame = frame.drop_duplicates(subset="_text", keep="first")
    chosen, pool = _sample(task, frame, size, seed, stratify=False)
    return Samples(
        texts=list(chosen["_text"]),
        labels=list(chosen["_label"]),
        label_names=[],
        pool_texts=list(pool["_text"]),
        pool_labels=list(pool["_label"]),
        source_rows=len(frame),
    )


def _label_names(task: Task, raw: pd.Series, path) -> pd.Series:
    labels = task.spec.labels
    import pandas as pd

    values = raw.map(lambda v: "" if pd.isna(v) else str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    if labels is None:
        return values
    allowed = labels if isinstance(labels, dict) else {v: v for v in labels}
    unknown = values[~values.isin(list(allowed))]
    if not unknown.empty:
        bad = unknown.iloc[0]
        raise SpecError(
            task.path,
            "labels",
            f"label '{bad}' (row {unknown.index[0]} of {path.name}) is not a label the task declares{did_you_mean(bad, allowed)}",
            f"add it to labels, or filter it out with data.where (declared: {', '.join(allowed)})",
        )
    return values.map(allowed)


def draw_order(labels: list[str], seed: int, stratify: bool = True) -> list[int]:
    """A seeded order of all rows whose every prefix is a (stratified) random sample of the rows.

    Stratified: each class's rows are shuffled and spread evenly over the order (row ``i`` of a class
    of ``n`` rows sits at ``(i + u) / n`` for a random ``u``), so any prefix holds every class in its
    share of the data, to within one row. Drawing more samples later takes the next rows of the same
    order: the first sample is always a subset of a larger one.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(labels)
    if not stratify:
        return [int(i) for i in rng.permutation(n)]
    keys = np.empty(n)
    by_class: dict[str, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    for y in sorted(by_class):
        rows = np.asarray(by_class[y])[rng.permutation(len(by_class[y]))]
        keys[rows] = (np.arange(len(rows)) + rng.random(len(rows))) / len(rows)
    return [int(i) for i in np.lexsort((rng.random(n), keys))]


def _sample(task: Task, frame: pd.DataFrame, size: int | None, seed: int | None, stratify: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The task's sample (``size`` or ``sample.size``, with ``seed`` or ``sample.seed``) and the rows left, warning
    when more samples are asked for than the data holds."""
    spec = task.spec
    wanted = size or spec.sample.size
    if wanted is not None and wanted > len(frame):
        _fewer_rows(task, wanted, len(frame), "size" if size else "sample.size")
    return _draw(frame, wanted, spec.sample.seed if seed is None else seed, stratify)


def _draw(frame: pd.DataFrame, size: int | None, seed: int, stratify: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first ``size`` rows of :func:`draw_order` (all rows when None) and the rest, in that order."""
    order = draw_order(list(frame["_label"]), seed, stratify)
    ordered = frame.iloc[order]
    size = len(frame) if size is None else min(size, len(frame))
    return ordered.iloc[:size], ordered.iloc[size:]


def _check_folds(task: Task, chosen: pd.DataFrame) -> None:
    folds = task.spec.folds
    if len(chosen) < folds:
        raise SpecError(task.path, "folds", f"{len(chosen)} samples are fewer than folds ({folds})", "lower folds or add samples")
    counts = chosen["_label"].value_counts()
    if counts.min() < folds:
        raise SpecError(
            task.path,
            "sample.size",
            f"label '{counts.idxmin()}' has {counts.min()} samples, fewer than folds ({folds})",
            "raise sample.size, lower folds, or drop that label",
        )
