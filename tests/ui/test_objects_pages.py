"""Browser tests of signing in, buckets and the object browser (uploads, folders, downloads, deletes)."""

from __future__ import annotations

import hashlib
import itertools
import os
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.server import RunningServer
from tests.ui.conftest import screenshot, sign_in

_names = itertools.count()
MIB = 1024 * 1024


def new_bucket(ui_s3, objects: dict[str, bytes] | None = None) -> str:  # type: ignore[no-untyped-def]
    name = f"ui-{os.getpid()}-{next(_names)}"
    ui_s3.create_bucket(Bucket=name)
    for key, body in (objects or {}).items():
        ui_s3.put_object(Bucket=name, Key=key, Body=body)
    return name


def open_bucket(page: Page, bucket: str, prefix: str = "") -> None:
    page.goto(page.url.split("#")[0] + f"#/b/{bucket}" + (f"?prefix={prefix}" if prefix else ""))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{bucket}/{prefix}" if prefix else bucket)


def test_sign_in_with_wrong_secret_is_refused_in_words(page: Page, console_server: RunningServer) -> None:
    sign_in(page, console_server.access_key, "not-the-secret")
    expect(page.get_by_role("alert")).to_have_text(
        "Sign-in failed: the access key or the secret key is wrong."
    )
    expect(page.get_by_label("Secret key")).to_be_focused()
    expect(page.get_by_label("Secret key")).to_have_value("")
    sign_in(page, "NOSUCHKEY0000000", "whatever-secret")
    expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")
    screenshot(page, "login-failed")


def test_sign_in_keyboard_only(page: Page, console_server: RunningServer) -> None:
    """Tab order is access key → secret key → Sign in, and Enter submits."""
    expect(page.get_by_label("Access key")).to_be_focused()
    page.keyboard.type(console_server.access_key)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Secret key")).to_be_focused()
    page.keyboard.type(console_server.secret_key)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    screenshot(page, "login")
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name="Buckets", level=1)
    expect(heading).to_be_focused()  # focus moves to the new page's heading
    expect(page.get_by_text("Signed in as root (admin)")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.goto(page.url.split("#")[0] + "#/buckets")  # no session any more: back to sign-in
    expect(page.get_by_label("Access key")).to_be_visible()


def test_create_bucket_and_list_counts(admin_page: Page, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    name = f"ui-created-{os.getpid()}"
    page.get_by_label("Bucket name").fill("Not_Valid")
    page.get_by_role("button", name="Create bucket").click()
    expect(page.get_by_role("alert")).to_contain_text("That is not a valid bucket name")
    page.get_by_label("Bucket name").fill(name)
    page.get_by_role("button", name="Create bucket").click()
    expect(page.locator("main .message.ok")).to_have_text(f"Bucket “{name}” created.")
    ui_s3.head_bucket(Bucket=name)
    ui_s3.put_object(Bucket=name, Key="a", Body=b"12345")
    ui_s3.put_object(Bucket=name, Key="b", Body=b"123")
    page.reload()
    row = page.locator(f"tr[data-bucket='{name}']")
    expect(row.locator("td").nth(0)).to_have_text("2")
    expect(row.locator("td").nth(1)).to_have_text("8 bytes")
    screenshot(page, "buckets")


def test_delete_bucket_with_confirmation(admin_page: Page, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3, {"keep.txt": b"x"})
    page.reload()
    page.get_by_role("button", name=f"Delete bucket {bucket}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Deleting it cannot be undone")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name=f"Delete bucket {bucket}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete bucket").click()
    expect(page.get_by_role("alert")).to_have_text(
        f"The bucket “{bucket}” is not empty: it still holds 1 object. "
        "Delete them first, then delete the bucket."
    )
    ui_s3.delete_object(Bucket=bucket, Key="keep.txt")
    page.get_by_role("button", name=f"Delete bucket {bucket}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete bucket").click()
    expect(page.get_by_text(f"Bucket “{bucket}” deleted.")).to_be_visible()
    expect(page.locator(f"tr[data-bucket='{bucket}']")).to_have_count(0)


def record_progress(page: Page) -> None:
    """Record every value each progress bar takes, to see the bars move rather than jump to the end."""
    page.evaluate(
        """() => {
          window.progressSeen = {};
          const original = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value');
          Object.defineProperty(HTMLProgressElement.prototype, 'value', {
            get() { return original.get.call(this); },
            set(v) {
              original.set.call(this, v);
              const name = this.getAttribute('aria-label');
              (window.progressSeen[name] ||= new Set()).add(Number(v));
            },
          });
        }"""
    )


def progress_seen(page: Page, name: str) -> list[float]:
    return page.evaluate(f"() => Array.from(window.progressSeen['Upload progress for {name}'])")  # type: ignore[no-any-return]


def test_upload_many_files_with_progress_and_multipart(admin_page: Page, ui_s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3)
    open_bucket(page, bucket)
    big = os.urandom(17 * MIB + 123)  # over the multipart threshold: three parts
    small = [(f"note-{i}.txt", f"small file {i}\n".encode() * (i + 1)) for i in range(3)]
    files = []
    for name, body in [*small, ("big.bin", big)]:
        files.append(tmp_path / name)
        files[-1].write_bytes(body)
    record_progress(page)
    page.get_by_label("Upload files").set_input_files(files)
    panel = page.get_by_role("complementary", name="Uploads")
    for name, body in [*small, ("big.bin", big)]:
        bar = panel.get_by_role("progressbar", name=f"Upload progress for {name}")
        expect(bar).to_have_attribute("max", str(len(body)))
        item = panel.locator(f"li[data-key='{name}']")
        expect(item.locator(".status")).to_have_text(
            f"Uploaded ({'17.0 MiB' if name == 'big.bin' else f'{len(body)} bytes'})"
        )
    seen = progress_seen(page, "big.bin")
    assert any(0 < value < len(big) for value in seen), seen
    assert len(big) in seen
    for name, body in [*small, ("big.bin", big)]:
        got = ui_s3.get_object(Bucket=bucket, Key=name)
        assert got["Body"].read() == body
    head = ui_s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # went up as a multipart upload
    assert head["ContentType"] == "application/octet-stream"
    expect(page.locator("tr[data-key='big.bin']")).to_be_visible()  # the listing refreshed by itself
    screenshot(page, "upload-progress")


def test_upload_by_drag_and_drop_and_cancel(admin_page: Page, ui_s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3)
    open_bucket(page, bucket, "")
    page.evaluate(
        """() => {
          const data = new DataTransfer();
          data.items.add(new File(['dropped bytes'], 'dropped.txt', {type: 'text/plain'}));
          const zone = document.querySelector('.dropzone');
          const options = {dataTransfer: data, bubbles: true, cancelable: true};
          zone.dispatchEvent(new DragEvent('dragover', options));
          zone.dispatchEvent(new DragEvent('drop', options));
        }"""
    )
    expect(page.locator("tr[data-key='dropped.txt']")).to_be_visible()
    assert ui_s3.get_object(Bucket=bucket, Key="dropped.txt")["Body"].read() == b"dropped bytes"

    # Cancel a large upload while it runs (the network slowed to 2 MB/s so that it is still running):
    # nothing is stored and no multipart upload is left open.
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2 * MIB},
    )
    large = tmp_path / "cancelled.bin"
    large.write_bytes(os.urandom(20 * MIB))
    page.get_by_label("Upload files").set_input_files(large)
    panel = page.get_by_role("complementary", name="Uploads")
    item = panel.locator("li[data-key='cancelled.bin']")
    expect(item.locator(".status")).to_contain_text("%")  # under way
    panel.get_by_role("button", name="Cancel upload of cancelled.bin").click()
    expect(item.locator(".status")).to_have_text("Cancelled: nothing was stored.")
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    listed = ui_s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [o["Key"] for o in listed] == ["dropped.txt"]
    page.wait_for_timeout(300)  # the abort request follows the cancelled part
    assert ui_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_browse_folders_breadcrumbs_search_and_pages(admin_page: Page, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    objects = {
        "readme.txt": b"top",
        "photos/2026/cat.jpg": b"cat",
        "photos/2026/dog.jpg": b"dog",
        "photos/index.html": b"<p>",
        "docs/a.txt": b"a",
    }
    objects.update({f"many/item-{i:03d}": b"." for i in range(130)})
    bucket = new_bucket(ui_s3, objects)
    open_bucket(page, bucket)
    rows = page.locator("tbody tr")
    expect(page.locator("tr[data-folder]")).to_have_count(3)
    expect(page.locator("tr[data-key]")).to_have_count(1)
    page.get_by_role("link", name="photos/").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{bucket}/photos/")
    expect(page.locator("tr[data-key='photos/index.html']")).to_be_visible()
    page.get_by_role("link", name="2026/").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{bucket}/photos/2026/")
    expect(page.locator("tr[data-key]")).to_have_count(2)
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs.get_by_text("2026")).to_have_attribute("aria-current", "page")
    screenshot(page, "object-browser")
    crumbs.get_by_role("link", name="photos").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{bucket}/photos/")
    crumbs.get_by_role("link", name=bucket).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(bucket)

    page.get_by_label("Search by prefix").fill("do")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tr[data-folder]")).to_have_count(1)
    expect(page.locator("tr[data-folder='docs/']")).to_be_visible()
    page.get_by_label("Search by prefix").fill("")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tr[data-folder]")).to_have_count(3)

    page.get_by_role("link", name="many/").click()
    expect(page.locator("tr[data-key]")).to_have_count(100)
    expect(page.get_by_text("Page 1", exact=True)).to_be_visible()
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("tr[data-key]")).to_have_count(30)
    expect(page.get_by_text("Page 2 (last)")).to_be_visible()
    expect(rows.first).to_have_attribute("data-key", "many/item-100")
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    page.get_by_role("button", name="Previous page").click()
    expect(rows.first).to_have_attribute("data-key", "many/item-000")


def test_download_matches_the_object(admin_page: Page, ui_s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    body = os.urandom(3 * MIB + 17)
    bucket = new_bucket(ui_s3, {"files/report 2026.bin": body})
    open_bucket(page, bucket, "files/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download report 2026.bin").click()
    saved = tmp_path / "downloaded.bin"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "report 2026.bin"
    assert hashlib.md5(saved.read_bytes()).hexdigest() == hashlib.md5(body).hexdigest()


def test_delete_one_and_many(admin_page: Page, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3, {f"k{i}": b"v" for i in range(5)})
    open_bucket(page, bucket)
    page.get_by_role("button", name="Delete k0").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete object").click()
    expect(page.get_by_text("Deleted one object.")).to_be_visible()
    page.get_by_label("Select k1").check()
    page.get_by_label("Select k3").check()
    page.get_by_role("button", name="Delete selected (2)").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete 2 objects").click()
    expect(page.get_by_text("Deleted 2 objects.")).to_be_visible()
    expect(page.locator("tr[data-key]")).to_have_count(2)
    keys = [o["Key"] for o in ui_s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["k2", "k4"]
    page.get_by_label("Select all objects on this page").check()
    page.get_by_role("button", name="Delete selected (2)").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete 2 objects").click()
    expect(page.get_by_text("This folder is empty.")).to_be_visible()


def test_object_details_and_presigned_link(admin_page: Page, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3)
    body = b"details, details\n" * 100
    ui_s3.put_object(
        Bucket=bucket,
        Key="docs/spec.txt",
        Body=body,
        ContentType="text/plain",
        Metadata={"author": "ada"},
        Tagging="team=storage&stage=draft",
        ChecksumAlgorithm="SHA256",
    )
    open_bucket(page, bucket, "docs/")
    page.get_by_role("button", name="Details of spec.txt").click()
    dialog = page.get_by_role("dialog", name="spec.txt")
    expect(dialog).to_contain_text(hashlib.md5(body).hexdigest())
    expect(dialog).to_contain_text("text/plain")
    expect(dialog).to_contain_text("author: ada")
    expect(dialog).to_contain_text("team = storage")
    expect(dialog).to_contain_text("Checksum (SHA256")
    dialog.get_by_label("Link expires in").select_option(label="15 minutes")
    dialog.get_by_role("button", name="Create link").click()
    link = dialog.get_by_label("Presigned link")
    expect(link).not_to_have_value("")
    expect(dialog.get_by_role("status")).to_contain_text("Anyone with this link can download the object")
    url = link.input_value()
    assert "X-Amz-Expires=900" in url and "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as answer:  # no credentials: the link alone
        assert answer.read() == body
    screenshot(page, "object-details")
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("button", name="Details of spec.txt")).to_be_focused()  # focus returns


def test_small_files_go_straight_to_s3_as_a_browser_upload(admin_page: Page, ui_s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3)
    open_bucket(page, bucket)
    body = os.urandom(3 * MIB + 17)
    path = tmp_path / "photo.jpg"
    path.write_bytes(body)
    sent: list[tuple[str, str]] = []
    page.on("request", lambda r: sent.append((r.method, r.url)))
    record_progress(page)
    # Uploads slowed to 2 MB/s, so that the bar has time to move.
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2 * MIB},
    )
    page.get_by_label("Upload files").set_input_files(path)
    panel = page.get_by_role("complementary", name="Uploads")
    expect(panel.locator("li[data-key='photo.jpg'] .status")).to_have_text("Uploaded (3.0 MiB)")
    seen = progress_seen(page, "photo.jpg")
    assert any(0 < value < len(body) for value in seen) and len(body) in seen, seen
    s3_base = ui_s3.meta.endpoint_url.rstrip("/")
    # The file went to the S3 port as a form, not through the console.
    assert ("POST", f"{s3_base}/{bucket}") in sent, sent
    assert not any("/object?" in url for _, url in sent)
    got = ui_s3.get_object(Bucket=bucket, Key="photo.jpg")
    assert got["Body"].read() == body
    assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert got["ContentType"] == "image/jpeg"
    expect(page.locator("tr[data-key='photo.jpg']")).to_be_visible()
