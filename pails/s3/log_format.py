"""Server access log records: AWS's record format (Standard) and Ceph RGW's
short Journal form, one line each.  Pure: no I/O.

Standard (AWS, "Amazon S3 server access log format"), space separated,
``-`` for an empty field:

    bucket-owner bucket [time] remote-ip requester request-id operation key
    "request-uri" status error-code bytes-sent object-size total-time
    turn-around-time "referer" "user-agent" version-id host-id
    signature-version cipher-suite authentication-type host-header
    tls-version access-point-arn acl-required

Journal (RGW): ``bucket-owner bucket [time] operation key object-size
version-id etag``, for the requests that change objects, when they succeed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote

# The operation field: REST.<method>.<what>, named as AWS (and RGW, where
# s3-tests reads RGW's name) names each route.
_OPERATIONS: dict[str, str] = {
    "ListBuckets": "REST.GET.SERVICE",
    "CreateBucket": "REST.PUT.BUCKET",
    "HeadBucket": "REST.HEAD.BUCKET",
    "DeleteBucket": "REST.DELETE.BUCKET",
    "ListObjects": "REST.GET.BUCKET",
    "ListObjectVersions": "REST.GET.BUCKETVERSIONS",
    "GetBucketLocation": "REST.GET.LOCATION",
    "DeleteObjects": "REST.POST.DELETE_MULTI_OBJECT",
    "PostObject": "REST.POST.OBJECT",
    "GetBucketTagging": "REST.GET.TAGGING",
    "PutBucketTagging": "REST.PUT.TAGGING",
    "DeleteBucketTagging": "REST.DELETE.TAGGING",
    "PutObject": "REST.PUT.OBJECT",
    "GetObject": "REST.GET.OBJECT",
    "HeadObject": "REST.HEAD.OBJECT",
    "DeleteObject": "REST.DELETE.OBJECT",
    "CopyObject": "REST.PUT.OBJECT",
    "GetObjectTagging": "REST.GET.OBJECT_TAGGING",
    "PutObjectTagging": "REST.PUT.OBJECT_TAGGING",
    "DeleteObjectTagging": "REST.DELETE.OBJECT_TAGGING",
    "CreateMultipartUpload": "REST.POST.UPLOADS",
    "UploadPart": "REST.PUT.PART",
    "UploadPartCopy": "REST.COPY.PART",
    "CompleteMultipartUpload": "REST.POST.UPLOAD",
    "AbortMultipartUpload": "REST.DELETE.UPLOAD",
    "ListParts": "REST.GET.UPLOAD",
    "ListMultipartUploads": "REST.GET.UPLOADS",
    "GetBucketPolicy": "REST.GET.BUCKETPOLICY",
    "PutBucketPolicy": "REST.PUT.BUCKETPOLICY",
    "DeleteBucketPolicy": "REST.DELETE.BUCKETPOLICY",
    "GetBucketLogging": "REST.GET.LOGGING_STATUS",
    "PutBucketLogging": "REST.PUT.LOGGING_STATUS",
    "PostBucketLogging": "REST.POST.LOGGING_STATUS",
    "GetObjectLockConfiguration": "REST.GET.OBJECT_LOCK_CONFIGURATION",
    "PutObjectLockConfiguration": "REST.PUT.OBJECT_LOCK_CONFIGURATION",
    "PreflightBucket": "REST.OPTIONS.PREFLIGHT",
    "PreflightObject": "REST.OPTIONS.PREFLIGHT",
}
# Sub-resources whose operation is named after them ("acl" -> REST.GET.ACL).
_SUBRESOURCE_NAMES = {"legal-hold": "LEGAL_HOLD", "object-lock": "OBJECT_LOCK_CONFIGURATION",
                      "publicAccessBlock": "PUBLIC_ACCESS_BLOCK", "policyStatus": "BUCKETPOLICYSTATUS",
                      "ownershipControls": "OWNERSHIP_CONTROLS"}

# The Journal's operations: those that change an object (or its metadata).
JOURNAL_ROUTES = frozenset({
    "PutObject", "CopyObject", "PostObject", "CompleteMultipartUpload", "DeleteObject", "DeleteObjects",
    "PutObjectAcl", "PutObjectTagging", "DeleteObjectTagging", "PutObjectLegalHold", "PutObjectRetention",
})


def operation(route: str, method: str, subresource: str | None) -> str:
    """The operation field of a request that was routed to ``route`` (or
    unrouted: ``route`` empty)."""
    name = _OPERATIONS.get(route)
    if name is not None:
        return name
    what = _SUBRESOURCE_NAMES.get(subresource or "", (subresource or "").upper())
    return f"REST.{method}.{what or 'UNKNOWN'}"


def timestamp(when: float) -> str:
    """[06/Feb/2019:00:00:38 +0000]"""
    return time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime(when))


def _field(value: str | int | None) -> str:
    if value is None or value == "":
        return "-"
    text = str(value)
    return text.replace(" ", "%20") if " " in text else text


def _quoted(value: str) -> str:
    if not value:
        return "-"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def log_key(key: str | None) -> str:
    """The key field: URL-encoded, as AWS writes it."""
    return quote(key, safe="/") if key else "-"


@dataclass(slots=True)
class Entry:
    """What one record says, gathered from a request (pails.http.request_log)."""

    bucket_owner: str
    bucket: str
    time: float
    remote_ip: str
    requester: str  # canonical id, an IAM user's ARN, or "" (anonymous)
    request_id: str
    operation: str
    key: str | None
    method: str
    uri: str
    status: int
    error_code: str | None
    bytes_sent: int
    object_size: int | None
    total_ms: int
    turnaround_ms: int
    referer: str
    user_agent: str
    version_id: str | None
    signature_version: str  # "SigV4", "SigV2", ""
    auth_type: str  # "AuthHeader", "QueryString", ""
    host: str
    acl_required: bool
    etag: str | None = None


def standard_line(e: Entry) -> str:
    fields = [
        _field(e.bucket_owner), _field(e.bucket), timestamp(e.time), _field(e.remote_ip), _field(e.requester),
        _field(e.request_id), e.operation, log_key(e.key), _quoted(f"{e.method} {e.uri} HTTP/1.1"),
        str(e.status), _field(e.error_code), _field(e.bytes_sent or None), _field(e.object_size),
        str(e.total_ms), str(e.turnaround_ms), _quoted(e.referer), _quoted(e.user_agent), _field(e.version_id),
        _field(e.request_id), _field(e.signature_version), "-", _field(e.auth_type), _field(e.host), "-", "-",
        "Yes" if e.acl_required else "-",
    ]
    return " ".join(fields)


def journal_line(e: Entry) -> str:
    fields = [_field(e.bucket_owner), _field(e.bucket), timestamp(e.time), e.operation, log_key(e.key),
              _field(e.object_size), _field(e.version_id), _field((e.etag or "").strip('"'))]
    return " ".join(fields)
