"""Packaging: a plain (not editable) install works from any folder.

The wheel is built from this checkout and installed into a fresh virtual environment
(its dependencies come from the package index, as for a user); ``exsim --version`` and
``exsim demo`` then run from a folder that is not the checkout, so the shipped replays
and example strategies must come from the installed package data. Takes about a minute.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def listed_packages() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def packages_under_exsim() -> set[str]:
    return {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "exsim").rglob("__init__.py")}


def test_every_package_under_exsim_is_listed_in_pyproject() -> None:
    """pyproject.toml's package list is every package under exsim/, plus the examples and the replays."""
    assert listed_packages() == packages_under_exsim() | {"exsim_examples", "exsim_replays"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy, as from a clean clone (setuptools writes build/ and egg-info beside the sources)
    clone = tmp_path_factory.mktemp("clone") / "exsim"
    junk = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "runs", "__pycache__", ".hypothesis", ".benchmarks")
    shutil.copytree(ROOT, clone, ignore=junk)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(clone)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (built,) = out.glob("exsim-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed (not editable); its bin/."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True, capture_output=True, text=True)
    return venv / "bin"


def test_the_wheel_holds_every_package_and_the_shipped_replays(wheel: Path) -> None:
    """The wheel has every package of the list, the two replays with their README, licences and golden hashes."""
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {n.rpartition("/")[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert packages == listed_packages()
    shipped = {p.name for p in (ROOT / "replays").iterdir() if p.is_file()}
    assert {f"exsim_replays/{n}" for n in shipped} <= names
    assert "exsim/py.typed" in names


def test_version_from_any_folder(installed: Path, tmp_path: Path) -> None:
    """`exsim --version` of the installed package prints its version."""
    from exsim import __version__

    done = subprocess.run([str(installed / "exsim"), "--version"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout == f"exsim {__version__}\n"


def test_the_demo_runs_from_another_folder(installed: Path, tmp_path: Path) -> None:
    """`exsim demo` of a plain install, run outside the checkout, replays both shipped files to their golden hashes."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([str(installed / "exsim"), "demo", "--out", "demo", "--no-progress"], cwd=elsewhere, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    golden = json.loads((ROOT / "replays" / "GOLDEN.json").read_text())
    for run, file_name in (("capture", "binance-usdm-btcusdt-20240808.gz"), ("crash", "btc-perp-20220121-1m.csv")):
        summary = json.loads((elsewhere / "demo" / run / "summary.json").read_text())
        assert summary["state_hash"] == golden[file_name]["state_hash"]
        assert (elsewhere / "demo" / run / "price.png").is_file()
