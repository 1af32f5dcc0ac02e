"""Fixtures for the console's browser tests: one s3server with its console, Chromium via Playwright.

The console is about the UI, not the metadata backend, so these tests run on the embedded SQLite
backend only. Chromium is the system's (Debian's `chromium` package), started by Playwright through
`executable_path`; nothing is downloaded. Every test gets a fresh browser context (no cookies), and a
JavaScript error on the page fails the test. Screenshots go to tests/ui/artifacts/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.support.server import RunningServer, free_port, start_server

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 860}
expect.set_options(timeout=15_000)


def chromium_path() -> str:
    """The system Chromium: $S3SERVER_TEST_CHROMIUM, else `chromium` on PATH (scripts/test installs it)."""
    found = (
        os.environ.get("S3SERVER_TEST_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not found:
        raise RuntimeError("the browser tests need Chromium: apt-get install chromium (or run scripts/test)")
    return found


CONTROL_ROLES = {
    "button",
    "checkbox",
    "combobox",
    "link",
    "listbox",
    "menuitem",
    "progressbar",
    "radio",
    "searchbox",
    "slider",
    "spinbutton",
    "switch",
    "tab",
    "textbox",
}


def unnamed_controls(page: Page) -> list[str]:
    """Controls in the accessibility tree (as Chromium computes it) that have no accessible name."""
    session = page.context.new_cdp_session(page)
    try:
        nodes = session.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        session.detach()
    missing = []
    for node in nodes:
        role = node.get("role", {}).get("value")
        if node.get("ignored") or role not in CONTROL_ROLES:
            continue
        if not str(node.get("name", {}).get("value", "")).strip():
            missing.append(f"{role} (backend node {node.get('backendDOMNodeId')})")
    return missing


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Save the page as tests/ui/artifacts/NAME.png, after checking every control on it has a name."""
    assert not unnamed_controls(page), (
        f"controls without an accessible name on {name}: {unnamed_controls(page)}"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """s3server with its console on a free port and fault injection on (for the rollback demo)."""
    data_dir = tmp_path_factory.mktemp("console") / "data"
    running = start_server(data_dir, args=["--enable-fault-injection"], console_port=free_port())
    yield running
    code = running.stop()
    assert code == 0, f"server exited with {code}:\n{running.log()[-4000:]}"


@pytest.fixture(scope="session")
def ui_s3(console_server: RunningServer):  # type: ignore[no-untyped-def]
    """boto3 against the same server, to set up and check what the console does."""
    return boto3.client(
        "s3",
        endpoint_url=console_server.endpoint,
        aws_access_key_id=console_server.access_key,
        aws_secret_access_key=console_server.secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"}),
    )


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread until
# it stops, and the async tests collected after tests/ui need none to be running.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True, locale="en-GB")
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, console_server: RunningServer) -> Iterator[Page]:
    """A fresh page on the console's sign-in screen; uncaught JavaScript errors fail the test."""
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.goto(str(console_server.console) + "/")
    expect(opened.get_by_role("button", name="Sign in")).to_be_visible()
    yield opened
    assert not errors, f"JavaScript errors on the page: {errors}"


def sign_in(page: Page, access_key: str, secret_key: str) -> None:
    page.get_by_label("Access key").fill(access_key)
    page.get_by_label("Secret key").fill(secret_key)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def admin_page(page: Page, console_server: RunningServer) -> Page:
    """The page, signed in as root (an admin)."""
    sign_in(page, console_server.access_key, console_server.secret_key)
    expect(page.get_by_role("heading", name="Buckets", level=1)).to_be_visible()
    return page
