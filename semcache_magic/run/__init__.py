"""The run stage: code runs in an isolated, pooled ipykernel (the only jupyter_client user).

:class:`KernelRunner` (``get_runner`` for the process-wide one) keeps a warm pool
of kernels and runs a program with a deadline, sending input values in and
bringing output values back; it returns a :class:`RunResult`. Inside: the pool
(``_pool``), the execute protocol with its deadlines (``_protocol``), results and
output collection (``_result``), and moving values across (``_transfer``, which
also checks before a model call that inputs can be sent at all:
:func:`unpicklable`, and describes them without their values: :func:`describe_inputs`).
A kernel gets the environment without credentials (``_env``: :func:`kernel_environment`),
and the processes its code starts end with it (``_procs``).
"""

from __future__ import annotations

from ._env import credential_name, kernel_environment
from ._kernels import notebook_kernel_manager
from ._result import RUN_STATUSES, RunResult, strip_ansi
from ._runner import KernelRunner, get_runner
from ._transfer import check_sendable, describe_inputs, unpicklable

__all__ = [
    "RUN_STATUSES",
    "KernelRunner",
    "RunResult",
    "check_sendable",
    "credential_name",
    "describe_inputs",
    "get_runner",
    "kernel_environment",
    "notebook_kernel_manager",
    "strip_ansi",
    "unpicklable",
]
