"""The service against a hostile or careless client and a crashing host: streamed bodies, requests without a token,
file modes, weak tokens, uploads that cannot work, and workers that must not outlive (or double) their server."""

from __future__ import annotations

import json
import os
import pickle
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from advisor.errors import AdvisorError
from advisor.service import MAX_BODY_BYTES, token_for
from advisor.store import ResultStore
from tests.test_service import TOKEN, Server, upload

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process checks read /proc")


@pytest.fixture
def server(tmp_path, tfidf_registry):
    s = Server(tmp_path / "service", tfidf_registry).start()
    yield s
    s.stop()


# ---------------------------------------------------------------- raw HTTP, so the body can be streamed and cut short
def _stream(port: int, total: int, token: str | None, chunk: int = 2**16, wait_after: int = 0, wait_s: float = 10.0):
    """POST /jobs with a chunked body of up to ``total`` bytes, stopping as soon as the server answers.

    Once more than ``wait_after`` bytes are sent, it waits up to ``wait_s`` for an answer (once) before sending on.
    Returns (status or None, bytes sent, raw answer).
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = "POST /jobs HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n"
    head += f"Authorization: Bearer {token}\r\n" if token else ""
    sent, data, waited = 0, b"", False
    try:
        sock.sendall((head + "\r\n").encode())
        while sent < total:
            wait = sent > wait_after and not waited
            if select.select([sock], [], [], wait_s if wait else 0)[0]:
                break
            waited = waited or wait
            sock.sendall(b"%x\r\n%s\r\n" % (chunk, b"x" * chunk))
            sent += chunk
        else:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass  # the server stopped reading: its answer is what counts

    def complete(raw: bytes) -> bool:
        head, sep, body = raw.partition(b"\r\n\r\n")
        length = next((int(x.split(b":")[1]) for x in head.lower().split(b"\r\n") if x.startswith(b"content-length:")), 0)
        return bool(sep) and len(body) >= length

    try:
        while not complete(data):
            part = sock.recv(2**16)
            if not part:
                break
            data += part
    except (ConnectionResetError, socket.timeout):
        pass
    finally:
        sock.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
    return status, sent, data


def _rss_mib(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@linux_only
def test_a_streamed_body_over_the_limit_is_cut_off_with_413(server):
    assert server.call("GET", "/jobs").status_code == 200  # warm
    before = _rss_mib(server.proc.pid)
    status, sent, raw = _stream(server.port, 29 * 2**20, TOKEN, wait_after=MAX_BODY_BYTES)
    assert status == 413, raw[:300]
    assert b"application/problem+json" in raw and b"Payload Too Large" in raw
    assert sent <= MAX_BODY_BYTES + 2**16  # answered once the limit was passed, not after the whole 29 MiB
    assert _rss_mib(server.proc.pid) - before < 12  # nothing like the body was buffered
    # just over the limit, as a client library streams it
    r = server.call("POST", "/jobs", data=iter([b"x" * 2**16] * (MAX_BODY_BYTES // 2**16 + 1)))
    assert r.status_code == 413 and r.json()["title"] == "Payload Too Large"
    # a streamed body within the limit is read as usual
    body = json.dumps(upload()).encode()
    ok = server.call(
        "POST", "/jobs", data=iter([body[i : i + 1000] for i in range(0, len(body), 1000)]), headers={"Content-Type": "application/json"}
    )
    assert ok.status_code == 202, ok.text
    assert server.call("GET", "/health").status_code == 200


def _blind(port: int, total: int, token: str | None) -> tuple[str | None, bytes]:
    """POST a chunked body of ``total`` bytes whole, then read the answer to the end, as most HTTP libraries do.
    Returns (the first socket error, if any, and the raw answer)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    head = "POST /jobs HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
    head += f"Authorization: Bearer {token}\r\n" if token else ""
    error, data = None, b""
    try:
        sock.sendall((head + "\r\n").encode())
        for _ in range(total // 2**16):
            sock.sendall(b"%x\r\n%s\r\n" % (2**16, b"x" * 2**16))
        sock.sendall(b"0\r\n\r\n")
        while part := sock.recv(2**16):
            data += part
    except OSError as exc:
        error = type(exc).__name__
    finally:
        sock.close()
    return error, data


@linux_only
def test_a_client_that_sends_its_whole_body_first_reads_the_status_and_a_clean_close(server):
    """The refusal is sent whole, the rest of the body discarded (not kept), then the connection closed: no reset, no hang."""
    for token, status in ((TOKEN, b"413"), (None, b"401")):
        error, raw = _blind(server.port, 30 * 2**20, token)
        assert error is None and raw.startswith(b"HTTP/1.1 " + status), (error, raw[:200])
        assert b"connection: close" in raw.lower()
    assert server.call("GET", "/health").status_code == 200


def test_no_token_is_refused_before_the_body_is_read(server):
    malformed = server.call("POST", "/jobs", token=None, data=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 401 and malformed.headers["content-type"] == "application/problem+json"
    assert malformed.headers["www-authenticate"] == "Bearer"
    wrong = server.call("POST", "/jobs", token="w" * 40, data=b"{not json", headers={"Content-Type": "application/json"})
    assert wrong.status_code == 401
    for method, path in [("GET", "/no-such-route"), ("PUT", "/jobs"), ("GET", "/health/"), ("GET", "//health")]:
        assert server.call(method, path, token=None).status_code == 401, (method, path)
    assert server.call("GET", "/no-such-route").status_code == 404
    r = requests.get(server.url + "/jobs", headers={"Authorization": f"Basic {TOKEN}"}, timeout=30)
    assert r.status_code == 401
    # a large streamed body without a token: the 401 comes at once, the rest is never sent
    status, sent, raw = _stream(server.port, 29 * 2**20, None, wait_s=5)
    assert status == 401, raw[:300]
    assert sent <= 2**16  # the answer may even come before the first chunk


# ---------------------------------------------------------------- the data folder is private
def _modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")] if not p.is_symlink()}


@pytest.mark.slow
def test_the_data_folder_is_private_whatever_the_umask(tmp_path, tfidf_registry):
    data = tmp_path / "service"
    old = os.umask(0o022)
    try:
        data.mkdir()  # an existing folder, 0755
    finally:
        os.umask(old)
    s = Server(data, tfidf_registry, env={}, umask=0o022).start()  # no $ADVISOR_TOKEN: the token file is generated
    try:
        token = (data / "token").read_text().strip()
        assert len(token) >= 32
        r = s.call("POST", "/jobs", token=token, json=upload())
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 180
        while s.call("GET", f"/jobs/{job_id}", token=token).json()["status"] not in ("complete", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        modes = _modes(data)
    finally:
        s.stop()
    names = set(modes)
    assert {
        "token",
        "store.sqlite",
        "store.sqlite-wal",
        "store.sqlite-shm",
        f"jobs/{job_id}/task/samples.jsonl",
        f"jobs/{job_id}/task/task.yaml",
        f"jobs/{job_id}/worker.log",
    } <= names
    assert any(n.endswith("results.json") for n in names) and any(n.endswith("report.html") for n in names)
    opened = {n: oct(m) for n, m in modes.items() if m != (0o700 if (data / n).is_dir() else 0o600)}
    assert opened == {}


# ---------------------------------------------------------------- the token
def test_a_token_file_open_to_others_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("ADVISOR_TOKEN", raising=False)
    path = tmp_path / "token"
    path.write_text("t" * 40)
    path.chmod(0o644)
    with pytest.raises(AdvisorError) as info:
        token_for(tmp_path)
    msg = str(info.value)
    assert str(path) in msg and f"chmod 600 {path}" in msg and "0644" in msg and "\n" not in msg
    path.chmod(0o600)
    assert token_for(tmp_path) == "t" * 40


def test_a_short_token_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("ADVISOR_TOKEN", raising=False)
    path = tmp_path / "token"
    path.write_text("abcde")
    path.chmod(0o600)
    with pytest.raises(AdvisorError) as info:
        token_for(tmp_path)
    assert str(path) in str(info.value) and "5 characters, fewer than 32" in str(info.value)
    monkeypatch.setenv("ADVISOR_TOKEN", "short-token")
    with pytest.raises(AdvisorError) as info:
        token_for(tmp_path)
    assert "$ADVISOR_TOKEN" in str(info.value) and "fewer than 32" in str(info.value) and "\n" not in str(info.value)
    monkeypatch.setenv("ADVISOR_TOKEN", "k" * 32)
    assert token_for(tmp_path) == "k" * 32


def test_a_generated_token_is_long_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("ADVISOR_TOKEN", raising=False)
    old = os.umask(0o022)
    try:
        token = token_for(tmp_path / "fresh")
    finally:
        os.umask(old)
    assert len(token) >= 32 and token_for(tmp_path / "fresh") == token
    assert _modes(tmp_path / "fresh") == {".": 0o700, "token": 0o600}


def test_serve_with_a_weak_token_exits_1_with_one_line(tmp_path):
    data = tmp_path / "service"
    data.mkdir()
    (data / "token").write_text("t" * 40)
    (data / "token").chmod(0o644)
    env = {k: v for k, v in os.environ.items() if k != "ADVISOR_TOKEN"}
    r = subprocess.run(
        [sys.executable, "-m", "advisor.cli", "serve", "--data-dir", str(data), "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "chmod 600" in lines[0], r.stderr


# ---------------------------------------------------------------- uploads are checked at submit
def test_uploads_that_cannot_work_are_refused_at_submit(server):
    cases = [
        ({"upload": {**upload()["upload"], "labels": ["neg", "pos", "neutral"]}}, "upload.labels: 'neutral' never occurs in the samples"),
        ({**upload(), "candidates": ["tfidf-smal"]}, "candidates: no candidate named 'tfidf-smal' (did you mean 'tfidf-small'?)"),
        ({"task": "spam", "candidates": ["tfidf-small", "bert-huge"]}, "candidates: no candidate named 'bert-huge'"),
        (
            {**upload(), "settings": {"reference": "tfidf-larg"}},
            "settings.reference: no candidate named 'tfidf-larg' (did you mean 'tfidf-large'?)",
        ),
        (
            {"upload": {**upload()["upload"], "type": "summarization", "labels": None, "metric": {"name": "rougeL"}}},
            "serves task type 'summarization'",
        ),
    ]
    for body, needle in cases:
        r = server.call("POST", "/jobs", json=body)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (body, r.text)
        assert needle in r.json()["detail"], (needle, r.json())
    assert server.call("GET", "/jobs").json() == []
    assert list((server.data_dir / "jobs").iterdir()) == []
    assert server.call("POST", "/jobs", json={**upload(), "candidates": ["tfidf-small"]}).status_code == 202


# ---------------------------------------------------------------- workers never outlive their server, nor run twice
class _Sleeps:
    """Unpickling it sleeps: a saved 'fitted' model whose loading takes a minute (a slow candidate, no code hook)."""

    def __reduce__(self):
        return (time.sleep, (60,))


@pytest.fixture
def slow_registry(tmp_path) -> Path:
    (tmp_path / "slow.pkl").write_bytes(pickle.dumps(_Sleeps()))
    path = tmp_path / "slow-registry.yaml"
    path.write_text(
        "version: 1\ncandidates:\n  - {name: slow, tier: small, kind: tfidf-logreg, backend: sklearn, "
        "task_types: [text-classification], license: MIT, options: {fitted: slow.pkl}}\n"
    )
    return path


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _workers_of(job_id: str) -> list[int]:
    """Live processes whose arguments name the job."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if job_id.encode() in args and _running(int(entry)):
                found.append(int(entry))
    return found


def _worker(job_id: str, not_by: set[int], timeout: float = 90) -> int:
    """The pid of the one live process working on the job that is none of ``not_by`` (once there is one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in _workers_of(job_id) if p not in not_by]
        if found:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.1)
    raise TimeoutError(f"no worker for job {job_id}")


def _job(data: Path, job_id: str) -> dict:
    with ResultStore(data / "store.sqlite") as store:
        return store.job(job_id)


def _owner_becomes(data: Path, job_id: str, pid: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (job := _job(data, job_id))["owner_pid"] != pid:
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return job


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.slow
@linux_only
def test_a_server_killed_with_sigkill_takes_its_worker_along_and_a_restart_runs_the_job_once(tmp_path, slow_registry):
    data = tmp_path / "service"
    s = Server(data, slow_registry).start()
    workers: list[int] = []
    try:
        job_id = s.call("POST", "/jobs", json={**upload(), "candidates": ["slow"]}).json()["id"]
        first = _worker(job_id, not_by={s.proc.pid})
        workers.append(first)
        time.sleep(2)  # well into its work

        os.kill(s.proc.pid, signal.SIGKILL)  # the server alone: its worker gets no word from it
        s.proc.wait()
        assert _wait_gone(first, 5), "the worker outlived its server"

        s = Server(data, slow_registry).start()  # same data dir: the job is requeued (its owner is gone) and runs once
        second = _worker(job_id, not_by={s.proc.pid, first})
        workers.append(second)
        job = _owner_becomes(data, job_id, second)
        assert job["status"] == "running" and job["heartbeat_at"] > time.time() - 30
        time.sleep(1)
        assert _workers_of(job_id) == [second]

        s.proc.send_signal(signal.SIGTERM)  # a graceful stop ends the worker and puts the job back in the queue
        assert s.proc.wait(timeout=30) is not None
        assert _wait_gone(second, 5)
        job = _job(data, job_id)
        assert (job["status"], job["owner_pid"]) == ("queued", None)
    finally:
        s.stop()
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@linux_only
def test_a_live_orphan_worker_is_stopped_before_its_job_is_requeued(tmp_path, tfidf_registry):
    data = tmp_path / "service"
    data.mkdir(mode=0o700)
    job_id = "ab" * 16
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # what a worker left by a dead server looks like: its arguments name the job and a server that is gone; it keeps measuring
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "-m", "advisor.service", str(data), job_id, "{}", str(gone.pid)],
        start_new_session=True,
    )
    try:
        with ResultStore(data / "store.sqlite") as store:
            store.add_job(job_id, {"task": "spam", "candidates": ["tfidf-small"], "settings": {"sample_size": 40, "serving": "off"}})
            store.claim_next_job(owner_pid=orphan.pid)
            assert store.requeue_running_jobs() == 0  # its owner lives: never requeued under it
        s = Server(data, tfidf_registry).start()
        try:
            assert orphan.wait(timeout=15) is not None  # stopped by the new server before the job went back to the queue
            job = s.wait(job_id)
            assert job["status"] == "complete", job
        finally:
            s.stop()
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_a_drain_time_that_is_not_seconds_stops_the_server_from_starting(monkeypatch):
    from advisor.errors import AdvisorError
    from advisor.service.jobs import DRAIN_S, drain_seconds

    monkeypatch.delenv("ADVISOR_DRAIN_S", raising=False)
    assert drain_seconds() == DRAIN_S
    monkeypatch.setenv("ADVISOR_DRAIN_S", "2.5")
    assert drain_seconds() == 2.5
    for bad in ("ten", "-1", "nan", "inf"):
        monkeypatch.setenv("ADVISOR_DRAIN_S", bad)
        with pytest.raises(AdvisorError, match=r"ADVISOR_DRAIN_S=.* is not a number of seconds \(0 or more\); unset it"):
            drain_seconds()
