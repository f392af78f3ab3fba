"""SelectObjectContent (``POST /bucket/key?select&select-type=2``): the
request checked and the query parsed before the 200 goes out; then the
object streams through the scanner a chunk at a time (each step in a thread
of a small pool of its own, so other requests are served meanwhile), its output framed as
event-stream messages: Records, Progress (when asked), Cont (keep-alive),
Stats, End, or an error message when something fails mid-stream."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pails.errors import S3Error
from pails.protocol import xml
from pails.s3 import encryption
from pails.s3.objects import locate
from pails.s3.permissions import require_object
from pails.s3.request import Response, S3Request
from pails.s3.select import config, eventstream, sql
from pails.s3.select.readers import RangeCut
from pails.s3.select.scanner import Scanner
from pails.storage.engine import Engine
from pails.storage.records import ObjectVersion

log = logging.getLogger("pails")

CHUNK = 256 * 1024  # bytes of the object per scanner step
FLUSH = 256 * 1024  # output bytes per Records message (at most; smaller at the end)
KEEPALIVE = 5.0  # seconds without a message before a Cont goes out
PROGRESS_EVERY = 1.0  # seconds between Progress messages, when asked for
# Scanner steps run here, not in the default executor that fsyncs uploads: any
# number of long selects leave the writes' threads free (threads start on first use).
_STEPS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pails-select")


async def _step(steps: Any) -> tuple[str, bool]:
    return await asyncio.get_running_loop().run_in_executor(_STEPS, steps.step)  # type: ignore[no-any-return]


def _object_chunks(engine: Engine, enc: Any, obj: ObjectVersion, first: int, length: int) -> Iterator[bytes]:
    """The object's plaintext bytes [first, first+length), a chunk at a time
    (decrypted as GetObject decrypts: pails.s3.encryption)."""
    if length <= 0:
        return
    if obj.blob_id is None and not obj.manifest:
        data = encryption.plain_inline(engine, enc, obj) if enc is not None else (obj.inline or b"")
        yield data[first:first + length]
        return
    for piece in encryption.file_pieces(engine, enc, obj, first, length):
        blob_id, offset, size = piece[0], piece[1], piece[2]
        opener = piece[3]() if len(piece) > 3 else None
        fd = engine.blobs.open(blob_id)
        try:
            pos, end = offset, offset + size
            while pos < end:
                data = os.pread(fd, min(CHUNK, end - pos), pos)
                if not data:
                    raise OSError(f"data file {blob_id} is shorter than its metadata says")
                pos += len(data)
                yield opener.update(data) if opener is not None else data
            if opener is not None:
                opener.finish()
        finally:
            os.close(fd)


class _Steps:
    """The scanner driven over the object's chunks: ``step()`` -> (output
    text, finished), one chunk (or one decompressed piece of one) per step."""

    def __init__(self, scanner: Scanner, chunks: Iterator[bytes], cut: RangeCut | None) -> None:
        self.scanner = scanner
        self.chunks = chunks
        self.cut = cut
        self.pending: Iterator[str] | None = None
        self.input_done = False

    def step(self) -> tuple[str, bool]:
        s = self.scanner
        while True:
            if self.pending is not None:
                out = next(self.pending, None)
                if out is not None:
                    return out, s.done
                self.pending = None
                if self.input_done or s.done:
                    return "", True
            raw = next(self.chunks, None)
            if raw is None or (self.cut is not None and self.cut.done):
                self.pending = s.outputs(b"", True)
                self.input_done = True
                continue
            scanned = len(raw)
            if self.cut is not None:
                raw = self.cut.feed(raw)
            self.pending = s.outputs(raw, False, scanned)

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()  # the data file closed now, not when the generator is collected


def _scan_range(settings: config.Settings, size: int) -> tuple[int, int, RangeCut | None]:
    """(first byte to read, bytes to read, the cut) for the request's ScanRange."""
    start, end = settings.scan_start, settings.scan_end
    if start is None and end is None:
        return 0, size, None
    if start is None:
        assert end is not None
        start, end = max(size - end, 0), None  # End alone: the last End bytes
    if start >= size:
        return 0, 0, None
    delimiter = (settings.csv.record_delimiter if settings.input_format == "csv" else "\n").encode()
    cut = RangeCut(start, end, delimiter)
    return cut.first_read, size - cut.first_read, cut


async def select_object_content(engine: Engine, req: S3Request) -> Response:
    if req.query.get("select-type") != "2":
        raise S3Error("InvalidArgument", "select-type must be 2.", ArgumentName="select-type",
                      ArgumentValue=req.query.get("select-type", "")[:16])
    _bucket, obj = await locate(engine, req)
    require_object(req, obj, "READ")
    enc = encryption.for_read(req, obj)
    settings = config.parse(await req.body.read_all(xml.MAX_XML_BODY))
    query = sql.parse(settings.expression)
    if settings.input_format == "parquet":
        from pails.s3.select import parquet  # needs pyarrow, an optional extra

        scanner = Scanner(settings, query)
        steps: Any = parquet.Steps(scanner, parquet.ObjectFile(engine, enc, obj))
    else:
        first, length, cut = _scan_range(settings, obj.size)
        scanner = Scanner(settings, query)
        steps = _Steps(scanner, _object_chunks(engine, enc, obj, first, length), cut)
    # The first step before the status goes out: a query naming a column the
    # CSV header lacks is a 400, not a 200 with an error message.
    try:
        out, finished = await _step(steps)
    except BaseException:
        steps.close()
        raise
    return Response(200, [("Content-Type", "application/octet-stream")],
                    stream=_messages(steps, scanner, out, finished, settings.progress, req.request_id))


async def _messages(steps: Any, scanner: Scanner, out: str, finished: bool, progress: bool,
                    request_id: str) -> AsyncIterator[bytes]:
    returned = 0
    pending: list[str] = [out] if out else []
    pending_size = len(out)
    last_sent = last_progress = time.monotonic()
    try:
        while True:
            if pending and (finished or pending_size >= FLUSH):
                payload = "".join(pending).encode()
                pending, pending_size = [], 0
                returned += len(payload)
                yield eventstream.records(payload)
                last_sent = time.monotonic()
            if finished:
                break
            now = time.monotonic()
            if progress and now - last_progress >= PROGRESS_EVERY:
                yield eventstream.progress(scanner.scanned, scanner.processed, returned)
                last_progress = last_sent = now
            elif now - last_sent >= KEEPALIVE:
                yield eventstream.cont()
                last_sent = now
            out, finished = await _step(steps)
            if out:
                pending.append(out)
                pending_size += len(out)
    except Exception as exc:
        if pending:  # the records before the failing one still go out
            yield eventstream.records("".join(pending).encode())
        if isinstance(exc, S3Error):
            yield eventstream.error(exc.code, exc.message)
        else:
            log.exception("select %s failed", request_id)
            yield eventstream.error("InternalError", "We encountered an internal error. Please try again.")
        return
    finally:
        steps.close()
    if progress:
        yield eventstream.progress(scanner.scanned, scanner.processed, returned)
    yield eventstream.stats(scanner.scanned, scanner.processed, returned)
    yield eventstream.end()
