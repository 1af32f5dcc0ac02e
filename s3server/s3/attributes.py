"""GetObjectAttributes: HeadObject and ListParts facts in one answer, chosen by x-amz-object-attributes."""

from __future__ import annotations

from s3server.s3 import xml
from s3server.s3.buckets import XML_HEADERS, require_object
from s3server.s3.common import http_date
from s3server.s3.conditions import check_preconditions
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error
from s3server.s3.versioning import version_headers

ATTRIBUTES = frozenset({"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"})


def _int_header(req: S3Request, name: str, default: int) -> int:
    raw = req.headers.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise S3Error(
            "InvalidArgument", f"Invalid value for {name}", ArgumentName=name, ArgumentValue=raw
        ) from exc
    if value < 0:
        raise S3Error("InvalidArgument", f"Invalid value for {name}", ArgumentName=name, ArgumentValue=raw)
    return value


async def get_object_attributes(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    wanted = {a.strip() for a in req.headers.get("x-amz-object-attributes", "").split(",") if a.strip()}
    if not wanted:
        raise S3Error("InvalidArgument", "Empty Object Attributes", ArgumentName="x-amz-object-attributes")
    unknown = wanted - ATTRIBUTES
    if unknown:
        raise S3Error(
            "InvalidArgument",
            "Invalid attribute name specified.",
            ArgumentName="x-amz-object-attributes",
            ArgumentValue=",".join(sorted(unknown)),
        )
    record = await require_object(req)
    check_preconditions(req.headers, record.etag, record.last_modified, read=False)

    root = xml.element("GetObjectAttributesResponse")
    if "ETag" in wanted:
        xml.sub(root, "ETag", record.etag)  # unquoted here, unlike everywhere else
    if "Checksum" in wanted and record.checksums:
        checksum = xml.sub(root, "Checksum")
        for algorithm, value in record.checksums.items():
            if algorithm != "type":
                xml.sub(checksum, f"Checksum{algorithm}", value)
        if "type" in record.checksums:
            xml.sub(checksum, "ChecksumType", record.checksums["type"])
    if "ObjectParts" in wanted and record.parts_count:
        parts = xml.sub(root, "ObjectParts")
        marker = _int_header(req, "x-amz-part-number-marker", 0)
        max_parts = min(_int_header(req, "x-amz-max-parts", 1000), 1000)
        sizes = record.part_sizes or []
        numbers = [n for n in range(1, len(sizes) + 1) if n > marker]
        page = numbers[:max_parts]
        xml.sub(parts, "PartsCount", record.parts_count)
        xml.sub(parts, "PartNumberMarker", marker)
        if page:
            xml.sub(parts, "NextPartNumberMarker", page[-1])
        xml.sub(parts, "MaxParts", max_parts)
        xml.sub(parts, "IsTruncated", len(numbers) > len(page))
        sums = record.part_checksums or []
        for number in page:
            part = xml.sub(parts, "Part")
            xml.sub(part, "PartNumber", number)
            xml.sub(part, "Size", sizes[number - 1])
            for algorithm, value in (sums[number - 1] if number <= len(sums) else {}).items():
                xml.sub(part, f"Checksum{algorithm}", value)
    if "StorageClass" in wanted:
        xml.sub(root, "StorageClass", record.storage_class)
    if "ObjectSize" in wanted:
        xml.sub(root, "ObjectSize", record.size)
    headers = dict(XML_HEADERS)
    headers["Last-Modified"] = http_date(record.last_modified)
    headers.update(version_headers(None, record))
    return S3Response(body=xml.render(root), headers=headers)


HANDLERS = {"GetObjectAttributes": get_object_attributes}
