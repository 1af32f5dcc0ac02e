"""The S3 error catalogue: every error a handler can raise, with AWS's status and message.

Exception
 └── S3Error            rendered as <Error> XML by the gateway's error middleware

The layers below (metadata, saga, storage) raise their own errors; `from_domain` is the one mapping
from those to S3 errors, applied where the gateway renders errors (and per key by DeleteObjects).
"""

from __future__ import annotations

from s3server.metadata.errors import (
    BucketExistsError,
    BucketNotEmptyError,
    DomainError,
    InvalidPartError,
    MetadataError,
    NoSuchBucketError,
    NoSuchKeyError,
    NoSuchUploadError,
    NoSuchVersionError,
    ObjectLockedError,
    PreconditionFailedError,
)
from s3server.storage.base import StorageError

# code -> (HTTP status, AWS's default message)
CATALOGUE: dict[str, tuple[int, str]] = {
    "AccessDenied": (403, "Access Denied"),
    "AccessForbidden": (403, "CORSResponse: This CORS request is not allowed."),
    "AuthorizationHeaderMalformed": (400, "The authorization header is malformed."),
    "AuthorizationQueryParametersError": (400, "Error parsing the X-Amz-Credential parameter."),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BadRequest": (400, "Bad Request"),
    "BucketAlreadyExists": (
        409,
        "The requested bucket name is not available. The bucket namespace is shared by all users of the "
        "system. Please select a different name and try again.",
    ),
    "BucketAlreadyOwnedByYou": (
        409,
        "Your previous request to create the named bucket succeeded and you already own it.",
    ),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed object size."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object size."),
    "ExpiredToken": (400, "The provided token has expired."),
    "IncompleteBody": (
        400,
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    ),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InvalidAccessKeyId": (403, "The AWS Access Key Id you provided does not exist in our records."),
    "InvalidArgument": (400, "Invalid Argument"),
    "UnresolvableGrantByEmailAddress": (
        400,
        "The e-mail address you provided does not match any account on record.",
    ),
    "AccessControlListNotSupported": (400, "The bucket does not allow ACLs"),
    "InvalidBucketAclWithObjectOwnership": (
        400,
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
    ),
    "OwnershipControlsNotFoundError": (404, "The bucket ownership controls were not found"),
    "NoSuchPublicAccessBlockConfiguration": (404, "The public access block configuration was not found"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidBucketState": (409, "The request is not valid with the current state of the bucket."),
    "InvalidEncryptionAlgorithmError": (
        400,
        "The Encryption request you specified is not valid. Supported value: AES256.",
    ),
    "InvalidDigest": (400, "The Content-MD5 you specified was invalid."),
    "InvalidLocationConstraint": (400, "The specified location constraint is not valid."),
    "InvalidPart": (
        400,
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the "
        "specified entity tag may not match the part's entity tag.",
    ),
    "InvalidPartNumber": (416, "The requested partnumber is not satisfiable"),
    "InvalidPartOrder": (
        400,
        "The list of parts was not in ascending order. Parts must be ordered by part number.",
    ),
    "InvalidURI": (400, "Couldn't parse the specified URI."),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "InvalidRetentionPeriod": (400, "The retention period is not valid."),
    "InvalidStorageClass": (400, "The storage class you specified is not valid"),
    "InvalidTag": (400, "The TagKey you have provided is invalid"),
    "KeyTooLongError": (400, "Your key is too long"),
    "MalformedACLError": (
        400,
        "The XML you provided was not well-formed or did not validate against our published schema.",
    ),
    "MalformedPOSTRequest": (
        400,
        "The body of your POST request is not well-formed multipart/form-data.",
    ),
    "MaxPostPreDataLengthExceeded": (
        400,
        "Your POST request fields preceeding the upload file was too large.",
    ),
    "InvalidPolicyDocument": (
        400,
        "The content of the form does not meet the conditions specified in the policy document.",
    ),
    "MalformedPolicy": (400, "Policies must be valid JSON and the first byte must be '{'"),
    "UnexpectedContent": (400, "This request does not support content"),
    "NoSuchBucketPolicy": (404, "The bucket policy does not exist"),
    "NoSuchCORSConfiguration": (404, "The CORS configuration does not exist"),
    "NoSuchLifecycleConfiguration": (404, "The lifecycle configuration does not exist"),
    "MalformedXML": (
        400,
        "The XML you provided was not well-formed or did not validate against our published schema",
    ),
    "MetadataTooLarge": (400, "Your metadata headers exceed the maximum allowed metadata size"),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "MissingSecurityHeader": (400, "Your request was missing a required header"),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchUpload": (
        404,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
        "aborted or completed.",
    ),
    "NoSuchTagSet": (404, "The TagSet does not exist"),
    "NoSuchObjectLockConfiguration": (404, "The specified object does not have a ObjectLock configuration"),
    "ObjectLockConfigurationNotFoundError": (404, "Object Lock configuration does not exist for this bucket"),
    "NoSuchVersion": (404, "The specified version does not exist."),
    "NotImplemented": (501, "A header you provided implies functionality that is not implemented"),
    "NotModified": (304, "Not Modified"),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold"),
    "RequestHeaderSectionTooLarge": (400, "Your request header section exceeds the maximum allowed size."),
    "RequestTimeTooSkewed": (
        403,
        "The difference between the request time and the server's time is too large.",
    ),
    "RequestTimeout": (
        400,
        "Your socket connection to the server was not read from or written to within the timeout period.",
    ),
    "ServerSideEncryptionConfigurationNotFoundError": (
        404,
        "The server side encryption configuration was not found",
    ),
    # What S3 answers for its key service's refusals (SSE-KMS).
    "KMS.NotFoundException": (400, "Invalid keyId"),
    "KMS.DisabledException": (400, "The key is disabled."),
    "KMS.InvalidCiphertextException": (400, "The ciphertext does not decrypt under this key."),
    "ServiceUnavailable": (503, "Please reduce your request rate."),
    "SignatureDoesNotMatch": (
        403,
        "The request signature we calculated does not match the signature you provided. Check your key and "
        "signing method.",
    ),
    "SlowDown": (503, "Please reduce your request rate."),
    "XAmzContentSHA256Mismatch": (
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
}


class S3Error(Exception):
    """An S3 error response: code, status and message, plus extra XML fields and headers."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **fields: str,
    ) -> None:
        default_status, default_message = CATALOGUE.get(code, (500, code))
        self.code = code
        self.status = status or default_status
        self.message = message or default_message
        self.headers = headers or {}
        self.fields = fields  # extra elements, e.g. BucketName, Key, Condition, ArgumentName
        super().__init__(f"{code}: {self.message}")


def from_domain(exc: DomainError | MetadataError | StorageError) -> S3Error:
    """The S3 error a lower layer's error is answered with."""
    match exc:
        case NoSuchBucketError():
            return S3Error("NoSuchBucket", BucketName=exc.bucket)
        case BucketExistsError():
            code = "BucketAlreadyOwnedByYou" if exc.owned_by_you else "BucketAlreadyExists"
            return S3Error(code, BucketName=exc.bucket)
        case BucketNotEmptyError():
            return S3Error("BucketNotEmpty", BucketName=exc.bucket)
        case NoSuchKeyError():
            return S3Error("NoSuchKey", Key=exc.key)
        case NoSuchVersionError():
            return S3Error("NoSuchVersion", Key=exc.key, VersionId=exc.version_id)
        case PreconditionFailedError():
            return S3Error("PreconditionFailed", Condition=exc.condition)
        case NoSuchUploadError():
            return S3Error("NoSuchUpload", UploadId=exc.upload_id)
        case InvalidPartError():
            return S3Error("InvalidPart", UploadId=exc.upload_id)
        case ObjectLockedError():
            return S3Error("AccessDenied")
        case MetadataError():
            return S3Error("ServiceUnavailable", "Metadata is unavailable, please retry")
        case StorageError():
            return S3Error("ServiceUnavailable", "Storage is unavailable, please retry")
    return S3Error("InternalError")  # a DomainError this mapping does not know yet
