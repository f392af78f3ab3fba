"""IAM responses: ``<XResponse xmlns=...><XResult>...</XResult>
<ResponseMetadata><RequestId>`` and ``<ErrorResponse>``, as AWS writes them."""

from __future__ import annotations

import time
from urllib.parse import quote

from pails.iam.errors import IamError
from pails.protocol import xml
from pails.storage.records import IamEntity, IamKey

NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"


def response(action: str, result: str | None, request_id: str, namespace: str = NAMESPACE) -> bytes:
    """``result`` None: an action with no result element (DeleteUser, ...)."""
    body = "" if result is None else f"<{action}Result>{result}</{action}Result>"
    return (f'{xml.XML_DECL}<{action}Response xmlns="{namespace}">{body}'
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
            f"</{action}Response>").encode()


def error(err: IamError, request_id: str, namespace: str = NAMESPACE) -> bytes:
    return (f'{xml.XML_DECL}<ErrorResponse xmlns="{namespace}"><Error><Type>{err.type}</Type>'
            f"<Code>{err.code}</Code><Message>{xml.escape(err.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()


def date(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def e(name: str, value: str | int | None) -> str:
    return xml.element(name, value)


def members(name: str, items: list[str]) -> str:
    """A list as the Query protocol writes it: ``<Name><member>..</member></Name>``."""
    return f"<{name}>{''.join(f'<member>{i}</member>' for i in items)}</{name}>"


def page(items: list[str], name: str, truncated: bool, marker: str | None) -> str:
    out = members(name, items) + e("IsTruncated", "true" if truncated else "false")
    if truncated and marker is not None:
        out += e("Marker", marker)
    return out


def policy_text(document: str) -> str:
    """A policy document in a response: URL-encoded JSON, as AWS sends it."""
    return xml.escape(quote(document, safe=""))


def user(entity: IamEntity, arn: str) -> str:
    return (e("Path", entity.path) + e("UserName", entity.name) + e("UserId", entity.id) + e("Arn", arn)
            + e("CreateDate", date(entity.created)))


def group(entity: IamEntity, arn: str) -> str:
    return (e("Path", entity.path) + e("GroupName", entity.name) + e("GroupId", entity.id) + e("Arn", arn)
            + e("CreateDate", date(entity.created)))


def role(entity: IamEntity, arn: str, with_trust: bool = True) -> str:
    doc = entity.doc
    out = (e("Path", entity.path) + e("RoleName", entity.name) + e("RoleId", entity.id) + e("Arn", arn)
           + e("CreateDate", date(entity.created)))
    if with_trust:
        out += f"<AssumeRolePolicyDocument>{policy_text(doc.get('trust', ''))}</AssumeRolePolicyDocument>"
    if doc.get("description"):
        out += e("Description", doc["description"])
    out += e("MaxSessionDuration", int(doc.get("max_session", 3600)))
    return out


def managed_policy(entity: IamEntity, arn: str, attachments: int, boundary_uses: int = 0) -> str:
    doc = entity.doc
    out = (e("PolicyName", entity.name) + e("PolicyId", entity.id) + e("Arn", arn) + e("Path", entity.path)
           + e("DefaultVersionId", doc.get("default", "v1")) + e("AttachmentCount", attachments)
           + e("PermissionsBoundaryUsageCount", boundary_uses) + e("IsAttachable", "true"))
    if doc.get("description"):
        out += e("Description", doc["description"])
    return out + e("CreateDate", date(entity.created)) + e("UpdateDate", date(doc.get("updated", entity.created)))


def key_metadata(key: IamKey, user_name: str) -> str:
    return (e("UserName", user_name) + e("AccessKeyId", key.access_key) + e("Status", key.status)
            + e("CreateDate", date(key.created)))
