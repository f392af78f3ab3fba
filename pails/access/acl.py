"""S3 access control lists: canned ACLs, grant headers, AccessControlPolicy XML, checks.

Pure: no I/O.  Identity look-ups are injected as callables:

* ``resolve_email(email) -> (canonical_id, display_name) | None``
* ``resolve_id(canonical_id) -> display_name | None`` (``None``: no such user)

Grant order follows what ceph/s3-tests expects (RGW's order): group grants first, then user
grants, each in the order given; exact duplicates are dropped.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from pails.errors import S3Error
from pails.protocol import xml

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)

CANONICAL_USER = "CanonicalUser"
GROUP = "Group"

FULL_CONTROL = "FULL_CONTROL"
WRITE = "WRITE"
WRITE_ACP = "WRITE_ACP"
READ = "READ"
READ_ACP = "READ_ACP"
PERMISSIONS = (FULL_CONTROL, WRITE, WRITE_ACP, READ, READ_ACP)

CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
)

# x-amz-grant-* header -> permission, in the order grants are listed.
GRANT_HEADERS = (
    ("x-amz-grant-read", READ),
    ("x-amz-grant-write", WRITE),
    ("x-amz-grant-read-acp", READ_ACP),
    ("x-amz-grant-write-acp", WRITE_ACP),
    ("x-amz-grant-full-control", FULL_CONTROL),
)

MAX_GRANTS = 100  # AWS: an ACL can have up to 100 grants.

ResolveEmail = Callable[[str], tuple[str, str] | None]
ResolveId = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant: a grantee (canonical user or group URI) and a permission."""

    grantee_type: str  # CANONICAL_USER | GROUP
    grantee_id: str  # canonical id, or group URI
    permission: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class Acl:
    """An owner and its grants; immutable, so safe to share and cache."""

    owner_id: str
    owner_display_name: str
    grants: tuple[Grant, ...]

    def to_json(self) -> str:
        """Compact storage form (see ``from_json``)."""
        out: list[list[str]] = []
        for g in self.grants:
            if g.grantee_type == GROUP:
                out.append(["g", g.permission, _GROUP_ALIAS.get(g.grantee_id, g.grantee_id)])
            elif g.grantee_id == self.owner_id and g.display_name == self.owner_display_name:
                out.append(["o", g.permission])
            elif g.display_name:
                out.append(["u", g.permission, g.grantee_id, g.display_name])
            else:
                out.append(["u", g.permission, g.grantee_id])
        return json.dumps(
            {"o": self.owner_id, "n": self.owner_display_name, "g": out},
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @staticmethod
    def from_json(s: str) -> Acl:
        """Load ``to_json`` output; results are cached, as ACLs are read on every request."""
        acl = _JSON_CACHE.get(s)
        if acl is not None:
            return acl
        d = json.loads(s)
        owner_id, owner_name = d["o"], d.get("n", "")
        grants = []
        for e in d["g"]:
            kind = e[0]
            if kind == "o":
                grants.append(Grant(CANONICAL_USER, owner_id, e[1], owner_name))
            elif kind == "g":
                grants.append(Grant(GROUP, _ALIAS_GROUP.get(e[2], e[2]), e[1]))
            elif kind == "u":
                grants.append(Grant(CANONICAL_USER, e[2], e[1], e[3] if len(e) > 3 else ""))
            else:
                raise ValueError(f"bad ACL grant entry: {e!r}")
        acl = Acl(owner_id, owner_name, tuple(grants))
        if len(_JSON_CACHE) >= _JSON_CACHE_MAX:
            _JSON_CACHE.clear()
        _JSON_CACHE[s] = acl
        return acl


_GROUP_ALIAS = {ALL_USERS: "all", AUTHENTICATED_USERS: "auth", LOG_DELIVERY: "log"}
_ALIAS_GROUP = {v: k for k, v in _GROUP_ALIAS.items()}
_JSON_CACHE: dict[str, Acl] = {}
_JSON_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a canonical user id, or ``None`` for an anonymous request."""

    canonical_id: str | None = None
    display_name: str = ""

    @property
    def anonymous(self) -> bool:
        """True for unauthenticated requests."""
        return self.canonical_id is None


ANONYMOUS = Principal()


def _normalize(grants: Iterable[Grant]) -> tuple[Grant, ...]:
    """Drop exact duplicates; groups first, then users, each keeping its order."""
    seen: set[Grant] = set()
    groups: list[Grant] = []
    users: list[Grant] = []
    for g in grants:
        if g in seen:
            continue
        seen.add(g)
        (groups if g.grantee_type == GROUP else users).append(g)
    return tuple(groups + users)


# ---------------------------------------------------------------------------
# Canned ACLs


def canned_acl(
    name: str,
    owner_id: str,
    owner_display_name: str,
    *,
    bucket_owner_id: str | None = None,
    bucket_owner_display_name: str = "",
) -> Acl:
    """The ACL an ``x-amz-acl`` value stands for.

    ``bucket-owner-*`` add a grant to the bucket owner only when one is given and differs
    from the owner (for buckets themselves AWS ignores them, leaving ``private``).
    ``aws-exec-read``'s EC2 grantee does not exist here, so it equals ``private``.
    """
    owner = Grant(CANONICAL_USER, owner_id, FULL_CONTROL, owner_display_name)
    extra: list[Grant] = []
    if name in ("private", "aws-exec-read"):
        pass
    elif name == "public-read":
        extra = [Grant(GROUP, ALL_USERS, READ)]
    elif name == "public-read-write":
        extra = [Grant(GROUP, ALL_USERS, READ), Grant(GROUP, ALL_USERS, WRITE)]
    elif name == "authenticated-read":
        extra = [Grant(GROUP, AUTHENTICATED_USERS, READ)]
    elif name == "log-delivery-write":
        extra = [Grant(GROUP, LOG_DELIVERY, WRITE), Grant(GROUP, LOG_DELIVERY, READ_ACP)]
    elif name in ("bucket-owner-read", "bucket-owner-full-control"):
        if bucket_owner_id is not None and bucket_owner_id != owner_id:
            perm = READ if name == "bucket-owner-read" else FULL_CONTROL
            extra = [Grant(CANONICAL_USER, bucket_owner_id, perm, bucket_owner_display_name)]
    else:
        raise S3Error("InvalidArgument", ArgumentName="x-amz-acl", ArgumentValue=name)
    return Acl(owner_id, owner_display_name, _normalize([owner, *extra]))


# ---------------------------------------------------------------------------
# x-amz-grant-* headers

_GRANTEE_RE = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,"\s]+))\s*(,|$)')


def _header_grantees(header: str, value: str) -> list[tuple[str, str]]:
    """Split ``id="a", uri="b"`` into ``[("id", "a"), ("uri", "b")]`` (keys lower-cased)."""
    out: list[tuple[str, str]] = []
    pos, end = 0, len(value)
    while pos < end:
        m = _GRANTEE_RE.match(value, pos)
        if m is None or m.end() == pos:
            raise S3Error(
                "InvalidArgument", "Argument format not recognized", ArgumentName=header, ArgumentValue=value
            )
        key = m.group(1).lower()
        val = m.group(2) if m.group(2) is not None else m.group(3)
        if key not in ("id", "uri", "emailaddress") or not val.strip():
            raise S3Error(
                "InvalidArgument", "Argument format not recognized", ArgumentName=header, ArgumentValue=value
            )
        out.append((key, val.strip()))
        pos = m.end()
        if m.group(4) == "," and not value[pos:].strip():
            raise S3Error(
                "InvalidArgument", "Argument format not recognized", ArgumentName=header, ArgumentValue=value
            )
    return out


def _user_grant(canonical_id: str, permission: str, resolve_id: ResolveId) -> Grant:
    name = resolve_id(canonical_id)
    if name is None:
        raise S3Error(
            "InvalidArgument", "Invalid id", ArgumentName="CanonicalUser/ID", ArgumentValue=canonical_id
        )
    return Grant(CANONICAL_USER, canonical_id, permission, name)


def _email_grant(email: str, permission: str, resolve_email: ResolveEmail) -> Grant:
    found = resolve_email(email)
    if found is None:
        raise S3Error(
            "UnresolvableGrantByEmailAddress",
            "The e-mail address you provided does not match any account on record.",
            status=400,
            EmailAddressProvided=email,
        )
    return Grant(CANONICAL_USER, found[0], permission, found[1])


def _group_grant(uri: str, permission: str) -> Grant:
    if uri not in GROUPS:
        raise S3Error("InvalidArgument", "Invalid group uri", ArgumentName="uri", ArgumentValue=uri)
    return Grant(GROUP, uri, permission)


def acl_from_grant_headers(
    headers: Mapping[str, str],
    owner_id: str,
    owner_display_name: str,
    resolve_email: ResolveEmail,
    resolve_id: ResolveId,
) -> Acl | None:
    """The ACL given by ``x-amz-grant-*`` headers, or ``None`` when none is present.

    As in S3, the ACL is exactly the grants listed: the owner gets no implicit grant
    (it keeps READ_ACP/WRITE_ACP through ownership, see ``allowed``).  Header names are
    matched case-insensitively.
    """
    lowered: dict[str, str] | None = None
    found: list[tuple[str, str, str]] = []
    for header, permission in GRANT_HEADERS:
        value = headers.get(header)
        if value is None:
            if lowered is None:
                lowered = {k.lower(): v for k, v in headers.items()}
            value = lowered.get(header)
        if value is not None and value.strip():
            found.append((header, permission, value))
    if not found:
        return None
    grants: list[Grant] = []
    for header, permission, value in found:
        for key, val in _header_grantees(header, value):
            if key == "id":
                grants.append(_user_grant(val, permission, resolve_id))
            elif key == "uri":
                grants.append(_group_grant(val, permission))
            else:
                grants.append(_email_grant(val, permission, resolve_email))
    normalized = _normalize(grants)
    if len(normalized) > MAX_GRANTS:
        raise S3Error("InvalidArgument", f"An ACL can have at most {MAX_GRANTS} grants.")
    return Acl(owner_id, owner_display_name, normalized)


def acl_from_request_headers(
    headers: Mapping[str, str],
    owner_id: str,
    owner_display_name: str,
    resolve_email: ResolveEmail,
    resolve_id: ResolveId,
    *,
    bucket_owner_id: str | None = None,
    bucket_owner_display_name: str = "",
) -> Acl | None:
    """The ACL a request's ``x-amz-acl`` or ``x-amz-grant-*`` headers ask for, else ``None``.

    Both kinds together is ``InvalidRequest``, as in S3.
    """
    canned = headers.get("x-amz-acl")
    if canned is None:
        canned = next((v for k, v in headers.items() if k.lower() == "x-amz-acl"), None)
    granted = acl_from_grant_headers(headers, owner_id, owner_display_name, resolve_email, resolve_id)
    if canned is None:
        return granted
    if granted is not None:
        raise S3Error("InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed")
    return canned_acl(
        canned.strip(),
        owner_id,
        owner_display_name,
        bucket_owner_id=bucket_owner_id,
        bucket_owner_display_name=bucket_owner_display_name,
    )


# ---------------------------------------------------------------------------
# AccessControlPolicy XML

_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_MAX_ELEMENTS = 2000


def _malformed() -> S3Error:
    return S3Error("MalformedACLError")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(el: ET.Element) -> dict[str, list[ET.Element]]:
    out: dict[str, list[ET.Element]] = {}
    for child in el:
        if isinstance(child.tag, str):
            out.setdefault(_local(child.tag), []).append(child)
    return out


def _text(kids: dict[str, list[ET.Element]], name: str, *, required: bool) -> str | None:
    els = kids.get(name)
    if not els:
        if required:
            raise _malformed()
        return None
    if len(els) > 1:
        raise _malformed()
    text = (els[0].text or "").strip()
    if required and not text:
        raise _malformed()
    return text


def _parse_xml(xml_body: bytes) -> ET.Element:
    return xml.parse(xml_body, "MalformedACLError", max_elements=_MAX_ELEMENTS)


def parse_access_control_policy(xml_body: bytes, resolve_email: ResolveEmail, resolve_id: ResolveId) -> Acl:
    """Parse a PutBucketAcl/PutObjectAcl body into an ``Acl``.

    Namespaced or not.  Malformed XML, a DOCTYPE, missing Owner/ID, a bad permission or
    grantee type -> ``MalformedACLError``; unknown canonical id or group URI ->
    ``InvalidArgument``; unknown email -> ``UnresolvableGrantByEmailAddress``.  Grantee display
    names come from ``resolve_*``, not the body.  The owner is taken as given (display name from
    ``resolve_id`` when known): the caller must check ``acl.owner_id`` is the resource's owner
    (S3 answers AccessDenied otherwise).
    """
    root = _parse_xml(xml_body)
    if _local(root.tag) != "AccessControlPolicy":
        raise _malformed()
    top = _children(root)
    owners = top.get("Owner")
    if not owners or len(owners) > 1:
        raise _malformed()
    owner_kids = _children(owners[0])
    owner_id = _text(owner_kids, "ID", required=True) or ""
    owner_name = resolve_id(owner_id)
    if owner_name is None:
        owner_name = _text(owner_kids, "DisplayName", required=False) or ""

    lists = top.get("AccessControlList", [])
    if len(lists) > 1:
        raise _malformed()
    grants: list[Grant] = []
    for grant_el in lists[0] if lists else ():
        if not isinstance(grant_el.tag, str):
            continue
        if _local(grant_el.tag) != "Grant":
            raise _malformed()
        grants.append(_parse_grant(grant_el, resolve_email, resolve_id))
        if len(grants) > MAX_GRANTS:
            raise _malformed()
    return Acl(owner_id, owner_name, _normalize(grants))


def _parse_grant(grant_el: ET.Element, resolve_email: ResolveEmail, resolve_id: ResolveId) -> Grant:
    kids = _children(grant_el)
    permission = _text(kids, "Permission", required=True)
    if permission not in PERMISSIONS:
        raise _malformed()
    grantees = kids.get("Grantee")
    if not grantees or len(grantees) > 1:
        raise _malformed()
    grantee = grantees[0]
    gkids = _children(grantee)
    gtype = grantee.get(_XSI_TYPE)
    if gtype is None:  # tolerate a missing xsi:type when the content says what it is
        gtype = next((v for k, v in grantee.attrib.items() if _local(k) == "type"), None)
    if gtype is None:
        if "ID" in gkids:
            gtype = CANONICAL_USER
        elif "URI" in gkids:
            gtype = GROUP
        elif "EmailAddress" in gkids:
            gtype = "AmazonCustomerByEmail"
    gtype = (gtype or "").strip()
    if gtype == CANONICAL_USER:
        return _user_grant(_text(gkids, "ID", required=True) or "", permission, resolve_id)
    if gtype == GROUP:
        return _group_grant(_text(gkids, "URI", required=True) or "", permission)
    if gtype == "AmazonCustomerByEmail":
        return _email_grant(_text(gkids, "EmailAddress", required=True) or "", permission, resolve_email)
    raise _malformed()


def _esc(s: str) -> str:
    if "&" in s or "<" in s or ">" in s or '"' in s:
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return s


_XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>'
)


def render_access_control_policy(acl: Acl) -> bytes:
    """The GetBucketAcl/GetObjectAcl response body, in AWS's shape.

    Empty display names are omitted, as AWS does where it no longer reports them.
    """
    parts = [
        _HEAD,
        _esc(acl.owner_id),
        "</ID>",
    ]
    if acl.owner_display_name:
        parts += ["<DisplayName>", _esc(acl.owner_display_name), "</DisplayName>"]
    parts.append("</Owner><AccessControlList>")
    for g in acl.grants:
        if g.grantee_type == GROUP:
            parts += ["<Grant><Grantee ", _XSI, ' xsi:type="Group"><URI>', _esc(g.grantee_id), "</URI>"]
        else:
            parts += ["<Grant><Grantee ", _XSI, ' xsi:type="CanonicalUser"><ID>', _esc(g.grantee_id), "</ID>"]
            if g.display_name:
                parts += ["<DisplayName>", _esc(g.display_name), "</DisplayName>"]
        parts += ["</Grantee><Permission>", g.permission, "</Permission></Grant>"]
    parts.append("</AccessControlList></AccessControlPolicy>")
    return "".join(parts).encode()


# ---------------------------------------------------------------------------
# Checks


def allowed(acl: Acl, principal_id: str | None, permission: str) -> bool:
    """Whether ``principal_id`` (``None``: anonymous) holds ``permission`` under ``acl``.

    The resource owner implicitly holds READ_ACP and WRITE_ACP; anything else needs a grant
    (FULL_CONTROL implies all).  AllUsers matches everyone, AuthenticatedUsers any
    non-anonymous principal, LogDelivery only the principal id ``LOG_DELIVERY`` (for the
    server's own log delivery).  A bucket owner gets no implicit rights over objects owned
    by others: pass the object's ACL and the caller decides.
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    if principal_id is not None and principal_id == acl.owner_id and permission in (READ_ACP, WRITE_ACP):
        return True
    for g in acl.grants:
        if g.permission != permission and g.permission != FULL_CONTROL:
            continue
        gid = g.grantee_id
        if g.grantee_type == GROUP:
            if gid == ALL_USERS:
                return True
            if principal_id is None:
                continue
            if gid in (AUTHENTICATED_USERS, principal_id):
                return True
        elif principal_id is not None and gid == principal_id:
            return True
    return False
