"""The head's web dashboard in headless Chromium: login once, rows match nbray.memory(), live."""

from __future__ import annotations

import numpy as np
import pytest

import nbray
from tests._support import poll_for

from ._browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, TIMEOUT, missing_requirements

pytestmark = pytest.mark.browser


def _memory_ids() -> set:
    return {o["object_id"] for o in nbray.memory(limit=None).objects}


def test_dashboard_rows_follow_the_object_table(make_cluster):
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    from nbray.runtime.head_server import HeadServer

    make_cluster(object_store_memory=64 * 2**20)
    head = HeadServer(nbray.runtime.context.current_driver().node, write_address=False)
    try:
        small = nbray.put(list(range(10)))
        big = [nbray.put(np.full(3 * 2**20, float(i))) for i in range(3)]  # 72 MiB: one spills
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 900})
                # Without logging in, the page refuses to show anything.
                page.goto(head.object_url + "/")
                assert "one-time login" in page.content()
                page.goto(head.dashboard_login_url())
                page.wait_for_selector("tr.nbray-object", timeout=TIMEOUT * 1000)

                def shown() -> set:
                    return set(page.eval_on_selector_all(
                        "tr.nbray-object", "rows => rows.map(r => r.dataset.objectId)"))

                poll_for(lambda: shown() == _memory_ids(), timeout=TIMEOUT,
                         msg="dashboard rows equal nbray.memory()")
                assert "spilled" in page.inner_text("#objects")
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

                # Live: freeing and creating objects shows up without reloading.
                gone = big.pop()
                gone_id = gone.hex()
                del gone
                fresh = nbray.put("fresh")
                poll_for(lambda: shown() == _memory_ids() and gone_id not in shown()
                         and fresh.hex() in shown(), timeout=TIMEOUT,
                         msg="dashboard follows frees and puts")
                # A used login link does not work twice.
                other = browser.new_page()
                url = head.dashboard_login_url()
                other.goto(url)
                second = browser.new_context().new_page()
                response = second.goto(url)
                assert response is not None and response.status == 403
            finally:
                browser.close()
        del small, big
    finally:
        nbray.shutdown()
        head.close()
