"""Every S3 operation, named once, with what it reads from the URL.

A request is matched on (what the URL addresses, method, sub-resource): the
sub-resource is the first query parameter of the request that is one of
``SUBRESOURCES``.  A known sub-resource with no route here is answered
``NotImplemented``; other query parameters never select an operation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from pails.s3 import acl, buckets, cors, listing, multidelete, objects
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine

Handler = Callable[[Engine, S3Request], Awaitable[Response]]


class Target(Enum):
    SERVICE = "service"  # GET /
    BUCKET = "bucket"  # /bucket
    OBJECT = "object"  # /bucket/key


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    target: Target
    method: str
    subresource: str | None
    handler: Handler
    signed: bool = True  # False: served without authentication (CORS preflight)


ROUTES: tuple[Route, ...] = (
    Route("ListBuckets", Target.SERVICE, "GET", None, buckets.list_buckets),
    # buckets
    Route("CreateBucket", Target.BUCKET, "PUT", None, buckets.create_bucket),
    Route("HeadBucket", Target.BUCKET, "HEAD", None, buckets.head_bucket),
    Route("DeleteBucket", Target.BUCKET, "DELETE", None, buckets.delete_bucket),
    Route("ListObjects", Target.BUCKET, "GET", None, listing.list_objects),  # list-type=2: ListObjectsV2
    Route("ListObjectVersions", Target.BUCKET, "GET", "versions", listing.list_object_versions),
    Route("GetBucketLocation", Target.BUCKET, "GET", "location", buckets.get_bucket_location),
    Route("GetBucketVersioning", Target.BUCKET, "GET", "versioning", buckets.get_bucket_versioning),
    Route("GetBucketAcl", Target.BUCKET, "GET", "acl", acl.get_bucket_acl),
    Route("PutBucketAcl", Target.BUCKET, "PUT", "acl", acl.put_bucket_acl),
    Route("DeleteObjects", Target.BUCKET, "POST", "delete", multidelete.delete_objects),
    # objects
    Route("PutObject", Target.OBJECT, "PUT", None, objects.put_object),
    Route("GetObject", Target.OBJECT, "GET", None, objects.get_object),
    Route("HeadObject", Target.OBJECT, "HEAD", None, objects.head_object),
    Route("DeleteObject", Target.OBJECT, "DELETE", None, objects.delete_object),
    Route("GetObjectAcl", Target.OBJECT, "GET", "acl", acl.get_object_acl),
    Route("PutObjectAcl", Target.OBJECT, "PUT", "acl", acl.put_object_acl),
    # CORS preflight
    Route("PreflightBucket", Target.BUCKET, "OPTIONS", None, cors.preflight, signed=False),
    Route("PreflightObject", Target.OBJECT, "OPTIONS", None, cors.preflight, signed=False),
)

# The query parameters that name a sub-resource (an operation) in S3.
SUBRESOURCES = frozenset({
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
    "inventory", "legal-hold", "lifecycle", "location", "logging", "metrics", "notification", "object-lock",
    "ownershipControls", "partNumber", "policy", "policyStatus", "publicAccessBlock", "replication",
    "requestPayment", "restore", "retention", "select", "tagging", "torrent", "uploadId", "uploads",
    "versioning", "versions", "website", "renameObject",
})
# Sub-resources that qualify a data operation rather than name a new one.
_QUALIFIERS = frozenset({"partNumber", "versionId"})

_TABLE: dict[tuple[Target, str, str | None], Route] = {(r.target, r.method, r.subresource): r for r in ROUTES}


def match(target: Target, method: str, query: dict[str, str]) -> Route | None:
    """The route for a request, or None (the caller answers NotImplemented or
    MethodNotAllowed)."""
    sub = None
    for name in query:
        if name in SUBRESOURCES and name not in _QUALIFIERS:
            sub = name
            break
    if method in ("HEAD", "OPTIONS"):
        sub = None
    return _TABLE.get((target, method, sub))


def is_known_method(target: Target, method: str) -> bool:
    return any(t == target and m == method for (t, m, _s) in _TABLE)
