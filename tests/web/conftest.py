"""The browser tests' shared server and browser: one `copmatch serve` over a copy of the
sample community and one headless Chromium for the whole session (starting either costs
seconds). Their tests are in one file and one xdist group, so pytest-xdist (--dist loadgroup)
runs them in one worker, in file order."""

from __future__ import annotations

import os
import shutil

import pytest

from copmatch import Community
from tests.web.harness import browser_missing, start_browser, start_server, stop_browser

#: A document whose title and body are markup: the pages must show it as text.
XSS_TITLE = "<script>alert(1)</script>"
XSS_DOCUMENT = {
    "id": "xss1",
    "kind": "practice",
    "title": XSS_TITLE,
    "body": 'Hostile markup in a practice note: <img src=x onerror="alert(2)"> and <b>bold</b> must stay text.',
    "authors": ["m002"],
    "tags": ["<i>tag</i>"],
}
MEMBER_ID = "m002"  # the member key belongs to this member (their own page has the opt-out switch)


def pytest_collection_modifyitems(items):
    for item in items:
        if str(item.fspath).replace(os.sep, "/").endswith("tests/web/test_pages.py"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_ready() -> None:
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"The browser tests must run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def server(browser_ready, sample_built, tmp_path_factory):
    path = tmp_path_factory.mktemp("web") / "sample"
    shutil.copytree(sample_built.data_dir, path)
    community = Community(path)
    community.import_records(documents=[XSS_DOCUMENT])
    keys = {
        "member": community.create_key("member", member_id=MEMBER_ID, label="browser tests")[1],
        "broker": community.create_key("broker", label="browser tests")[1],
        "admin": community.create_key("admin", label="browser tests")[1],
    }
    community.close()
    running = start_server(path, keys)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser(browser_ready):
    driver = start_browser()
    yield driver
    stop_browser(driver)


@pytest.fixture
def page(browser, server):
    """The shared browser at desktop width, its console log emptied."""
    browser.set_window_size(1280, 900)
    browser.get_log("browser")
    return browser
