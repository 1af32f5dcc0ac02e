"""What the metadata stores (and the saga above them) raise: a failed backend, or a domain outcome.

Domain errors say what did not hold, in the store's terms, with the names and values the answer
needs; they know nothing of HTTP. `s3server.s3.errors.from_domain` is the one place that turns them
into S3 errors of the catalogue.

    Exception
     ├── MetadataError                  the backend failed (unreachable, I/O): answered 503
     └── DomainError                    the request cannot be done as asked
          ├── NoSuchBucketError         (bucket)
          ├── BucketExistsError         (bucket, owned_by_you)
          ├── BucketNotEmptyError       (bucket)
          ├── NoSuchKeyError            (key)
          ├── NoSuchVersionError        (key, version_id)
          ├── PreconditionFailedError   (condition: the header that did not hold)
          ├── NoSuchUploadError         (upload_id)
          ├── InvalidPartError          (upload_id)
          ├── ObjectLockedError         (key, version_id): retention or legal hold forbids it
          └── KmsAliasExistsError       (alias): another key of the key service has it
"""

from __future__ import annotations

__all__ = [
    "BucketExistsError",
    "BucketNotEmptyError",
    "DomainError",
    "InvalidPartError",
    "KmsAliasExistsError",
    "MetadataError",
    "NoSuchBucketError",
    "NoSuchKeyError",
    "NoSuchUploadError",
    "NoSuchVersionError",
    "ObjectLockedError",
    "PreconditionFailedError",
]


class MetadataError(Exception):
    """The metadata backend could not do its job; the caller answers ServiceUnavailable."""


class DomainError(Exception):
    """A store refused the operation for a reason of the data, not of the backend."""


class NoSuchBucketError(DomainError):
    def __init__(self, bucket: str) -> None:
        super().__init__(f"no bucket {bucket!r}")
        self.bucket = bucket


class BucketExistsError(DomainError):
    """The bucket name is taken, by the one asking (`owned_by_you`) or by someone else."""

    def __init__(self, bucket: str, owned_by_you: bool) -> None:
        super().__init__(f"bucket {bucket!r} exists" + (" (yours)" if owned_by_you else ""))
        self.bucket = bucket
        self.owned_by_you = owned_by_you


class BucketNotEmptyError(DomainError):
    def __init__(self, bucket: str) -> None:
        super().__init__(f"bucket {bucket!r} is not empty")
        self.bucket = bucket


class NoSuchKeyError(DomainError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no key {key!r}")
        self.key = key


class NoSuchVersionError(DomainError):
    def __init__(self, key: str, version_id: str) -> None:
        super().__init__(f"no version {version_id!r} of {key!r}")
        self.key = key
        self.version_id = version_id


class PreconditionFailedError(DomainError):
    """A write or delete condition did not hold; `condition` is the header that named it."""

    def __init__(self, condition: str) -> None:
        super().__init__(f"{condition} does not hold")
        self.condition = condition


class NoSuchUploadError(DomainError):
    def __init__(self, upload_id: str) -> None:
        super().__init__(f"no upload {upload_id!r}")
        self.upload_id = upload_id


class InvalidPartError(DomainError):
    """A part the completion names is no longer one of the upload's parts."""

    def __init__(self, upload_id: str) -> None:
        super().__init__(f"a part of upload {upload_id!r} is gone")
        self.upload_id = upload_id


class ObjectLockedError(DomainError):
    """The version is under retention or legal hold, so it may not be removed (or its retention
    shortened) as asked."""

    def __init__(self, key: str, version_id: str) -> None:
        super().__init__(f"{key!r} version {version_id!r} is locked")
        self.key = key
        self.version_id = version_id


class KmsAliasExistsError(DomainError):
    def __init__(self, alias: str) -> None:
        super().__init__(f"a key already has the alias {alias!r}")
        self.alias = alias
