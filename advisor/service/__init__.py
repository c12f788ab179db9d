"""``advisor serve``: recommendation jobs over HTTP (FastAPI), queued in the result store.

* Jobs run one at a time per machine (concurrent energy windows would corrupt each other), each in
  a worker process, so a cancel stops it at once and a crash fails only that job.
* A worker dies with the server (Linux: ``PR_SET_PDEATHSIG``), even one killed with SIGKILL, and
  takes its own child processes along (it leads its own process group).
* The queue lives in the same SQLite store as the measurements. A job has an owner (the worker's
  pid) with a heartbeat: on start the server kills workers orphaned by a previous server, then
  requeues only the jobs whose owner is gone, so two workers never measure one job; a stale
  owner's writes are refused. What a requeued job had measured is reused. A server stopped with SIGTERM or
  Ctrl-C claims no new job and lets the running one finish (up to ``$ADVISOR_DRAIN_S``, default 10 s), so it is
  not started again after the restart; each start and end of a job's run is a line in its ``worker.log``.
* Every route but ``/health`` needs ``Authorization: Bearer <token>`` (``$ADVISOR_TOKEN``, else a
  token generated on first start and kept in ``<data-dir>/token``; at least 32 characters, and the
  file readable by its owner only). The token is checked from the headers before any byte of the
  body is read.
* Bodies are counted as they arrive (chunked ones too) and cut off with 413 past
  ``MAX_BODY_BYTES``; rows are bounded; uploads are validated at submit (labels that occur,
  candidates the registry knows). No request value ever names a file: built-in tasks are looked up
  by name, uploaded samples are written under a job id the server generates.
* The data folder is private whatever the umask: folders 0700, files 0600 (the server and its
  workers run with umask 077).
* Errors are RFC 9457 problem details (``application/problem+json``).

The package: :mod:`~advisor.service.models` (requests, responses, limits), :mod:`~advisor.service.files`
(the private data folder and the token), :mod:`~advisor.service.guard` (authentication and the body limit),
:mod:`~advisor.service.uploads` (checks at submit), :mod:`~advisor.service.jobs` (the queue's worker, a job's
process, recovery) and :mod:`~advisor.service.app` (the routes).
"""

from __future__ import annotations

from advisor.service.app import create_app
from advisor.service.files import token_for
from advisor.service.guard import Guard
from advisor.service.jobs import Worker, recover_jobs, run_job
from advisor.service.models import MAX_BODY_BYTES, MAX_ROWS, JobRequest, JobSettings

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ROWS",
    "Guard",
    "JobRequest",
    "JobSettings",
    "Worker",
    "create_app",
    "recover_jobs",
    "run_job",
    "token_for",
]
