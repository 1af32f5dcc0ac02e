"""Browser tests of a bucket's lifecycle page: the rules shown, an expiration rule added in the page
(and found by GetBucketLifecycleConfiguration next to the rules already there), S3's refusal shown,
and a rule deleted."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.ui.conftest import screenshot
from tests.ui.test_lifecycle_api import bucket_with_rules, stored_rules
from tests.ui.test_objects_pages import open_bucket

KEEP = {
    "ID": "uploads",
    "Status": "Enabled",
    "Filter": {"Prefix": "tmp/"},
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
}


def test_add_an_expiration_rule_then_delete_it(admin_page: Page, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = bucket_with_rules(ui_s3, [KEEP])
    open_bucket(page, bucket)
    page.get_by_role("link", name="Lifecycle rules").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Lifecycle rules of {bucket}")
    rows = page.locator("tr[data-rule-id]")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("uploads")
    expect(rows.nth(0)).to_contain_text("prefix tmp/")
    expect(rows.nth(0)).to_contain_text("Abort incomplete uploads 3 days after they start")

    form = page.get_by_role("form", name="Add an expiration rule")
    form.get_by_label("Rule ID").fill("logs-30")
    form.get_by_label("Prefix").fill("logs/")
    form.get_by_label("Days").fill("30")
    form.get_by_role("button", name="Add rule").click()
    expect(page.locator("main .message")).to_have_text("Rule “logs-30” added.")
    expect(rows).to_have_count(2)
    added = page.locator('tr[data-rule-id="logs-30"]')
    expect(added).to_contain_text("Enabled")
    expect(added).to_contain_text("prefix logs/")
    expect(added).to_contain_text("Expire current versions after 30 days")
    assert stored_rules(ui_s3, bucket) == [
        KEEP,
        {"ID": "logs-30", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 30}},
    ]
    screenshot(page, "lifecycle-rules")

    # The same ID again: S3 refuses it, the page says so, and nothing changes.
    form.get_by_label("Rule ID").fill("logs-30")
    form.get_by_label("Days").fill("7")
    form.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("alert")).to_contain_text("Rule ID must be unique")
    expect(rows).to_have_count(2)
    assert [rule["ID"] for rule in stored_rules(ui_s3, bucket)] == ["uploads", "logs-30"]

    page.get_by_role("button", name="Delete rule uploads").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete rule").click()
    expect(page.locator("main .message")).to_have_text("Rule “uploads” deleted.")
    expect(rows).to_have_count(1)
    assert [rule["ID"] for rule in stored_rules(ui_s3, bucket)] == ["logs-30"]
