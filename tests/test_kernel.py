"""The isolated kernel runner, with real ipykernel processes (semcache_magic.run).

Most tests share the session ``kernel_runner`` (fixtures_kernel.py); the life-cycle
tests (shutdown, idle timeout, interpreter exit) make their own runners and check
the process table.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fixtures_kernel import kernel_processes, pid_alive, wait_until

from semcache_magic.cli import main as cli_main
from semcache_magic.errors import (
    CodeError,
    ExecutionError,
    KernelDiedError,
    KernelStartError,
    RunTimeoutError,
    TransferError,
)
from semcache_magic.run import KernelRunner, RunResult

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]


def _outputs_of(result: RunResult, kind: str) -> list[dict[str, Any]]:
    return [o for o in result.outputs if o["output_type"] == kind]


# -- what a run returns ------------------------------------------------------------------
def test_ok_run_gives_stdout_and_a_png_in_arrival_order(kernel_runner: KernelRunner) -> None:
    seen: list[tuple[str, int]] = []
    code = textwrap.dedent("""\
        import matplotlib.pyplot as plt
        print("hello")
        plt.plot([1, 2, 3])
        plt.show()
        6 * 7
    """)
    result = kernel_runner.run(
        code, on_output=lambda out: seen.append((out["output_type"], threading.get_ident())))

    assert result.ok, result.message
    result.raise_for_status()
    assert result.stdout == "hello\n"
    assert [o["output_type"] for o in result.outputs] == ["stream", "display_data",
                                                          "execute_result"]
    png = _outputs_of(result, "display_data")[0]["data"]["image/png"]
    assert base64.b64decode(png).startswith(PNG_SIGNATURE)
    assert _outputs_of(result, "execute_result")[0]["data"]["text/plain"] == "42"
    # The hook saw the same outputs, in order, on the calling thread.
    assert [kind for kind, _ in seen] == ["stream", "display_data", "execute_result"]
    assert {ident for _, ident in seen} == {threading.get_ident()}
    assert result.kernel_state == "alive"
    assert {"queue_s", "execution_s", "total_s"} <= set(result.timings)
    assert json.loads(json.dumps(result.to_json()))["status"] == "ok"


def test_exception_gives_error_with_ename_and_plain_traceback(kernel_runner: KernelRunner) -> None:
    result = kernel_runner.run("def f():\n    raise ValueError('bad input')\nf()")

    assert result.status == "error"
    assert result.error is not None
    assert (result.error["ename"], result.error["evalue"]) == ("ValueError", "bad input")
    assert "\x1b[" not in result.error["text"] and "raise ValueError" in result.error["text"]
    assert _outputs_of(result, "error")[0]["ename"] == "ValueError"
    with pytest.raises(CodeError) as caught:
        result.raise_for_status()
    assert str(caught.value) == "ValueError: bad input"
    assert caught.value.ename == "ValueError"


def test_display_updates_and_clears_apply_to_the_stored_outputs(
        kernel_runner: KernelRunner) -> None:
    live: list[str] = []
    code = textwrap.dedent("""\
        from IPython.display import clear_output, display
        handle = display("first", display_id=True)
        handle.update("updated")
        print("gone soon")
        clear_output(wait=True)
        print("kept")
    """)
    result = kernel_runner.run(code, on_output=lambda out: live.append(out["output_type"]))

    assert result.outputs == [{"output_type": "stream", "name": "stdout", "text": "kept\n"}]
    assert result.stdout == "gone soon\nkept\n"  # the text log keeps everything
    assert live == ["display_data", "update_display_data", "stream", "clear_output", "stream"]

    result = kernel_runner.run("h = display('a', display_id=True)\nh.update('b')")
    assert [o["data"]["text/plain"] for o in result.outputs] == ["'b'"]


def test_two_runs_share_no_variables(kernel_runner: KernelRunner) -> None:
    assert kernel_runner.run("leaked = 42").ok
    result = kernel_runner.run("print('leaked' in globals())")
    assert result.stdout == "False\n"


# -- deadlines and dead kernels -----------------------------------------------------------
def test_infinite_loop_times_out_and_the_pool_serves_the_next_run(
        warm_runner: KernelRunner) -> None:
    started = time.monotonic()
    result = warm_runner.run("while True:\n    pass", timeout=2)
    elapsed = time.monotonic() - started

    assert result.status == "timeout"
    assert elapsed < 2 + 5
    assert result.kernel_state in ("interrupted", "killed")
    with pytest.raises(RunTimeoutError, match="2 s timeout"):
        result.raise_for_status()
    assert warm_runner.run("print('next')").stdout == "next\n"


def test_code_that_ignores_the_interrupt_is_killed(warm_runner: KernelRunner) -> None:
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    started = time.monotonic()
    result = warm_runner.run(code, timeout=1)

    assert result.status == "timeout"
    assert time.monotonic() - started < 1 + 5
    assert result.kernel_state == "killed"


def test_kernel_that_exits_gives_died_result(kernel_runner: KernelRunner) -> None:
    result = kernel_runner.run("import os\nos._exit(3)")

    assert result.status == "died"
    assert result.kernel_state == "dead"
    assert "exit code 3" in result.message
    with pytest.raises(KernelDiedError):
        result.raise_for_status()
    assert kernel_runner.run("print('alive')").stdout == "alive\n"


def test_ctrl_c_while_waiting_cancels_and_kills_the_kernel(warm_runner: KernelRunner) -> None:
    pid = warm_runner.pool_state()["pids"][0]  # the ready kernel this run will take

    def press_ctrl_c(output: dict[str, Any]) -> None:
        if "started" in output.get("text", ""):
            raise KeyboardInterrupt  # as if pressed while run() waits

    code = "import time\nprint('started', flush=True)\nwhile True:\n    time.sleep(0.01)"
    result = warm_runner.run(code, on_output=press_ctrl_c, timeout=60)

    assert result.status == "cancelled"
    assert result.stdout == "started\n"
    with pytest.raises(ExecutionError, match="cancelled"):
        result.raise_for_status()
    assert wait_until(lambda: not pid_alive(pid)), f"kernel {pid} still runs"


# -- values in and out --------------------------------------------------------------------
def test_dataframe_and_array_in_computed_values_out(kernel_runner: KernelRunner) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    code = textwrap.dedent("""\
        total = int(df["a"].sum() + weights.sum())
        doubled = df.assign(a=df["a"] * 2)
        plumbing = sorted(name for name in globals() if name.startswith("__semcache"))
    """)
    result = kernel_runner.run(code, inputs={"df": frame, "weights": np.arange(4)},
                               outputs=["total", "doubled", "plumbing"])

    assert result.ok, result.message
    assert result.values["total"] == 6 + 6
    pd.testing.assert_frame_equal(result.values["doubled"], frame.assign(a=frame["a"] * 2))
    assert result.values["plumbing"] == []  # our helpers leave nothing in the namespace
    summary = json.loads(json.dumps(result.to_json()))["values"]["doubled"]
    assert summary["type"].endswith(".DataFrame") and "x" in summary["repr"]


def test_unpicklable_inputs_are_reported_by_name_and_nothing_runs(
        kernel_runner: KernelRunner) -> None:
    result = kernel_runner.run("print('ran')", inputs={"fine": 1, "lock": threading.Lock(),
                                                       "fn": lambda: 1})

    assert result.status == "error"
    assert set(result.transfer_errors) == {"lock", "fn"}
    assert "lock" in result.transfer_errors["lock"]
    assert result.stdout == "" and result.kernel_state == "unused"
    with pytest.raises(TransferError, match="could not send"):
        result.raise_for_status()


def test_missing_or_unpicklable_outputs_are_reported(kernel_runner: KernelRunner) -> None:
    result = kernel_runner.run("gen = (i for i in range(3))\nfine = 1",
                               outputs=["fine", "gen", "absent"])

    assert result.status == "error"
    assert result.values == {"fine": 1}
    assert result.transfer_errors["absent"] == "not defined by the code"
    assert "generator" in result.transfer_errors["gen"]
    with pytest.raises(TransferError, match="absent"):
        result.raise_for_status()


# -- output cap, working directory ---------------------------------------------------------
def test_output_beyond_the_cap_is_dropped_and_reported(
        kernel_runner: KernelRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_runner.config, "output_limit", 1000)
    result = kernel_runner.run("print('x' * 5000)\nprint('more')\n1/0")

    assert result.truncated
    assert len(result.stdout) == 1000
    assert result.dropped_bytes == 5001 + 5 - 1000
    assert result.status == "error"  # the error is kept past the cap: it must be seen
    assert result.error is not None and result.error["ename"] == "ZeroDivisionError"


def test_working_directory_is_the_callers(kernel_runner: KernelRunner, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data.txt").write_text("relative paths work")
    explicit = kernel_runner.run("print(open('data.txt').read())", cwd=str(tmp_path))
    monkeypatch.chdir(tmp_path)
    implicit = kernel_runner.run("import os\nprint(os.getcwd())")

    assert explicit.stdout == "relative paths work\n"
    assert implicit.stdout == f"{os.getcwd()}\n"


def test_a_pooled_kernel_sees_the_callers_environment_as_of_the_run(
        warm_runner: KernelRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    # The ready kernel was started before these changes, as in a notebook session.
    monkeypatch.setenv("SEMCACHE_TEST_ADDED", "now set")
    monkeypatch.delenv("SEMCACHE_HOME")  # set by conftest before the pool started
    code = "import os\nprint(os.environ.get('SEMCACHE_TEST_ADDED'), 'SEMCACHE_HOME' in os.environ)"
    assert warm_runner.run(code).stdout == "now set False\n"


# -- callers on event loops and threads ----------------------------------------------------
def test_sync_run_from_inside_a_running_loop(kernel_runner: KernelRunner) -> None:
    async def notebook_cell() -> RunResult:
        await asyncio.sleep(0)
        return kernel_runner.run("print('inside a loop')")  # as a magic would, in ipykernel

    assert asyncio.run(notebook_cell()).stdout == "inside a loop\n"


def test_run_async_awaited_with_outputs_on_the_callers_loop(kernel_runner: KernelRunner) -> None:
    async def server_handler() -> tuple[RunResult, set[int]]:
        threads: set[int] = set()
        result = await kernel_runner.run_async(
            "print('async')\nanswer = 6 * 7", outputs=["answer"],
            on_output=lambda _: threads.add(threading.get_ident()))
        return result, threads

    result, threads = asyncio.run(server_handler())
    assert result.ok and result.values == {"answer": 42} and result.stdout == "async\n"
    assert threads == {threading.get_ident()}


def test_cancelling_run_async_kills_its_kernel(warm_runner: KernelRunner) -> None:
    pid = warm_runner.pool_state()["pids"][0]

    async def impatient() -> None:
        await asyncio.wait_for(warm_runner.run_async("while True:\n    pass"), timeout=1.5)

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(impatient())
    assert wait_until(lambda: not pid_alive(pid)), f"kernel {pid} still runs"


def test_concurrent_runs_from_threads_do_not_mix(kernel_runner: KernelRunner) -> None:
    results: dict[int, RunResult] = {}

    def worker(n: int) -> None:
        results[n] = kernel_runner.run(f"import time\ntime.sleep(0.2)\nprint({n})")

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {n: r.stdout for n, r in results.items()} == {1: "1\n", 2: "2\n"}


# -- kernel choice, life cycle ------------------------------------------------------------
def test_unknown_kernelspec_raises_start_error_with_hint() -> None:
    runner = KernelRunner(kernel_name="no-such-kernel", pool_size=0)
    try:
        with pytest.raises(KernelStartError, match="no-such-kernel") as caught:
            runner.run("1")
        assert "kernelspec" in caught.value.hint
    finally:
        runner.shutdown()


def test_idle_pool_kernels_are_shut_down_after_the_idle_timeout() -> None:
    runner = KernelRunner(pool_size=1, kernel_idle_timeout=0.5)
    try:
        runner.warm()
        assert wait_until(lambda: runner.pool_state()["ready"] == 1)
        pid = runner.pool_state()["pids"][0]
        assert wait_until(lambda: runner.pool_state()["live"] == 0)
        assert wait_until(lambda: not pid_alive(pid))
    finally:
        runner.shutdown()


def test_no_kernel_processes_remain_after_shutdown(no_new_kernels: Any) -> None:
    runner = KernelRunner(pool_size=1)
    assert runner.run("print(1)").ok
    runner.warm()  # leave one starting or ready: shutdown must catch both
    assert wait_until(lambda: bool(no_new_kernels())), "the runner should own kernels by now"
    runner.shutdown()
    runner.shutdown()  # idempotent

    assert no_new_kernels() == {}
    with pytest.raises(ExecutionError, match="shut down"):
        runner.run("1")


def test_shutdown_during_a_run_answers_cancelled(no_new_kernels: Any) -> None:
    runner = KernelRunner(pool_size=0)
    started = threading.Event()
    results: list[RunResult] = []

    def notice(output: dict[str, Any]) -> None:
        if "started" in output.get("text", ""):
            started.set()

    code = "print('started', flush=True)\nwhile True:\n    pass"
    worker = threading.Thread(
        target=lambda: results.append(runner.run(code, timeout=60, on_output=notice)))
    worker.start()
    try:
        assert started.wait(60), "the run never started"
        runner.shutdown()
        worker.join(60)
    finally:
        runner.shutdown()
    assert [r.status for r in results] == ["cancelled"]
    assert no_new_kernels() == {}


SCRIPT = """\
import sys, time
from semcache_magic.run import get_runner
runner = get_runner()
assert runner.run("x = 1").ok
runner.warm()
while not runner.pool_state()["ready"]:
    time.sleep(0.05)
print(*runner.pool_state()["pids"], flush=True)
if sys.argv[1] == "hang":
    time.sleep(120)
"""


@pytest.mark.parametrize("ending", ["exit", "killed"])
def test_no_orphan_kernels_when_the_interpreter_ends(ending: str, tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(SCRIPT)
    private = tempfile.mkdtemp(prefix="sc-")  # short: ipc socket paths are limited
    try:
        proc = subprocess.Popen(
            [sys.executable, str(script), "hang" if ending == "killed" else ""],
            stdout=subprocess.PIPE, text=True, cwd=tmp_path, env={**os.environ, "TMPDIR": private})
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert pids, "the script reported no kernel"
        if ending == "exit":
            proc.wait(timeout=60)
            # Our atexit hook stopped and reaped them before the interpreter ended: no wait.
            assert [pid for pid in pids if pid_alive(pid)] == []
            assert os.listdir(private) == []  # connection files, sockets, pickles: gone
        else:
            proc.send_signal(signal.SIGKILL)  # no atexit: ipykernel's parent watch must act
            proc.wait(timeout=60)
            assert wait_until(lambda: not any(pid_alive(pid) for pid in pids)), kernel_processes()
    finally:
        shutil.rmtree(private, ignore_errors=True)


# -- the CLI ------------------------------------------------------------------------------
def _semcache(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "semcache_magic.cli", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def test_cli_exec_prints_output_as_text(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("print('from the file')\n21 * 2\n")
    done = _semcache("exec", "job.py", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout == "from the file\n42\n"


def test_cli_exec_json_reports_an_error_with_exit_1(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("print('before')\n1/0\n")
    done = _semcache("exec", "bad.py", "--json", "--timeout", "30", cwd=tmp_path)

    assert done.returncode == 1
    payload = json.loads(done.stdout)
    assert payload["status"] == "error" and payload["stdout"] == "before\n"
    assert payload["error"]["ename"] == "ZeroDivisionError"
    assert done.stderr.strip() == "semcache: error: ZeroDivisionError: division by zero"


def test_cli_exec_missing_file_is_a_clear_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["exec", str(tmp_path / "nope.py")])
    assert code == 1
    assert "cannot read" in capsys.readouterr().err


def test_a_runner_lifts_a_small_open_file_limit_before_its_kernels_start() -> None:
    """CI containers may start processes with a small soft limit; a run in such a process
    gets its descriptors (the soft limit is raised towards the hard one) and says nothing
    on stderr."""
    script = textwrap.dedent("""
        import resource, sys
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, hard))
        from semcache_magic.run import KernelRunner
        runner = KernelRunner(pool_size=0)
        try:
            result = runner.run("print(sum(range(10)))")
        finally:
            runner.shutdown()
        print(result.status, result.stdout.strip(),
              resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= min(4096, hard))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["ok", "45", "True"], done.stderr
    assert "Traceback" not in done.stderr
