"""The service under load: concurrent clients submitting, polling and downloading against a real ``advisor serve``,
with a restart in the middle.

    python bench/service_load.py [--clients 40] [--jobs-per-client 1] [--restart-after 20] [--out bench-service]

Starts ``advisor serve`` (a TF-IDF registry, so jobs take seconds; the null meter), then runs ``--clients`` threads,
each submitting ``--jobs-per-client`` uploaded jobs one after the other (60 labelled rows each), polling its status
every 0.2 s until it ends, then downloading its results and report. A 429 (too many open jobs) is honoured by
waiting its Retry-After and submitting again. After ``--restart-after`` seconds the server is killed (SIGKILL, its
whole process group) and started again on the same data folder; clients retry while it is down. Prints the
requests, 5xx (target 0), 429s, jobs submitted / complete / lost (target 0; a job is lost unless it completed and
still reads complete once every client is done), and the status latency p50/p99.
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

TOKEN = "load-test-token-" + "x" * 32
REGISTRY = """version: 1
candidates:
  - {name: tfidf, tier: small, kind: tfidf-logreg, backend: sklearn, task_types: [text-classification], license: MIT}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, out: Path):
        self.out, self.port, self.proc = out, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"
        (out / "registry.yaml").write_text(REGISTRY, encoding="utf-8")

    def start(self) -> None:
        env = {**os.environ, "ADVISOR_TOKEN": TOKEN}
        args = [sys.executable, "-m", "advisor.cli", "serve", "--port", str(self.port), "--data-dir", str(self.out / "data")]
        args += ["--registry", str(self.out / "registry.yaml"), "--meter", "null"]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


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
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = self.errors_5xx = self.too_many = self.down = 0
        self.status_s: list[float] = []
        self.jobs: dict[str, str] = {}

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


def client(server: Server, stats: Stats, n_jobs: int, seed: int, stop: threading.Event) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"

    def call(method: str, path: str, **kw) -> requests.Response | None:
        try:
            return session.request(method, server.url + path, timeout=30, **kw)
        except requests.ConnectionError:
            return None

    for j in range(n_jobs):
        body = {"settings": {"serving": "off"}, "upload": {"name": "load", "threshold": 0.6, "labels": ["neg", "pos"], "folds": 3}}
        body["upload"]["samples"] = rows(seed * 100 + j)
        while not stop.is_set():
            r = call("POST", "/jobs", json=body)
            stats.add(r)
            if r is not None and r.status_code == 202:
                job_id = r.json()["id"]
                break
            time.sleep(float(r.headers.get("Retry-After", 1)) if r is not None and r.status_code == 429 else 0.5)
        else:
            return
        with stats.lock:
            stats.jobs[job_id] = "queued"
        status = "queued"
        while status not in ("complete", "failed", "cancelled") and not stop.is_set():
            t0 = time.perf_counter()
            r = call("GET", f"/jobs/{job_id}")
            stats.add(r, time.perf_counter() - t0 if r is not None else None)
            if r is not None and r.status_code == 200:
                status = r.json()["status"]
            time.sleep(0.2)
        with stats.lock:
            stats.jobs[job_id] = status
        if status == "complete":
            for path in (f"/jobs/{job_id}/results", f"/jobs/{job_id}/report"):
                stats.add(call("GET", path))


def _status(server: Server, job_id: str) -> str:
    r = requests.get(f"{server.url}/jobs/{job_id}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    return r.json().get("status", "?") if r.status_code == 200 else f"HTTP {r.status_code}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=40)
    ap.add_argument("--jobs-per-client", type=int, default=1)
    ap.add_argument("--restart-after", type=float, default=20.0, help="seconds before the server is killed and started again (0: never)")
    ap.add_argument("--out", type=Path, default=Path("bench-service"))
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    server, stats, stop = Server(args.out), Stats(), threading.Event()
    server.start()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(server, stats, args.jobs_per_client, i, stop)) for i in range(args.clients)]
    for t in threads:
        t.start()
    restarted = False
    try:
        while any(t.is_alive() for t in threads) and time.perf_counter() - t0 < args.timeout:
            if args.restart_after and not restarted and time.perf_counter() - t0 > args.restart_after:
                server.kill()
                server.start()
                restarted = True
            time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    wall = time.perf_counter() - t0
    final = {j: _status(server, j) for j in stats.jobs}  # after the clients: a finished job must stay finished
    server.kill()
    done = sum(s == "complete" for s in stats.jobs.values())
    lost = [j for j, s in stats.jobs.items() if s != "complete" or final[j] != "complete"]
    lat = sorted(stats.status_s)
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    print(
        f"{args.clients} clients x {args.jobs_per_client} jobs in {wall:.0f} s, restart: {'yes' if restarted else 'no'}\n"
        f"  requests {stats.requests:,}, 5xx {stats.errors_5xx}, 429 {stats.too_many}, refused while down {stats.down}\n"
        f"  jobs submitted {len(stats.jobs)}, complete {done}, lost {len(lost)}\n"
        f"  status latency p50 {p(0.50):.1f} ms, p99 {p(0.99):.1f} ms over {len(lat):,} polls"
    )


if __name__ == "__main__":
    main()
