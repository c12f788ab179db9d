"""The service over real HTTP on loopback: the job cycle, restarts, auth, bounded uploads, problem details, a load test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from advisor.service.jobs import RUN_STARTED
from advisor.store import ResultStore
from tests.conftest import toy_rows

TOKEN = "test-token-0123456789abcdefghijklmnopqrstuvwxyz"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, registry: Path, env: dict | None = None, umask: int | None = None):
        self.data_dir, self.registry, self.port, self.proc = data_dir, registry, _free_port(), None
        self.env = {"ADVISOR_TOKEN": TOKEN} if env is None else env
        self.umask = umask
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {**{k: v for k, v in os.environ.items() if k != "ADVISOR_TOKEN"}, **self.env}
        args = [
            sys.executable,
            "-m",
            "advisor.cli",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--registry",
            str(self.registry),
            "--meter",
            "null",
            "--in-process",
        ]
        umask = self.umask
        self.proc = subprocess.Popen(
            args,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=None if umask is None else lambda: os.umask(umask),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(self.proc.stderr.read() if self.proc.poll() is not None else "server did not start")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # the server, no chance to clean up (its worker ends with it)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.kill()

    def call(self, method: str, path: str, token: str | None = TOKEN, headers: dict | None = None, **kw) -> requests.Response:
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def queue_toy_jobs(self, n: int) -> list[str]:
        """Submit ``n`` jobs of toy samples, each drawn with another seed; returns their ids."""
        return [self.call("POST", "/jobs", json=upload(rows=toy_rows(120, seed=i))).json()["id"] for i in range(n)]

    def wait(self, job_id: str, until=("complete", "failed", "cancelled"), timeout=180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.call("GET", f"/jobs/{job_id}").json()
            if job["status"] in until:
                return job
            time.sleep(0.2)
        raise TimeoutError(job)


@pytest.fixture
def server(tmp_path, tfidf_registry):
    s = Server(tmp_path / "service", tfidf_registry).start()
    yield s
    s.stop()


def upload(rows=None, **extra):
    """A job request uploading toy samples; the serving sweep off (no test here is about serving)."""
    rows = rows or toy_rows(60)
    return {
        "settings": {"serving": "off"},
        "upload": {
            "name": "toy",
            "threshold": 0.6,
            "labels": ["neg", "pos"],
            "folds": 3,
            "samples": [{"text": r["text"], "label": r["label"]} for r in rows],
            **extra,
        },
    }


@pytest.mark.slow
def test_the_job_cycle_over_http(server):
    r = server.call("POST", "/jobs", json=upload())
    assert r.status_code == 202, r.text
    job = server.wait(r.json()["id"])
    assert job["status"] == "complete" and job["decision"] in {"recommended", "none", "undecided"} and job["summary"]
    results = server.call("GET", f"/jobs/{job['id']}/results").json()
    assert {c["name"] for c in results["candidates"]} == {"tfidf-small", "tfidf-large"} and results["task"]["samples"] == 60
    report = server.call("GET", f"/jobs/{job['id']}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html") and "tfidf-small" in report.text
    listed = server.call("GET", "/jobs").json()
    assert [j["id"] for j in listed] == [job["id"]]
    assert server.call("DELETE", f"/jobs/{job['id']}").status_code == 409  # already complete
    schema = server.call("GET", "/openapi.json").json()
    assert {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/results", "/jobs/{job_id}/report", "/health"} <= set(schema["paths"])


@pytest.mark.slow
def test_a_complete_job_hands_out_its_model_as_a_checked_package(server, tmp_path):
    import io
    import zipfile

    import advisor

    job = server.wait(server.call("POST", "/jobs", json=upload()).json()["id"])
    results = server.call("GET", f"/jobs/{job['id']}/results").json()
    r = server.call("GET", f"/jobs/{job['id']}/package", params={"candidate": "tfidf-small"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
    zipfile.ZipFile(io.BytesIO(r.content)).extractall(tmp_path / "pkg")
    with advisor.load(tmp_path / "pkg") as model:  # the files arrived unchanged (their hashes are checked)
        assert model.name == "tfidf-small" and set(model.predict(results["samples"]["texts"][:10])) <= {"neg", "pos"}
    parity = model.manifest.verification["parity"]  # checked in a fresh process before it was sent
    assert parity["ok"] and parity["matches"] == parity["samples"] == 60
    wrong = server.call("GET", f"/jobs/{job['id']}/package", params={"candidate": "tfidf-smal"})
    assert wrong.status_code == 409 and "did you mean 'tfidf-small'" in wrong.json()["detail"]


@pytest.mark.slow
def test_a_built_in_task_by_name_and_cancelling(server):
    r = server.call(
        "POST", "/jobs", json={"task": "spam", "candidates": ["tfidf-small"], "settings": {"sample_size": 40, "serving": "off"}}
    )
    queued = server.call("POST", "/jobs", json=upload())
    assert r.status_code == 202 and queued.status_code == 202
    cancelled = server.call("DELETE", f"/jobs/{queued.json()['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] in {"cancelled", "cancelling"}
    assert server.wait(queued.json()["id"])["status"] == "cancelled"
    assert server.wait(r.json()["id"])["status"] == "complete"


def test_auth_is_required_everywhere_but_health(server):
    assert server.call("GET", "/health", token=None).status_code == 200
    for method, path in [
        ("GET", "/jobs"),
        ("POST", "/jobs"),
        ("GET", "/jobs/" + "0" * 32),
        ("GET", "/openapi.json"),
        ("DELETE", "/jobs/" + "0" * 32),
        ("GET", "/jobs/" + "0" * 32 + "/package"),
    ]:
        for token in (None, "wrong"):
            r = server.call(method, path, token=token, json={})
            assert r.status_code == 401, (method, path, token, r.status_code)
            assert r.headers["content-type"] == "application/problem+json" and r.json()["status"] == 401
            assert r.headers["www-authenticate"] == "Bearer"


def test_bad_requests_are_problem_details_and_never_touch_files(server, tmp_path):
    too_big = server.call("POST", "/jobs", data=b"x" * (5 * 2**20 + 1), headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413 and too_big.json()["title"] == "Payload Too Large"
    too_many = server.call("POST", "/jobs", json=upload(rows=[{"text": "a", "label": "neg"}] * 20_001))
    assert too_many.status_code in (413, 422)
    for body, needle in [
        ({"task": "../../etc/passwd"}, "task"),
        ({"task": "sentimen"}, "no built-in task 'sentimen'"),
        ({"task": "spam", "upload": upload()["upload"]}, "exactly one"),
        ({"upload": {**upload()["upload"], "data": {"file": "/etc/passwd"}}}, "upload.data"),
        ({"upload": {**upload()["upload"], "labels": ["neg"]}}, "upload:"),
        ({"upload": {**upload()["upload"], "name": "../x"}}, "upload.name"),
    ]:
        r = server.call("POST", "/jobs", json=body)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (body, r.text)
        assert needle in r.json()["detail"], (needle, r.json())
    malformed = server.call("POST", "/jobs", data=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 422
    assert server.call("GET", "/jobs/..%2F..%2Fetc").status_code == 404
    assert server.call("GET", "/jobs/" + "f" * 32 + "/report").status_code == 404
    assert not list(Path("/etc").glob("advisor*"))


def runs_started(data_dir: Path, job_id: str) -> int:
    """How many times the job's run started: the lines its workers wrote to its worker.log (kept across restarts)."""
    log = data_dir / "jobs" / job_id / "worker.log"
    return sum(RUN_STARTED in line for line in log.read_text().splitlines()) if log.exists() else 0


@pytest.mark.slow
def test_a_restart_mid_queue_loses_no_job(tmp_path, tfidf_registry):
    s = Server(tmp_path / "service", tfidf_registry).start()
    try:
        ids = s.queue_toy_jobs(3)
        s.wait(ids[0], until=("running", "complete"))
        s.kill()
        s = Server(tmp_path / "service", tfidf_registry).start()  # same data dir: the queue survives
        done = [s.wait(i) for i in ids]
        assert [j["status"] for j in done] == ["complete"] * 3
        starts = [runs_started(s.data_dir, i) for i in ids]  # only the run the kill cut short starts again (and resumes)
        assert min(starts) == 1 and max(starts) <= 2 and starts.count(2) <= 1, starts
    finally:
        s.stop()


def _draining(seconds: int) -> dict:
    """A server's environment that lets a running job finish for up to ``seconds`` when the server is stopped."""
    return {"ADVISOR_TOKEN": TOKEN, "ADVISOR_DRAIN_S": str(seconds)}


@pytest.mark.slow
def test_a_graceful_stop_lets_the_running_job_finish_and_a_restart_runs_every_job_once(tmp_path, tfidf_registry):
    env = _draining(300)
    s = Server(tmp_path / "service", tfidf_registry, env=env).start()
    try:
        ids = s.queue_toy_jobs(3)
        s.wait(ids[0], until=("running",))
        s.proc.send_signal(signal.SIGTERM)  # as systemd, docker stop or kill would: the server alone
        assert s.proc.wait(timeout=300) in (0, -signal.SIGTERM)  # uvicorn ends by the signal once it has shut down
        with ResultStore(s.data_dir / "store.sqlite") as store:
            left = [store.job(i) for i in ids]
        assert left[0]["status"] == "complete", left[0]  # finished while the server stopped, not put back in the queue
        assert {j["status"] for j in left} <= {"complete", "queued"} and all(j["owner_pid"] is None for j in left[1:]), left
        s = Server(tmp_path / "service", tfidf_registry, env=env).start()
        assert [s.wait(i)["status"] for i in ids] == ["complete"] * 3
        assert [runs_started(s.data_dir, i) for i in ids] == [1, 1, 1]  # none started a second time
    finally:
        s.stop()


def _worker_of(s: Server, job_id: str, timeout: float = 60) -> int:
    """The pid of the worker process measuring ``job_id``, once it has taken the job over from the server."""
    deadline = time.monotonic() + timeout
    with ResultStore(s.data_dir / "store.sqlite") as store:
        while time.monotonic() < deadline:
            job = store.job(job_id) or {}
            if job.get("status") == "running" and job.get("owner_pid") not in (None, s.proc.pid):
                return int(job["owner_pid"])
            time.sleep(0.05)
    raise TimeoutError(f"no worker took job {job_id}")


@pytest.mark.slow
def test_a_service_manager_stopping_server_and_worker_together_requeues_the_running_job(tmp_path, tfidf_registry):
    env = _draining(60)
    s = Server(tmp_path / "service", tfidf_registry, env=env).start()
    try:
        ids = s.queue_toy_jobs(2)
        s.wait(ids[0], until=("running",))
        worker = _worker_of(s, ids[0])
        for pid in [s.proc.pid, worker]:  # as systemd's default stop does: SIGTERM to every process of the service
            os.kill(pid, signal.SIGTERM)
        assert s.proc.wait(timeout=120) in (0, -signal.SIGTERM)
        with ResultStore(s.data_dir / "store.sqlite") as store:
            first = store.job(ids[0])
        # stopped from outside, not a failed job: back in the queue (and, when the server claimed it again before its own
        # SIGTERM landed, resumed and finished during the drain)
        assert first["status"] in ("queued", "complete") and first["error"] is None, first
        assert "back in the queue: its worker was stopped by a signal" in s.proc.stderr.read()
        s = Server(tmp_path / "service", tfidf_registry, env=env).start()
        assert [s.wait(i)["status"] for i in ids] == ["complete"] * 2
    finally:
        s.stop()


@pytest.mark.slow
def test_200_status_polls_while_a_job_runs(server):
    job = server.call("POST", "/jobs", json=upload(rows=toy_rows(200))).json()
    times, errors = [], 0
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    for _ in range(200):
        t0 = time.perf_counter()
        r = session.get(f"{server.url}/jobs/{job['id']}", timeout=30)
        times.append(time.perf_counter() - t0)
        errors += r.status_code != 200
    assert errors == 0
    times.sort()
    print(f"200 polls: p50 {times[100] * 1000:.1f} ms, p95 {times[190] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms")
    assert server.wait(job["id"])["status"] == "complete"


# ---------------------------------------------------------------- fuzzing against the published schema
@pytest.mark.slow
def test_fuzz_never_a_server_error(tmp_path):
    """Random requests shaped by the OpenAPI schema, every operation: whatever they hold, the answer is never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    reg = tmp_path / "registry.yaml"
    reg.write_text(
        "version: 1\ncandidates:\n  - {name: tfidf, tier: small, kind: tfidf-logreg, backend: sklearn, "
        "task_types: [text-classification], license: MIT}\n"
    )
    s = Server(tmp_path / "service", reg).start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        schema = schemathesis.openapi.from_url(s.url + "/openapi.json", headers=auth)
        operations = [op.ok() for op in schema.get_all_operations()]
        assert len(operations) >= 6
        for op in operations:

            @given(case=op.as_strategy())
            @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def fuzz(case):
                case.call_and_validate(headers=auth, checks=[not_a_server_error])

            fuzz()
    finally:
        s.stop()


@pytest.mark.slow
def test_too_many_open_jobs_are_answered_429_with_retry_after(tmp_path, tfidf_registry):
    s = Server(tmp_path / "service", tfidf_registry, env={"ADVISOR_TOKEN": TOKEN, "ADVISOR_MAX_OPEN_JOBS": "2"}).start()
    try:
        codes = [s.call("POST", "/jobs", json=upload(rows=toy_rows(200, seed=i))) for i in range(4)]
        assert [r.status_code for r in codes[:2]] == [202, 202]
        refused = [r for r in codes[2:] if r.status_code == 429]
        assert refused and refused[0].headers["Retry-After"] == "30" and "2 jobs are queued or running" in refused[0].json()["detail"]
        assert refused[0].headers["content-type"].startswith("application/problem+json")
        assert len(s.call("GET", "/jobs").json()) == sum(r.status_code == 202 for r in codes)  # a refused job left nothing
        for r in codes:
            if r.status_code == 202:
                assert s.wait(r.json()["id"])["status"] == "complete"
        assert s.call("POST", "/jobs", json=upload()).status_code == 202  # room again once they are done
    finally:
        s.stop()
