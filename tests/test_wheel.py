"""The wheel: one top-level package with its data, and the main commands running from it in a
fresh virtual environment far from the checkout (where no ``../shared`` stands)."""

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(out), str(REPO)],
        check=True, capture_output=True, text=True,
    )
    (path,) = out.glob("sparsa-*.whl")
    return path


@pytest.mark.slow
def test_wheel_holds_sparsa_alone_with_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"sparsa"}
    for data in [
        "sparsa/dataflow/spatten_traces/summary-gpt2-small-wikitext2-per8.csv",
        "sparsa/dataflow/spatten_traces/summary-gpt2-medium-ptb-per0.csv",
        "sparsa/dataflow/spatten_traces/LICENSE",
        "sparsa/dataflow/spatten_traces/README.md",
        "sparsa/sim/network/targets/vcu1525.toml",
        "sparsa/hw/verilator_waivers.vlt",
    ]:
        assert data in names, data
    assert not any(name.startswith("sparsa/tests") for name in names)


@pytest.mark.slow
def test_installed_wheel_simulates_spatten_away_from_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    # The dependencies come from this environment's site-packages, listed after the fresh
    # one's; this environment's own (editable) sparsa is not seen, since its .pth files are
    # not read from a path added this way.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--disable-pip-version-check", str(wheel)],
        check=True, capture_output=True, text=True,
    )
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    script = "import sparsa.dataflow; print(sparsa.dataflow.__file__)"
    where = subprocess.run([python, "-c", script],
                           cwd=away, env=env, check=True, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(site)
    run = subprocess.run([venv / "bin" / "sparsa", "simulate", "spatten", "--model", "gpt2-small"],
                         cwd=away, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "gpt2-small" in run.stdout and "cycles" in run.stdout
