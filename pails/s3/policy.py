"""PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy, GetBucketPolicyStatus.

The policy is kept, as sent, in the bucket's properties; it is parsed (and
cached) when a request is checked against it."""

from __future__ import annotations

from pails.access import acl as acls
from pails.access import policy as policies
from pails.errors import S3Error
from pails.protocol import xml
from pails.s3.permissions import bucket_policy, get_bucket, public_access_block, require_owner
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine

PROP = "policy"
# Put with x-amz-confirm-remove-self-bucket-access: true, the policy binds the
# bucket owner's root too (only the operator may then change it).
SELF_LOCKOUT_PROP = "policy_binds_owner"


async def put_bucket_policy(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    body = await req.body.read_all(policies.MAX_POLICY_BYTES)
    text = body.decode("utf-8", "replace")
    parsed = policies.parse_policy(text, bucket.name)
    if policies.is_public(parsed) and (public_access_block(bucket) or {}).get("BlockPublicPolicy"):
        raise S3Error("AccessDenied", "Access Denied: the public access block forbids a public bucket policy")
    await engine.meta.set_bucket_prop(bucket.id, PROP, text)
    binds_owner = req.headers.get("x-amz-confirm-remove-self-bucket-access", "").lower() == "true"
    if binds_owner or SELF_LOCKOUT_PROP in bucket.props:
        await engine.meta.set_bucket_prop(bucket.id, SELF_LOCKOUT_PROP, True if binds_owner else None)
    return Response(204)


async def get_bucket_policy(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    text = bucket_policy(bucket)
    if text is None:
        raise S3Error("NoSuchBucketPolicy", BucketName=bucket.name)
    return Response(200, [("Content-Type", "application/json")], text.encode())


async def delete_bucket_policy(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    await engine.meta.set_bucket_prop(bucket.id, PROP, None)
    if SELF_LOCKOUT_PROP in bucket.props:
        await engine.meta.set_bucket_prop(bucket.id, SELF_LOCKOUT_PROP, None)
    return Response(204)


async def get_bucket_policy_status(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    text = bucket_policy(bucket)
    acl = acls.Acl.from_json(bucket.acl)
    public = (text is not None and policies.is_public(policies.cached_policy(text, bucket.name))) or \
        any(g.grantee_id in (acls.ALL_USERS, acls.AUTHENTICATED_USERS) for g in acl.grants)
    inner = f"<IsPublic>{'true' if public else 'false'}</IsPublic>"
    return Response.xml(xml.document("PolicyStatus", inner))
