"""The service under load: concurrent clients submitting, polling and downloading against a real ``advisor serve``,
with restarts in the middle.

    python bench/service_load.py [--clients 40] [--jobs 4] [--restarts term,kill] [--restart-after 15] [--out bench-service]

Starts ``advisor serve`` (a TF-IDF registry, so jobs take seconds; the null meter; each job's candidates measured in
its worker process, ``--isolate`` for a process per candidate) and submits ``--jobs`` uploaded jobs (60 labelled rows
each), one per client; ``--clients`` threads in all poll the jobs' status every 0.2 s and download each complete job's
results and report. A 429 is honoured (Retry-After); clients retry while the server is down. From ``--restart-after``
seconds on, each time a job runs while others wait in the queue, the server is stopped and started again on the same
data folder, once per entry of ``--restarts``: ``term`` (SIGTERM to the server, as ``kill``, ``docker stop`` or
Ctrl-C would: it claims no new job and lets the running one finish, up to ``ADVISOR_DRAIN_S``, 120 s here) and
``kill`` (SIGKILL to its process group: the running job's worker dies with the server, and the job resumes from its
stored measurements after the restart).

Every job must end exactly once: complete, or failed with a reason, and still so once every client is done. Each
start and end of a job's run is a line in its ``worker.log`` (kept across restarts): a job is *run twice* when its run
started more often than once plus the SIGKILLs that cut it short, or ended more than once. Prints the requests, 5xx
(target 0), 429s, the jobs submitted / complete / failed / lost (target 0) / run twice (target 0) / resumed, each
restart's downtime (the stop signal to the first answer of ``/health``) and the status latency p50/p99.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from advisor.service.jobs import RUN_ENDED, RUN_STARTED

TOKEN = "load-test-token-" + "x" * 32
DRAIN_S = 120
REGISTRY = """version: 1
candidates:
  - {name: tfidf, tier: small, kind: tfidf-logreg, backend: sklearn, task_types: [text-classification], license: MIT}
"""
FINAL = ("complete", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, out: Path, isolate: bool):
        self.out, self.isolate, self.port, self.proc = out, isolate, free_port(), None
        self.url, self.data = f"http://127.0.0.1:{self.port}", out / "data"
        (out / "registry.yaml").write_text(REGISTRY, encoding="utf-8")

    def start(self) -> None:
        env = {**os.environ, "ADVISOR_TOKEN": TOKEN, "ADVISOR_DRAIN_S": str(DRAIN_S)}
        args = [sys.executable, "-m", "advisor.cli", "serve", "--port", str(self.port), "--data-dir", str(self.data)]
        args += ["--registry", str(self.out / "registry.yaml"), "--meter", "null", *([] if self.isolate else ["--in-process"])]
        with open(self.out / "server.log", "a") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"the server did not start; see {self.out / 'server.log'}")

    def stop(self, how: str) -> None:
        """``term``: SIGTERM to the server alone, then wait for it to finish; ``kill``: SIGKILL to its process group."""
        if how == "term":
            self.proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=DRAIN_S + 60)


def runs(data: Path, job_id: str) -> tuple[int, int, list[int]]:
    """How often the job's run started and ended, and the worker pids that started it (from its worker.log)."""
    log = data / "jobs" / job_id / "worker.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    started = [line for line in lines if RUN_STARTED in line]
    pids = [int(line.rsplit(" ", 1)[1]) for line in started if line.rsplit(" ", 1)[1].isdigit()]
    return len(started), sum(RUN_ENDED in line for line in lines), pids


def rows(seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(60):
        label = "pos" if i % 2 else "neg"
        words = rng.sample(["the", "film", "was", "a", "plot", "story"], 3) + [
            rng.choice(["good", "great"] if label == "pos" else ["bad", "dull"])
        ]
        out.append({"text": " ".join(words), "label": label})
    return out


class Stats:
    def __init__(self, n_jobs: int):
        self.lock = threading.Lock()
        self.requests = self.errors_5xx = self.too_many = self.down = 0
        self.status_s: list[float] = []
        self.n_jobs, self.ids, self.seen = n_jobs, [], {}  # job id -> the first final status a client saw
        self.changed: list[str] = []  # jobs seen final, later seen otherwise

    def add(self, r: requests.Response | None, status_s: float | None = None) -> None:
        with self.lock:
            if r is None:
                self.down += 1
                return
            self.requests += 1
            self.errors_5xx += r.status_code >= 500
            self.too_many += r.status_code == 429
            if status_s is not None:
                self.status_s.append(status_s)

    def saw(self, job_id: str, status: str) -> None:
        with self.lock:
            first = self.seen.get(job_id)
            if first is None and status in FINAL:
                self.seen[job_id] = status
            elif first is not None and status != first:
                self.changed.append(job_id)

    def done(self) -> bool:
        with self.lock:
            return len(self.seen) == self.n_jobs


def client(server: Server, stats: Stats, index: int, stop: threading.Event) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    rng = random.Random(index)

    def call(method: str, path: str, **kw) -> requests.Response | None:
        try:
            return session.request(method, server.url + path, timeout=30, **kw)
        except requests.ConnectionError:
            return None

    if index < stats.n_jobs:  # a submitting client
        body = {"settings": {"serving": "off"}, "upload": {"name": "load", "threshold": 0.6, "labels": ["neg", "pos"], "folds": 3}}
        body["upload"]["samples"] = rows(index)
        while not stop.is_set():
            r = call("POST", "/jobs", json=body)
            stats.add(r)
            if r is not None and r.status_code == 202:
                with stats.lock:
                    stats.ids.append(r.json()["id"])
                break
            time.sleep(float(r.headers.get("Retry-After", 1)) if r is not None and r.status_code == 429 else 0.5)
    downloaded: set[str] = set()
    while not stop.is_set() and not stats.done():
        with stats.lock:
            open_ = [j for j in stats.ids if j not in stats.seen] or [j for j in stats.ids if j not in downloaded]
        if not open_:
            time.sleep(0.2)
            continue
        job_id = rng.choice(open_)
        t0 = time.perf_counter()
        r = call("GET", f"/jobs/{job_id}")
        stats.add(r, time.perf_counter() - t0 if r is not None else None)
        if r is not None and r.status_code == 200:
            status = r.json()["status"]
            stats.saw(job_id, status)
            if status == "complete" and job_id not in downloaded:
                for path in (f"/jobs/{job_id}/results", f"/jobs/{job_id}/report"):
                    stats.add(call("GET", path))
                downloaded.add(job_id)
        time.sleep(0.2)


def _statuses(server: Server) -> dict[str, dict]:
    try:
        r = requests.get(f"{server.url}/jobs", params={"limit": 1000}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    except requests.RequestException:
        return {}
    return {j["id"]: j for j in r.json()} if r.status_code == 200 else {}


def _gone(pids: list[int], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{p}").exists() for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def restart(server: Server, how: str, ids: list[str]) -> dict:
    """Stop the server ``how`` and start it again; which jobs it cut short (their run started but did not end)."""
    before = {j: runs(server.data, j) for j in ids}
    t0 = time.perf_counter()
    server.stop(how)
    stopped = time.perf_counter() - t0
    _gone([p for _, _, pids in before.values() for p in pids])  # a killed server's workers die with it
    cut = [j for j in ids if runs(server.data, j)[0] > runs(server.data, j)[1]]
    server.start()
    return {"how": how, "stopped_s": stopped, "downtime_s": time.perf_counter() - t0, "cut": cut}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=4, help="jobs submitted (one per client; at most --clients)")
    ap.add_argument("--restarts", default="term,kill", help="stops, in order: term (SIGTERM), kill (SIGKILL); '' for none")
    ap.add_argument("--restart-after", type=float, default=15.0, help="seconds before the first restart")
    ap.add_argument("--isolate", action="store_true", help="measure each candidate in a process of its own (slower)")
    ap.add_argument("--out", type=Path, default=Path("bench-service"))
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    n_jobs = min(args.jobs, args.clients)
    server, stats, stop = Server(args.out, args.isolate), Stats(n_jobs), threading.Event()
    server.start()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(server, stats, i, stop)) for i in range(args.clients)]
    for t in threads:
        t.start()
    todo, restarts = [h for h in args.restarts.split(",") if h], []
    try:
        while any(t.is_alive() for t in threads) and time.perf_counter() - t0 < args.timeout:
            if todo and time.perf_counter() - t0 > args.restart_after and len(stats.ids) == n_jobs:
                now = _statuses(server).values()
                measuring = any(j["status"] == "running" and j["progress"] for j in now)
                if measuring and any(j["status"] == "queued" for j in now):  # a job is measured, others wait: stop under them
                    restarts.append(restart(server, todo.pop(0), list(stats.ids)))
            time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    wall = time.perf_counter() - t0
    final = _statuses(server)  # after the clients: a finished job must stay finished
    server.stop("kill")
    report(args, stats, final, restarts, wall, server.data)


def report(args, stats: Stats, final: dict[str, dict], restarts: list[dict], wall: float, data: Path) -> None:
    ids = list(stats.ids)
    cut = {j: sum(j in r["cut"] for r in restarts if r["how"] == "kill") for j in ids}  # a SIGTERM lets the job finish
    counts = {j: runs(data, j)[:2] for j in ids}
    ended = {j: final.get(j, {}).get("status") for j in ids}
    failed = [j for j in ids if ended[j] == "failed"]
    lost = [
        j
        for j in ids
        if ended[j] not in ("complete", "failed")
        or stats.seen.get(j) != ended[j]
        or j in stats.changed
        or (ended[j] == "failed" and not final[j].get("error"))
    ]
    twice = [j for j in ids if counts[j][0] > 1 + cut[j] or counts[j][1] > 1]
    resumed = sum(counts[j][0] > 1 for j in ids if cut[j])
    unknown = sorted(set(final) - set(ids))  # jobs in the store no client knows of (an answer lost in a restart)
    lat = sorted(stats.status_s)
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    stops = "; ".join(
        f"{'SIGTERM' if r['how'] == 'term' else 'SIGKILL'}: downtime {r['downtime_s']:.1f} s "
        f"(stopped in {r['stopped_s']:.1f} s), {len(r['cut'])} running job(s) cut short"
        for r in restarts
    )
    print(
        f"{args.clients} clients, {len(ids)} jobs in {wall:.0f} s; restarts: {stops or 'none'}\n"
        f"  requests {stats.requests:,}, 5xx {stats.errors_5xx}, 429 {stats.too_many}, refused while down {stats.down}\n"
        f"  jobs submitted {len(ids)} (all before the first restart), complete {sum(s == 'complete' for s in ended.values())}, "
        f"failed {len(failed)}, lost {len(lost)}, run twice {len(twice)}, resumed after a kill {resumed}, "
        f"unknown to the clients {len(unknown)}\n"
        f"  runs started {sum(c[0] for c in counts.values())}, ended {sum(c[1] for c in counts.values())}\n"
        f"  status latency p50 {p(0.50):.1f} ms, p99 {p(0.99):.1f} ms over {len(lat):,} polls"
    )
    for j in failed:
        print(f"  failed {j}: {final[j].get('error')}")
    for j in sorted(set(lost) | set(twice)):
        print(f"  {j}: {ended[j]} (seen {stats.seen.get(j)}), runs started {counts[j][0]}, ended {counts[j][1]}, cut short {cut[j]}")


if __name__ == "__main__":
    main()
