"""Streaming decoder for ``Content-Encoding: aws-chunked`` request bodies.

Handles the three streaming modes S3 accepts:

* ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``: every chunk carries a signature chained
  to the previous one (the first to the request's seed signature);
* ``...-PAYLOAD-TRAILER``: the same, followed by trailing headers and a trailer signature;
* ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``: plain chunks followed by unsigned trailers.

Sans-IO and streaming: payload bytes are handed back as zero-copy slices of the
input while each chunk is hashed incrementally, so a multi-MiB chunk is never
buffered.  Every malformation surfaces as an ``S3Error``.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from pails.access.request import ChunkSigningContext
from pails.errors import S3Error

MAX_LINE = 4096  # longest chunk-header or trailer line accepted
MAX_CHUNK_SIZE = 1 << 40
MAX_TRAILER_BYTES = 16384
_EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_HEX_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_HEX_SIG = re.compile(rb"[0-9a-fA-F]{64}")
_TRAILER_SIGNATURE = b"x-amz-trailer-signature"

_HEADER, _DATA, _DATA_CR, _DATA_LF, _TRAILER, _DONE = range(6)


def _malformed(message: str) -> S3Error:
    return S3Error("InvalidArgument", message, ArgumentName="x-amz-content-sha256")


class AwsChunkedDecoder:
    """Incremental aws-chunked decoder; see the module docstring.

    ``feed`` returns payload pieces that may be ``memoryview`` slices of the
    data passed in: consume them before mutating that buffer.
    ``signed_trailer`` implies ``expect_trailer``.  ``min_chunk_size`` (0 = off; AWS
    uses 8192 for signed chunks) rejects short non-final chunks with InvalidChunkSizeError.
    """

    __slots__ = (
        "_chunk_index",
        "_expect_trailer",
        "_hash",
        "_key",
        "_last_size",
        "_line",
        "_min_chunk",
        "_prefix",
        "_prev",
        "_provided",
        "_remaining",
        "_scope_tail",
        "_signed_trailer",
        "_state",
        "_trailer_bytes",
        "_trailer_hash",
        "_trailer_sig",
        "_trailers",
        "decoded_bytes",
    )

    def __init__(
        self,
        *,
        signing: ChunkSigningContext | None,
        expect_trailer: bool,
        signed_trailer: bool,
        min_chunk_size: int = 0,
    ) -> None:
        if signed_trailer and signing is None:
            raise ValueError("a signed trailer needs a signing context")
        self._key = signing.signing_key if signing else b""
        self._scope_tail = f"{signing.amz_date}\n{signing.scope}\n" if signing else ""
        self._prefix = "AWS4-HMAC-SHA256-PAYLOAD\n" + self._scope_tail if signing else ""
        self._prev = signing.seed_signature if signing else ""
        self._expect_trailer = expect_trailer or signed_trailer
        self._signed_trailer = signed_trailer
        self._min_chunk = min_chunk_size
        self._state = _HEADER
        self._line = bytearray()
        self._remaining = 0
        self._hash: hashlib._Hash | None = None
        self._provided = b""
        self._last_size = -1
        self._chunk_index = 0
        self._trailers: dict[str, str] = {}
        self._trailer_hash = hashlib.sha256() if signed_trailer else None
        self._trailer_sig: bytes | None = None
        self._trailer_bytes = 0
        self.decoded_bytes = 0

    # -- public API ---------------------------------------------------------

    def feed(self, data: bytes | bytearray) -> list[bytes | memoryview]:
        """Consume ``data``; return the payload pieces it completed (possibly none)."""
        if isinstance(data, memoryview):
            data = data.tobytes()
        out: list[bytes | memoryview] = []
        n = len(data)
        pos = 0
        view: memoryview | None = None
        while pos < n:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, n - pos)
                if view is None:
                    view = memoryview(data)
                piece = view[pos : pos + take]
                if self._hash is not None:
                    self._hash.update(piece)
                out.append(piece)
                pos += take
                self.decoded_bytes += take
                self._remaining -= take
                if not self._remaining:
                    self._end_chunk()
                    self._state = _DATA_CR
            elif state == _DATA_CR:
                byte = data[pos]
                pos += 1
                if byte == 13:
                    self._state = _DATA_LF
                elif byte == 10:  # bare LF: tolerated
                    self._state = _HEADER
                else:
                    raise S3Error("IncompleteBody", "Chunk data is not followed by CRLF.")
            elif state == _DATA_LF:
                if data[pos] != 10:
                    raise S3Error("IncompleteBody", "Chunk data is not followed by CRLF.")
                pos += 1
                self._state = _HEADER
            elif state == _DONE:
                if data[pos:].strip(b"\r\n"):
                    raise _malformed("Unexpected data after the final chunk.")
                break
            else:
                line, pos = self._take_line(data, pos, n)
                if line is None:
                    break
                if state == _HEADER:
                    self._on_chunk_header(line)
                else:
                    self._on_trailer_line(line)
        return out

    def finish(self) -> dict[str, str]:
        """Check the body ended properly and return its trailers (lowercase name -> value)."""
        if self._state == _TRAILER:
            # The closing CRLF (and even the last line's CRLF) is optional, as on AWS.
            if self._line:
                line = bytes(self._line)
                self._line.clear()
                self._on_trailer_line(line[:-1] if line.endswith(b"\r") else line)
            if self._state == _TRAILER:
                self._end_trailers()
        if self._state != _DONE:
            raise S3Error("IncompleteBody")
        return self._trailers

    # -- internals ----------------------------------------------------------

    def _take_line(self, data: bytes | bytearray, pos: int, n: int) -> tuple[bytes | None, int]:
        buf = self._line
        limit = MAX_LINE - len(buf)
        idx = data.find(b"\n", pos, pos + limit + 1)
        if idx < 0:
            if n - pos > limit:
                raise _malformed("Chunk header or trailer line too long.")
            buf += data[pos:]
            return None, n
        if buf:
            buf += data[pos:idx]
            line = bytes(buf)
            buf.clear()
        else:
            line = bytes(data[pos:idx])
        if line.endswith(b"\r"):
            line = line[:-1]
        return line, idx + 1

    def _on_chunk_header(self, line: bytes) -> None:
        size_part, _, ext = line.partition(b";")
        size_part = size_part.strip(b" \t")
        if not _HEX_SIZE.fullmatch(size_part):
            raise _malformed("Invalid chunk size.")
        size = int(size_part, 16)
        if size > MAX_CHUNK_SIZE:
            raise _malformed("Chunk size too large.")
        if self._min_chunk and 0 <= self._last_size < self._min_chunk and size:
            raise S3Error(
                "InvalidChunkSizeError", Chunk=str(self._chunk_index), BadChunkSize=str(self._last_size)
            )
        self._last_size = size
        self._chunk_index += 1
        if self._key:
            provided = b""
            for item in ext.split(b";"):
                name, _, value = item.partition(b"=")
                if name.strip() == b"chunk-signature":
                    provided = value.strip()
                    break
            if not _HEX_SIG.fullmatch(provided):
                raise S3Error("SignatureDoesNotMatch", "Missing or malformed chunk-signature.")
            self._provided = provided.lower()
            self._hash = hashlib.sha256()
        self._remaining = size
        if size:
            self._state = _DATA
        else:
            self._end_chunk()
            self._state = _TRAILER

    def _end_chunk(self) -> None:
        if not self._key:
            return
        assert self._hash is not None
        sts = f"{self._prefix}{self._prev}\n{_EMPTY_SHA256}\n{self._hash.hexdigest()}"
        expected = hmac.digest(self._key, sts.encode(), "sha256").hex()
        if not hmac.compare_digest(expected.encode(), self._provided):
            raise S3Error("SignatureDoesNotMatch", "The chunk signature does not match.")
        self._prev = expected
        self._hash = None

    def _on_trailer_line(self, line: bytes) -> None:
        if not line.strip():
            if self._signed_trailer and self._trailer_sig is None and self._trailers:
                return  # some clients put a blank line between the trailers and their signature
            self._end_trailers()
            return
        self._trailer_bytes += len(line) + 1
        if not self._expect_trailer or self._trailer_bytes > MAX_TRAILER_BYTES or len(self._trailers) >= 64:
            raise _malformed("Unexpected or oversized trailing headers.")
        name, sep, value = line.partition(b":")
        name = name.strip().lower()
        if not sep or not name:
            raise _malformed("Malformed trailing header.")
        if name == _TRAILER_SIGNATURE:
            self._trailer_sig = value.strip()
            return
        if self._trailer_sig is not None:
            raise _malformed("Trailing header after the trailer signature.")
        if self._trailer_hash is not None:
            self._trailer_hash.update(line)
            self._trailer_hash.update(b"\n")
        self._trailers[name.decode("latin-1")] = value.strip().decode("latin-1")

    def _end_trailers(self) -> None:
        if self._signed_trailer:
            assert self._trailer_hash is not None
            provided = self._trailer_sig or b""
            sts = (
                f"AWS4-HMAC-SHA256-TRAILER\n{self._scope_tail}{self._prev}\n{self._trailer_hash.hexdigest()}"
            )
            expected = hmac.digest(self._key, sts.encode(), "sha256").hex()
            if not hmac.compare_digest(expected.encode(), provided.lower()):
                raise S3Error("SignatureDoesNotMatch", "The trailer signature does not match.")
        self._state = _DONE
