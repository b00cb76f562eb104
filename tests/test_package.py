"""The package people install: `python -m build` makes a wheel and an sdist that `twine check` passes, and the
wheel, installed in a fresh virtual environment with no extra, runs the fake-pool quickstart."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import missing_real

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # The timeout is a backstop against a hang, not a claim about speed.
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True,
                   capture_output=True, text=True, timeout=600)
    return out


def test_the_wheel_and_the_sdist_pass_twine_check_and_carry_their_data(dist: Path) -> None:
    wheel, sdist = next(dist.glob("*.whl")), next(dist.glob("*.tar.gz"))
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in ("py.typed", "pools/local.toml", "weights/local_pool.json"):
        assert f"langgraph_sale/{data}" in names
    assert not any(name.startswith(("tests/", "benchmarks/", "docs/")) for name in names)
    assert any(name.endswith("licenses/LICENSE") for name in names)


def test_the_wheel_installs_in_a_fresh_venv_and_its_quickstart_runs(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    wheel = next(dist.glob("*.whl"))
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                str(wheel)], capture_output=True, text=True, timeout=900)
    if installed.returncode != 0 and ("Could not find a version" in installed.stderr
                                      or "NewConnectionError" in installed.stderr):
        missing_real("PyPI", f"the wheel's dependencies could not be installed: {installed.stderr[-500:]}")
    assert installed.returncode == 0, installed.stderr[-2000:]
    # Run from a folder of its own, so the repository's sources are not what is imported.
    work = tmp_path / "work"
    work.mkdir()
    script = work / "quickstart_fake.py"
    script.write_text((ROOT / "examples" / "quickstart_fake.py").read_text(encoding="utf-8"), encoding="utf-8")
    ran = subprocess.run([str(python), str(script)], cwd=work, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "Winner: small" in ran.stdout
    where = subprocess.run([str(python), "-c", "import langgraph_sale; print(langgraph_sale.__file__)"], cwd=work,
                           capture_output=True, text=True, timeout=120, check=True).stdout
    assert str(venv) in where
    # No extra: the local pool's client and the fit's optimiser are not there, and the core does not need them.
    missing = subprocess.run([str(python), "-c", "import langchain_openai"], cwd=work, capture_output=True,
                             timeout=120)
    assert missing.returncode != 0
