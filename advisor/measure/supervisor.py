"""Every process the advisor starts, watches or stops goes through here.

Three levels of processes exist: a run's measuring workers (forked from a preloaded server, one per
job), the service's job workers (one process group per job) and the processes a run or job owns in
the result store. What they share lives in this one module:

* **Spawning.** :func:`worker_context` (a fork server with the heavy imports done, else spawn),
  :func:`deaf_to_ctrl_c` (a worker never sees the terminal's Ctrl-C: the parent handles it) and
  :func:`run_in_worker`, the message pump: the worker sends ``("progress", ...)`` and ``("ready", t)``
  messages and one final message; the parent relays progress and notices a worker that died.
* **Dying with the parent.** :func:`die_with_parent` (Linux ``PR_SET_PDEATHSIG``) and
  :func:`end_group_with_parent`, for a worker that leads a process group of its own.
* **Liveness.** :func:`owner_alive`: a pid is the owner that wrote a heartbeat only if it exists, is
  not a zombie and (where ``/proc`` says when it started) started before that heartbeat, so a reused
  pid is never taken for the owner. :class:`Heartbeat` refreshes an owner's sign of life from a thread.
* **Stopping.** :func:`kill_tree`: SIGTERM then SIGKILL to a process and the group it leads.

Nothing here imports the rest of the advisor, so the store, the executor and the service all use it.
"""

from __future__ import annotations

import os
import queue as queue_mod
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Generic, TypeVar

PR_SET_PDEATHSIG = 1
START_SLACK_S = 30.0
"""``/proc`` start times follow wall-clock steps (NTP, resume): the margin before a pid counts as reused."""

T = TypeVar("T")


# -- dying with the parent ------------------------------------------------------------------------------


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent ends, even by SIGKILL (Linux only).

    Args:
        sig: the signal to receive.
        parent: the pid the parent should have; when it has changed already (the parent died before the
            request), the signal is sent now.

    Returns:
        False where the request is not supported (not Linux, no libc).
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return False
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def _stat_fields(pid: int | str) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (state, parent pid, group, ...) (Linux).

    Raises:
        OSError, ValueError: no such process, or no ``/proc``.
    """
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses


def _group_members(group: int) -> list[int] | None:
    """The other processes of process group ``group`` (Linux ``/proc``), or None where they cannot be listed."""
    try:
        pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    except OSError:
        return None
    members = []
    for pid in pids:
        try:
            if int(_stat_fields(pid)[2]) == group and pid != os.getpid():
                members.append(pid)
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return members if pids else None


def _end_group(signum: int, frame: Any = None) -> None:
    """SIGTERM in a process that leads its group: its own children go too, then it exits with 128 + the signal (so
    its parent can tell a process told to stop from one that crashed)."""
    me = os.getpid()
    if os.getpgrp() == me:
        members = _group_members(me)
        if members is None:
            os.killpg(me, signal.SIGKILL)  # no /proc: the whole group, this process with it
        for pid in members or []:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    os._exit(128 + signum)


def end_group_with_parent(parent: int | None) -> None:
    """In a worker leading its own process group: on SIGTERM, or when ``parent`` ends (even by SIGKILL, on Linux),
    end the whole group."""
    signal.signal(signal.SIGTERM, _end_group)
    die_with_parent(signal.SIGTERM)
    if parent is not None and os.getppid() != parent:  # the parent died before the signal was asked for
        _end_group(signal.SIGTERM)


# -- liveness ---------------------------------------------------------------------------------------------


def process_stat(pid: int) -> tuple[str, int, float] | None:
    """``(state, parent pid, start time as epoch seconds)`` from ``/proc`` (Linux), or None where it cannot be read."""
    try:
        fields = _stat_fields(pid)
        state, ppid, start_ticks = fields[0], int(fields[1]), int(fields[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        return state, ppid, boot + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_cmdline(pid: int) -> list[str] | None:
    """The process's arguments from ``/proc`` (Linux), or None where they cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode("utf-8", "replace").split("\0")[:-1] if raw else []


def parent_of(pid: int) -> int | None:
    """The parent pid of ``pid`` from ``/proc``, or None where it cannot be read."""
    stat = process_stat(pid)
    return stat[1] if stat else None


def owner_alive(pid: int | None, heartbeat_at: float | None = None) -> bool:
    """Whether the process ``pid`` that wrote a heartbeat at ``heartbeat_at`` still runs.

    False when the pid does not exist or is a zombie, and (where start times can be read) when the
    process now holding that pid started after the heartbeat: a reused pid is not the owner.
    """
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    except OSError:
        return False
    stat = process_stat(pid)
    if stat is not None:
        state, _, started = stat
        if state in ("Z", "X", "x"):
            return False
        if heartbeat_at is not None and started > heartbeat_at + START_SLACK_S:
            return False
    return True


class Heartbeat(Generic[T]):
    """Calls ``beat(conn)`` every ``interval_s`` from a daemon thread, ``conn`` opened by ``connect()`` in that thread.

    ``beat`` returns False when the owner lost what it owned (a job taken over by another worker); ``on_lost``
    is then called once, from the thread, and the beats stop. An error opening or beating ends the beats
    quietly: the work itself will meet the same error and say so. Use as a context manager::

        with Heartbeat(lambda: ResultStore(path), lambda s: s.heartbeat_run(run_id)):
            measure()
    """

    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[T]],
        beat: Callable[[T], bool],
        interval_s: float,
        on_lost: Callable[[], None] | None = None,
        join_s: float = 30.0,
    ):
        self.connect, self.beat, self.interval_s, self.on_lost, self.join_s = connect, beat, interval_s, on_lost, join_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="advisor-heartbeat", daemon=True)

    def _loop(self) -> None:
        try:
            with self.connect() as conn:
                while not self._stop.wait(self.interval_s):
                    if not self.beat(conn):
                        if self.on_lost is not None:
                            self.on_lost()
                        return
        except Exception:  # noqa: BLE001 - see the class docstring
            return

    def __enter__(self) -> Heartbeat[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.join_s)


# -- stopping -----------------------------------------------------------------------------------------------


def gone(pid: int, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``pid`` to end; True once it has."""
    deadline = time.monotonic() + timeout_s
    while owner_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def kill_tree(pid: int, grace_s: float = 5.0) -> bool:
    """SIGTERM, then SIGKILL, to ``pid`` and, when it leads one, its process group; True once it is gone."""
    try:
        group = os.getpgid(pid) == pid
    except ProcessLookupError:
        return True
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig) if group else os.kill(pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        if gone(pid, grace_s):
            return True
    return False


# -- spawning ----------------------------------------------------------------------------------------------


def deaf_to_ctrl_c(start: Callable[[], None]) -> None:
    """Call ``start()`` (which starts a process) with SIGINT ignored: Ctrl-C is the parent's to handle (it
    stops the worker). An ignored signal stays ignored across fork and exec and Python keeps it so, so a
    Ctrl-C during a worker's (or the worker server's) imports cannot print a traceback from it."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may change handlers
        start()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        start()
    finally:
        signal.signal(signal.SIGINT, previous)


def worker_context(preload_env: str, preload_value: str, preload: str = "advisor.measure.preload"):
    """A fork server that has imported ``preload`` (the heavy libraries, a probed meter) once (Linux), else spawn.

    Each worker is still a fresh process of its own; it only starts without the imports' seconds.
    ``preload_env`` is set to ``preload_value`` for the server to read.
    """
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    os.environ[preload_env] = preload_value
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([preload])
    return ctx


def start_server_early(ctx) -> None:
    """Start a fork server's imports now, in the background, deaf to Ctrl-C (no-op for spawn)."""
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        deaf_to_ctrl_c(forkserver.ensure_running)


def worker_main(target: Callable[..., Any], args: tuple, out) -> None:
    """The body of every worker process: deaf to Ctrl-C, dies with its parent, runs ``target(*args, send)``
    where ``send(message)`` reaches the parent's pump."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle, also when started some other way
    die_with_parent()
    target(*args, out.put)


class Worker:
    """One worker process running ``target(*args, send)``, and the pump that reads its messages.

    ``progress`` messages go to ``on_progress(*rest)``; ``ready`` marks when the worker's meter started (its
    start-up time is measured from the process start); the first other message is the worker's answer.
    """

    def __init__(self, ctx, target: Callable[..., Any], args: tuple):
        self.ctx, self.target, self.args = ctx, target, args
        self.proc = None
        self.startup_s: float | None = None

    def run(self, on_progress: Callable[..., None]) -> tuple | None:
        """Start the worker, relay its progress, and return its answer (None when it died before answering)."""
        started = time.time()
        out = self.ctx.Queue()
        proc = self.ctx.Process(target=worker_main, args=(self.target, self.args, out), daemon=True)
        self.proc = proc
        if self.ctx.get_start_method() == "forkserver":
            proc.start()  # forked from a server started deaf to Ctrl-C; this call may wait for its imports, and must stay interruptible
        else:
            deaf_to_ctrl_c(proc.start)
        answer = None
        try:
            while answer is None:
                try:
                    msg = out.get(timeout=0.25)
                except queue_mod.Empty:
                    if proc.is_alive():
                        continue
                    try:
                        msg = out.get(timeout=1.0)
                    except queue_mod.Empty:
                        break
                if msg[0] == "progress":
                    on_progress(*msg[1:])
                elif msg[0] == "ready":
                    self.startup_s = max(0.0, msg[1] - started)
                else:
                    answer = msg
            proc.join(timeout=30)
        finally:
            self.stop()
        return answer

    def death(self) -> str:
        """How the worker ended, for a failed row: ``signal 9`` or ``exit code 1``."""
        code = self.proc.exitcode if self.proc is not None else None
        return f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"

    def stop(self) -> None:
        """Terminate the worker if it still runs."""
        proc = self.proc
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
