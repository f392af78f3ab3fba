"""Receiving an object body: small ones in memory (they go inline into the
metadata row), large ones streamed to a data file, hashed as they arrive."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pails.errors import S3Error
from pails.protocol import checksums as ck
from pails.s3 import quota
from pails.s3.request import S3Request
from pails.storage.blobs import BlobWriter
from pails.storage.crypto import Piece
from pails.storage.engine import Engine

# Hash and write in worker threads once a body is this large: hashlib and
# os.write release the GIL, so large uploads use a second core.
_OFFLOAD_AT = 1024 * 1024
# Bytes a lane may have queued before receiving waits for it (per upload:
# the memory an upload holds, whatever its size).
_LANE_HIGH = 2 * 1024 * 1024
_LANE_LOW = 1024 * 1024


class _Lane:
    """A thread that applies ``work`` to the chunks of one body, in order.

    The event loop only queues chunks; it is woken when the thread has caught
    up after falling behind (``_LANE_HIGH``), not once per chunk.  The first
    error stops the work and is raised by ``finish``."""

    def __init__(self, work: Callable[[Sequence[bytes]], None], loop: asyncio.AbstractEventLoop) -> None:
        self._work = work
        self._loop = loop
        self._queue: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued = 0
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._done: asyncio.Future[None] = loop.create_future()
        threading.Thread(target=self._run, name="pails-ingest", daemon=True).start()

    async def put(self, chunk: bytes) -> None:
        await self.put_many([chunk])

    async def put_many(self, chunks: list[bytes]) -> None:
        if self._error is not None:  # stop receiving a body that cannot be stored
            raise self._error
        size = sum(len(c) for c in chunks)
        waiter = None
        with self._lock:
            self._queued += size
            if self._queued > _LANE_HIGH:
                waiter = self._waiter = self._loop.create_future()
        self._queue.put(chunks)
        if waiter is not None:
            await waiter

    async def finish(self) -> None:
        self._queue.put(None)
        await self._done
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            chunks = self._queue.get()
            if chunks is None:
                self._loop.call_soon_threadsafe(_resolve, self._done)
                return
            if self._error is None:
                try:
                    self._work(chunks)
                except BaseException as exc:  # noqa: BLE001 - raised by finish()
                    self._error = exc
            with self._lock:
                self._queued -= sum(len(c) for c in chunks)
                waiter = self._waiter
                if waiter is not None and (self._queued <= _LANE_LOW or self._error is not None):
                    self._waiter = None
                    self._loop.call_soon_threadsafe(_resolve, waiter)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


@dataclass(slots=True)
class Ingested:
    size: int
    md5_hex: str
    inline: bytes | None
    writer: BlobWriter | None
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm -> b64, verified
    piece: Piece | None = None  # encrypted: the key material (``inline`` and the data file hold ciphertext)


def expected_md5(req: S3Request) -> bytes | None:
    value = req.headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise S3Error("InvalidDigest") from exc
    if len(digest) != 16:
        raise S3Error("InvalidDigest")
    return digest


def requested_checksums(req: S3Request) -> tuple[dict[str, str], list[str]]:
    """(algorithm -> b64 value sent in a header, algorithms whose value comes
    in a trailer).  At most one flexible checksum per request, as AWS."""
    given: dict[str, str] = {}
    for name, value in req.headers.items():
        if name.startswith("x-amz-checksum-") and name not in ("x-amz-checksum-type", "x-amz-checksum-algorithm",
                                                               "x-amz-checksum-mode"):
            alg = ck.algorithm_for_header(name)
            if alg is None:
                raise S3Error("InvalidRequest", f"Unsupported checksum header {name}")
            ck.check_value(alg, value.strip())
            given[alg] = value.strip()
    trailing: list[str] = []
    trailer = req.headers.get("x-amz-trailer")
    if trailer:
        for name in trailer.split(","):
            alg = ck.algorithm_for_header(name.strip().lower())
            if alg is None:
                raise S3Error("InvalidRequest", f"Unsupported trailer {name.strip()}")
            trailing.append(alg)
    if len(given) + len(trailing) > 1:
        raise S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types "
                                        "are not allowed.")
    declared = req.headers.get("x-amz-sdk-checksum-algorithm")
    if declared and not given and not trailing:
        raise S3Error("InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but no corresponding "
                                        "x-amz-checksum-* or x-amz-trailer headers were found.")
    return given, trailing


async def receive(engine: Engine, req: S3Request, *, allow_inline: bool = True,
                  compute: tuple[str, ...] = (), piece: Piece | None = None) -> Ingested:
    """``compute``: algorithms to checksum besides the ones the request sends
    (a multipart upload's algorithm for a part sent without one).  ``piece``:
    encrypt with this key material (hashes and checksums cover the plaintext).
    Without ``allow_inline`` there is always a data file, even for an empty body."""
    md5_expected = expected_md5(req)
    given, trailing = requested_checksums(req)
    # Before any body byte is read: a body that would take the disk's reserve is refused now.
    engine.admit(req.body.declared_length, inline=allow_inline)
    # A new version of a versioned bucket is one more object; a part is none; an unversioned write may replace
    # one (the commit decides).
    bucket = req.bucket_record
    await quota.admit(engine, req, req.body.declared_length,
                      allow_inline and bucket is not None and bucket.versioning == "Enabled")
    hashers = [ck.new_checksum(a) for a in (*given, *trailing)]
    hashers += [ck.new_checksum(a) for a in compute if a not in given and a not in trailing]
    inline_max = engine.settings.inline_max if allow_inline else -1
    md5 = hashlib.md5()
    held: list[bytes] = []
    held_size = 0
    writer: BlobWriter | None = None
    pending: list[bytes] = []
    pending_size = 0
    lanes: tuple[_Lane, _Lane] | None = None
    try:
        async for chunk in req.body.chunks():
            if lanes is not None:
                await lanes[0].put(chunk)
                await lanes[1].put(chunk)
                continue
            if writer is None:
                held.append(chunk)
                held_size += len(chunk)
                if held_size > inline_max:
                    writer = await engine.create_blob()
                    writer.extra_hashes = hashers  # type: ignore[assignment]
                    if piece is not None:
                        writer.sealer = piece.sealer()
                    pending, pending_size, held = held, held_size, []
            else:
                pending.append(chunk)
                pending_size += len(chunk)
            if pending_size >= _OFFLOAD_AT and writer is not None:
                # A large body: from now on one thread hashes and another
                # writes, each at its own pace, while this loop receives.
                loop = asyncio.get_running_loop()
                lanes = (_Lane(writer.hash_many, loop), _Lane(writer.store_many, loop))
                for lane in lanes:
                    await lane.put_many(pending)
                pending, pending_size = [], 0
        if lanes is not None:
            await asyncio.gather(lanes[0].finish(), lanes[1].finish())
            lanes = None
        if writer is None and not allow_inline:  # an empty body
            writer = await engine.create_blob()
            if piece is not None:
                writer.sealer = piece.sealer()
        if writer is not None and pending:
            writer.write_many(pending)
        if writer is not None and writer.sealer is not None:
            writer.sealer.finish()  # the tag is known now, for the metadata row
            writer.sealer = None
    except BaseException:
        if lanes is not None:  # let the threads finish with the file before removing it
            await asyncio.gather(lanes[0].finish(), lanes[1].finish(), return_exceptions=True)
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        data = b"".join(held)
        md5.update(data)
        for h in hashers:
            h.update(data)
        result = Ingested(len(data), md5.hexdigest(), piece.encrypt_all(data) if piece is not None else data, None,
                          piece=piece)
    else:
        result = Ingested(writer.size, writer.md5.hexdigest(), None, writer, piece=piece)
    try:
        if md5_expected is not None and md5_expected.hex() != result.md5_hex:
            raise S3Error("BadDigest")
        trailers = req.body.trailers()
        for h in hashers:
            alg = h.algorithm
            sent = given.get(alg)
            if sent is None and alg not in trailing:  # computed for the server's own use
                result.checksums[alg] = h.b64digest()
                continue
            if sent is None:
                sent = trailers.get(ck.header_name(alg))
                if sent is None:
                    raise S3Error("InvalidRequest", f"The trailer {ck.header_name(alg)} was declared but "
                                                    "not sent.")
                ck.check_value(alg, sent, trailer=True)
            computed = h.b64digest()
            if sent != computed:
                raise S3Error("BadDigest", f"The {alg} you specified did not match the calculated checksum.")
            result.checksums[alg] = computed
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return result
