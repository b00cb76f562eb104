"""The sandboxed Python runner: `run_python` runs model-written code in a child process and returns what it printed
as data; `python_tool` is the same runner as a LangChain tool a model calls.

What the Python sandbox does. The code runs in a child `python -I` (isolated: no user site, no `PYTHON*` variables,
the caller's directory not importable) with a fresh temporary directory as working directory, `HOME` and `TMPDIR`
(deleted afterwards), an environment holding only a few locale and thread-count variables (no API keys), stdin
closed, and its own session, so a timeout kills the whole process group. Before the code starts, a small bootstrap

- sets resource limits: address space (`memory_mb`), CPU time (a little above the timeout), size of a written
  file (8 MiB), no core files;
- installs a `sys.addaudithook` hook (audit hooks cannot be removed) that refuses, with `PermissionError`:
  network use (`socket.connect`, `bind`, `sendto`, `sendmsg`, `getaddrinfo`, host-name look-ups), starting
  programs (`subprocess`, `os.system`, `os.exec*`, `os.posix_spawn`, `os.fork`, `os.forkpty`, and
  `_posixsubprocess.fork_exec`, which `multiprocessing` uses without an audit event), writing, creating, renaming,
  deleting or changing the mode of files outside the temporary directory, reading `/proc/<pid>` of another process
  (where the caller's environment, and so its API keys, can be read), signalling another process, raising the
  resource limits, and looking up those same calls in C libraries through `ctypes`.

The boundary around the child (bubblewrap, else a network namespace, else the hook alone) is chosen once per process
by `langgraph_sale.sandbox_boundary`; every result says which held it (`PythonRun.layer`).

What the hook alone does not do. It is a guard against mistakes of model-written code, not a security boundary:
audit hooks can be bypassed from C (for example through `ctypes` on raw system calls, or a compiled extension
module), files are readable wherever the caller's user can read, nothing limits the number of processes or threads
(`RLIMIT_NPROC` counts every process of the user account, so it would starve the caller's own work; spawning is
refused by the hook instead), and without a network namespace an attacker who bypasses the hook reaches the
network. docs/RELIABILITY.md lists what an escape suite got through under each layer.

Examples:
    >>> from langgraph_sale.sandbox import run_python
    >>> run = run_python("print(6 * 7)")
    >>> run.ok, run.output
    (True, '42\\n')
"""

from __future__ import annotations

import asyncio
import codecs
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from langgraph_sale import sandbox_boundary as boundary
from langgraph_sale.errors import AuctionConfigError, require_int, require_name
from langgraph_sale.sandbox_boundary import REQUIRE_SANDBOX_ENV, SandboxLayer, SandboxUnavailableError, sandbox_layer

__all__ = ["PythonRun", "run_python", "python_tool", "sandbox_layer", "SandboxLayer", "SandboxUnavailableError",
           "REQUIRE_SANDBOX_ENV"]

# The size of one file the sandboxed code may write: enough for test fixtures, too small to fill the disk.
_FILE_SIZE_LIMIT_BYTES = 8 * 1024 * 1024
# Exit code of the bootstrap when the code died of a MemoryError; a number a program rarely picks on its own.
_MEMORY_EXIT_CODE = 213
# Below this the interpreter itself does not start under the address-space limit.
_MIN_MEMORY_MB = 64


@dataclass(frozen=True)
class PythonRun:
    """The result of one sandboxed Python run.

    `exit_code` is the child's status as `subprocess` reports it: 0 on success, the `sys.exit` code, or minus the
    signal number that killed it (-9 after a timeout). `output` is stdout and stderr interleaved, truncated to the
    run's `max_output_chars` (the start and the end are kept; a marker says how much was cut).

    Examples:
        >>> from langgraph_sale.tools import PythonRun
        >>> PythonRun(ok=False, exit_code=-9, timed_out=True, output="", seconds=2.0, timeout_s=2.0).status
        'timed out after 2 s'
    """

    ok: bool
    exit_code: int
    timed_out: bool
    output: str
    seconds: float
    memory_exceeded: bool = False
    timeout_s: float = 0.0
    layer: str = ""
    """The outermost sandbox layer the run was under (`SandboxLayer`)."""

    @property
    def status(self) -> str:
        """One line a model can read: "ok", "exit code N", "timed out after X s", "memory limit" or a signal."""
        if self.timed_out:
            return f"timed out after {self.timeout_s:g} s"
        if self.memory_exceeded:
            return "memory limit"
        if self.ok:
            return "ok"
        if self.exit_code < 0:
            try:
                return f"killed by signal {signal.Signals(-self.exit_code).name}"
            except ValueError:
                return f"killed by signal {-self.exit_code}"
        return f"exit code {self.exit_code}"

    def as_text(self) -> str:
        """The status line, then the output (or "(no output)"): what `python_tool` returns to the model."""
        sandbox = f" (sandbox: {self.layer})" if self.layer else ""
        return f"status: {self.status}{sandbox}\noutput:\n{self.output.rstrip() or '(no output)'}"


def run_python(code: str, *, timeout_s: float = 10.0, memory_mb: int = 512, max_output_chars: int = 4000,
               require_boundary: bool | None = None) -> PythonRun:
    """Run `code` as a Python program in the sandbox described in the module docstring and wait for it.

    Never raises for anything the code does (an exception, a timeout, too much memory): that is in the result.

    Args:
        code: The program.
        timeout_s: Wall-clock limit; the process group (the whole sandbox under bwrap) is killed past it.
        memory_mb: Address-space limit.
        max_output_chars: Output kept (its start and end).
        require_boundary: Refuse to run outside bubblewrap (None: as `LANGGRAPH_SALE_REQUIRE_SANDBOX` says).

    Raises:
        SandboxUnavailableError: When the boundary is required and bubblewrap is missing or refused here.

    Examples:
        >>> from langgraph_sale.tools import run_python
        >>> run = run_python("raise ValueError('boom')")
        >>> run.status, run.output.strip().splitlines()[-1]
        ('exit code 1', 'ValueError: boom')
    """
    _check_sandbox_options(timeout_s=timeout_s, memory_mb=memory_mb, max_output_chars=max_output_chars)
    if not isinstance(code, str):
        raise AuctionConfigError("code", f"must be a string of Python source, got {type(code).__name__}")
    layer = boundary.sandbox_layer()
    if layer != "bwrap" and boundary.boundary_required(require_boundary):
        raise SandboxUnavailableError(f"the Python sandbox must run under bubblewrap here ({REQUIRE_SANDBOX_ENV} or "
                                      f"require_boundary=True), and it is not available: {boundary.bwrap_problem()}")
    with tempfile.TemporaryDirectory(prefix="sale-python-", ignore_cleanup_errors=True) as temporary:
        host_dir = os.path.realpath(temporary)
        Path(host_dir, "main.py").write_text(code, encoding="utf-8")
        # Under bwrap the run's directory is /sandbox and the bootstrap a read-only file of its own.
        if layer == "bwrap":
            sandbox, bootstrap = boundary.SANDBOX_DIR, boundary.SANDBOX_BOOTSTRAP
        else:
            sandbox, bootstrap = host_dir, str(boundary.BOOTSTRAP)
        prefix = boundary.bwrap_prefix(host_dir) if layer == "bwrap" else list(boundary.network_namespace_prefix())
        # CPU time can only run out after the wall clock does, unless the code runs on several threads.
        cpu_seconds = math.ceil(timeout_s) + 1
        command = [
            *prefix,
            sys.executable,
            "-I",  # isolated: no user site, no PYTHON* variables, the working directory not on sys.path
            "-B",  # no .pyc files written anywhere
            "-X",
            "utf8",
            "-X",
            "faulthandler",  # a crash in C still shows the Python line it came from
            bootstrap,
            sandbox,
            str(memory_mb * 1024 * 1024),
            str(cpu_seconds),
            str(_FILE_SIZE_LIMIT_BYTES),
            str(_MEMORY_EXIT_CODE),
        ]
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=host_dir,
            env=_child_environment(sandbox),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a timeout kills everything it started
            close_fds=True,
        )
        assert process.stdout is not None
        collector = _OutputCollector(process.stdout, max_output_chars)
        timed_out = False
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            if process.poll() is None:
                _kill_group(process.pid)
            exit_code = process.wait()
        seconds = time.monotonic() - started
        output = collector.finish(on_stuck=lambda: _kill_group(process.pid))
    # Running out of CPU time (SIGXCPU; only possible first with several busy threads) is a timeout too.
    cpu_killed = exit_code == -signal.SIGXCPU
    return PythonRun(
        ok=exit_code == 0 and not timed_out,
        exit_code=exit_code,
        timed_out=timed_out or cpu_killed,
        output=output,
        seconds=seconds,
        memory_exceeded=exit_code == _MEMORY_EXIT_CODE,
        timeout_s=timeout_s,
        layer=layer,
    )


class _PythonToolInput(BaseModel):
    code: str = Field(description="A complete Python 3 program. Print what you want to see; nothing is shown else.")


def python_tool(
    *, timeout_s: float = 10.0, memory_mb: int = 512, max_output_chars: int = 4000, name: str = "run_python"
) -> BaseTool:
    """A tool that runs a Python program in the sandbox and returns its status line and printed output.

    Sync and async (`ainvoke` runs the blocking child on a worker thread; a cancelled call still ends at the timeout).

    Examples:
        >>> from langgraph_sale.tools import python_tool
        >>> print(python_tool(timeout_s=5).invoke({"code": "print(1 + 1)"}))  # doctest: +ELLIPSIS
        status: ok (sandbox: ...)
        output:
        2
    """
    _check_sandbox_options(timeout_s=timeout_s, memory_mb=memory_mb, max_output_chars=max_output_chars)
    require_name("name", name)

    def run(code: str) -> str:
        return run_python(code, timeout_s=timeout_s, memory_mb=memory_mb, max_output_chars=max_output_chars).as_text()

    async def arun(code: str) -> str:
        return await asyncio.to_thread(run, code)

    description = (
        f"Run a Python 3 program and get back its exit status and printed output (stdout and stderr). "
        f"Limits: {timeout_s:g} s, {memory_mb} MB of memory, no network, no subprocesses, files only in a fresh "
        f"temporary working directory. Only what the program prints is returned, so print your results."
    )
    return StructuredTool.from_function(
        func=run, coroutine=arun, name=name, description=description, args_schema=_PythonToolInput
    )


def _check_sandbox_options(*, timeout_s: float, memory_mb: int, max_output_chars: int) -> None:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not 0 < timeout_s < math.inf:
        raise AuctionConfigError("timeout_s", f"must be a positive finite number of seconds, got {timeout_s!r}")
    require_int("memory_mb", memory_mb, minimum=_MIN_MEMORY_MB)
    require_int("max_output_chars", max_output_chars)


def _child_environment(sandbox: str) -> dict[str, str]:
    """No variable of the caller (API keys live there); single-threaded numeric libraries fit the memory limit."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": sandbox,
        "TMPDIR": sandbox,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


class _OutputCollector:
    """Reads the child's output on a thread, keeping its first and last characters and counting the rest.

    Reading on to the end (and dropping the middle) keeps a chatty child from blocking on a full pipe, and keeps its
    output from filling the caller's memory.
    """

    def __init__(self, stream: IO[bytes], max_chars: int) -> None:
        self._stream = stream
        self._max_chars = max_chars
        self._head = ""
        self._tail = ""
        self._total_chars = 0
        self._thread = threading.Thread(target=self._read, name="sale-python-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = self._stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # closed by `finish` after giving up on a stuck pipe
                return
            text = decoder.decode(chunk, final=not chunk)
            self._keep(text)
            if not chunk:
                return

    def _keep(self, text: str) -> None:
        self._total_chars += len(text)
        room = self._max_chars - len(self._head)
        self._head += text[:room]
        self._tail += text[room:]
        if len(self._tail) > 2 * self._max_chars:  # trim now and then, not on every chunk
            self._tail = self._tail[-self._max_chars :]

    def finish(self, *, on_stuck: Callable[[], None]) -> str:
        """Wait for the end of the output; `on_stuck` is called when something else still holds the pipe open."""
        self._thread.join(timeout=1.0)
        if self._thread.is_alive():
            on_stuck()
            self._thread.join(timeout=5.0)
        self._stream.close()
        if self._total_chars <= self._max_chars:
            return self._head
        tail_chars = self._max_chars // 2
        head = self._head[: self._max_chars - tail_chars]
        tail = (self._head + self._tail)[-tail_chars:] if tail_chars else ""
        omitted = self._total_chars - len(head) - len(tail)
        return f"{head}\n[... {omitted} characters omitted ...]\n{tail}"
