"""The local pool's server: one `llama-server` router on a loopback port serving every installed model
(`LocalServer`), started once and reused by every later process while it is healthy.

The parts it serves are installed by `langgraph_sale.local_install`; `langgraph_sale.local` makes bidders of them.

Examples:
    >>> from langgraph_sale.local_server import LocalServer
    >>> LocalServer().base_url is None  # nothing starts until `start()` or `with`
    True
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from langgraph_sale.local_install import MODELS, PoolNotInstalledError, home, model_installed, models_dir, server_binary

__all__ = ["LocalServer", "free_port"]


def free_port() -> int:
    """A loopback TCP port free at the moment of asking (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(base: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=timeout) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _state_file() -> Path:
    return home() / "server.json"


class LocalServer:
    """One `llama-server` router on 127.0.0.1 serving every model of `models_dir()`, as a context manager.

    Reuses a server already started by another process (recorded in `home()/server.json` and healthy); otherwise
    starts one on a free port and, on exit, stops it and its per-model children (its own process group).

    Args:
        threads: CPU threads per model process.
        context: Context size of each model process.
        models_max: How many models may be loaded at once.
        startup_timeout: Seconds to wait for `/health`.
        keep: Leave the server running on exit (for the next process to reuse).

    Examples:
        >>> server = LocalServer()
        >>> server.base_url is None
        True
    """

    def __init__(self, *, threads: int = 2, context: int = 8192, models_max: int = 3, startup_timeout: float = 60.0,
                 keep: bool = False) -> None:
        self.threads = threads
        self.context = context
        self.models_max = models_max
        self.startup_timeout = startup_timeout
        self.keep = keep
        self.base_url: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.reused = False

    @property
    def openai_url(self) -> str:
        """The OpenAI-compatible base URL (`.../v1`)."""
        if self.base_url is None:
            raise RuntimeError("the server is not started")
        return f"{self.base_url}/v1"

    def start(self) -> LocalServer:
        """Reuse a healthy recorded server or start a new one; wait for health."""
        reused = self._reusable()
        if reused is not None:
            self.base_url, self.reused = reused, True
            return self
        if not all(model_installed(m) for m in MODELS):
            raise PoolNotInstalledError(
                f"the local models are not installed in {models_dir()}. Install them with: "
                f"{sys.executable} -m langgraph_sale.local install"
            )
        binary = server_binary()
        port = free_port()
        log = (home() / "server.log").open("ab")
        command = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--models-dir", str(models_dir()),
                   "--models-max", str(self.models_max), "-c", str(self.context), "-t", str(self.threads),
                   # No busy-waiting for work: polling threads fight every other process for 2 cores (measured:
                   # 1-2 s a token under load with the default polling, 25-45 ms with one thread).
                   "--poll", "0"]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.startup_timeout
        while not _healthy(self.base_url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PoolNotInstalledError(f"llama-server did not become healthy; see {home() / 'server.log'}")
            time.sleep(0.1)
        _state_file().write_text(json.dumps({"pid": self.process.pid, "base_url": self.base_url}))
        return self

    def _reusable(self) -> str | None:
        try:
            recorded = json.loads(_state_file().read_text())
        except (OSError, ValueError):
            return None
        base = recorded.get("base_url")
        pid = recorded.get("pid")
        if not base or not isinstance(pid, int) or not _pid_alive(pid):
            return None
        # A live server that is slow to answer is busy, not gone (two cores shared with a benchmark can hold /health
        # for seconds): wait for it rather than start a second server beside it.
        deadline = time.monotonic() + self.startup_timeout
        while _pid_alive(pid):
            if _healthy(base, timeout=5.0):
                return str(base)
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        return None

    def stop(self) -> None:
        """Stop the server if this object started it (and `keep` is False); a reused server is left running."""
        if self.process is None or self.keep:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        with contextlib.suppress(OSError, ValueError):
            if json.loads(_state_file().read_text()).get("pid") == self.process.pid:
                _state_file().unlink()
        self.process = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
