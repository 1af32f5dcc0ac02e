"""A bucket's lifecycle rules in the console: list them, add an expiration rule, delete a rule.

S3 has no call that adds or removes one rule: PutBucketLifecycleConfiguration replaces the whole
configuration. So a change reads the configuration (GetBucketLifecycleConfiguration), edits the rule
elements as S3 sent them (rules the console cannot show in full go back untouched), and puts the whole
document back; S3 then validates the result, and its refusal (a duplicate ID, days that are not
positive, too many rules) reaches the person in words. Removing the last rule is
DeleteBucketLifecycle, as an empty configuration is MalformedXML. Two people changing rules at the
same moment can overwrite each other's change: S3 offers no conditional put for lifecycle.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from lxml import etree

from ui.api_buckets import S3_NS, bucket_of, xml_request
from ui.app import endpoint, keys_of, read_json, text_field
from ui.client import Endpoint, S3CallError, find_all, find_text
from ui.messages import ApiError
from ui.sessions import Session

ACTIONS = (
    "Expiration",
    "NoncurrentVersionExpiration",
    "AbortIncompleteMultipartUpload",
    "Transition",
    "NoncurrentVersionTransition",
)


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


def _predicates(node: etree._Element) -> dict[str, Any]:
    """Prefix, tags and size bounds of a Filter (or of its And)."""
    out: dict[str, Any] = {"prefix": find_text(node, "Prefix"), "tags": []}
    for tag in find_all(node, "Tag"):
        out["tags"].append({"key": find_text(tag, "Key"), "value": find_text(tag, "Value")})
    for name, field in (("ObjectSizeGreaterThan", "size_gt"), ("ObjectSizeLessThan", "size_lt")):
        text = find_text(node, name)
        out[field] = int(text) if text.strip().isdigit() else None
    return out


def rule_view(rule: etree._Element) -> dict[str, Any]:
    """One Rule element as JSON: ID, status, filter, and each action with its settings."""
    flt = rule.find("{*}Filter")
    if flt is None:  # the legacy shape: a Prefix on the rule itself
        spec = {"prefix": find_text(rule, "Prefix"), "tags": [], "size_gt": None, "size_lt": None}
    else:
        conj = flt.find("{*}And")
        spec = _predicates(conj if conj is not None else flt)
    actions = [
        {
            "action": _local(node),
            "settings": {_local(c): c.text or "" for c in node if isinstance(c.tag, str)},
        }
        for node in rule
        if isinstance(node.tag, str) and _local(node) in ACTIONS
    ]
    return {
        "id": find_text(rule, "ID"),
        "status": find_text(rule, "Status"),
        "filter": spec,
        "actions": actions,
    }


async def _configuration(request: web.Request, session: Session) -> etree._Element | None:
    """The bucket's LifecycleConfiguration as S3 sent it, or None when it has none."""
    try:
        reply = await endpoint(request).call(
            keys_of(session), "GET", Endpoint.path(bucket_of(request)), params=[("lifecycle", "")]
        )
    except S3CallError as err:
        if err.code == "NoSuchLifecycleConfiguration":
            return None
        raise
    return reply.xml()


async def _put(request: web.Request, session: Session, root: etree._Element) -> None:
    payload, headers = xml_request(root)
    await endpoint(request).call(
        keys_of(session),
        "PUT",
        Endpoint.path(bucket_of(request)),
        params=[("lifecycle", "")],
        headers=headers,
        body=payload,
    )


async def get_lifecycle(request: web.Request, session: Session) -> Any:
    """GetBucketLifecycleConfiguration: the rules in their order (none when there is no configuration)."""
    root = await _configuration(request, session)
    return {"rules": [] if root is None else [rule_view(rule) for rule in find_all(root, "Rule")]}


def _days(body: dict[str, Any]) -> int:
    """A whole number of days; whether it is a valid one (positive) is for S3 to say."""
    value = body.get("days")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, "The number of days must be a whole number.")
    return value


def expiration_rule(rule_id: str, prefix: str, days: int) -> etree._Element:
    """<Rule> expiring current versions under `prefix` `days` days after they were written."""
    rule = etree.Element(f"{{{S3_NS}}}Rule")
    etree.SubElement(rule, f"{{{S3_NS}}}ID").text = rule_id
    etree.SubElement(etree.SubElement(rule, f"{{{S3_NS}}}Filter"), f"{{{S3_NS}}}Prefix").text = prefix
    etree.SubElement(rule, f"{{{S3_NS}}}Status").text = "Enabled"
    etree.SubElement(etree.SubElement(rule, f"{{{S3_NS}}}Expiration"), f"{{{S3_NS}}}Days").text = str(days)
    return rule


async def add_expiration_rule(request: web.Request, session: Session) -> Any:
    """The configuration with one more rule: Expiration after `days` days of the keys under `prefix`."""
    body = await read_json(request)
    rule_id = text_field(body, "id", "The rule ID")
    prefix = body.get("prefix", "")
    if not isinstance(prefix, str):
        raise ApiError(400, "The prefix must be text.")
    days = _days(body)
    root = await _configuration(request, session)
    if root is None:
        root = etree.Element(f"{{{S3_NS}}}LifecycleConfiguration", nsmap={None: S3_NS})
    root.append(expiration_rule(rule_id, prefix, days))
    await _put(request, session, root)
    return await get_lifecycle(request, session)


async def delete_rule(request: web.Request, session: Session) -> Any:
    """The configuration without the rule of that ID (no configuration once the last one goes)."""
    body = await read_json(request)
    rule_id = text_field(body, "id", "The rule ID")
    root = await _configuration(request, session)
    rules = [] if root is None else find_all(root, "Rule")
    doomed = [rule for rule in rules if find_text(rule, "ID") == rule_id]
    if root is None or not doomed:
        raise ApiError(404, f"The bucket has no lifecycle rule “{rule_id}” (it may have just been removed).")
    if len(doomed) == len(rules):
        await endpoint(request).call(
            keys_of(session), "DELETE", Endpoint.path(bucket_of(request)), params=[("lifecycle", "")]
        )
        return {"rules": []}
    for rule in doomed:
        root.remove(rule)
    await _put(request, session, root)
    return await get_lifecycle(request, session)


B = "/api/buckets/{bucket}"
ROUTES = (
    ("GET", B + "/lifecycle", get_lifecycle),
    ("POST", B + "/lifecycle/rules", add_expiration_rule),
    ("POST", B + "/lifecycle/delete-rule", delete_rule),
)
