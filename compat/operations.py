"""The S3 operations s3server supports, by AWS's name, with what is partial about each.

`SUPPORTED` names exactly the operations that have a handler (tests/unit/test_compat_drift.py checks
both directions), so a handler cannot land unlisted and a claim cannot outlive its handler. Every other
row of the router's table answers 501 NotImplemented.
"""

from __future__ import annotations

# Operation → what a client should know (empty when it behaves as AWS documents it).
SUPPORTED: dict[str, str] = {
    # -- service and buckets
    "ListBuckets": "prefix, max-buckets and continuation-token paging",
    "CreateBucket": "LocationConstraint becomes the bucket's region; canned ACL (x-amz-acl) or "
    "x-amz-grant-* headers; x-amz-object-ownership; x-amz-bucket-object-lock-enabled (turns versioning "
    "on)",
    "HeadBucket": "",
    "DeleteBucket": "BucketNotEmpty while objects remain; uploads in progress are aborted with it",
    "GetBucketLocation": "",
    "GetBucketVersioning": "the empty configuration until versioning was first set",
    "PutBucketVersioning": "Enabled and Suspended; MFADelete Enabled answers AccessDenied (no MFA devices)",
    "GetObjectLockConfiguration": "",
    "PutObjectLockConfiguration": "default retention in Days or Years; needs versioning Enabled",
    "GetObjectRetention": "",
    "PutObjectRetention": "lengthened freely; shortened or removed only for GOVERNANCE with "
    "x-amz-bypass-governance-retention and s3:BypassGovernanceRetention",
    "GetObjectLegalHold": "",
    "PutObjectLegalHold": "",
    # -- objects
    "PutObject": "Content-MD5, signed payload SHA-256 and one flexible checksum verified (header or "
    "aws-chunked trailer); If-None-Match/If-Match; x-amz-tagging; x-amz-acl or x-amz-grant-*; "
    "versions and Object Lock headers; SSE-S3, SSE-KMS (built-in key service: key id, ARN or alias, "
    "encryption context, bucket key header) and SSE-C, AES-256-GCM at rest",
    "GetObject": "one byte range, partNumber, versionId, conditional headers, response-* overrides, "
    "x-amz-checksum-mode, SSE-C customer key headers; SSE-KMS objects answer KMS.DisabledException "
    "under a disabled key",
    "HeadObject": "as GetObject, without the body",
    "DeleteObject": "delete markers in versioned buckets, versionId removes one version; locked "
    "versions refused; If-Match, x-amz-if-match-last-modified-time and x-amz-if-match-size (also "
    "with a versionId, and on every bucket: AWS refuses those two headers outside directory buckets)",
    "PostObject": "SigV4 and SigV2 policies, every condition, anonymous into "
    "public-write buckets, success_action_status/redirect, x-amz-meta-*, tagging, canned ACL, "
    "x-amz-checksum-*; versions like PutObject; server-side encryption fields (SSE-S3, SSE-KMS, "
    "SSE-C) and the bucket default",
    "DeleteObjects": "up to 1000 keys with version ids; per-key ETag, LastModifiedTime and Size "
    "conditions; needs Content-MD5 or a flexible checksum, as AWS does",
    "CopyObject": "within and across buckets, from a version (versionId); metadata and tagging "
    "directives; x-amz-acl or x-amz-grant-*; bytes are copied, never shared (decrypted and sealed "
    "again, so a copy may change its encryption, to or from SSE-KMS too; copy-source SSE-C headers)",
    "GetObjectAttributes": "ETag, Checksum, ObjectParts (with each part's checksum), StorageClass, "
    "ObjectSize",
    "GetObjectTagging": "",
    "PutObjectTagging": "",
    "DeleteObjectTagging": "",
    # -- access control
    "GetBucketAcl": "the owner's FULL_CONTROL and the canned ACL's grants, or the grants as set",
    "PutBucketAcl": "x-amz-acl, x-amz-grant-* (id=, uri=, emailAddress=) or an AccessControlPolicy "
    "body; emailAddress= names the user given that address (admin API)",
    "GetObjectAcl": "as GetBucketAcl",
    "PutObjectAcl": "as PutBucketAcl",
    "GetBucketPolicy": "the document as it was put",
    "PutBucketPolicy": 'Allow/Deny, Principal "*" or users, Action/NotAction, Resource/NotResource '
    "with wildcards, String*, Numeric*, Bool, IpAddress, Null and …IfExists conditions; anything else "
    "is MalformedPolicy",
    "DeleteBucketPolicy": "",
    "GetBucketPolicyStatus": 'public when an Allow statement admits "*" without a condition pinning '
    "the caller (source address range, user, account)",
    "PutBucketOwnershipControls": "BucketOwnerEnforced (ACLs disabled, AccessControlListNotSupported), "
    "BucketOwnerPreferred, ObjectWriter; also x-amz-object-ownership on CreateBucket; new buckets have "
    "no setting (AWS now defaults to BucketOwnerEnforced)",
    "GetBucketOwnershipControls": "",
    "DeleteBucketOwnershipControls": "",
    "PutPublicAccessBlock": "BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets, "
    "enforced on ACL and policy writes and on access",
    "GetPublicAccessBlock": "",
    "DeletePublicAccessBlock": "",
    "GetBucketLifecycleConfiguration": "",
    "PutBucketLifecycleConfiguration": "up to 1000 rules; Filter with Prefix, Tag, object sizes and And; "
    "Expiration (Days, Date, ExpiredObjectDeleteMarker), NoncurrentVersionExpiration (NoncurrentDays, "
    "NewerNoncurrentVersions), AbortIncompleteMultipartUpload, applied by the lifecycle worker; "
    "transitions answer InvalidStorageClass (one storage tier); x-amz-expiration on object answers",
    "DeleteBucketLifecycle": "",
    "GetBucketCors": "",
    "PutBucketCors": "up to 100 rules; OPTIONS preflight and Access-Control-* headers answered from them; "
    "unlike AWS, the server's own web console may also send PostObject from its origin",
    "DeleteBucketCors": "",
    "GetBucketEncryption": "",
    "PutBucketEncryption": "one rule: AES256 or aws:kms with KMSMasterKeyID (id, ARN or alias; "
    "unchecked, as on AWS), BucketKeyEnabled; applied to writes naming no encryption",
    "DeleteBucketEncryption": "",
    # -- listing
    "ListObjects": "prefix, delimiter, marker, max-keys, encoding-type=url; UTF-8 byte order",
    "ListObjectsV2": "prefix, delimiter, continuation-token, start-after, fetch-owner, "
    "encoding-type=url; UTF-8 byte order",
    "ListObjectVersions": "prefix, delimiter, key-marker, version-id-marker, max-keys, encoding-type=url",
    # -- multipart
    "CreateMultipartUpload": "x-amz-checksum-algorithm with COMPOSITE or FULL_OBJECT checksum type; "
    "x-amz-acl or x-amz-grant-* for the object; x-amz-abort-date and x-amz-abort-rule-id from "
    "lifecycle rules",
    "UploadPart": "Content-MD5 and one flexible checksum verified (header or aws-chunked trailer)",
    "UploadPartCopy": "x-amz-copy-source-range",
    "CompleteMultipartUpload": "parts of at least 5 MiB but the last; multipart ETag `md5-of-md5s-N`; "
    "If-None-Match/If-Match",
    "AbortMultipartUpload": "",
    "ListParts": "x-amz-abort-date and x-amz-abort-rule-id from lifecycle rules",
    "ListMultipartUploads": "",
}

# Operations in botocore's model whose request is, on the wire, the request of another row of the
# router's table (same method, path and sub-resource): the server answers them as that row.
SAME_REQUEST_AS: dict[str, str] = {
    "GetBucketLifecycle": "GetBucketLifecycleConfiguration",  # deprecated name
    "PutBucketLifecycle": "PutBucketLifecycleConfiguration",  # deprecated name
    "GetBucketNotification": "GetBucketNotificationConfiguration",  # deprecated name
    "PutBucketNotification": "PutBucketNotificationConfiguration",  # deprecated name
    "ListDirectoryBuckets": "ListBuckets",  # S3 Express One Zone's control endpoint only
}

# Router rows that botocore's model does not define, with AWS's documentation of them.
# Operations of newer botocore models than some test environments install (s3fs's aiobotocore pins
# botocore): the router keeps their rows (501), so an older model simply does not name them yet.
NEWER_MODEL: frozenset[str] = frozenset(
    {
        "DeleteObjectAnnotation",
        "GetObjectAnnotation",
        "ListObjectAnnotations",
        "PutObjectAnnotation",
        "UpdateBucketMetadataAnnotationTableConfiguration",
    }
)

BEYOND_MODEL: dict[str, str] = {
    "PostObject": "browser-based uploads with an HTML form (POST policy); in AWS's API reference, "
    "not in botocore's model",
}
