"""A real JupyterLab server and headless Chromium (driven by Playwright) for one test.

Needs the Python package `playwright` and a Chromium binary (Debian's `chromium`;
`playwright install` is not used). Without them every test here is skipped, with the
reason. NBRAY_CHROMIUM points at another Chromium binary.

Both the server and the browser are per test: the leak check in tests/conftest.py
allows no child process to outlive a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List

import pytest

from ._browser_support import Lab, chromium_page, missing_requirements, running_lab


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    reason = missing_requirements()
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def jupyter_lab(tmp_path: Path) -> Iterator[Lab]:
    """`jupyter lab` on 127.0.0.1, a random port and token, a temporary root and config."""
    with running_lab(tmp_path) as lab:
        yield lab


@pytest.fixture
def page() -> Iterator[object]:
    """A Playwright page in headless Chromium (1600x1000)."""
    with chromium_page() as pg:
        yield pg
