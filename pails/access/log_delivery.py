"""May the logging service write a source bucket's access logs into a
target bucket?  As AWS decides it: the target's bucket policy allows the
service principal ``logging.s3.amazonaws.com`` ``s3:PutObject`` on the log
objects' keys (conditions on ``aws:SourceArn`` and ``aws:SourceAccount``
hold for the source bucket), or, the older way, the target's ACL grants
WRITE to the LogDelivery group.  A Deny in the policy wins.  Pure."""

from __future__ import annotations

from pails.access import acl as acls
from pails.access import policy as policies

SERVICE = "logging.s3.amazonaws.com"
_WHO = policies.Principal(None, service=SERVICE)


def delivery_allowed(target_bucket: str, target_policy: str | None, target_acl: str, key_prefix: str,
                     source_bucket: str, source_accounts: tuple[str, ...]) -> bool:
    """``key_prefix``: the log objects' key prefix (a policy's Resource names
    it, or a pattern covering it); ``source_accounts``: the values
    ``aws:SourceAccount`` is compared with (the source owner's account id and
    canonical id)."""
    decision = None
    if target_policy is not None:
        context = {"aws:sourcearn": (f"arn:aws:s3:::{source_bucket}",),
                   "aws:sourceaccount": source_accounts, "aws:securetransport": ("false",)}
        decision = policies.evaluate(policies.cached_policy(target_policy, target_bucket), _WHO, "s3:PutObject",
                                     f"arn:aws:s3:::{target_bucket}/{key_prefix}", context)
    if decision is not None:
        return decision == "Allow"
    return acls.allowed(acls.Acl.from_json(target_acl), acls.LOG_DELIVERY, acls.WRITE)
