"""Which boundary holds a sandboxed Python child on this machine, found once per process, and bubblewrap's arguments.

**The boundary: bubblewrap.** Where Debian's `bwrap` is installed and works (`apt-get install bubblewrap`), the
child runs inside it (`sandbox_layer()` says "bwrap"): namespaces of its own for PIDs (it sees only itself), the
network (no interface but a loopback that is down), IPC, UTS, the user and the mounts; a read-only view of only what
the interpreter needs (`/usr` and the Python installation), a fresh directory of the run as `/sandbox` (its home and
working directory; deleted afterwards; a host directory rather than a tmpfs, because bubblewrap 0.8, Debian 12's,
cannot cap a tmpfs's size and files written there would fill memory), an empty `/tmp`, a private `/proc` and `/dev`;
no capabilities; killed with its parent (`--die-with-parent`). No file of the user (an SSH key, a cloud credentials
file, another project's `.env`) is in view, nor any other process. The audit hook stays, as a second layer.

Where `bwrap` is missing or refused, the child runs under the audit hook, in a network namespace of its own where
the `unshare` program gives one ("network namespace"), else with the hook alone ("audit hook"). That layer is said
once in the log (a warning) and in every result (`PythonRun.layer`; the tool's text). `require_boundary=True`, or
`LANGGRAPH_SALE_REQUIRE_SANDBOX=1` in the environment, refuses to run code without bwrap
(`SandboxUnavailableError`).

Examples:
    >>> from langgraph_sale.sandbox_boundary import sandbox_layer
    >>> sandbox_layer() in ("bwrap", "network namespace", "audit hook")
    True
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Literal

__all__ = ["SandboxLayer", "REQUIRE_SANDBOX_ENV", "SandboxUnavailableError", "sandbox_layer", "boundary_required",
           "bwrap_problem", "bwrap_prefix", "network_namespace_prefix", "BOOTSTRAP", "SANDBOX_DIR",
           "SANDBOX_BOOTSTRAP"]

SandboxLayer = Literal["bwrap", "network namespace", "audit hook"]
"""The outermost layer a sandboxed run is under: bubblewrap, else a network namespace and the audit hook, else the
audit hook alone."""
REQUIRE_SANDBOX_ENV = "LANGGRAPH_SALE_REQUIRE_SANDBOX"
"""With this set to 1 (or true), `run_python` refuses to run code outside bubblewrap."""
_LOG = logging.getLogger(__name__)


class SandboxUnavailableError(RuntimeError):
    """The boundary was required (`require_boundary`, `LANGGRAPH_SALE_REQUIRE_SANDBOX`) and bubblewrap is not here."""


# Runs in the child before the model's code: limits, audit hook, then the code from main.py as __main__
# (`langgraph_sale/sandbox_bootstrap.py`, run as a script).
BOOTSTRAP = Path(__file__).with_name("sandbox_bootstrap.py")

# Inside bubblewrap: the run's directory (its home and working directory) and the bootstrap's read-only copy.
SANDBOX_DIR = "/sandbox"
SANDBOX_BOOTSTRAP = "/opt/langgraph-sale/sandbox_bootstrap.py"


def boundary_required(required: bool | None) -> bool:
    """Whether code may run only under bubblewrap: the caller's setting, else `LANGGRAPH_SALE_REQUIRE_SANDBOX`."""
    if required is not None:
        return required
    return os.environ.get(REQUIRE_SANDBOX_ENV, "").strip().lower() in ("1", "true")


def bwrap_prefix(host_dir: str) -> list[str]:
    """bwrap's arguments for one run: the fixed view (`_bwrap_view`) with the run's directory as /sandbox."""
    return [*_bwrap_view(), "--bind", host_dir, SANDBOX_DIR, "--ro-bind", str(BOOTSTRAP), SANDBOX_BOOTSTRAP,
            "--chdir", SANDBOX_DIR]


@functools.lru_cache(maxsize=1)
def _bwrap_view() -> tuple[str, ...]:
    """What every run shares, worked out once per process: every namespace of its own, no capabilities, killed
    with its parent, a read-only view of what the interpreter needs, a private /proc, /dev and /tmp."""
    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    view: list[str] = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):  # merged /usr (Debian 12): the top-level directories are links into it
            view += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            view += ["--ro-bind", top, top]
    for prefix in sorted({os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}):
        if not prefix.startswith("/usr/") and os.path.isdir(prefix):
            view += ["--ro-bind", prefix, prefix]
    return (bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", *view,
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp")


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot hold the sandbox here (None: it can), found once per process by running it."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian: apt-get install bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="sale-probe-") as probe_dir:
        try:
            probe = subprocess.run([*bwrap_prefix(os.path.realpath(probe_dir)), sys.executable, "-I", "-c", "pass"],
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.SubprocessError) as err:
            return f"bwrap could not start: {err}"
    if probe.returncode != 0:
        return f"bwrap refused to start a sandbox here: {probe.stderr.strip()[:300] or probe.returncode}"
    return None


@functools.lru_cache(maxsize=1)
def sandbox_layer() -> SandboxLayer:
    """The outermost layer `run_python` runs code under on this machine, found once per process (and said once in
    the log): "bwrap", else "network namespace" (unshare) with the audit hook, else "audit hook" alone.

    Examples:
        >>> sandbox_layer() in ("bwrap", "network namespace", "audit hook")
        True
    """
    problem = bwrap_problem()
    if problem is None:
        _LOG.info("Python sandbox: bubblewrap (namespaces of its own, a read-only view), with the audit hook")
        return "bwrap"
    layer: SandboxLayer = "network namespace" if network_namespace_prefix() else "audit hook"
    _LOG.warning("Python sandbox: %s only, not a security boundary (%s); set %s=1 to refuse to run without it",
                 layer, problem, REQUIRE_SANDBOX_ENV)
    return layer


@functools.lru_cache(maxsize=1)
def network_namespace_prefix() -> tuple[str, ...]:
    """The `unshare` command that gives the child a network namespace of its own, or () where none works here."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    for flags in (("--net",), ("--user", "--map-root-user", "--net")):
        prefix = (unshare, *flags)
        try:
            probe = subprocess.run(
                [*prefix, sys.executable, "-I", "-c", "pass"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return prefix
    return ()
