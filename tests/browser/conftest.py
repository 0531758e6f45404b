"""A real JupyterLab server and headless Chromium (driven by Playwright) for one test.

Needs the Python package `playwright` and a Chromium binary (Debian's `chromium`;
`playwright install` is not used). Without them every test here is skipped, with the
reason. NBRAY_CHROMIUM points at another Chromium binary.

Both the server and the browser are per test: the leak check in tests/conftest.py
allows no child process to outlive a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import uuid
from pathlib import Path
from typing import Iterator, List

import pytest

from ._browser_support import (CHROMIUM, CHROMIUM_ARGS, TIMEOUT, Lab, free_port,
                               missing_requirements, stop_lab, write_kernelspec)


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
    root, home = tmp_path / "root", tmp_path / "home"
    root.mkdir()
    home.mkdir()
    write_kernelspec(home / "data")
    notifications = home / "settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    notifications.parent.mkdir(parents=True)
    notifications.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_PATH=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), IPYTHONDIR=str(home / "ipython"))
    env.pop("NBRAY_ADDRESS", None)
    port, token = free_port(), uuid.uuid4().hex
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--port={port}", "--ServerApp.port_retries=0", "--allow-root",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--ServerApp.open_browser=False", "--LabApp.expose_app_in_browser=True",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.news_url=None"]
    log_path = home / "lab.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                lab.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
        yield lab
    finally:
        stop_lab(lab, proc)


@pytest.fixture
def page() -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT * 1000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            pg = context.new_page()
            pg.set_default_timeout(TIMEOUT * 1000)
            yield pg
            context.close()
        finally:
            browser.close()
