"""Browser tests of the operations page: live health, statistics, and the three demos."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.server import RunningServer, free_port, start_server
from tests.ui.conftest import VIEWPORT, screenshot, sign_in
from tests.ui.test_objects_pages import new_bucket


def open_ops(page: Page) -> None:
    page.get_by_role("link", name="Operations").click()
    expect(page.get_by_role("heading", name="Operations", level=1)).to_be_focused()


def test_health_of_every_component_refreshes_live(admin_page: Page) -> None:
    page = admin_page
    open_ops(page)
    health = page.get_by_role("region", name="Health")
    for component in ("gateway", "identity", "metadata", "drive:0"):
        row = health.locator(f"tr[data-component='{component}']")
        expect(row.locator("td").nth(0)).to_have_text("ok")
        expect(row.locator("td").nth(1)).to_have_text(re.compile(r"^\d+\.\d ms$"))
    expect(health.locator("tr[data-component='drive:0'] td").nth(2)).to_contain_text("free of")
    expect(health.get_by_text("Overall: ok")).to_be_visible()
    stamp = health.get_by_text(re.compile("^Checked at"))
    first = stamp.text_content()
    expect(stamp).not_to_have_text(first or "", timeout=8000)  # refreshed without a reload
    health.get_by_role("button", name="Pause updates").click()
    expect(health.get_by_role("button", name="Resume updates")).to_have_attribute("aria-pressed", "true")
    screenshot(page, "operations")


def test_statistics_totals_and_top_ten_chart(admin_page: Page, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3, {f"s{i}": b"x" * 100 for i in range(12)})
    open_ops(page)
    stats = page.get_by_role("region", name="Statistics")
    objects = int(stats.locator("[data-total='objects']").text_content().replace(",", ""))  # type: ignore[union-attr]
    assert objects >= 12
    chart = stats.get_by_role("img", name=re.compile("Top 10 buckets by object count"))
    expect(chart).to_be_visible()
    bar = chart.locator(f"g[data-label='{bucket}']")
    expect(bar).to_contain_text("12 objects · 1.2 KiB")
    assert chart.locator("g.row").count() <= 10
    expect(stats.get_by_text("From the server's statistics")).to_be_visible()
    ui_s3.put_object(Bucket=bucket, Key="s-extra", Body=b"y")
    stats.get_by_role("button", name="Refresh statistics").click()
    expect(bar).to_contain_text("13 objects")


def test_integrity_demo_single_and_multipart(admin_page: Page, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3)
    open_ops(page)
    demo = page.get_by_role("region", name="Integrity check")
    demo.get_by_label("Bucket for the integrity check").select_option(bucket)
    for size in ("1 MiB (one PUT)", "20 MiB (multipart)"):
        demo.get_by_label("Size of the test object").select_option(label=size)
        demo.get_by_role("button", name="Run integrity check").click()
        expect(demo.locator(".message.ok")).to_have_text(
            "Integrity check passed: the bytes that came back are the bytes that went up.", timeout=30_000
        )
        expect(demo.locator("ol.steps li .fail")).to_have_count(0)
        expect(demo.locator("ol.steps li")).to_have_count(4)
    expect(demo.locator("ol.steps")).to_contain_text("multipart upload")
    assert ui_s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0  # cleaned up after itself
    screenshot(page, "demo-integrity")


def test_rollback_demo_leaves_no_bytes_behind(admin_page: Page, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3)
    open_ops(page)
    demo = page.get_by_role("region", name="Rollback demo")
    demo.get_by_label("Bucket for the rollback demo").select_option(bucket)
    demo.get_by_role("button", name="Run rollback demo").click()
    expect(demo.locator(".message.ok")).to_have_text(
        "Rolled back: the upload got 503 ServiceUnavailable and no bytes were left behind."
    )
    expect(demo.locator("ol.steps")).to_contain_text("0 blobs and 0 bytes left behind")
    expect(demo.locator("ol.steps li .fail")).to_have_count(0)
    assert ui_s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    ui_s3.put_object(Bucket=bucket, Key="after", Body=b"the fault is cleared")  # writes work again
    screenshot(page, "demo-rollback")


@pytest.fixture
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A second server with the demo's rate limit (100 requests a minute per key or address)."""
    data_dir = tmp_path_factory.mktemp("limited") / "data"
    running = start_server(data_dir, args=["--rate-limit", "100/min"], console_port=free_port())
    yield running
    assert running.stop() == 0


def test_rate_limit_demo_counts_throttled_requests(browser: Browser, limited_server: RunningServer) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(str(limited_server.console) + "/")
        sign_in(page, limited_server.access_key, limited_server.secret_key)
        expect(page.get_by_role("heading", name="Buckets", level=1)).to_be_visible()
        open_ops(page)
        demo = page.get_by_role("region", name="Rate-limit demo")
        demo.get_by_label("Number of requests").fill("150")
        demo.get_by_role("button", name="Fire burst").click()
        result = demo.locator(".message.ok")
        expect(result).to_contain_text("throttled (503 SlowDown)")
        found = re.search(
            r"Sent 150 requests in \d+ ms: (\d+) answered, (\d+) throttled", result.text_content() or ""
        )
        assert found, result.text_content()
        answered, throttled = int(found[1]), int(found[2])
        assert answered + throttled == 150
        assert 40 <= throttled <= 150 - 90  # about 100 allowed at once, the rest refused
        screenshot(page, "demo-rate-limit")
        # The burst was anonymous: the signed-in key still has its allowance.
        page.get_by_role("link", name="Buckets").click()
        expect(page.get_by_role("heading", name="Buckets", level=1)).to_be_visible()
        expect(page.get_by_role("alert")).to_have_count(0)
    finally:
        context.close()
