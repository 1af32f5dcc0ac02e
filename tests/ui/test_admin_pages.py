"""Browser tests of the admin page: users and access keys, and bucket policies."""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from playwright.sync_api import Browser, Page, expect

from tests.support.server import RunningServer
from tests.ui.conftest import VIEWPORT, screenshot, sign_in
from tests.ui.test_objects_pages import new_bucket


def open_admin(page: Page) -> None:
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Admin", level=1)).to_be_focused()


def client_for(server: RunningServer, access_key: str, secret_key: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def read_secret_dialog(page: Page) -> tuple[str, str]:
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This is the only time the secret key is shown")
    access_key = dialog.get_by_label("New access key").input_value()
    secret_key = dialog.get_by_label("New secret key").input_value()
    assert access_key and len(secret_key) >= 20
    return access_key, secret_key


def test_users_and_keys(admin_page: Page, console_server: RunningServer, browser: Browser) -> None:
    page = admin_page
    open_admin(page)
    name = f"ui-alice-{os.getpid()}"
    page.get_by_label("User name").fill(name)
    page.get_by_role("button", name="Create user").click()
    first_key, first_secret = read_secret_dialog(page)
    screenshot(page, "admin-new-secret")
    page.get_by_role("button", name="I have copied the secret key").click()
    expect(page.locator("main .message.ok")).to_have_text(f"User {name} created with access key {first_key}.")
    assert first_secret not in page.content()  # shown once, never again

    alice = client_for(console_server, first_key, first_secret)
    alice.list_buckets()  # the new key works

    # A regular user signs in too, and gets no user management.
    other = browser.new_context(viewport=VIEWPORT)
    try:
        regular = other.new_page()
        regular.goto(str(console_server.console) + "/")
        sign_in(regular, first_key, first_secret)
        expect(regular.get_by_text(f"Signed in as {name}")).to_be_visible()
        open_admin(regular)
        expect(regular.get_by_text("Managing users and keys needs an admin access key.")).to_be_visible()
    finally:
        other.close()

    row = page.locator(f"tr[data-user='{name}']")
    row.get_by_role("button", name=f"Disable access key {first_key}").click()
    expect(page.locator("main .message.ok")).to_have_text(f"Access key {first_key} disabled.")
    expect(row.locator(f"li[data-access-key='{first_key}'] .badge")).to_have_text("disabled")
    with pytest.raises(ClientError):
        alice.list_buckets()

    row.get_by_role("button", name=f"New access key for {name}").click()
    second_key, second_secret = read_secret_dialog(page)
    page.get_by_role("button", name="I have copied the secret key").click()
    client_for(console_server, second_key, second_secret).list_buckets()
    expect(row.locator("li[data-access-key]")).to_have_count(2)
    screenshot(page, "admin-users")

    row.get_by_role("button", name=f"Delete access key {first_key}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete key").click()
    expect(row.locator("li[data-access-key]")).to_have_count(1)

    # Root's own key is managed by the server's environment: no buttons for it.
    root_row = page.locator("tr[data-user='root']")
    expect(root_row.get_by_text("set by the server")).to_be_visible()
    expect(root_row.get_by_role("button")).to_have_count(0)

    row.get_by_role("button", name=f"Delete user {name}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete user").click()
    expect(page.locator(f"tr[data-user='{name}']")).to_have_count(0)
    with pytest.raises(ClientError):
        client_for(console_server, second_key, second_secret).list_buckets()


def anonymous_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_policy_templates_and_errors_in_words(admin_page: Page, console_server: RunningServer, ui_s3) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    bucket = new_bucket(ui_s3, {"pub/hello.txt": b"hello, world"})
    object_url = f"{console_server.endpoint}/{bucket}/pub/hello.txt"
    assert anonymous_get(object_url)[0] == 403
    open_admin(page)
    policies = page.get_by_role("region", name="Bucket policies")
    policies.get_by_label("Bucket", exact=True).select_option(bucket)
    expect(policies.get_by_text("This bucket has no policy (private).")).to_be_visible()
    editor = policies.get_by_label("Policy JSON")

    policies.get_by_label("Template", exact=True).select_option(label="Read-only for one user")
    policies.get_by_role("button", name="Use template").click()
    expect(policies.get_by_role("alert")).to_have_text("Enter the user name this template is for.")
    policies.get_by_label("User name for the template").fill("bob")
    policies.get_by_role("button", name="Use template").click()
    expect(editor).not_to_have_value("")
    assert '"bob"' in editor.input_value() and "s3:ListBucket" in editor.input_value()
    policies.get_by_role("button", name="Save policy").click()
    expect(policies.get_by_role("status")).to_have_text(f"Policy saved: it applies to {bucket} now.")

    policies.get_by_label("Template", exact=True).select_option(
        label="Per-user prefix (a user may only use home/USER/)"
    )
    policies.get_by_role("button", name="Use template").click()
    assert f"arn:aws:s3:::{bucket}/home/bob/*" in editor.input_value()
    policies.get_by_role("button", name="Save policy").click()
    expect(policies.get_by_role("status")).to_have_text(f"Policy saved: it applies to {bucket} now.")
    assert anonymous_get(object_url)[0] == 403  # neither template opens the bucket to everyone

    policies.get_by_label("Template", exact=True).select_option(
        label="Public read (anyone can download objects)"
    )
    policies.get_by_role("button", name="Use template").click()
    assert '"Principal": "*"' in editor.input_value()
    policies.get_by_role("button", name="Save policy").click()
    expect(policies.get_by_role("status")).to_have_text(f"Policy saved: it applies to {bucket} now.")
    assert anonymous_get(object_url) == (200, b"hello, world")
    screenshot(page, "admin-policy")

    editor.fill('{"Version": "2012-10-17",\n  "Statement": [}')
    policies.get_by_role("button", name="Save policy").click()
    expect(policies.get_by_role("alert")).to_contain_text("The policy is not valid JSON:")
    expect(policies.get_by_role("alert")).to_contain_text("at line 2, column 17.")

    editor.fill(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", '
        f'"Resource": "arn:aws:s3:::{bucket}/*"}}]}}'
    )
    policies.get_by_role("button", name="Save policy").click()
    expect(policies.get_by_role("alert")).to_have_text(
        "The server rejected the policy: Missing required field Principal"
    )
    assert anonymous_get(object_url)[0] == 200  # the bad policy changed nothing

    policies.get_by_role("button", name="Remove policy").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove policy").click()
    expect(policies.get_by_role("status")).to_have_text(f"Policy removed: {bucket} is private.")
    assert anonymous_get(object_url)[0] == 403
