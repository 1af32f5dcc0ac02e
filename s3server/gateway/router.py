"""The operation table: (method, level, sub-resource, deciding header) → an operation named as AWS names it.

Every S3 operation in botocore's model has a row, supported or not; the rows without a handler answer
501 NotImplemented. Authorization, metrics, logs and the compatibility matrix all read this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum


class Level(Enum):
    SERVICE = "service"  # GET /
    BUCKET = "bucket"  # /{Bucket}
    OBJECT = "object"  # /{Bucket}/{Key+}


@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # AWS's operation name
    method: str
    level: Level
    # Query parameters that must be present ("uploads") or have a value ("list-type=2").
    selectors: tuple[str, ...] = ()
    header: str | None = None  # a header that must be present (x-amz-copy-source)
    permission: str = ""  # the IAM action it needs, "s3:GetObject"

    @property
    def specificity(self) -> int:
        return len(self.selectors) + (1 if self.header else 0)


S, B, OBJ = Level.SERVICE, Level.BUCKET, Level.OBJECT
_COPY = "x-amz-copy-source"

# (name, method, level, selectors, deciding header, permission or "" for "s3:" + name)
_ROWS: tuple[tuple[str, str, Level, tuple[str, ...], str | None, str], ...] = (
    ("ListBuckets", "GET", S, (), None, "s3:ListAllMyBuckets"),
    # -- bucket
    ("CreateBucket", "PUT", B, (), None, ""),
    ("DeleteBucket", "DELETE", B, (), None, ""),
    ("HeadBucket", "HEAD", B, (), None, "s3:ListBucket"),
    ("ListObjects", "GET", B, (), None, "s3:ListBucket"),
    ("ListObjectsV2", "GET", B, ("list-type=2",), None, "s3:ListBucket"),
    ("ListObjectVersions", "GET", B, ("versions",), None, "s3:ListBucketVersions"),
    ("ListMultipartUploads", "GET", B, ("uploads",), None, "s3:ListBucketMultipartUploads"),
    ("GetBucketLocation", "GET", B, ("location",), None, ""),
    ("DeleteObjects", "POST", B, ("delete",), None, "s3:DeleteObject"),
    ("PostObject", "POST", B, (), None, "s3:PutObject"),
    # S3 Object Lambda: POST /WriteGetObjectResponse, told apart from PostObject by its route header.
    (
        "WriteGetObjectResponse",
        "POST",
        B,
        (),
        "x-amz-request-route",
        "s3-object-lambda:WriteGetObjectResponse",
    ),
    ("GetBucketAcl", "GET", B, ("acl",), None, ""),
    ("PutBucketAcl", "PUT", B, ("acl",), None, ""),
    ("GetBucketCors", "GET", B, ("cors",), None, "s3:GetBucketCORS"),
    ("PutBucketCors", "PUT", B, ("cors",), None, "s3:PutBucketCORS"),
    ("DeleteBucketCors", "DELETE", B, ("cors",), None, "s3:PutBucketCORS"),
    ("GetBucketPolicy", "GET", B, ("policy",), None, ""),
    ("PutBucketPolicy", "PUT", B, ("policy",), None, ""),
    ("DeleteBucketPolicy", "DELETE", B, ("policy",), None, ""),
    ("GetBucketPolicyStatus", "GET", B, ("policyStatus",), None, ""),
    ("GetBucketTagging", "GET", B, ("tagging",), None, ""),
    ("PutBucketTagging", "PUT", B, ("tagging",), None, ""),
    ("DeleteBucketTagging", "DELETE", B, ("tagging",), None, "s3:PutBucketTagging"),
    ("GetBucketVersioning", "GET", B, ("versioning",), None, ""),
    ("PutBucketVersioning", "PUT", B, ("versioning",), None, ""),
    ("GetBucketLifecycleConfiguration", "GET", B, ("lifecycle",), None, "s3:GetLifecycleConfiguration"),
    ("PutBucketLifecycleConfiguration", "PUT", B, ("lifecycle",), None, "s3:PutLifecycleConfiguration"),
    ("DeleteBucketLifecycle", "DELETE", B, ("lifecycle",), None, "s3:PutLifecycleConfiguration"),
    ("GetBucketEncryption", "GET", B, ("encryption",), None, "s3:GetEncryptionConfiguration"),
    ("PutBucketEncryption", "PUT", B, ("encryption",), None, "s3:PutEncryptionConfiguration"),
    ("DeleteBucketEncryption", "DELETE", B, ("encryption",), None, "s3:PutEncryptionConfiguration"),
    ("GetBucketWebsite", "GET", B, ("website",), None, ""),
    ("PutBucketWebsite", "PUT", B, ("website",), None, ""),
    ("DeleteBucketWebsite", "DELETE", B, ("website",), None, ""),
    ("GetBucketLogging", "GET", B, ("logging",), None, ""),
    ("PutBucketLogging", "PUT", B, ("logging",), None, ""),
    ("GetBucketNotificationConfiguration", "GET", B, ("notification",), None, "s3:GetBucketNotification"),
    ("PutBucketNotificationConfiguration", "PUT", B, ("notification",), None, "s3:PutBucketNotification"),
    ("GetBucketReplication", "GET", B, ("replication",), None, "s3:GetReplicationConfiguration"),
    ("PutBucketReplication", "PUT", B, ("replication",), None, "s3:PutReplicationConfiguration"),
    ("DeleteBucketReplication", "DELETE", B, ("replication",), None, "s3:PutReplicationConfiguration"),
    ("GetBucketRequestPayment", "GET", B, ("requestPayment",), None, ""),
    ("PutBucketRequestPayment", "PUT", B, ("requestPayment",), None, ""),
    ("GetBucketAccelerateConfiguration", "GET", B, ("accelerate",), None, ""),
    ("PutBucketAccelerateConfiguration", "PUT", B, ("accelerate",), None, ""),
    ("GetBucketOwnershipControls", "GET", B, ("ownershipControls",), None, ""),
    ("PutBucketOwnershipControls", "PUT", B, ("ownershipControls",), None, ""),
    (
        "DeleteBucketOwnershipControls",
        "DELETE",
        B,
        ("ownershipControls",),
        None,
        "s3:PutBucketOwnershipControls",
    ),
    ("GetPublicAccessBlock", "GET", B, ("publicAccessBlock",), None, "s3:GetBucketPublicAccessBlock"),
    ("PutPublicAccessBlock", "PUT", B, ("publicAccessBlock",), None, "s3:PutBucketPublicAccessBlock"),
    ("DeletePublicAccessBlock", "DELETE", B, ("publicAccessBlock",), None, "s3:PutBucketPublicAccessBlock"),
    ("GetObjectLockConfiguration", "GET", B, ("object-lock",), None, "s3:GetBucketObjectLockConfiguration"),
    ("PutObjectLockConfiguration", "PUT", B, ("object-lock",), None, "s3:PutBucketObjectLockConfiguration"),
    ("GetBucketAnalyticsConfiguration", "GET", B, ("analytics", "id"), None, "s3:GetAnalyticsConfiguration"),
    ("ListBucketAnalyticsConfigurations", "GET", B, ("analytics",), None, "s3:GetAnalyticsConfiguration"),
    ("PutBucketAnalyticsConfiguration", "PUT", B, ("analytics",), None, "s3:PutAnalyticsConfiguration"),
    ("DeleteBucketAnalyticsConfiguration", "DELETE", B, ("analytics",), None, "s3:PutAnalyticsConfiguration"),
    ("GetBucketMetricsConfiguration", "GET", B, ("metrics", "id"), None, "s3:GetMetricsConfiguration"),
    ("ListBucketMetricsConfigurations", "GET", B, ("metrics",), None, "s3:GetMetricsConfiguration"),
    ("PutBucketMetricsConfiguration", "PUT", B, ("metrics",), None, "s3:PutMetricsConfiguration"),
    ("DeleteBucketMetricsConfiguration", "DELETE", B, ("metrics",), None, "s3:PutMetricsConfiguration"),
    ("GetBucketInventoryConfiguration", "GET", B, ("inventory", "id"), None, "s3:GetInventoryConfiguration"),
    ("ListBucketInventoryConfigurations", "GET", B, ("inventory",), None, "s3:GetInventoryConfiguration"),
    ("PutBucketInventoryConfiguration", "PUT", B, ("inventory",), None, "s3:PutInventoryConfiguration"),
    ("DeleteBucketInventoryConfiguration", "DELETE", B, ("inventory",), None, "s3:PutInventoryConfiguration"),
    (
        "GetBucketIntelligentTieringConfiguration",
        "GET",
        B,
        ("intelligent-tiering", "id"),
        None,
        "s3:GetIntelligentTieringConfiguration",
    ),
    (
        "ListBucketIntelligentTieringConfigurations",
        "GET",
        B,
        ("intelligent-tiering",),
        None,
        "s3:GetIntelligentTieringConfiguration",
    ),
    (
        "PutBucketIntelligentTieringConfiguration",
        "PUT",
        B,
        ("intelligent-tiering",),
        None,
        "s3:PutIntelligentTieringConfiguration",
    ),
    (
        "DeleteBucketIntelligentTieringConfiguration",
        "DELETE",
        B,
        ("intelligent-tiering",),
        None,
        "s3:PutIntelligentTieringConfiguration",
    ),
    ("GetBucketAbac", "GET", B, ("abac",), None, ""),
    ("PutBucketAbac", "PUT", B, ("abac",), None, ""),
    ("CreateSession", "GET", B, ("session",), None, "s3express:CreateSession"),
    ("GetBucketMetadataConfiguration", "GET", B, ("metadataConfiguration",), None, ""),
    ("CreateBucketMetadataConfiguration", "POST", B, ("metadataConfiguration",), None, ""),
    ("DeleteBucketMetadataConfiguration", "DELETE", B, ("metadataConfiguration",), None, ""),
    ("UpdateBucketMetadataInventoryTableConfiguration", "PUT", B, ("metadataInventoryTable",), None, ""),
    ("UpdateBucketMetadataJournalTableConfiguration", "PUT", B, ("metadataJournalTable",), None, ""),
    ("UpdateBucketMetadataAnnotationTableConfiguration", "PUT", B, ("metadataAnnotationTable",), None, ""),
    ("GetBucketMetadataTableConfiguration", "GET", B, ("metadataTable",), None, ""),
    ("CreateBucketMetadataTableConfiguration", "POST", B, ("metadataTable",), None, ""),
    ("DeleteBucketMetadataTableConfiguration", "DELETE", B, ("metadataTable",), None, ""),
    # -- object
    ("GetObject", "GET", OBJ, (), None, ""),
    ("HeadObject", "HEAD", OBJ, (), None, "s3:GetObject"),
    ("PutObject", "PUT", OBJ, (), None, ""),
    ("CopyObject", "PUT", OBJ, (), _COPY, "s3:PutObject"),
    ("DeleteObject", "DELETE", OBJ, (), None, ""),
    ("CreateMultipartUpload", "POST", OBJ, ("uploads",), None, "s3:PutObject"),
    ("UploadPart", "PUT", OBJ, ("uploadId", "partNumber"), None, "s3:PutObject"),
    ("UploadPartCopy", "PUT", OBJ, ("uploadId", "partNumber"), _COPY, "s3:PutObject"),
    ("CompleteMultipartUpload", "POST", OBJ, ("uploadId",), None, "s3:PutObject"),
    ("AbortMultipartUpload", "DELETE", OBJ, ("uploadId",), None, ""),
    ("ListParts", "GET", OBJ, ("uploadId",), None, "s3:ListMultipartUploadParts"),
    ("GetObjectAttributes", "GET", OBJ, ("attributes",), None, ""),
    ("GetObjectTagging", "GET", OBJ, ("tagging",), None, ""),
    ("PutObjectTagging", "PUT", OBJ, ("tagging",), None, ""),
    ("DeleteObjectTagging", "DELETE", OBJ, ("tagging",), None, ""),
    ("GetObjectAcl", "GET", OBJ, ("acl",), None, ""),
    ("PutObjectAcl", "PUT", OBJ, ("acl",), None, ""),
    ("GetObjectLegalHold", "GET", OBJ, ("legal-hold",), None, ""),
    ("PutObjectLegalHold", "PUT", OBJ, ("legal-hold",), None, ""),
    ("GetObjectRetention", "GET", OBJ, ("retention",), None, ""),
    ("PutObjectRetention", "PUT", OBJ, ("retention",), None, ""),
    ("RestoreObject", "POST", OBJ, ("restore",), None, ""),
    ("SelectObjectContent", "POST", OBJ, ("select", "select-type=2"), None, "s3:GetObject"),
    ("GetObjectTorrent", "GET", OBJ, ("torrent",), None, ""),
    ("RenameObject", "PUT", OBJ, ("renameObject",), None, "s3:PutObject"),
    ("UpdateObjectEncryption", "PUT", OBJ, ("encryption",), None, "s3:PutObject"),
    ("GetObjectAnnotation", "GET", OBJ, ("annotation", "annotationName"), None, ""),
    ("ListObjectAnnotations", "GET", OBJ, ("annotation",), None, ""),
    ("PutObjectAnnotation", "PUT", OBJ, ("annotation",), None, ""),
    ("DeleteObjectAnnotation", "DELETE", OBJ, ("annotation",), None, ""),
)

OPERATIONS: tuple[Operation, ...] = tuple(
    Operation(name, method, level, selectors, header, permission or f"s3:{name}")
    for name, method, level, selectors, header, permission in _ROWS
)
BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}

# Most specific row first, so "?uploadId&partNumber" + copy header beats "?uploadId&partNumber".
_INDEX: dict[tuple[str, Level], list[Operation]] = {}
for _op in OPERATIONS:
    _INDEX.setdefault((_op.method, _op.level), []).append(_op)
for _ops in _INDEX.values():
    _ops.sort(key=lambda op: -op.specificity)


_PLAIN = {where: [op for op in ops if not op.selectors] for where, ops in _INDEX.items()}


def _selected(selector: str, query: Mapping[str, str]) -> bool:
    name, eq, value = selector.partition("=")
    if name not in query:
        return False
    return not eq or query[name] == value


def resolve(
    method: str, level: Level, query: Mapping[str, str], headers: Mapping[str, str]
) -> Operation | None:
    """The operation a request names, or None when no S3 operation uses this method here (405)."""
    if not query:  # the common case: only rows without selectors can match
        for op in _PLAIN.get((method, level), ()):
            if not op.header or op.header in headers:
                return op
        return None
    candidates = _INDEX.get((method, level))
    if not candidates:
        return None
    for op in candidates:
        if op.header and op.header not in headers:
            continue
        if all(_selected(sel, query) for sel in op.selectors):
            return op
    return None
