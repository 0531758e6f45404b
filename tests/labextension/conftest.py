"""Fixtures of the lab extension's browser tests: a real JupyterLab and headless Chromium.

They reuse the helpers of tests/browser/ (where Chromium is, the server process,
its teardown).  Without the Python package `playwright` or a Chromium binary
(Debian: `apt-get install -y chromium`; `playwright install` is not used), the
browser tests are skipped with the reason.  Server and browser are per test: the
leak check in tests/conftest.py allows no child process to outlive a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List

import pytest

from tests.browser._browser_support import (Lab, chromium_page, missing_requirements,
                                            running_lab)

BROWSER_TESTS = ("test_sidebar_browser.py", "test_charts_panel_browser.py",
                 "test_tutorial_browser.py", "test_ray_browser.py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    browser_items = [item for item in items
                     if Path(str(item.fspath)).resolve().parent == here
                     and Path(str(item.fspath)).name in BROWSER_TESTS]
    reason = missing_requirements() if browser_items else None
    for item in browser_items:
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
