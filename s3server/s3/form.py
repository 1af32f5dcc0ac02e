"""A streaming multipart/form-data reader for POST Object (RFC 7578).

The text fields before the file are held in memory (AWS caps them at 20 KB); the file field is
streamed out piece by piece, holding back only as many bytes as the closing delimiter could span.
Fields after the file are ignored, as AWS ignores them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import Message

from s3server.s3.errors import S3Error

MAX_PRE_DATA = 20 * 1024  # the fields preceding the file, headers included (AWS's limit)
MAX_BOUNDARY = 70  # RFC 2046
FILE_FIELD = "file"


def malformed() -> S3Error:
    return S3Error("MalformedPOSTRequest")


def form_boundary(content_type: str | None) -> str | None:
    """The boundary of a multipart/form-data Content-Type; None when the body is anything else."""
    if not content_type:
        return None
    msg = Message()
    msg["Content-Type"] = content_type
    if msg.get_content_type() != "multipart/form-data":
        return None
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= MAX_BOUNDARY:
        raise malformed()
    return boundary


def _too_much() -> S3Error:
    return S3Error("MaxPostPreDataLengthExceeded")


@dataclass(frozen=True, slots=True)
class FormFile:
    filename: str
    content_type: str | None


class FormReader:
    """Reads the fields up to the file, then streams the file's bytes; one pass over the body."""

    def __init__(self, chunks: AsyncIterator[bytes], boundary: str) -> None:
        self._chunks = chunks
        # A leading CRLF makes the first delimiter look like every later one.
        self._buf = bytearray(b"\r\n")
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        self._eof = False
        self._pre_data = 0

    async def _fill(self) -> bool:
        """Append the next piece of the body; False at its end."""
        if self._eof:
            return False
        async for chunk in self._chunks:
            if chunk:
                self._buf += chunk
                return True
        self._eof = True
        return False

    async def _find(self, needle: bytes, *, cap: int | None = None) -> int:
        """The index of `needle` in the buffer, reading on as needed; EOF first → malformed."""
        start = 0
        while True:
            index = self._buf.find(needle, start)
            if index >= 0:
                return index
            if cap is not None and len(self._buf) > cap:
                raise _too_much()
            start = max(0, len(self._buf) - len(needle) + 1)
            if not await self._fill():
                raise malformed()

    def _count(self, size: int) -> None:
        self._pre_data += size
        if self._pre_data > MAX_PRE_DATA:
            raise _too_much()

    async def _after_delimiter(self) -> bool:
        """Consume the rest of a delimiter line; False when it was the closing one ("--")."""
        index = await self._find(b"\r\n", cap=MAX_PRE_DATA)
        line = bytes(self._buf[:index])
        del self._buf[: index + 2]
        if line.startswith(b"--"):
            return False
        if line.strip(b" \t"):
            raise malformed()
        return True

    async def _part_headers(self) -> Message:
        remaining = MAX_PRE_DATA - self._pre_data
        while len(self._buf) < 2:
            if not await self._fill():
                raise malformed()
        if self._buf[:2] == b"\r\n":  # a part without headers
            del self._buf[:2]
            return Message()
        index = await self._find(b"\r\n\r\n", cap=remaining)
        self._count(index + 4)
        raw = bytes(self._buf[:index])
        del self._buf[: index + 4]
        msg = Message()
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon:
                raise malformed()
            msg[name.strip()] = value.strip()
        return msg

    async def read_fields(self) -> tuple[dict[str, str], FormFile]:
        """The text fields before the file (names lower-cased, first value kept) and the file part.

        No file field → InvalidArgument, as AWS answers a POST with no upload in it.
        """
        index = await self._find(self._delimiter, cap=MAX_PRE_DATA)
        del self._buf[: index + len(self._delimiter)]
        fields: dict[str, str] = {}
        while await self._after_delimiter():
            headers = await self._part_headers()
            disposition = headers.get("Content-Disposition", "")
            msg = Message()
            msg["Content-Disposition"] = disposition
            name = msg.get_param("name", header="content-disposition")
            if not isinstance(name, str) or not disposition.lower().startswith("form-data"):
                raise malformed()
            lname = name.lower()
            if lname == FILE_FIELD:
                filename = msg.get_filename() or ""
                return fields, FormFile(filename, headers.get("Content-Type"))
            index = await self._find(self._delimiter, cap=MAX_PRE_DATA - self._pre_data)
            self._count(index)
            try:
                value = bytes(self._buf[:index]).decode("utf-8")
            except UnicodeDecodeError:
                raise malformed() from None
            del self._buf[: index + len(self._delimiter)]
            fields.setdefault(lname, value)
        raise S3Error(
            "InvalidArgument",
            "POST requires exactly one file upload per request.",
            ArgumentName=FILE_FIELD,
            ArgumentValue="0",
        )

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive; ends at the delimiter after it (then the rest is drained)."""
        keep = len(self._delimiter) - 1
        while True:
            index = self._buf.find(self._delimiter)
            if index >= 0:
                if index:
                    yield bytes(self._buf[:index])
                del self._buf[:index]
                break
            safe = len(self._buf) - keep
            if safe > 0:
                yield bytes(self._buf[:safe])
                del self._buf[:safe]
            if not await self._fill():
                raise malformed()
        # Whatever follows the file is ignored (as AWS ignores it), but read, so the connection stays usable.
        self._buf.clear()
        while await self._fill():
            self._buf.clear()
