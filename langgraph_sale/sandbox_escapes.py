"""The escape suite: programs that try what hostile model-written code would, run in the Python sandbox
(`langgraph_sale.sandbox.run_python`), each with what stopped it.

`python -m langgraph_sale.sandbox_escapes` runs every case under the layer this machine gives (bubblewrap where it
works) and again without bubblewrap, and prints a Markdown table (docs/RELIABILITY.md has the one measured here).
Each case plants what it reaches for outside the sandbox (a secret file in a home directory, a secret in this
process's environment, a loopback server, a marker file) and checks afterwards, from outside, whether it got it.

The hostile programs get past the audit hook where they can: `ctypes` resolves `syscall` through libc's own `dlsym`
(no audit event names it) and makes raw system calls, which no Python-level hook sees. That is what a determined
program does; it is why the hook alone is not a boundary.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph_sale import sandbox, sandbox_boundary

__all__ = ["EscapeCase", "EscapeResult", "CASES", "run_case", "run_suite", "without_bwrap", "markdown_table", "main"]

# Raw system calls through ctypes, past the audit hook: `syscall` is found by libc's dlsym, which raises no audit
# event. Numbers are x86-64 Linux's.
_RAW = """
import ctypes
_libc = ctypes.CDLL(None)
_dlsym = _libc.dlsym
_dlsym.restype, _dlsym.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]
_syscall = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_long,
                            use_errno=True)(_dlsym(None, b"syscall"))
def raw(number, a=0, b=0, c=0):
    return _syscall(number, a, b, c)
def raw_write_file(path, data):
    name, buf = ctypes.create_string_buffer(path.encode()), ctypes.create_string_buffer(data.encode())
    fd = raw(2, ctypes.addressof(name), 0o1101, 0o644)
    if fd < 0:
        return fd
    raw(1, fd, ctypes.addressof(buf), len(data))
    raw(3, fd)
    return fd
def raw_read_file(path):
    name, buf = ctypes.create_string_buffer(path.encode()), ctypes.create_string_buffer(1 << 16)
    fd = raw(2, ctypes.addressof(name), 0, 0)
    if fd < 0:
        return b"(open failed: %d)" % ctypes.get_errno()
    n = raw(0, fd, ctypes.addressof(buf), 1 << 16)
    return buf.raw[:max(n, 0)]
"""


@dataclass(frozen=True)
class EscapeResult:
    case: str
    layer: str
    """The sandbox layer the run was under."""
    escaped: bool
    stopped_by: str
    """What stopped it ("" when it got through)."""
    detail: str


@dataclass(frozen=True)
class EscapeCase:
    """One hostile program: `setup` plants what it reaches for and returns (program, check); `check(run)` says,
    from outside, whether it escaped and, if not, what stopped it."""

    name: str
    what: str
    setup: Callable[[Path], tuple[str, Callable[[Any], tuple[bool, str]]]]


def _refused(text: str) -> bool:
    """The audit hook's refusal in a run's output."""
    return "PermissionError: sandbox:" in text and "is not allowed here" in text


def _stopped_by(run: Any, text: str) -> str:
    """The layer that stopped a case, read from the run: the audit hook's refusal, a limit, or the sandbox."""
    if _refused(text):
        return "audit hook"
    if run.memory_exceeded:
        return "resource limit (memory)"
    return run.layer if run.layer != "audit hook" else "audit hook"


def _not_in_view(run: Any) -> str:
    return "bwrap (not in view)" if run.layer == "bwrap" else _stopped_by(run, run.output)


def _read_secret(work: Path) -> tuple[str, Callable[[Any], tuple[bool, str]]]:
    secret = work / "home" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_text("SECRET-KEY-7f3a")
    program = f"print(open({str(secret)!r}).read())"

    def check(run: Any) -> tuple[bool, str]:
        escaped = "SECRET-KEY-7f3a" in run.output
        return escaped, "" if escaped else _not_in_view(run)
    return program, check


def _proc_environ(work: Path) -> tuple[str, Callable[[Any], tuple[bool, str]]]:
    # Another process of the user that holds an API key in its environment (as the caller of the sandbox does).
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              env={**os.environ, "SALE_ESCAPE_TOKEN": "TOKEN-19c2"})
    # Raw system calls: the audit hook would refuse the Python-level open of another process's /proc entry.
    program = _RAW + f"print(raw_read_file('/proc/{holder.pid}/environ'))"

    def check(run: Any) -> tuple[bool, str]:
        holder.kill()
        holder.wait()
        escaped = "TOKEN-19c2" in run.output
        if escaped:
            return True, ""
        return False, "audit hook" if _refused(run.output) else f"{run.layer} (another PID namespace)"
    return program, check


def _write_outside(work: Path) -> tuple[str, Callable[[Any], tuple[bool, str]]]:
    target = work / "outside" / "escaped.txt"
    target.parent.mkdir()
    program = _RAW + f"print(raw_write_file({str(target)!r}, 'escaped'))"

    def check(run: Any) -> tuple[bool, str]:
        escaped = target.exists()
        return escaped, "" if escaped else _not_in_view(run)
    return program, check


@contextlib.contextmanager
def _loopback_server() -> Iterator[tuple[int, list[bytes]]]:
    received: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                received.append(connection.recv(64) or b"(connected)")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], received
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


def _reach_loopback(raw: bool) -> Callable[[Path], tuple[str, Callable[[Any], tuple[bool, str]]]]:
    def setup(work: Path) -> tuple[str, Callable[[Any], tuple[bool, str]]]:
        server = _loopback_server()
        port, received = server.__enter__()
        if raw:  # socket(AF_INET, SOCK_STREAM) then connect(), as raw system calls
            program = _RAW + (
                "import struct\nfd = raw(41, 2, 1, 0)\n"
                f"addr = ctypes.create_string_buffer(struct.pack('!HH4s8x', 2, {port}, bytes([127, 0, 0, 1])))\n"
                "addr[0:2] = struct.pack('<H', 2)\n"
                "rc = raw(42, fd, ctypes.addressof(addr), 16)\n"
                "hello = ctypes.create_string_buffer(b'hello')\nraw(1, fd, ctypes.addressof(hello), 5)\n"
                "print(fd, rc)\n")
        else:
            program = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\ns.send(b'hi')"

        def check(run: Any) -> tuple[bool, str]:
            time.sleep(0.5)
            server.__exit__(None, None, None)
            escaped = bool(received)
            if escaped:
                return True, ""
            if _refused(run.output):
                return False, "audit hook"
            return False, f"{run.layer} (a network namespace of its own)"
        return program, check
    return setup


def _fork_without_end(work: Path) -> tuple[str, Callable[[Any], tuple[bool, str]]]:
    program = "import os\nwhile True:\n    os.fork()"

    def check(run: Any) -> tuple[bool, str]:
        escaped = run.ok  # a fork loop that ran would be killed at the timeout, never end well
        return escaped, "" if escaped else _stopped_by(run, run.output)
    return program, check


def _exhaust_memory(work: Path) -> tuple[str, Callable[[Any], tuple[bool, str]]]:
    program = "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 1024 * 1024))"

    def check(run: Any) -> tuple[bool, str]:
        escaped = not run.memory_exceeded and not run.timed_out and run.ok
        return escaped, "" if escaped else "resource limit (memory)"
    return program, check


def _outlive_the_timeout(work: Path) -> tuple[str, Callable[[Any], tuple[bool, str]]]:
    marker = work / "outlived.txt"
    # fork (57), setsid (112) in the child, fork again; the grandchild waits past the timeout, then writes a file.
    program = _RAW + (
        "import time\n"
        "if raw(57) == 0:\n"
        "    raw(112)\n"
        "    if raw(57) == 0:\n"
        "        time.sleep(3)\n"
        f"        raw_write_file({str(marker)!r}, 'alive')\n"
        "        raw(60, 0)\n"
        "    raw(60, 0)\n"
        "time.sleep(30)\n")

    def check(run: Any) -> tuple[bool, str]:
        time.sleep(4)
        alive = _leftovers()
        escaped = marker.exists() or bool(alive)
        if escaped:
            return True, ""
        return False, f"{run.layer} (the PID namespace dies with the sandbox)" if run.layer == "bwrap" else "timeout"
    return program, check


def _leftovers() -> list[int]:
    """Processes still running with a sandbox's environment (its HOME)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                environ = (entry / "environ").read_bytes()
                if b"HOME=/sandbox\x00" in environ or b"HOME=" + tempfile.gettempdir().encode() + b"/sale-python-" \
                        in environ:
                    found.append(int(entry.name))
    return found


CASES = (
    EscapeCase("read_secret", "read a secret file planted in a home directory", _read_secret),
    EscapeCase("proc_environ", "read the caller's environment (its API keys) through /proc (raw system calls)",
               _proc_environ),
    EscapeCase("write_outside", "write a file outside the working directory (raw system calls)", _write_outside),
    EscapeCase("loopback", "connect to a loopback server started outside", _reach_loopback(raw=False)),
    EscapeCase("ctypes_network", "bypass the audit hook with ctypes and connect to the loopback server",
               _reach_loopback(raw=True)),
    EscapeCase("fork_bomb", "fork without end", _fork_without_end),
    EscapeCase("memory", "exhaust memory", _exhaust_memory),
    EscapeCase("outlive_timeout", "escape the timeout by double-forking into a new session (raw system calls)",
               _outlive_the_timeout),
)


def run_case(case: EscapeCase, *, timeout_s: float = 2.0) -> EscapeResult:
    """Run one case in the sandbox (under whatever layer `sandbox_boundary.sandbox_layer` gives) and judge it from
    outside."""
    with tempfile.TemporaryDirectory(prefix="sale-escape-") as folder:
        program, check = case.setup(Path(folder))
        run = sandbox.run_python(program, timeout_s=timeout_s, memory_mb=256)
        escaped, stopped_by = check(run)
        return EscapeResult(case.name, run.layer, escaped, stopped_by, run.status)


def run_suite(*, timeout_s: float = 2.0) -> list[EscapeResult]:
    """Every case under this machine's layer."""
    return [run_case(case, timeout_s=timeout_s) for case in CASES]


@contextlib.contextmanager
def without_bwrap() -> Iterator[str]:
    """Run the sandbox as a machine without bubblewrap would: the next layer down, for the comparison."""
    lower = "network namespace" if sandbox_boundary.network_namespace_prefix() else "audit hook"
    original = sandbox_boundary.sandbox_layer
    sandbox_boundary.sandbox_layer = lambda: lower  # type: ignore[assignment]
    try:
        yield lower
    finally:
        sandbox_boundary.sandbox_layer = original  # type: ignore[assignment]


def markdown_table(with_bwrap: list[EscapeResult], without: list[EscapeResult]) -> str:
    def cell(result: EscapeResult) -> str:
        return "**got through**" if result.escaped else f"stopped: {result.stopped_by}"

    lines = [f"| case | with bwrap ({with_bwrap[0].layer}) | without ({without[0].layer}) |", "|---|---|---|"]
    for case, a, b in zip(CASES, with_bwrap, without, strict=True):
        lines.append(f"| {case.what} | {cell(a)} | {cell(b)} |")
    return "\n".join(lines)


def main() -> int:
    """`python -m langgraph_sale.sandbox_escapes`: the table for this machine."""
    first = run_suite()
    with without_bwrap():
        second = run_suite()
    print(markdown_table(first, second))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
