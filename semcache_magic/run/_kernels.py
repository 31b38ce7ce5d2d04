"""Kernel processes: start one, stop one (the only module that imports jupyter_client).

A kernel gets its connection file in the runner's private 0700 directory and the
ipc transport on POSIX (no TCP-without-encryption warning, no ports to race for),
the environment the runner chose (without credentials), and no history database.
Stopping a kernel first ends every process its run left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import uuid
from typing import Any

from ..errors import KernelStartError
from ._pool import PooledKernel
from ._procs import end_descendants
from ._protocol import warm_up

__all__ = ["notebook_kernel_manager", "raise_open_file_limit", "require_kernelspec",
           "shutdown_kernel", "start_kernel", "zmq_context"]

log = logging.getLogger(__name__)

# A socket path must fit sun_path (104-108 bytes); "-ipc-N" is added to the file's stem.
_IPC_PATH_MAX = 96


def require_kernelspec(name: str) -> None:
    """Raise :class:`KernelStartError` if no kernelspec ``name`` is installed (a cheap
    look at the kernelspec files)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel as exc:
        raise KernelStartError(f"no kernelspec named {name!r} is installed") from exc


#: The soft open-file limit a runner asks for (each kernel costs its client ~20
#: descriptors: five ZeroMQ sockets with their signalling fds, and an event loop).
_OPEN_FILES = 4096


def raise_open_file_limit(wanted: int = _OPEN_FILES) -> int:
    """Raise this process's soft open-file limit towards ``wanted`` (never above the hard
    limit, never lower it); the limit now in force.

    Some machines and CI containers start processes with a small soft limit, and a
    ZeroMQ socket that cannot get a descriptor fails late and far from its cause, so
    the limit is raised before kernels start.
    """
    try:
        import resource
    except ImportError:  # not POSIX: no such limit to raise
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError):
            log.debug("semcache: could not raise the open-file limit", exc_info=True)
    return int(soft)


def zmq_context() -> Any:
    """An asyncio ZeroMQ context to share between kernels (one io thread for all)."""
    import zmq.asyncio

    raise_open_file_limit()
    return zmq.asyncio.Context()


async def start_kernel(name: str, cwd: str, *, workdir: str, env: dict[str, str],
                       context: Any, limit: float) -> PooledKernel:
    """Start kernel ``name`` in ``cwd`` and wait (at most ``limit`` s) until it answers."""
    from jupyter_client.kernelspec import NoSuchKernel
    from jupyter_client.manager import AsyncKernelManager

    manager = AsyncKernelManager(kernel_name=name, context=context)
    client = None
    try:
        extra = _prepare_manager(manager, workdir)
        await asyncio.wait_for(
            manager.start_kernel(cwd=cwd, env=env, extra_arguments=extra), limit)
        client = manager.client()
        # No heartbeat channel: liveness is the manager's process check, and the
        # heartbeat is a thread, an event loop and a socket per kernel for nothing.
        client.start_channels(hb=False)
        await client.wait_for_ready(timeout=limit)
        pid = getattr(manager.provisioner, "pid", None)
        kernel = PooledKernel(manager, client, name, pid, cwd, env)
        await warm_up(kernel, limit)
    except NoSuchKernel as exc:
        raise KernelStartError(f"no kernelspec named {name!r} is installed") from exc
    except BaseException as exc:
        await _kill(manager, client)
        if not isinstance(exc, Exception):
            raise
        reason = str(exc).strip() or type(exc).__name__
        raise KernelStartError(f"the {name!r} kernel did not start: {reason}") from exc
    return kernel


def _prepare_manager(manager: Any, workdir: str) -> list[str]:
    spec = manager.kernel_spec  # raises NoSuchKernel
    provisioner = (spec.metadata or {}).get("kernel_provisioner", {})
    local = provisioner.get("provisioner_name", "local-provisioner") == "local-provisioner"
    # Connection files (and ipc sockets, named after them) go to our private directory.
    manager.connection_file = os.path.join(workdir, f"k-{uuid.uuid4().hex[:8]}.json")
    if local and os.name == "posix" and len(manager.connection_file) < _IPC_PATH_MAX:
        # ipc: no TCP-without-encryption warning and no ports to race for.
        manager.transport = "ipc"
    elif "curve" in (spec.metadata or {}).get("supported_encryption", []):
        with contextlib.suppress(Exception):  # pyzmq without libsodium: plain TCP
            manager.transport_encryption = "auto"
    if any("ipykernel" in arg for arg in spec.argv):
        # Keep snippet code out of the user's IPython history database.
        return ["--HistoryManager.hist_file=:memory:"]
    return []


async def shutdown_kernel(kernel: PooledKernel, graceful: bool) -> None:
    # First every process the run left behind, including ones that left the kernel's
    # process group (setsid) and would outlive a kill of that group.
    # (Synchronous, a few ms: at interpreter exit no thread may be started for it.)
    if kernel.pid is not None:
        end_descendants(kernel.pid)
    try:
        kernel.client.stop_channels()
        await kernel.manager.shutdown_kernel(now=not graceful)
    except Exception:
        log.debug("semcache: kernel shutdown failed; killing", exc_info=True)
        await _kill(kernel.manager, None)


async def _kill(manager: Any, client: Any) -> None:
    with contextlib.suppress(Exception):
        if client is not None:
            client.stop_channels()
        if manager.has_kernel:
            await manager.shutdown_kernel(now=True)
        else:
            await manager.cleanup_resources()


def notebook_kernel_manager(kernel_name: str = "python3") -> Any:
    """A kernel manager for executing a whole notebook (the demo, tests).

    Like the runner's kernels: connection file in a private 0700 directory and ipc
    transport on POSIX, so there is no TCP-without-encryption warning. The caller
    owns it: ``manager.shutdown_kernel()`` (graceful, so the kernel's own atexit hooks
    stop *its* isolated kernels) and remove ``os.path.dirname(manager.connection_file)``.
    """
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name=kernel_name)
    workdir = tempfile.mkdtemp(prefix="semcache-nb-")
    manager.connection_file = os.path.join(workdir, "kernel.json")
    if os.name == "posix" and len(manager.connection_file) < _IPC_PATH_MAX:
        manager.transport = "ipc"
    return manager
