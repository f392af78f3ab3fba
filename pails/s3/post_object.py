"""PostObject: browser-based uploads with an HTML form (multipart/form-data).

The form's fields come first (small: at most ``MAX_PRE_DATA`` bytes of body
before the file's content), then the ``file`` field, whose content streams
straight into the object write path (``objects.put_object`` with the form
fields standing in for request headers).  Fields after the file are ignored,
as AWS does.  The route is unsigned: the form carries its own signature,
checked here (``pails.access.post_policy``) before any file byte is read.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit

from pails.access import post_policy
from pails.errors import S3Error
from pails.protocol import header_values, xml
from pails.protocol.multipart_form import (
    Data,
    End,
    Event,
    MultipartParser,
    Part,
    PartEnd,
    boundary_from_content_type,
    malformed,
)
from pails.s3 import objects
from pails.s3.permissions import get_bucket
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine

MAX_PRE_DATA = 20 * 1024  # form data and boundaries before the file content (AWS: 20 KB)
MAX_OBJECT_SIZE = 5 * 1024**3
_DRAIN_AFTER_FILE = 64 * 1024  # fields after the file are read away up to this much, then the connection closes
# Form fields that become the request headers of the underlying PutObject.
_HEADER_FIELDS = frozenset({"content-type", "cache-control", "content-disposition", "content-encoding",
                            "content-language", "expires", "x-amz-storage-class",
                            "x-amz-website-redirect-location"})
_HEADER_PREFIXES = ("x-amz-meta-", "x-amz-grant-", "x-amz-checksum-", "x-amz-object-lock-",
                    "x-amz-server-side-encryption")
_SUCCESS_STATUSES = {"200": 200, "201": 201, "204": 204}


class _FormReader:
    """Pulls multipart events out of the request body as they are needed."""

    def __init__(self, chunks: AsyncIterator[bytes], parser: MultipartParser) -> None:
        self._chunks = chunks
        self._parser = parser
        self._events: deque[Event] = deque()
        self._eof = False
        self.received = 0

    async def next(self) -> Event | None:
        while not self._events:
            if self._eof:
                return None
            try:
                data = await anext(self._chunks)
            except StopAsyncIteration:
                self._eof = True
                self._events.extend(self._parser.close())
                continue
            self.received += len(data)
            self._events.extend(self._parser.feed(data))
        return self._events.popleft()

    async def drain(self, limit: int) -> None:
        """Read away (unparsed) what is left of the body, up to ``limit`` more
        bytes, so the connection can serve the next request."""
        start = self.received
        while not self._eof and self.received - start <= limit:
            try:
                data = await anext(self._chunks)
            except (StopAsyncIteration, S3Error):
                self._eof = True
                return
            self.received += len(data)


class _FileBody:
    """The ``file`` field's content as a request body for ``ingest.receive``,
    with the policy's content-length-range enforced as it streams."""

    declared_length: int | None = None

    def __init__(self, reader: _FormReader, min_size: int, max_size: int) -> None:
        self._reader = reader
        self._min = min_size
        self._max = max_size
        self.size = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            event = await self._reader.next()
            if isinstance(event, Data):
                self.size += len(event.data)
                if self.size > self._max:
                    raise post_policy.too_large(self._max)
                yield event.data
            elif isinstance(event, PartEnd):
                break
            else:  # the parser ends every part before anything else
                raise malformed("the file field does not end")
        if self.size < self._min:
            raise post_policy.too_small(self.size, self._min)

    async def read_all(self, limit: int) -> bytes:
        raise S3Error("InternalError")

    def trailers(self) -> dict[str, str]:
        return {}


async def post_object(engine: Engine, req: S3Request) -> Response:
    assert req.bucket is not None
    await get_bucket(engine, req)  # NoSuchBucket before any body byte is read
    boundary = boundary_from_content_type(req.headers.get("content-type", ""))
    if boundary is None:
        raise S3Error("PreconditionFailed", Condition="Bucket POST must be of the enclosure-type multipart/form-data")
    reader = _FormReader(req.body.chunks(), MultipartParser(boundary))
    try:
        response = await _post(engine, req, reader)
    except S3Error:
        await reader.drain(_DRAIN_AFTER_FILE)  # a small refused form keeps its connection
        raise
    await reader.drain(_DRAIN_AFTER_FILE)
    return response


async def _post(engine: Engine, req: S3Request, reader: _FormReader) -> Response:
    assert req.bucket is not None

    # The fields before the file: names lower-cased, repeated ones joined by commas.
    fields: dict[str, str] = {}
    file_part: Part | None = None
    current: str | None = None
    data_start = 0
    value = bytearray()
    while file_part is None:
        event = await reader.next()
        if event is None or isinstance(event, End):
            raise S3Error("IncorrectNumberOfFilesInPostRequest")
        if isinstance(event, Part):
            if event.data_offset > MAX_PRE_DATA:
                raise S3Error("MaxPostPreDataLengthExceeded")
            name = event.name.lower()
            if name == "file":
                file_part = event
                break
            current = name
            data_start = event.data_offset
            value.clear()
        elif isinstance(event, Data):
            value += event.data
            if data_start + len(value) > MAX_PRE_DATA:
                raise S3Error("MaxPostPreDataLengthExceeded")
        elif isinstance(event, PartEnd) and current is not None:
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                raise S3Error("InvalidArgument", "Form field values must be UTF-8.",
                              ArgumentName=current) from None
            fields[current] = f"{fields[current]},{text}" if current in fields else text
            current = None

    filename = _basename(file_part.filename or "")
    fields = {n: (v.replace("${filename}", filename) if n not in _NO_SUBSTITUTION else v)
              for n, v in fields.items()}
    for name in ("success_action_redirect", "redirect"):
        if name in fields:  # becomes the Location header
            header_values.check(name, fields[name])
    key = fields.get("key")
    if key is None:
        raise S3Error("InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, please "
                      "check the order of the fields.", ArgumentName="key", ArgumentValue="")
    if not key:
        raise S3Error("InvalidArgument", "User key must have a length greater than 0.", ArgumentName="key",
                      ArgumentValue="")

    # authenticate_form is pure: the user is read first, by the access key the form names.
    named_key = fields.get("awsaccesskeyid") or _v4_access_key(fields.get("x-amz-credential"))
    named_user = await engine.principal(named_key) if named_key else None

    def lookup_secret(access_key: str) -> str | None:
        return named_user.secret_key if named_user is not None and access_key == named_key else None

    access_key = post_policy.authenticate_form(fields, lookup_secret)
    user = await engine.principal(access_key) if access_key else None
    if access_key and user is None:  # removed in between
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=access_key)
    policy = None
    if access_key:
        policy = post_policy.parse_policy(fields["policy"])
        post_policy.check_form(policy, fields, req.bucket, time.time())
    limit = post_policy.max_length(policy)
    max_size = MAX_OBJECT_SIZE if limit is None else min(limit, MAX_OBJECT_SIZE)
    file_body = _FileBody(reader, post_policy.min_length(policy), max_size)

    put = S3Request("PUT", req.bucket, key, {}, _put_headers(fields), user, file_body, req.request_id,
                    "v4" if "x-amz-signature" in fields else ("v2" if access_key else "anonymous"))
    result = await objects.put_object(engine, put, form=True)
    return _success(req, key, fields, result)


_NO_SUBSTITUTION = frozenset({"policy", "signature", "x-amz-signature", "awsaccesskeyid", "x-amz-credential",
                              "x-amz-algorithm", "x-amz-date"})


def _basename(filename: str) -> str:
    """Only what follows the last slash or backslash, as AWS documents."""
    return filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]


def _put_headers(fields: dict[str, str]) -> dict[str, str]:
    headers = {"transfer-encoding": "chunked"}  # the file's length is known only at its end
    for name, value in fields.items():
        if name in _HEADER_FIELDS or name.startswith(_HEADER_PREFIXES):
            headers[name] = value
    if "acl" in fields:
        headers["x-amz-acl"] = fields["acl"]
    if "tagging" in fields:
        headers["x-amz-tagging"] = _tagging_query(fields["tagging"])
    return headers


def _tagging_query(document: str) -> str:
    """The form's ``tagging`` XML (a ``<Tagging><TagSet>`` document) as the
    URL-query form the ``x-amz-tagging`` header uses."""
    root = xml.parse(document.encode("utf-8"), "MalformedXML")
    if root.tag != "Tagging":
        raise S3Error("MalformedXML")
    pairs = []
    for tag_set in root:
        if tag_set.tag != "TagSet":
            raise S3Error("MalformedXML")
        for tag in tag_set:
            k = tag.find("Key")
            v = tag.find("Value")
            if tag.tag != "Tag" or k is None:
                raise S3Error("MalformedXML")
            pairs.append(f"{quote(k.text or '', safe='')}={quote((v.text if v is not None else '') or '', safe='')}")
    return "&".join(pairs)


def _location(req: S3Request, key: str) -> str:
    host = req.headers.get("host", "localhost")
    proto = req.headers.get("x-forwarded-proto", "http").split(",")[0].strip() or "http"
    assert req.bucket is not None
    if host.lower().startswith(req.bucket.lower() + "."):
        return f"{proto}://{host}/{quote(key, safe='/~')}"
    return f"{proto}://{host}/{quote(req.bucket, safe='')}/{quote(key, safe='/~')}"


def _success(req: S3Request, key: str, fields: dict[str, str], put: Response) -> Response:
    assert req.bucket is not None
    etag = next((v for n, v in put.headers if n == "ETag"), "")
    location = _location(req, key)
    headers = [(n, v) for n, v in put.headers if n.lower() != "location"]
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect:
        parts = urlsplit(redirect)
        if parts.scheme in ("http", "https") and parts.netloc:
            query = (f"bucket={quote(req.bucket, safe='')}&key={quote(key, safe='')}"
                     f"&etag={quote(etag, safe='')}")
            sep = "&" if parts.query else "?"
            target = redirect.split("#", 1)[0] + sep + query
            return Response(303, [*headers, ("Location", target)])
    status = _SUCCESS_STATUSES.get(fields.get("success_action_status", "").strip(), 204)
    headers.append(("Location", location))
    if status == 201:
        body = (f"{xml.XML_DECL}<PostResponse>{xml.element('Location', location)}"
                f"{xml.element('Bucket', req.bucket)}{xml.element('Key', key)}{xml.element('ETag', etag)}"
                "</PostResponse>").encode()
        return Response(201, [*headers, ("Content-Type", "application/xml")], body)
    return Response(status, headers)


def _v4_access_key(credential: str | None) -> str | None:
    """The access key of a SigV4 credential (``AKID/date/region/s3/aws4_request``)."""
    return credential.strip().rsplit("/", 4)[0] if credential else None
