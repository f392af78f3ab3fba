"""Access decisions for handlers: look a bucket up, then combine the
caller's identity policies, the bucket policy and the ACLs as AWS does
(docs/iam.md, "Evaluation"): an explicit Deny anywhere wins; the operator
is allowed everything a Deny does not refuse; an account root is decided by the bucket policy, then
the ACLs (and may be granted more by policies the operator set on it); an
IAM user needs its identity policies or the bucket policy (or a public ACL
grant) to allow within its account, and both sides across accounts."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl

from pails.access import acl as acls
from pails.access import policy as policies
from pails.errors import S3Error
from pails.s3.request import S3Request
from pails.storage.engine import Engine
from pails.storage.records import Bucket, ObjectVersion

# The bucket owner may always manage the policy, so a policy cannot lock them out.
_POLICY_MANAGEMENT = frozenset({"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"})


async def get_bucket(engine: Engine, req: S3Request) -> Bucket:
    assert req.bucket is not None
    bucket = await engine.meta.get_bucket(req.bucket)
    if bucket is None:
        raise S3Error("NoSuchBucket", BucketName=req.bucket)
    expected_owner = req.headers.get("x-amz-expected-bucket-owner")
    if expected_owner is not None and expected_owner != bucket.owner_id:
        raise S3Error("AccessDenied")
    req.bucket_record = bucket
    return bucket


OWNERSHIP_PROP = "ownership"
OWNERSHIP_MODES = ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter")


def bucket_policy(bucket: Bucket) -> str | None:
    if bucket.props in ("", "{}"):
        return None
    return json.loads(bucket.props).get("policy")


PUBLIC_ACCESS_PROP = "public_access_block"
PUBLIC_BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_PUBLIC_GROUPS = (acls.ALL_USERS, acls.AUTHENTICATED_USERS)


def public_access_block(bucket: Bucket | None) -> dict[str, bool] | None:
    if bucket is None or bucket.props in ("", "{}"):
        return None
    return json.loads(bucket.props).get(PUBLIC_ACCESS_PROP)


def _blocks(bucket: Bucket | None, flag: str) -> bool:
    flags = public_access_block(bucket)
    return bool(flags and flags.get(flag))


def acl_is_public(acl: acls.Acl) -> bool:
    return any(g.grantee_id in _PUBLIC_GROUPS for g in acl.grants)


def check_acl_not_blocked(bucket: Bucket | None, acl: acls.Acl) -> None:
    """BlockPublicAcls: refuse to set an ACL that grants to everyone."""
    if acl_is_public(acl) and _blocks(bucket, "BlockPublicAcls"):
        raise S3Error("AccessDenied")


def _acl_allows(acl_json: str, bucket: Bucket | None, principal_id: str | None, permission: str) -> bool:
    acl = acls.Acl.from_json(acl_json)
    if _blocks(bucket, "IgnorePublicAcls") and acl_is_public(acl):
        acl = acls.Acl(acl.owner_id, acl.owner_display_name,
                       tuple(g for g in acl.grants if g.grantee_id not in _PUBLIC_GROUPS))
    return acls.allowed(acl, principal_id, permission)


def ownership_mode(bucket: Bucket | None) -> str | None:
    """The bucket's Object Ownership setting (None: never set, the ACL model)."""
    if bucket is None or bucket.props in ("", "{}"):
        return None
    return json.loads(bucket.props).get(OWNERSHIP_PROP)


def bucket_owner_takes_object(req: S3Request, bucket: Bucket) -> bool:
    """Whether a new object belongs to the bucket owner rather than its writer."""
    mode = ownership_mode(bucket)
    return (req.user is None or mode == "BucketOwnerEnforced"
            or (mode == "BucketOwnerPreferred" and req.headers.get("x-amz-acl") == "bucket-owner-full-control"))


def _context(req: S3Request, obj: ObjectVersion | None) -> dict[str, tuple[str, ...]]:
    """The condition keys a policy may test, lower-cased."""
    h, q = req.headers, req.query
    now = time.time()
    ctx: dict[str, tuple[str, ...]] = {
        "aws:securetransport": ("false",),
        "aws:currenttime": (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),),
        "aws:epochtime": (str(int(now)),),
        "s3:authtype": ("REST-QUERY-STRING" if req.presigned else "REST-HEADER",),
    }
    if req.client_ip:
        ctx["aws:sourceip"] = (req.client_ip,)
    user = req.user
    if user is not None:
        if user.iam_user is not None:
            ctx["aws:username"] = (user.iam_user,)
            ctx["aws:userid"] = (user.iam_user_id,)
        else:
            ctx["aws:username"] = (user.display_name,)
            ctx["aws:userid"] = (user.account_id or user.canonical_id,)
        ctx["aws:principalarn"] = (user.arn,)
        ctx["aws:principalaccount"] = (user.account_id,)
        ctx["aws:principaltype"] = ("Account" if user.iam_user is None else
                                    "AssumedRole" if user.role_session is not None else "User",)
        if user.principal_tags or user.token_issued is not None:
            ctx.update(policies.session_keys(user.principal_tags, user.token_issued))
    if req.signature_version in ("v2", "v4"):
        ctx["s3:signatureversion"] = ("AWS" if req.signature_version == "v2" else "AWS4-HMAC-SHA256",)
    for name, header in (("aws:referer", "referer"), ("aws:useragent", "user-agent")):
        if header in h:
            ctx[name] = (h[header],)
    for name in ("prefix", "delimiter", "max-keys"):
        if name in q:
            ctx[f"s3:{name}"] = (q[name],)
    if "versionId" in q:
        ctx["s3:versionid"] = (q["versionId"],)
    for name, value in h.items():
        if name.startswith("x-amz-") and not name.startswith("x-amz-meta-"):
            ctx[f"s3:{name}"] = (value,)
    if "x-amz-tagging" in h:
        tags = parse_qsl(h["x-amz-tagging"], keep_blank_values=True)
        ctx["s3:requestobjecttagkeys"] = tuple(k for k, _ in tags)
        for k, v in tags:
            ctx[f"s3:requestobjecttag/{k.lower()}"] = (v,)
    if obj is not None:
        stored = json.loads(obj.headers).get("x-amz-tagging")
        for k, v in parse_qsl(stored or "", keep_blank_values=True):
            ctx[f"s3:existingobjecttag/{k.lower()}"] = (v,)
    return ctx


def _who(req: S3Request) -> policies.Principal:
    user = req.user
    if user is None:
        return policies.Principal(None)
    return policies.Principal(user.canonical_id, user.display_name if user.iam_user is None else "", user.arn,
                              user.account_id)


def identity_decision(req: S3Request, action: str, resource: str,
                      context: dict[str, tuple[str, ...]] | None = None) -> str | None:
    """What the caller's identity policies say of ``action`` on ``resource``."""
    user = req.user
    if user is None or not user.policies and user.session_policy is None and user.boundary is None:
        return None
    ctx = context if context is not None else _context(req, None)
    return policies.identity_decision(user.policies, user.session_policy, _who(req), action, (resource,), ctx,
                                      user.boundary)


def _decide(req: S3Request, bucket: Bucket, resource_decision: str | None, identity: str | None,
            acl_json: str, permission: str) -> bool:
    """One access decision from the identity side, the bucket policy and an ACL."""
    user = req.user
    if identity == "Deny" or resource_decision == "Deny":
        return False
    if user is None or user.iam_user is None:  # anonymous, or an account root
        if identity == "Allow" or resource_decision == "Allow":  # the operator's grant, or the bucket policy's
            return True
        return _by_acl(req, acl_json, bucket, req.principal_id, permission)
    # An IAM user: its account's grants in ACLs need its own permission (identity) too.
    if bucket.owner_id == user.canonical_id:
        if identity == "Allow" or resource_decision == "Allow":
            return True
        return _acl_allows(acl_json, bucket, user.iam_user_id, permission)  # public grants only
    if identity != "Allow":
        return False
    return resource_decision == "Allow" or _by_acl(req, acl_json, bucket, req.principal_id, permission)


def _by_acl(req: S3Request, acl_json: str, bucket: Bucket, principal_id: str | None, permission: str) -> bool:
    """An ACL decision; a grant to someone other than the resource's owner
    is noted on the request (the access log's aclRequired field)."""
    if not _acl_allows(acl_json, bucket, principal_id, permission):
        return False
    if principal_id is None or principal_id != acls.Acl.from_json(acl_json).owner_id:
        req.acl_required = True
    return True




def policy_decision(req: S3Request, bucket: Bucket, key: str | None = None, obj: ObjectVersion | None = None,
                    action: str | None = None, list_prefix: str | None = None,
                    context: dict[str, tuple[str, ...]] | None = None) -> str | None:
    """"Deny", "Allow" or None (no policy statement applies).  ``list_prefix``
    stands in for s3:prefix when a missing key asks whether listing is allowed."""
    text = bucket_policy(bucket)
    if text is None:
        return None
    act = action or req.action
    if act in _POLICY_MANAGEMENT and req.user is not None and req.user.iam_user is None and (
            req.user.operator or req.principal_id == bucket.owner_id and "policy_binds_owner" not in bucket.props):
        return None  # a policy cannot lock them out (unless the owner confirmed it may: pails.s3.policy)
    resource = f"arn:aws:s3:::{bucket.name}" if key is None else f"arn:aws:s3:::{bucket.name}/{key}"
    if context is None:
        context = _context(req, obj)
        if list_prefix is not None:
            context["s3:prefix"] = (list_prefix,)
    policy = policies.cached_policy(text, bucket.name)
    decision = policies.evaluate(policy, _who(req), act, resource, context)
    # RestrictPublicBuckets: a public policy grants nothing to anyone but the owner.
    if decision == "Allow" and req.principal_id != bucket.owner_id and _blocks(bucket, "RestrictPublicBuckets") \
            and policies.is_public(policy):
        return None
    return decision


def _decision_pair(req: S3Request, bucket: Bucket, key: str | None, obj: ObjectVersion | None,
                   action: str | None, list_prefix: str | None) -> tuple[str | None, str | None]:
    """(the bucket policy's, the identity policies') answers, on one condition
    context (built only when a policy is there to read it: not on the plain GET path)."""
    user = req.user
    identity_policies = user is not None and not user.operator and (user.policies or user.session_policy is not None
                                                                         or user.boundary is not None)
    if not identity_policies and bucket_policy(bucket) is None:
        return None, "Allow" if user is not None and user.operator else None
    context = _context(req, obj)
    if list_prefix is not None:
        context["s3:prefix"] = (list_prefix,)
    resource = policy_decision(req, bucket, key, obj, action, list_prefix, context)
    if user is not None and user.operator:  # as an administrator: a bucket policy's Deny still holds
        return resource, "Allow"
    if not identity_policies:
        return resource, None
    arn = f"arn:aws:s3:::{bucket.name}" if key is None else f"arn:aws:s3:::{bucket.name}/{key}"
    return resource, identity_decision(req, action or req.action, arn, context)


def access_decision(req: S3Request, bucket: Bucket, key: str | None, obj: ObjectVersion | None = None,
                    action: str | None = None) -> str | None:
    """The policies' verdict for checks that ACLs do not grant (object
    tagging, Object Lock): "Deny", "Allow", or None when the caller decides
    by ownership.  An IAM user is never decided by its account's ownership:
    its identity policies (or, in its account, the bucket policy) must allow."""
    resource, identity = _decision_pair(req, bucket, key, obj, action, None)
    if resource == "Deny" or identity == "Deny":
        return "Deny"
    user = req.user
    if user is not None and user.iam_user is not None:
        same_account = bucket.owner_id == user.canonical_id
        allowed = identity == "Allow" and (same_account or resource == "Allow") or same_account and resource == "Allow"
        return "Allow" if allowed else "Deny"
    return "Allow" if "Allow" in (resource, identity) else None


_REQUEST_KEY = "\0request-key"  # default for ``key``: the key the request addresses (None for bucket requests)


def bucket_allows(req: S3Request, bucket: Bucket, permission: str, key: str | None = _REQUEST_KEY,
                  action: str | None = None, list_prefix: str | None = None) -> bool:
    """``key`` names the object a policy statement is matched against; None
    means the bucket itself (e.g. for s3:ListBucket)."""
    resource, identity = _decision_pair(req, bucket, req.key if key == _REQUEST_KEY else key, None, action,
                                        list_prefix)
    return _decide(req, bucket, resource, identity, bucket.acl, permission)


def require_bucket(req: S3Request, bucket: Bucket, permission: str, action: str | None = None) -> None:
    if not bucket_allows(req, bucket, permission, action=action):
        raise S3Error("AccessDenied")


def require_owner(req: S3Request, bucket: Bucket, action: str | None = None) -> None:
    """Bucket configuration: the owner's root, or whom a policy allows."""
    resource, identity = _decision_pair(req, bucket, None, None, action, None)
    if identity == "Deny" or resource == "Deny":
        raise S3Error("AccessDenied")
    user = req.user
    if user is not None and user.iam_user is not None:  # the owner's grant in its account, both sides across
        same_account = bucket.owner_id == user.canonical_id
        if identity == "Allow" and (same_account or resource == "Allow") or same_account and resource == "Allow":
            return
        raise S3Error("AccessDenied")
    if resource == "Allow" or identity == "Allow" or req.principal_id == bucket.owner_id:
        return
    raise S3Error("AccessDenied")


def require_object(req: S3Request, obj: ObjectVersion, permission: str, bucket: Bucket | None = None,
                   action: str | None = None) -> None:
    if bucket is None and req.bucket_record is not None and req.bucket_record.id == obj.bucket_id:
        bucket = req.bucket_record
    if bucket is None:
        if not _acl_allows(obj.acl, bucket, req.principal_id, permission):
            raise S3Error("AccessDenied")
        return
    resource, identity = _decision_pair(req, bucket, obj.key, obj, action, None)
    if not _decide(req, bucket, resource, identity, obj.acl, permission):
        raise S3Error("AccessDenied")


def require_user(req: S3Request) -> None:
    if req.user is None:
        raise S3Error("AccessDenied")


def require_identity(req: S3Request, action: str, resource: str) -> None:
    """An action on no existing bucket (ListBuckets, CreateBucket): an IAM
    user needs an identity policy that allows it; roots need nothing; an
    explicit Deny (an IAM user's, or one the operator set on a root) refuses."""
    require_user(req)
    assert req.user is not None
    if req.user.operator or not req.user.policies and req.user.iam_user is None and req.user.session_policy is None:
        return
    decision = identity_decision(req, action, resource)
    if decision == "Deny" or (decision is None and req.user.iam_user is not None):
        raise S3Error("AccessDenied")


async def acl_from_request(engine: Engine, req: S3Request, owner_id: str, owner_name: str,
                           bucket: Bucket | None = None) -> acls.Acl:
    """The ACL a new bucket or object gets from x-amz-acl / x-amz-grant-*
    (private when neither is sent).  In a bucket whose ACLs are disabled
    (BucketOwnerEnforced) only bucket-owner-full-control may be asked for."""
    bucket_owner_name = ""
    if bucket is not None and (bucket.owner_id != owner_id or not owner_name):
        u = await engine.meta.get_user_by_id(bucket.owner_id)
        bucket_owner_name = u.display_name if u else ""
        if bucket.owner_id == owner_id:
            owner_name = bucket_owner_name
    if bucket is not None and ownership_mode(bucket) == "BucketOwnerEnforced":
        canned = req.headers.get("x-amz-acl")
        if (canned is not None and canned != "bucket-owner-full-control") or \
                any(h.startswith("x-amz-grant-") for h in req.headers):
            raise S3Error("AccessControlListNotSupported")
        return acls.canned_acl("private", owner_id, owner_name)
    if any(h.startswith("x-amz-grant-") for h in req.headers):
        resolve_email, resolve_id = await user_resolvers(engine)
    else:  # no grantee to look up
        resolve_email, resolve_id = _resolve_nobody_email, _resolve_nobody_id
    acl = acls.acl_from_request_headers(
        req.headers, owner_id, owner_name, resolve_email, resolve_id,
        bucket_owner_id=bucket.owner_id if bucket else None, bucket_owner_display_name=bucket_owner_name)
    if acl is None:
        return acls.canned_acl("private", owner_id, owner_name)
    check_acl_not_blocked(bucket, acl)
    return acl


async def user_resolvers(engine: Engine) -> tuple[acls.ResolveEmail, acls.ResolveId]:
    """Grantee lookups for the pure ACL parsers, from one read of the users
    (grants name users rarely, and there are few)."""
    users = await engine.meta.list_users()
    by_email = {u.email.lower(): (u.canonical_id, u.display_name) for u in users if u.email}
    by_id = {u.canonical_id: u.display_name for u in users}
    return (lambda email: by_email.get(email.lower())), by_id.get


def _resolve_nobody_email(email: str) -> tuple[str, str] | None:
    return None


def _resolve_nobody_id(canonical_id: str) -> str | None:
    return None
