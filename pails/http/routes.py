"""Every S3 operation, named once, with what it reads from the URL.

A request is matched on (what the URL addresses, method, sub-resource): the
sub-resource is the first query parameter of the request that is one of
``SUBRESOURCES``.  A route with a ``header`` is chosen over the one without
when the request carries that header (PUT + ``x-amz-copy-source`` is
CopyObject, not PutObject).  A known sub-resource with no route here is answered
``NotImplemented``; other query parameters never select an operation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from pails.http import health
from pails.s3 import (
    acl,
    attributes,
    bucket_logging,
    buckets,
    copy,
    cors,
    encryption,
    lifecycle,
    listing,
    multidelete,
    multipart,
    notification,
    object_lock,
    objects,
    ownership,
    part_copy,
    policy,
    public_access,
    rename,
    tagging,
)
from pails.s3.post_object import post_object
from pails.s3.request import Response, S3Request
from pails.s3.select.handler import select_object_content
from pails.storage.engine import Engine
from pails.website import bucket_api as website

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
    header: str | None = None  # chosen over the route without one when the request carries this header


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
    Route("PutBucketVersioning", Target.BUCKET, "PUT", "versioning", buckets.put_bucket_versioning),
    Route("GetBucketAcl", Target.BUCKET, "GET", "acl", acl.get_bucket_acl),
    Route("PutBucketAcl", Target.BUCKET, "PUT", "acl", acl.put_bucket_acl),
    Route("DeleteObjects", Target.BUCKET, "POST", "delete", multidelete.delete_objects),
    Route("PostObject", Target.BUCKET, "POST", None, post_object, signed=False),  # the form carries its signature
    Route("GetBucketTagging", Target.BUCKET, "GET", "tagging", tagging.get_bucket_tagging),
    Route("PutBucketTagging", Target.BUCKET, "PUT", "tagging", tagging.put_bucket_tagging),
    Route("DeleteBucketTagging", Target.BUCKET, "DELETE", "tagging", tagging.delete_bucket_tagging),
    # objects
    Route("PutObject", Target.OBJECT, "PUT", None, objects.put_object),
    Route("GetObject", Target.OBJECT, "GET", None, objects.get_object),
    Route("HeadObject", Target.OBJECT, "HEAD", None, objects.head_object),
    Route("DeleteObject", Target.OBJECT, "DELETE", None, objects.delete_object),
    Route("GetObjectAcl", Target.OBJECT, "GET", "acl", acl.get_object_acl),
    Route("PutObjectAcl", Target.OBJECT, "PUT", "acl", acl.put_object_acl),
    Route("CopyObject", Target.OBJECT, "PUT", None, copy.copy_object, header="x-amz-copy-source"),
    Route("GetObjectTagging", Target.OBJECT, "GET", "tagging", tagging.get_object_tagging),
    Route("PutObjectTagging", Target.OBJECT, "PUT", "tagging", tagging.put_object_tagging),
    Route("DeleteObjectTagging", Target.OBJECT, "DELETE", "tagging", tagging.delete_object_tagging),
    Route("GetObjectAttributes", Target.OBJECT, "GET", "attributes", attributes.get_object_attributes),
    Route("SelectObjectContent", Target.OBJECT, "POST", "select", select_object_content),
    Route("RenameObject", Target.OBJECT, "PUT", "renameObject", rename.rename_object),
    # multipart uploads
    Route("CreateMultipartUpload", Target.OBJECT, "POST", "uploads", multipart.create_multipart_upload),
    Route("UploadPart", Target.OBJECT, "PUT", "uploadId", multipart.upload_part),
    Route("UploadPartCopy", Target.OBJECT, "PUT", "uploadId", part_copy.upload_part_copy, header="x-amz-copy-source"),
    Route("CompleteMultipartUpload", Target.OBJECT, "POST", "uploadId", multipart.complete_multipart_upload),
    Route("AbortMultipartUpload", Target.OBJECT, "DELETE", "uploadId", multipart.abort_multipart_upload),
    Route("ListParts", Target.OBJECT, "GET", "uploadId", multipart.list_parts),
    Route("ListMultipartUploads", Target.BUCKET, "GET", "uploads", multipart.list_multipart_uploads),
    # bucket policies
    Route("GetBucketPolicy", Target.BUCKET, "GET", "policy", policy.get_bucket_policy),
    Route("PutBucketPolicy", Target.BUCKET, "PUT", "policy", policy.put_bucket_policy),
    Route("DeleteBucketPolicy", Target.BUCKET, "DELETE", "policy", policy.delete_bucket_policy),
    Route("GetBucketPolicyStatus", Target.BUCKET, "GET", "policyStatus", policy.get_bucket_policy_status),
    Route("GetPublicAccessBlock", Target.BUCKET, "GET", "publicAccessBlock", public_access.get_public_access_block),
    Route("PutPublicAccessBlock", Target.BUCKET, "PUT", "publicAccessBlock", public_access.put_public_access_block),
    Route("DeletePublicAccessBlock", Target.BUCKET, "DELETE", "publicAccessBlock",
          public_access.delete_public_access_block),
    # default encryption
    Route("GetBucketEncryption", Target.BUCKET, "GET", "encryption", encryption.get_bucket_encryption),
    Route("PutBucketEncryption", Target.BUCKET, "PUT", "encryption", encryption.put_bucket_encryption),
    Route("DeleteBucketEncryption", Target.BUCKET, "DELETE", "encryption", encryption.delete_bucket_encryption),
    # lifecycle (applied by pails.jobs.lifecycle)
    Route("GetBucketLifecycleConfiguration", Target.BUCKET, "GET", "lifecycle",
          lifecycle.get_bucket_lifecycle_configuration),
    Route("PutBucketLifecycleConfiguration", Target.BUCKET, "PUT", "lifecycle",
          lifecycle.put_bucket_lifecycle_configuration),
    Route("DeleteBucketLifecycle", Target.BUCKET, "DELETE", "lifecycle", lifecycle.delete_bucket_lifecycle),
    # object ownership
    Route("GetBucketOwnershipControls", Target.BUCKET, "GET", "ownershipControls",
          ownership.get_bucket_ownership_controls),
    Route("PutBucketOwnershipControls", Target.BUCKET, "PUT", "ownershipControls",
          ownership.put_bucket_ownership_controls),
    Route("DeleteBucketOwnershipControls", Target.BUCKET, "DELETE", "ownershipControls",
          ownership.delete_bucket_ownership_controls),
    # object lock
    Route("GetObjectLockConfiguration", Target.BUCKET, "GET", "object-lock", object_lock.get_object_lock_configuration),
    Route("PutObjectLockConfiguration", Target.BUCKET, "PUT", "object-lock", object_lock.put_object_lock_configuration),
    Route("GetObjectRetention", Target.OBJECT, "GET", "retention", object_lock.get_object_retention),
    Route("PutObjectRetention", Target.OBJECT, "PUT", "retention", object_lock.put_object_retention),
    Route("GetObjectLegalHold", Target.OBJECT, "GET", "legal-hold", object_lock.get_object_legal_hold),
    Route("PutObjectLegalHold", Target.OBJECT, "PUT", "legal-hold", object_lock.put_object_legal_hold),
    # CORS
    Route("GetBucketCors", Target.BUCKET, "GET", "cors", cors.get_bucket_cors),
    Route("PutBucketCors", Target.BUCKET, "PUT", "cors", cors.put_bucket_cors),
    Route("DeleteBucketCors", Target.BUCKET, "DELETE", "cors", cors.delete_bucket_cors),
    Route("PreflightBucket", Target.BUCKET, "OPTIONS", None, cors.preflight, signed=False),
    Route("PreflightObject", Target.OBJECT, "OPTIONS", None, cors.preflight, signed=False),
    # static website configuration (served by pails.website.endpoint)
    Route("GetBucketWebsite", Target.BUCKET, "GET", "website", website.get_bucket_website),
    Route("PutBucketWebsite", Target.BUCKET, "PUT", "website", website.put_bucket_website),
    Route("DeleteBucketWebsite", Target.BUCKET, "DELETE", "website", website.delete_bucket_website),
    # server access logging (POST: Ceph RGW's flush call)
    Route("GetBucketLogging", Target.BUCKET, "GET", "logging", bucket_logging.get_bucket_logging),
    Route("PutBucketLogging", Target.BUCKET, "PUT", "logging", bucket_logging.put_bucket_logging),
    Route("PostBucketLogging", Target.BUCKET, "POST", "logging", bucket_logging.post_bucket_logging),
    # bucket notifications (delivered by pails.jobs.notify)
    Route("GetBucketNotificationConfiguration", Target.BUCKET, "GET", "notification",
          notification.get_bucket_notification_configuration),
    Route("PutBucketNotificationConfiguration", Target.BUCKET, "PUT", "notification",
          notification.put_bucket_notification_configuration),
    Route("ListenBucketNotification", Target.BUCKET, "GET", "events", notification.listen_bucket_notification),
)

# Fixed paths (GET and HEAD) answered before S3 addressing and without
# authentication: MinIO's health checks (the bucket name "minio" is reserved).
PATHS: dict[str, Callable[[Engine], Awaitable[Response]]] = {
    "/minio/health/live": health.live,
    "/minio/health/ready": health.ready,
}

# The IAM action a bucket policy sees for each route, where it is not "s3:" + the route's name.
IAM_ACTIONS: dict[str, str] = {
    "ListBuckets": "s3:ListAllMyBuckets",
    "HeadBucket": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "HeadObject": "s3:GetObject",
    "SelectObjectContent": "s3:GetObject",
    "CopyObject": "s3:PutObject",
    "PostObject": "s3:PutObject",
    "DeleteObjects": "s3:DeleteObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "ListParts": "s3:ListMultipartUploadParts",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetBucketPolicyStatus": "s3:GetBucketPolicyStatus",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetBucketOwnershipControls": "s3:GetBucketOwnershipControls",
    "PutBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS",
    "PreflightBucket": "s3:GetObject",
    "PreflightObject": "s3:GetObject",
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
}


# The IAM action when the request names a version (``?versionId=``), as AWS
# authorizes it ("Actions, resources, and condition keys for Amazon S3"): a
# policy that allows s3:DeleteObject but not s3:DeleteObjectVersion lets a
# principal add delete markers but never remove a version for good.
VERSION_ACTIONS: dict[str, str] = {
    "GetObject": "s3:GetObjectVersion",
    "HeadObject": "s3:GetObjectVersion",
    "DeleteObject": "s3:DeleteObjectVersion",
    "GetObjectAcl": "s3:GetObjectVersionAcl",
    "PutObjectAcl": "s3:PutObjectVersionAcl",
    "GetObjectTagging": "s3:GetObjectVersionTagging",
    "PutObjectTagging": "s3:PutObjectVersionTagging",
    "DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "GetObjectAttributes": "s3:GetObjectVersionAttributes",
}


def iam_action(route: Route, query: Mapping[str, str] | None = None) -> str:
    if query and "versionId" in query:
        action = VERSION_ACTIONS.get(route.name)
        if action is not None:
            return action
    return IAM_ACTIONS.get(route.name) or "s3:" + route.name


# The query parameters that name a sub-resource (an operation) in S3.
SUBRESOURCES = frozenset({
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
    "inventory", "legal-hold", "lifecycle", "location", "logging", "metrics", "notification", "object-lock",
    "ownershipControls", "partNumber", "policy", "policyStatus", "publicAccessBlock", "replication",
    "requestPayment", "restore", "retention", "select", "tagging", "torrent", "uploadId", "uploads",
    "versioning", "versions", "website", "renameObject",
    "session",  # S3 Express CreateSession: NotImplemented, never a listing
    "events",  # MinIO's ListenBucketNotification
})
# Sub-resources that qualify a data operation rather than name a new one.
_QUALIFIERS = frozenset({"partNumber", "versionId"})

_TABLE: dict[tuple[Target, str, str | None, str | None], Route] = {
    (r.target, r.method, r.subresource, r.header): r for r in ROUTES}
# (target, method, sub-resource) -> the headers that select another route there
_BY_HEADER: dict[tuple[Target, str, str | None], tuple[str, ...]] = {}
for _r in ROUTES:
    if _r.header is not None:
        _BY_HEADER[(_r.target, _r.method, _r.subresource)] = (
            *_BY_HEADER.get((_r.target, _r.method, _r.subresource), ()), _r.header)


def subresource(query: dict[str, str]) -> str | None:
    """The sub-resource a query names (the first one, as S3 reads it), if any."""
    for name in query:
        if name in SUBRESOURCES and name not in _QUALIFIERS:
            return name
    return None


def match(target: Target, method: str, query: dict[str, str],
          headers: dict[str, str] | None = None) -> Route | None:
    """The route for a request, or None: the caller answers NotImplemented
    when the request names a sub-resource, MethodNotAllowed otherwise.
    ``headers`` (lower-case names) select header routes."""
    sub = None if method in ("HEAD", "OPTIONS") else subresource(query)
    if headers:
        for name in _BY_HEADER.get((target, method, sub), ()):
            if name in headers:
                return _TABLE[(target, method, sub, name)]
    return _TABLE.get((target, method, sub, None))
