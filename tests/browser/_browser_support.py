"""Helpers of the browser tests: where Chromium is, a JupyterLab server process, artifacts."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

import psutil

TIMEOUT = float(os.environ.get("NBRAY_TEST_TIMEOUT", "30"))
CHROMIUM = os.environ.get("NBRAY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BUNDLE = Path(__file__).resolve().parents[2] / "nbray" / "labextension"


def missing_requirements() -> Optional[str]:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if not os.path.exists(CHROMIUM):
        return (f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set NBRAY_CHROMIUM); "
                f"`playwright install` is not needed")
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return "jupyterlab is not installed"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    base: str
    token: str
    root: Path
    log: Path

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET") -> object:
        req = urllib.request.Request(self.url(path), method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None


def write_kernelspec(data_dir: Path) -> None:
    """`python3` for this interpreter, found first through JUPYTER_PATH."""
    spec = data_dir / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))


def stop_lab(lab: Lab, proc: subprocess.Popen) -> None:
    descendants: List[psutil.Process] = []
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        pass
    try:
        for kernel in lab.api("/api/kernels") or []:  # type: ignore[union-attr]
            lab.api(f"/api/kernels/{kernel['id']}", method="DELETE")
    except (urllib.error.URLError, OSError):
        pass
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    gone, alive = psutil.wait_procs(descendants, timeout=TIMEOUT)
    for p in alive:
        p.kill()
    assert not alive, f"processes left by jupyter lab: {[p.pid for p in alive]}"


@contextlib.contextmanager
def running_lab(tmp_path: Path) -> Iterator[Lab]:
    """`jupyter lab` on 127.0.0.1 with a random port and token, a temporary root and config."""
    root, home = tmp_path / "root", tmp_path / "home"
    root.mkdir()
    home.mkdir()
    write_kernelspec(home / "data")
    # This checkout's lab extension bundle, found before the one installed in the environment.
    (home / "data" / "labextensions").mkdir()
    (home / "data" / "labextensions" / "nbray-labextension").symlink_to(BUNDLE)
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


@contextlib.contextmanager
def chromium_page() -> Iterator[object]:
    """A Playwright page in headless Chromium (1600x1000)."""
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
