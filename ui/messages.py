"""S3 and admin API errors in words a person understands, and the console's own API error."""

from __future__ import annotations

from ui.client import S3CallError

THROTTLED = "Too many requests: the server is rate-limiting this key. Wait a moment and try again."

# S3 error codes → what to tell the person; "{message}" is the server's own message.
WORDS: dict[str, str] = {
    "AccessDenied": "You do not have permission to do that with this access key.",
    "InvalidAccessKeyId": "That access key does not exist on this server.",
    "SignatureDoesNotMatch": "The secret key does not match the access key.",
    "NoSuchBucket": "That bucket does not exist (it may have just been deleted).",
    "NoSuchKey": "That object does not exist (it may have just been deleted).",
    "NotFound": "That does not exist (it may have just been deleted).",
    "NoSuchUpload": "The upload was cancelled or has expired.",
    "NoSuchBucketPolicy": "This bucket has no policy.",
    "NoSuchTagSet": "This object has no tags.",
    "BucketAlreadyExists": "A bucket with that name already exists. Bucket names are shared by everyone "
    "on the server; choose another name.",
    "BucketAlreadyOwnedByYou": "You already have a bucket with that name.",
    "BucketNotEmpty": "The bucket is not empty. Delete every object in it first, then delete the bucket.",
    "InvalidBucketName": "That is not a valid bucket name: use 3 to 63 lowercase letters, digits, dots "
    "and hyphens, starting and ending with a letter or digit.",
    "TooManyBuckets": "You have reached the maximum number of buckets.",
    "EntityTooLarge": "The file is larger than the server accepts in one upload.",
    "EntityTooSmall": "A part of the upload was smaller than the 5 MiB minimum.",
    "BadDigest": "The data arrived damaged (its checksum did not match); try again.",
    "InvalidDigest": "The data arrived damaged (its checksum did not match); try again.",
    "IncompleteBody": "The upload was cut off before all of its bytes arrived.",
    "MalformedPolicy": "The server rejected the policy: {message}",
    "MalformedXML": "The server could not read the request: {message}",
    "InvalidArgument": "The server refused a value: {message}",
    "InvalidRequest": "The server refused the request: {message}",
    "SlowDown": THROTTLED,
    "TooManyRequests": THROTTLED,
    "ServiceUnavailable": "The server cannot do that right now ({message}). Nothing was changed; try again "
    "shortly.",
    "NotImplemented": "This server does not support that operation.",
    "InternalError": "The server hit an internal error. Nothing was changed; try again, and check the "
    "server's log if it keeps happening.",
    "UserExists": "A user with that name already exists.",
    "NoSuchUser": "That user does not exist.",
    "NoSuchAccessKey": "That access key does not exist.",
    "ProtectedUser": "The root user cannot be changed or deleted.",
    "InvalidIdentityName": "That name is not valid: {message}",
    "MethodNotAllowed": "The server does not allow that here.",
    "Conflict": "That cannot be done: {message}.",
}


class ApiError(Exception):
    """An answer of the console's JSON API that is not a success: a status and a sentence."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def in_words(err: S3CallError) -> str:
    template = WORDS.get(err.code)
    message = err.message.rstrip(".") if err.message else err.code
    if template is None:
        return f"The server answered {err.status} {err.code}" + (f": {err.message}" if err.message else ".")
    return template.replace("{message}", message)


def status_for(err: S3CallError) -> int:
    """The console's status for an endpoint error: the endpoint's own, or 502 if it was no error status
    (the console's 401 always means its own session ended, never the endpoint's refusal)."""
    if err.status == 401 or not 400 <= err.status < 600:
        return 502
    return err.status


def api_error(err: S3CallError) -> ApiError:
    return ApiError(status_for(err), in_words(err), err.code)
