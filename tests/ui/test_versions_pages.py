"""Browser tests of versioning in the object browser: the switch, a key's versions (download one,
delete one) and the "show versions" view with its delete markers."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.ui.conftest import screenshot
from tests.ui.test_objects_pages import new_bucket, open_bucket


def version_ids(ui_s3, bucket: str, key: str) -> list[tuple[str, bool]]:  # type: ignore[no-untyped-def]
    """(version id, is a delete marker) of `key`, newest first."""
    answer = ui_s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = [(v, False) for v in answer.get("Versions", [])]
    entries += [(m, True) for m in answer.get("DeleteMarkers", [])]
    ordered = sorted(entries, key=lambda e: e[0]["LastModified"], reverse=True)
    return [(e["VersionId"], marker) for e, marker in ordered if e["Key"] == key]


def test_enable_versioning_then_download_and_delete_one_version(
    admin_page: Page,
    ui_s3,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    page = admin_page
    bucket = new_bucket(ui_s3, {"notes.txt": b"draft one"})
    open_bucket(page, bucket)
    state = page.locator("[data-versioning]")
    expect(state).to_have_text("Off")
    expect(page.get_by_role("button", name="Versions of notes.txt")).to_have_count(0)
    expect(page.get_by_role("button", name="Show versions")).to_be_hidden()
    page.get_by_role("button", name="Enable versioning").click()
    page.get_by_role("dialog").get_by_role("button", name="Enable versioning").click()
    expect(state).to_have_text("Enabled")
    assert ui_s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    bodies = [b"draft two", b"final draft, longer"]
    ids = [ui_s3.put_object(Bucket=bucket, Key="notes.txt", Body=body)["VersionId"] for body in bodies]
    oldest = ui_s3.list_object_versions(Bucket=bucket)["Versions"][-1]
    assert oldest["VersionId"] == "null"  # written before versioning was on
    page.get_by_role("button", name="Refresh").click()
    page.get_by_role("button", name="Versions of notes.txt").click()
    dialog = page.get_by_role("dialog", name="Versions of notes.txt")
    rows = dialog.locator("tr[data-version-id]")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-version-id", ids[1])
    expect(rows.nth(0)).to_contain_text("latest")
    expect(rows.nth(0)).to_contain_text("19 bytes")
    expect(rows.nth(2)).to_have_attribute("data-version-id", "null")
    expect(rows.nth(1)).not_to_contain_text("latest")
    screenshot(page, "object-versions")

    with page.expect_download() as download:
        dialog.get_by_role("link", name=f"Download version {ids[0]} of notes.txt").click()
    saved = tmp_path / "old.txt"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "notes.txt"
    assert saved.read_bytes() == b"draft two"

    dialog.get_by_role("button", name=f"Delete version {ids[0]} of notes.txt").click()
    confirm = page.get_by_role("dialog", name="Delete this version of “notes.txt”?")
    expect(confirm).to_contain_text("deleted for good")
    confirm.get_by_role("button", name="Delete version").click()
    expect(dialog.get_by_role("status")).to_have_text(f"Deleted version {ids[0]}.")
    expect(rows).to_have_count(2)
    assert version_ids(ui_s3, bucket, "notes.txt") == [(ids[1], False), ("null", False)]
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("button", name="Versions of notes.txt")).to_be_focused()


def test_deleting_leaves_a_delete_marker_that_show_versions_lists(admin_page: Page, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3)
    ui_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for key in ("docs/a.txt", "docs/b.txt"):
        ui_s3.put_object(Bucket=bucket, Key=key, Body=b"kept " + key.encode())
    open_bucket(page, bucket, "docs/")
    page.get_by_role("button", name="Delete a.txt").click()
    confirm = page.get_by_role("dialog")
    expect(confirm).to_contain_text("a delete marker hides the object and its versions are kept")
    confirm.get_by_role("button", name="Delete object").click()
    expect(page.get_by_text("Deleted one object.")).to_be_visible()
    expect(page.locator("tr[data-key]")).to_have_count(1)
    [(marker, is_marker), (kept, _)] = version_ids(ui_s3, bucket, "docs/a.txt")
    assert is_marker

    toggle = page.get_by_role("button", name="Show versions")
    toggle.click()
    expect(page.get_by_role("button", name="Hide versions")).to_have_attribute("aria-pressed", "true")
    rows = page.locator("tr[data-version-id]")
    expect(rows).to_have_count(3)
    marker_row = page.locator(f"tr[data-version-id='{marker}']")
    expect(marker_row).to_have_attribute("data-version-key", "docs/a.txt")
    expect(marker_row).to_contain_text("delete marker")
    expect(marker_row).to_contain_text("latest")
    expect(marker_row.get_by_role("link")).to_have_count(0)  # a marker has nothing to download
    expect(page.locator(f"tr[data-version-id='{kept}']")).not_to_contain_text("latest")

    marker_row.get_by_role("button", name=re.compile("^Delete version")).click()
    page.get_by_role("dialog").get_by_role("button", name="Remove delete marker").click()
    expect(page.get_by_text("Removed the delete marker of “a.txt”.")).to_be_visible()
    expect(rows).to_have_count(2)
    assert version_ids(ui_s3, bucket, "docs/a.txt") == [(kept, False)]
    page.get_by_role("button", name="Hide versions").click()
    expect(page.locator("tr[data-key]")).to_have_count(2)  # a.txt is back

    page.get_by_role("button", name="Suspend versioning").click()
    expect(page.locator("[data-versioning]")).to_have_text("Suspended")
    assert ui_s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_buckets_and_statistics_show_older_versions(admin_page: Page, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3)
    ui_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for size in (1000, 2000, 3000):
        ui_s3.put_object(Bucket=bucket, Key="k", Body=b"x" * size)
    page.reload()
    row = page.locator(f"tr[data-bucket='{bucket}']")
    expect(row.locator("td").nth(2)).to_have_text("2 (2.9 KiB)")  # 1000 + 2000 bytes
    expect(row.locator("td").nth(2)).to_have_attribute("data-versions", "2")

    page.get_by_role("link", name="Operations").click()
    stats = page.get_by_role("region", name="Statistics")
    versions = stats.locator("[data-total='versions']")
    expect(versions).to_have_text(re.compile(r"^[\d,]+$"))
    before = int((versions.text_content() or "").replace(",", ""))
    expect(stats.locator("[data-total='version_bytes']")).not_to_be_empty()
    ui_s3.delete_object(Bucket=bucket, Key="k")  # k's current version becomes older, plus a marker
    stats.get_by_role("button", name="Refresh statistics").click()
    expect(versions).to_have_text(f"{before + 2:,}")
