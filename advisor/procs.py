"""Processes that die with the one that started them (Linux ``PR_SET_PDEATHSIG``)."""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1


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
