"""Imported once by the measuring fork server: the heavy libraries and a hardware-probed meter.

Every candidate is measured in a fresh process forked from that server, so it starts with these
modules already imported and CodeCarbon's hardware already probed (seconds each), yet with its own
memory, its own meter and its own crash. No thread is started here: a process that forks must not
hold any. The meter's configuration comes from :data:`advisor.measure.metering.PRELOAD_ENV`, set by the
parent before the server starts; a candidate whose run asks for another one probes its own.
"""

from __future__ import annotations

import importlib
import os

from advisor.measure.supervisor import die_with_parent
from advisor.paths import cache_dir

die_with_parent()  # the server (and through it the resource tracker) ends with the run that started it


def _stderr_to_log() -> None:
    """The server's and its workers' stderr go to ``<cache>/workers.log``: a worker's library warnings, or a traceback
    from a worker forked as its run is interrupted, never land in the middle of the user's terminal output.
    (A worker's own failures are reported in its result, with the reason.)"""
    try:
        log = cache_dir() / "workers.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 2)
        os.close(fd)
    except OSError:
        pass


_stderr_to_log()
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

for _module in (
    "advisor.measure.candidate",
    "advisor.core.metrics",
    "advisor.runners.tfidf",
    "advisor.runners.encoder",
    "advisor.runners.pipeline",
    "advisor.runners.prompted",
    "advisor.runners.generative",
    "codecarbon",
):
    try:
        importlib.import_module(_module)
    except Exception:  # noqa: BLE001 - a missing optional library shows up, with its reason, in the candidate that needs it
        pass

from advisor.measure.metering import prepare_from_env  # noqa: E402

prepare_from_env()
