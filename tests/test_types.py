"""Static types: mypy, run for real with the project's configuration, reports no error.

`[tool.mypy]` in pyproject.toml checks the whole package, and core/, store/, transport/
and serialization/ strictly.  mypy's cache goes to a temporary directory, so a run leaves
nothing in the checkout.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRICT_PACKAGES = ("nbray/core", "nbray/store", "nbray/transport", "nbray/serialization")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


def _mypy(cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(cache_dir), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_package_type_checks_with_the_project_configuration(cache_dir: Path) -> None:
    result = _mypy(cache_dir)   # the files and flags come from [tool.mypy]
    assert result.returncode == 0, f"mypy reports errors:\n{result.stdout}{result.stderr}"
    assert "Success: no issues found" in result.stdout


def test_strict_packages_pass_mypy_strict(cache_dir: Path) -> None:
    # The configuration spells out --strict's flags for these packages (a per-module
    # `strict = true` would switch them on everywhere); this holds it to --strict itself,
    # so a flag a newer mypy adds to --strict cannot be missed.  Errors in the modules they
    # import are the first test's business.
    result = _mypy(cache_dir, "--strict", "--follow-imports=silent", *STRICT_PACKAGES)
    assert result.returncode == 0, f"mypy --strict reports errors:\n{result.stdout}{result.stderr}"
    assert "Success: no issues found" in result.stdout
