"""The console's lifecycle API without a browser: rules shown as S3 keeps them, an expiration rule
merged into the existing configuration, a rule deleted, and S3's refusals passed on in words with
nothing changed."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import RunningServer
from tests.ui.test_console_api import Console
from tests.ui.test_versions_api import signed_in

_names = itertools.count()

EXISTING: list[dict[str, Any]] = [
    {
        "ID": "old-versions",
        "Status": "Disabled",
        "Filter": {"And": {"Prefix": "docs/", "Tags": [{"Key": "keep", "Value": "no"}]}},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2},
    },
    {
        "ID": "uploads",
        "Status": "Enabled",
        "Filter": {"ObjectSizeGreaterThan": 10},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
    },
    {
        "ID": "dated",
        "Status": "Enabled",
        "Filter": {"Prefix": "tmp/"},
        "Expiration": {"Date": datetime(2031, 1, 1, tzinfo=UTC)},
    },
]


def bucket_with_rules(ui_s3, rules: list[dict[str, Any]] | None = None) -> str:  # type: ignore[no-untyped-def]
    name = f"uil-{os.getpid()}-{next(_names)}"
    ui_s3.create_bucket(Bucket=name)
    if rules:
        ui_s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    return name


def stored_rules(ui_s3, bucket: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    try:
        return ui_s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
        return []


def add(console: Console, bucket: str, **rule: Any) -> tuple[int, Any]:
    status, _, value = console.change("POST", f"/api/buckets/{bucket}/lifecycle/rules", rule)
    return status, value


def test_rules_are_shown_with_filter_and_actions(console_server: RunningServer, ui_s3) -> None:  # type: ignore[no-untyped-def]
    console = signed_in(console_server)
    bucket = bucket_with_rules(ui_s3, EXISTING)
    status, _, value = console.call("GET", f"/api/buckets/{bucket}/lifecycle")
    assert status == 200
    assert value["rules"] == [
        {
            "id": "old-versions",
            "status": "Disabled",
            "filter": {
                "prefix": "docs/",
                "tags": [{"key": "keep", "value": "no"}],
                "size_gt": None,
                "size_lt": None,
            },
            "actions": [
                {
                    "action": "NoncurrentVersionExpiration",
                    "settings": {"NoncurrentDays": "7", "NewerNoncurrentVersions": "2"},
                }
            ],
        },
        {
            "id": "uploads",
            "status": "Enabled",
            "filter": {"prefix": "", "tags": [], "size_gt": 10, "size_lt": None},
            "actions": [
                {"action": "AbortIncompleteMultipartUpload", "settings": {"DaysAfterInitiation": "3"}}
            ],
        },
        {
            "id": "dated",
            "status": "Enabled",
            "filter": {"prefix": "tmp/", "tags": [], "size_gt": None, "size_lt": None},
            "actions": [{"action": "Expiration", "settings": {"Date": "2031-01-01T00:00:00.000Z"}}],
        },
    ]
    empty = bucket_with_rules(ui_s3)
    assert console.call("GET", f"/api/buckets/{empty}/lifecycle")[2] == {"rules": []}


def test_an_added_rule_joins_the_existing_ones(console_server: RunningServer, ui_s3) -> None:  # type: ignore[no-untyped-def]
    console = signed_in(console_server)
    bucket = bucket_with_rules(ui_s3, EXISTING)
    before = stored_rules(ui_s3, bucket)
    status, value = add(console, bucket, id="logs-30", prefix="logs/", days=30)
    assert status == 200, value
    assert [rule["id"] for rule in value["rules"]] == ["old-versions", "uploads", "dated", "logs-30"]
    after = stored_rules(ui_s3, bucket)
    assert after[:3] == before  # the other rules went back exactly as they were
    assert after[3] == {
        "ID": "logs-30",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 30},
    }
    # A first rule creates the configuration; the days may come as text, as a form sends them.
    fresh = bucket_with_rules(ui_s3)
    status, value = add(console, fresh, id="all", prefix="", days="1")
    assert status == 200, value
    assert stored_rules(ui_s3, fresh) == [
        {"ID": "all", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 1}}
    ]


@pytest.mark.parametrize(
    ("rule", "status", "code", "words"),
    [
        pytest.param(
            {"id": "uploads", "prefix": "x/", "days": 5},
            400,
            "InvalidArgument",
            "The server refused a value: Rule ID must be unique. Found same ID for more than one rule",
            id="duplicate-id",
        ),
        pytest.param(
            {"id": "zero", "prefix": "", "days": 0},
            400,
            "InvalidArgument",
            "The server refused a value: 'Days' for Expiration action must be a positive integer",
            id="zero-days",
        ),
        pytest.param(
            {"id": "negative", "prefix": "", "days": "-3"},
            400,
            "InvalidArgument",
            "The server refused a value: 'Days' for Expiration action must be a positive integer",
            id="negative-days",
        ),
        pytest.param({"id": "x" * 256, "prefix": "", "days": 1}, 400, "InvalidArgument", None, id="long-id"),
        pytest.param(
            {"id": "half", "prefix": "", "days": 1.5},
            400,
            "",
            "The number of days must be a whole number.",
            id="fraction",
        ),
        pytest.param(
            {"id": "word", "prefix": "", "days": "ten"},
            400,
            "",
            "The number of days must be a whole number.",
            id="text",
        ),
        pytest.param({"prefix": "", "days": 3}, 400, "", "The rule ID is required.", id="no-id"),
    ],
)
def test_refused_rules_change_nothing(
    console_server: RunningServer,
    ui_s3,  # type: ignore[no-untyped-def]
    rule: dict[str, Any],
    status: int,
    code: str,
    words: str | None,
) -> None:
    console = signed_in(console_server)
    bucket = bucket_with_rules(ui_s3, EXISTING)
    before = stored_rules(ui_s3, bucket)
    answer_status, value = add(console, bucket, **rule)
    assert answer_status == status, value
    assert value["error"]["code"] == code
    if words is not None:
        assert value["error"]["message"] == words
    assert stored_rules(ui_s3, bucket) == before


def test_deleting_a_rule_keeps_the_others(console_server: RunningServer, ui_s3) -> None:  # type: ignore[no-untyped-def]
    console = signed_in(console_server)
    bucket = bucket_with_rules(ui_s3, EXISTING)
    path = f"/api/buckets/{bucket}/lifecycle/delete-rule"
    status, _, value = console.change("POST", path, {"id": "uploads"})
    assert status == 200, value
    assert [rule["id"] for rule in value["rules"]] == ["old-versions", "dated"]
    assert [rule["ID"] for rule in stored_rules(ui_s3, bucket)] == ["old-versions", "dated"]
    status, _, value = console.change("POST", path, {"id": "uploads"})
    assert status == 404 and "no lifecycle rule “uploads”" in value["error"]["message"]
    for rule_id in ("old-versions", "dated"):
        assert console.change("POST", path, {"id": rule_id})[0] == 200
    # The last rule gone, the bucket has no configuration at all (an empty one is not valid S3).
    with pytest.raises(ClientError) as info:
        ui_s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert info.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
    assert console.change("POST", path, {"id": "dated"})[0] == 404


def test_changes_need_the_csrf_token_and_an_existing_bucket(console_server: RunningServer, ui_s3) -> None:  # type: ignore[no-untyped-def]
    console = signed_in(console_server)
    bucket = bucket_with_rules(ui_s3)
    rule = {"id": "r", "prefix": "", "days": 1}
    assert console.call("POST", f"/api/buckets/{bucket}/lifecycle/rules", rule)[0] == 403
    assert stored_rules(ui_s3, bucket) == []
    status, _, value = console.change("POST", "/api/buckets/no-such-bucket-here/lifecycle/rules", rule)
    assert status == 404 and value["error"]["code"] == "NoSuchBucket"
    status, _, value = console.call("GET", "/api/buckets/no-such-bucket-here/lifecycle")
    assert status == 404 and value["error"]["code"] == "NoSuchBucket"
