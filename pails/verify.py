"""``pails verify``: read every stored object version back and compare it with
the checksums stored with it (bit rot, lost or truncated data files).

What is checked, per version (delete markers have no data):

- every data file exists and has the size its metadata says (inline bodies:
  their length);
- single-part objects: the MD5 of the content against the ETag;
- multipart objects: each part's MD5, folded as the ETag was made (MD5 of
  the part MD5s, or for appended objects the chained form), against the ETag;
  each part's own flexible checksum where the manifest keeps one;
- flexible checksums (``checksums``): a FULL_OBJECT value (and any value of a
  single-part object) against the whole content; a COMPOSITE value against
  the part checksums;
- SSE-S3 and SSE-KMS pieces: decrypted with the server's keys, their HMAC
  tag checked, then the plaintext as above;
- SSE-C: the customer's key is never stored, so only presence and sizes
  (counted as "unverifiable").

Streaming: 1 MiB at a time, one page of metadata rows in memory."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pails.protocol import checksums as ck
from pails.protocol import sse
from pails.s3.encryption import RECORD_KEY
from pails.storage.crypto import KEYS_DIR, IntegrityError, KeyRing, Opener, Piece, UnwrapError
from pails.storage.scrub_rows import StoredVersion, VersionSource

CHUNK = 1024 * 1024


@dataclass
class Problem:
    bucket: str
    key: str
    version_id: str
    kind: str  # "corrupt", "missing" or "unverifiable"
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"bucket": self.bucket, "key": self.key, "version_id": self.version_id, "problem": self.kind,
                "detail": self.detail}


@dataclass
class Summary:
    versions: int = 0
    bytes: int = 0
    ok: int = 0
    corrupt: int = 0
    missing: int = 0
    unverifiable: int = 0  # present, but the content could not be checked (SSE-C)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.corrupt or self.missing)


class _Missing(Exception):
    pass


class _Corrupt(Exception):
    pass


class Verifier:
    def __init__(self, data_dir: str, source: VersionSource) -> None:
        self.data_dir = data_dir
        self.source = source
        self.keys_dir = os.path.join(data_dir, KEYS_DIR)
        self._keys: dict[str, bytes | None] = {}

    def run(self, bucket: str | None, report: Callable[[Problem], None]) -> Summary:
        summary = Summary()
        for v in self.source.versions(bucket):
            if v.delete_marker:
                continue
            summary.versions += 1
            summary.bytes += v.size
            try:
                note = self.check(v)
            except _Missing as exc:
                if not self.source.still_refers(v):  # deleted (and collected) while we looked
                    summary.versions -= 1
                    summary.bytes -= v.size
                    continue
                summary.missing += 1
                report(Problem(v.bucket, v.key, v.version_id, "missing", str(exc)))
                continue
            except _Corrupt as exc:
                summary.corrupt += 1
                report(Problem(v.bucket, v.key, v.version_id, "corrupt", str(exc)))
                continue
            if note:
                summary.unverifiable += 1
                report(Problem(v.bucket, v.key, v.version_id, "unverifiable", note))
            else:
                summary.ok += 1
        return summary

    # --- one version ---------------------------------------------------------------------------------------------
    def check(self, v: StoredVersion) -> str | None:
        """Raise _Missing or _Corrupt; return why the content could not be
        checked (None: it was)."""
        rec = json.loads(v.headers).get(RECORD_KEY) if RECORD_KEY in v.headers else None
        algorithm = rec.get("a") if rec else None
        wrapping: bytes | None = None
        opaque = algorithm == sse.SSE_C
        if rec and not opaque:
            wrapping = self._wrapping_key(rec)
        sums, kind = ck.stored(v.checksums)
        if v.manifest:
            entries = [(e[0], e[1], e) for e in json.loads(v.manifest)]
        elif v.blob_id or v.inline is not None:
            entries = [(v.blob_id, v.size, [v.blob_id, v.size, None, rec.get("p") if rec else None])]
        else:  # an empty object
            if v.size:
                raise _Missing(f"no data for {v.size} bytes")
            return None
        whole = {alg: ck.new_checksum(alg) for alg, value in sums.items()
                 if "-" not in value and (kind == "FULL_OBJECT" or not v.manifest)}
        whole_md5 = hashlib.md5()
        part_md5s: list[bytes] = []
        part_sums: dict[str, list[str]] = {}
        for blob_id, size, entry in entries:
            piece_text = next((e for e in entry[2:] if isinstance(e, str)), None)
            part_ck = next((e for e in entry[2:] if isinstance(e, dict)), {})
            opener = None
            if piece_text is not None and not opaque:
                if wrapping is None:
                    raise _Corrupt("the object's encryption key is missing from the data directory")
                try:
                    opener = Opener(Piece.decode(piece_text, wrapping), 0, verify=True)
                except UnwrapError as exc:
                    raise _Corrupt(f"the data key does not open: {exc}") from None
            md5 = hashlib.md5()
            hashes = [ck.new_checksum(alg) for alg in part_ck]
            n = 0
            for chunk in self._read(v, blob_id, size):
                n += len(chunk)
                if opaque:
                    continue
                if opener is not None:
                    chunk = opener.update(chunk)
                md5.update(chunk)
                whole_md5.update(chunk)
                for h in hashes:
                    h.update(chunk)
                for h in whole.values():
                    h.update(chunk)
            if n != size:
                raise _Corrupt(f"{_where(blob_id)} holds {n} bytes, its metadata says {size}")
            if opaque:
                continue
            if opener is not None:
                try:
                    opener.finish()
                except IntegrityError:
                    raise _Corrupt(f"{_where(blob_id)} does not match its encryption integrity tag") from None
            part_md5s.append(md5.digest())
            for h in hashes:
                value = part_ck[h.algorithm]
                if h.b64digest() != value:
                    raise _Corrupt(f"{_where(blob_id)}: {h.algorithm} {h.b64digest()}, stored {value}")
                part_sums.setdefault(h.algorithm, []).append(value)
        if opaque:
            return "SSE-C: the customer key is not stored; data present with the right sizes, content not checked"
        etag = v.etag.strip('"')
        if v.manifest:
            expected = _folded_etag([e for _b, _s, e in entries], part_md5s)
            if etag != expected:
                raise _Corrupt(f"ETag {etag}, the parts make {expected}")
        elif "-" not in etag and etag != whole_md5.hexdigest():
            raise _Corrupt(f"MD5 {whole_md5.hexdigest()}, the ETag says {etag}")
        for alg, h in whole.items():
            if h.b64digest() != sums[alg]:
                raise _Corrupt(f"{alg} {h.b64digest()}, stored {sums[alg]}")
        for alg, value in sums.items():
            if "-" in value and len(part_sums.get(alg, ())) == len(entries):
                made = ck.composite(alg, part_sums[alg])
                if made != value:
                    raise _Corrupt(f"{alg} {value}, the parts make {made}")
        return None

    def _read(self, v: StoredVersion, blob_id: str | None, size: int) -> Iterator[bytes]:
        if blob_id is None:
            if v.inline is None:
                raise _Missing("no inline body")
            yield v.inline
            return
        fd = -1
        for path in (_final(self.data_dir, blob_id), os.path.join(self.data_dir, "tmp", blob_id),
                     _final(self.data_dir, blob_id)):  # renamed from tmp meanwhile: look again
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                break
            except FileNotFoundError:
                continue
        if fd < 0:
            raise _Missing(f"data file {blob_id} is missing")
        try:
            # Reads past the expected end find a file that grew (a size check, not a bigger buffer).
            while data := os.read(fd, CHUNK):
                yield data
        finally:
            os.close(fd)

    def _wrapping_key(self, rec: dict[str, Any]) -> bytes | None:
        """The server key an SSE-S3/KMS object was wrapped with, read (never
        created: a missing key is a finding)."""
        if rec.get("a") == sse.SSE_S3:
            name = "sse-s3"
        else:
            name = "kms-" + hashlib.sha256((rec.get("k") or sse.DEFAULT_KMS_KEY).encode()).hexdigest()
        if name not in self._keys:
            try:
                self._keys[name] = KeyRing._read(os.path.join(self.keys_dir, name + ".key"))
            except (OSError, ValueError, KeyError):
                self._keys[name] = None
        return self._keys[name]


def _final(data_dir: str, blob_id: str) -> str:
    return os.path.join(data_dir, "blobs", blob_id[:2], blob_id)


def _where(blob_id: str | None) -> str:
    return f"data file {blob_id}" if blob_id else "the inline body"


def _folded_etag(entries: list[list[Any]], md5s: list[bytes]) -> str:
    """The ETag a manifest's parts make: CompleteMultipartUpload's MD5 of the
    part MD5s over the leading entries that are parts (they carry a part
    number), then one chained MD5 per appended entry (pails.s3.append)."""
    parts = 0
    while parts < len(entries) and len(entries[parts]) > 2 and type(entries[parts][2]) is int:
        parts += 1
    if parts:
        h = hashlib.md5(b"".join(md5s[:parts])).digest()
    else:
        h, parts = md5s[0], 1
    for digest in md5s[parts:]:
        h = hashlib.md5(h + digest).digest()
    return f"{h.hex()}-{len(entries)}"
