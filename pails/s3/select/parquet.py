"""Parquet input, where the optional pyarrow is installed (the ``parquet``
extra): the object read as a seekable file (decrypted range by range as
GetObject reads it), a row group batch at a time; each row a dict record."""

from __future__ import annotations

import datetime as dt
import decimal
import io
from typing import Any

from pails.errors import S3Error
from pails.s3 import encryption
from pails.s3.select.scanner import Scanner
from pails.storage.engine import Engine
from pails.storage.records import ObjectVersion

try:
    import pyarrow.parquet as pq
except ImportError:  # pragma: no cover - the extra is installed in tests
    pq = None

BATCH_ROWS = 4096


class ObjectFile(io.RawIOBase):
    """A stored object as a read-only seekable file."""

    def __init__(self, engine: Engine, enc: Any, obj: ObjectVersion) -> None:
        self.engine, self.enc, self.obj = engine, enc, obj
        self.pos = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.obj.size}[whence]
        self.pos = max(base + offset, 0)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.obj.size - self.pos)
        if n <= 0:
            return 0
        data = encryption.read_plain(self.engine, self.enc, self.obj, self.pos, n)
        buffer[:len(data)] = data
        self.pos += len(data)
        self.read_bytes += len(data)
        return len(data)


def _plain(v: Any) -> Any:
    if isinstance(v, dt.datetime) and v.tzinfo is None:
        return v.replace(tzinfo=dt.UTC)
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return dt.datetime(v.year, v.month, v.day, tzinfo=dt.UTC)
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


class Steps:
    def __init__(self, scanner: Scanner, file: ObjectFile) -> None:
        if pq is None:
            raise S3Error("NotImplemented", "Parquet input needs the optional pyarrow package (pails[parquet]).")
        self.scanner = scanner
        self.file = file
        self.batches: Any = None

    def close(self) -> None:
        self.batches = None

    def step(self) -> tuple[str, bool]:
        s = self.scanner
        try:
            if self.batches is None:
                self.batches = pq.ParquetFile(self.file).iter_batches(batch_size=BATCH_ROWS)
            batch = next(self.batches, None)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise S3Error("ParquetParsingError", f"The Parquet object could not be read: {exc}.") from None
        s.scanned = s.processed = self.file.read_bytes
        if batch is None:
            return s.run((), True), True
        rows = [{k: _plain(v) for k, v in row.items()} for row in batch.to_pylist()]
        out = s.run(rows, False)
        return out, s.done
