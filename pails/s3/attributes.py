"""GetObjectAttributes: GET /bucket/key?attributes with ``x-amz-object-attributes``."""

from __future__ import annotations

import json

from pails.errors import S3Error
from pails.protocol import checksums as ck
from pails.protocol import xml
from pails.protocol.dates import http_date
from pails.s3 import encryption
from pails.s3.objects import locate, version_header
from pails.s3.permissions import require_object
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine
from pails.storage.records import ObjectVersion

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000


def _wanted(req: S3Request) -> set[str]:
    raw = req.headers.get("x-amz-object-attributes", "")
    wanted = {a.strip() for a in raw.split(",") if a.strip()}
    if not wanted:
        raise S3Error("InvalidArgument", "The x-amz-object-attributes header specifying the attributes to be "
                      "retrieved is either missing or empty", ArgumentName="x-amz-object-attributes")
    for name in wanted:
        if name not in ATTRIBUTES:
            raise S3Error("InvalidArgument", "Invalid attribute name specified.",
                          ArgumentName="x-amz-object-attributes", ArgumentValue=name[:256])
    return wanted


def _int_header(req: S3Request, name: str, default: int, low: int, high: int) -> int:
    raw = req.headers.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if not low <= value <= high:
        raise S3Error("InvalidArgument", f"{name} must be an integer between {low} and {high}",
                      ArgumentName=name, ArgumentValue=raw[:64])
    return value


def _checksum_xml(checksums: dict[str, str]) -> str:
    return "".join(xml.element(f"Checksum{alg}", value) for alg, value in checksums.items())


def _parts(obj: ObjectVersion) -> list[tuple[int, int, dict[str, str]]]:
    """(part number, size, checksums) of a multipart object, from its manifest
    entries ``[blob_id, size, ...]``: an int after the size is the part
    number (else the position), an object holds the part's checksums."""
    out = []
    for i, entry in enumerate(json.loads(obj.manifest or "[]"), 1):
        number, sums = i, {}
        for extra in entry[2:]:
            if isinstance(extra, int):
                number = extra
            elif isinstance(extra, dict):
                sums = extra
        out.append((number, int(entry[1]), sums))
    return out


def _object_parts(obj: ObjectVersion, max_parts: int, marker: int) -> str:
    parts = _parts(obj)
    after = [p for p in parts if p[0] > marker]
    page, truncated = after[:max_parts], len(after) > max_parts
    inner = xml.element("PartsCount", len(parts))
    inner += xml.element("PartNumberMarker", marker)
    if page:
        inner += xml.element("NextPartNumberMarker", page[-1][0])
    inner += xml.element("MaxParts", max_parts) + xml.element("IsTruncated", "true" if truncated else "false")
    for number, size, sums in page:
        inner += f"<Part>{xml.element('PartNumber', number)}{xml.element('Size', size)}{_checksum_xml(sums)}</Part>"
    return f"<ObjectParts>{inner}</ObjectParts>"


async def get_object_attributes(engine: Engine, req: S3Request) -> Response:
    wanted = _wanted(req)
    max_parts = _int_header(req, "x-amz-max-parts", MAX_PARTS, 0, MAX_PARTS)
    marker = _int_header(req, "x-amz-part-number-marker", 0, 0, 2**31 - 1)
    bucket, obj = await locate(engine, req)
    # AWS asks for both: s3:GetObject(Version)Attributes and s3:GetObject(Version).
    require_object(req, obj, "READ")
    require_object(req, obj, "READ", action="s3:GetObject" if "versionId" not in req.query else "s3:GetObjectVersion")
    encryption.for_read(req, obj)  # an SSE-C object needs its key, as for GET
    inner = ""
    if "ETag" in wanted:
        inner += xml.element("ETag", obj.etag.strip('"'))
    if "Checksum" in wanted and obj.checksums:
        sums, kind = ck.stored(obj.checksums)
        if sums:
            inner += f"<Checksum>{_checksum_xml(sums)}{xml.element('ChecksumType', kind)}</Checksum>"
    if "ObjectParts" in wanted and obj.manifest:
        inner += _object_parts(obj, max_parts, marker)
    if "StorageClass" in wanted:
        inner += xml.element("StorageClass", obj.storage_class)
    if "ObjectSize" in wanted:
        inner += xml.element("ObjectSize", obj.size)
    response = Response.xml(xml.document("GetObjectAttributesResponse", inner))
    response.headers.append(("Last-Modified", http_date(obj.last_modified)))
    response.headers.extend(version_header(bucket, obj.version_id))
    return response
