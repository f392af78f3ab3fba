"""The ETag ``pails verify`` recomputes from a manifest's part MD5s must be
the one the writers made: CompleteMultipartUpload's, and the chained one of
appends (after a plain object or after a multipart one)."""

from __future__ import annotations

import hashlib

from pails.s3.append import _chained_etag
from pails.s3.multipart import _multipart_etag
from pails.verify import _folded_etag

PARTS = [b"first part", b"second", b"third piece", b"fourth"]
HEX = [hashlib.md5(p).hexdigest() for p in PARTS]
DIGESTS = [hashlib.md5(p).digest() for p in PARTS]


def test_multipart_etag() -> None:
    entries = [["blob", len(p), n + 1] for n, p in enumerate(PARTS)]
    assert _folded_etag(entries, DIGESTS) == _multipart_etag(HEX).strip('"')
    # a part checksum and key material after the part number change nothing
    entries[0] += [{"CRC32": "AAAAAA=="}, "1:key:iv:mac"]
    assert _folded_etag(entries, DIGESTS) == _multipart_etag(HEX).strip('"')


def test_appended_etag() -> None:
    etag = f'"{HEX[0]}"'
    for n in range(1, len(PARTS)):
        etag = _chained_etag(etag, HEX[n], n + 1)
    entries = [["blob", len(p)] for p in PARTS]
    assert _folded_etag(entries, DIGESTS) == etag.strip('"')


def test_appended_after_multipart_etag() -> None:
    etag = _multipart_etag(HEX[:2])
    etag = _chained_etag(etag, HEX[2], 3)
    etag = _chained_etag(etag, HEX[3], 4)
    entries = [["blob", 1, 1], ["blob", 1, 2], ["blob", 1], ["blob", 1]]
    assert _folded_etag(entries, DIGESTS) == etag.strip('"')
    assert _folded_etag(entries, [DIGESTS[0], DIGESTS[2], DIGESTS[1], DIGESTS[3]]) != etag.strip('"')
