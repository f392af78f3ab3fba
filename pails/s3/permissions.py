"""Access decisions for handlers: look a bucket up and check an ACL grant."""

from __future__ import annotations

from pails.access import acl as acls
from pails.errors import S3Error
from pails.s3.request import S3Request
from pails.storage.engine import Engine
from pails.storage.records import Bucket, ObjectVersion


def get_bucket(engine: Engine, req: S3Request) -> Bucket:
    assert req.bucket is not None
    bucket = engine.meta.get_bucket(req.bucket)
    if bucket is None:
        raise S3Error("NoSuchBucket", BucketName=req.bucket)
    expected_owner = req.headers.get("x-amz-expected-bucket-owner")
    if expected_owner is not None and expected_owner != bucket.owner_id:
        raise S3Error("AccessDenied")
    return bucket


def bucket_allows(req: S3Request, bucket: Bucket, permission: str) -> bool:
    return acls.allowed(acls.Acl.from_json(bucket.acl), req.principal_id, permission)


def require_bucket(req: S3Request, bucket: Bucket, permission: str) -> None:
    if not bucket_allows(req, bucket, permission):
        raise S3Error("AccessDenied")


def require_owner(req: S3Request, bucket: Bucket) -> None:
    if req.principal_id != bucket.owner_id:
        raise S3Error("AccessDenied")


def require_object(req: S3Request, obj: ObjectVersion, permission: str) -> None:
    if not acls.allowed(acls.Acl.from_json(obj.acl), req.principal_id, permission):
        raise S3Error("AccessDenied")


def require_user(req: S3Request) -> None:
    if req.user is None:
        raise S3Error("AccessDenied")


def acl_from_request(engine: Engine, req: S3Request, owner_id: str, owner_name: str,
                     bucket: Bucket | None = None) -> acls.Acl:
    """The ACL a new bucket or object gets from x-amz-acl / x-amz-grant-*
    (private when neither is sent)."""
    bucket_owner_name = ""
    if bucket is not None and bucket.owner_id != owner_id:
        u = engine.meta.get_user_by_id(bucket.owner_id)
        bucket_owner_name = u.display_name if u else ""
    acl = acls.acl_from_request_headers(
        req.headers, owner_id, owner_name, engine_resolve_email(engine), engine_resolve_id(engine),
        bucket_owner_id=bucket.owner_id if bucket else None, bucket_owner_display_name=bucket_owner_name)
    return acl or acls.canned_acl("private", owner_id, owner_name)


def engine_resolve_email(engine: Engine) -> acls.ResolveEmail:
    def resolve(email: str) -> tuple[str, str] | None:
        u = engine.meta.get_user_by_email(email)
        return (u.canonical_id, u.display_name) if u else None
    return resolve


def engine_resolve_id(engine: Engine) -> acls.ResolveId:
    def resolve(canonical_id: str) -> str | None:
        u = engine.meta.get_user_by_id(canonical_id)
        return u.display_name if u else None
    return resolve
