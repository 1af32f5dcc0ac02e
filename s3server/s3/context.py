"""What a handler sees (S3Request) and what it returns (S3Response): plain values, no transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from s3server.config import Settings
    from s3server.identity.keys import Keys
    from s3server.identity.model import Credential
    from s3server.identity.store import IdentityStore
    from s3server.metadata.base import Bucket, MetadataStore
    from s3server.saga import Saga
    from s3server.storage.base import BlobStore


class Body(Protocol):
    """A request body, decoded (aws-chunked framing removed) but not yet verified."""

    # Decoded length when known up front (Content-Length or x-amz-decoded-content-length).
    length: int | None
    # The hex SHA-256 the signer committed to, which the bytes must match; None when unsigned.
    expected_sha256: str | None
    # Trailing headers of an aws-chunked body (x-amz-checksum-*), filled once chunks() is exhausted.
    trailers: dict[str, str]

    def chunks(self) -> AsyncIterator[bytes]:
        """The body in pieces as they arrive; raises S3Error when the transport's framing is bad."""

    async def read(self, limit: int) -> bytes:
        """The whole (small) body, verified against expected_sha256; over `limit` → S3Error."""


@dataclass(slots=True)
class Services:
    """The layers a handler may call."""

    settings: Settings
    meta: MetadataStore
    blobs: BlobStore
    saga: Saga
    identity: IdentityStore
    keys: Keys  # what data keys are sealed under (encryption at rest)


@dataclass(slots=True)
class S3Request:
    operation: str
    method: str
    bucket: str | None
    key: str | None
    query: Mapping[str, str]  # decoded; first value wins
    headers: Mapping[str, str]  # case-insensitive
    request_id: str
    principal: Credential | None
    body: Body
    services: Services
    resource: str  # "/bucket/key" for error bodies
    secure: bool = False  # arrived over TLS (SSE-C keys may only travel so)
    # The bucket's row as the gateway read it for this request's access decision (None: not read,
    # or no such bucket); require_bucket answers from it instead of reading the row again.
    bucket_row: Bucket | None = None
    # The gateway's access check for a second resource an operation touches (a copy's source, each
    # key of DeleteObjects): (IAM action, bucket, key) → raises AccessDenied. None: no check.
    authorize: Callable[[str, str, str | None], Awaitable[None]] | None = None
    # The same check for a principal the handler itself established (PostObject's form signer), with
    # extra policy condition keys: (principal, IAM action, bucket, key, condition keys).
    authorize_as: (
        Callable[[Credential | None, str, str, str | None, Mapping[str, str]], Awaitable[None]] | None
    ) = None
    # Who signed a browser-upload form's policy (PostObject): fields → the signer, None if anonymous;
    # raises the S3 error of a bad signature.
    form_signer: Callable[[Mapping[str, str]], Awaitable[Credential | None]] | None = None


@dataclass(slots=True)
class S3Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | AsyncIterator[bytes] | None = None
    # Content-Length for a streamed body, or for HEAD where there is no body.
    length: int | None = None


Handler = Callable[[S3Request], Awaitable[S3Response]]
