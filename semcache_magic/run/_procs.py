"""The processes a run leaves behind (the only user of psutil, which ipykernel requires).

A kernel starts in its own session, and jupyter-client kills its whole process group;
code that calls ``setsid`` (or daemonises) leaves that group and would outlive the
kernel, holding your files, ports or CPU. Two measures close that gap:

* the kernel is made a *child subreaper* (Linux, :data:`SUBREAPER_CODE`, sent once at
  start): a process its code orphans is re-parented to the kernel instead of to init,
  so it stays among the kernel's descendants;
* before a kernel is stopped, :func:`end_descendants` kills every descendant.
"""

from __future__ import annotations

import contextlib
import logging

import psutil  # a dependency of ipykernel; imported here, not while Python shuts down

__all__ = ["SUBREAPER_CODE", "end_descendants"]

log = logging.getLogger(__name__)

#: Kernel-side code: become a child subreaper (PR_SET_CHILD_SUBREAPER = 36) where the
#: platform has one; elsewhere it does nothing.
SUBREAPER_CODE = """\
def __semcache_subreaper():
    import sys
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
        except Exception:
            pass
__semcache_subreaper()
del __semcache_subreaper
"""

_ROUNDS = 5  # each round also catches children orphaned (re-parented to us) by the last
_WAIT_S = 0.5


def end_descendants(pid: int) -> int:
    """Kill every running descendant of process ``pid`` (not ``pid`` itself); how many.

    Zombies are skipped: they are already dead, and waiting for them would only wait
    (the kernel, their new parent, does not reap what it did not start).
    """
    killed = 0
    for _ in range(_ROUNDS):
        try:
            children = [c for c in psutil.Process(pid).children(recursive=True) if _running(c)]
        except psutil.Error:  # the kernel is gone: its orphans went to init
            break
        if not children:
            break
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
                killed += 1
        psutil.wait_procs(children, timeout=_WAIT_S)
    if killed:
        log.debug("semcache: killed %d process(es) left by a run in kernel %d", killed, pid)
    return killed


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False
