"""Unit tests for pails.access.acl (pure ACL model)."""

from __future__ import annotations

import pytest

from pails.access.acl import (
    ALL_USERS,
    ANONYMOUS,
    AUTHENTICATED_USERS,
    CANNED_ACLS,
    CANONICAL_USER,
    GROUP,
    LOG_DELIVERY,
    PERMISSIONS,
    Acl,
    Grant,
    Principal,
    acl_from_grant_headers,
    acl_from_request_headers,
    allowed,
    canned_acl,
    parse_access_control_policy,
    render_access_control_policy,
)
from pails.errors import S3Error

OWNER = "a" * 64
OWNER_NAME = "owner"
ALT = "b" * 64
ALT_NAME = "alt"
THIRD = "c" * 64
THIRD_NAME = "third"
USERS = {OWNER: OWNER_NAME, ALT: ALT_NAME, THIRD: THIRD_NAME}
EMAILS = {"alt@example.com": (ALT, ALT_NAME), "third@example.com": (THIRD, THIRD_NAME)}
NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def resolve_email(email: str) -> tuple[str, str] | None:
    return EMAILS.get(email)


def resolve_id(cid: str) -> str | None:
    return USERS.get(cid)


def user(cid: str, perm: str) -> Grant:
    return Grant(CANONICAL_USER, cid, perm, USERS[cid])


def group(uri: str, perm: str) -> Grant:
    return Grant(GROUP, uri, perm)


def owner_fc() -> Grant:
    return user(OWNER, "FULL_CONTROL")


def headers_acl(headers: dict[str, str]) -> Acl | None:
    return acl_from_grant_headers(headers, OWNER, OWNER_NAME, resolve_email, resolve_id)


def parse(body: bytes | str) -> Acl:
    if isinstance(body, str):
        body = body.encode()
    return parse_access_control_policy(body, resolve_email, resolve_id)


def policy(grants_xml: str, owner: str = OWNER, ns: bool = True) -> str:
    xmlns = f' xmlns="{NS}"' if ns else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><AccessControlPolicy{xmlns}>'
        f"<Owner><ID>{owner}</ID><DisplayName>whatever</DisplayName></Owner>"
        f"<AccessControlList>{grants_xml}</AccessControlList></AccessControlPolicy>"
    )


def grant_xml(gtype: str, inner: str, perm: str) -> str:
    return (
        f'<Grant><Grantee {XSI} xsi:type="{gtype}">{inner}</Grantee><Permission>{perm}</Permission></Grant>'
    )


# ---------------------------------------------------------------------------
# Canned ACLs

EXPECTED_CANNED = {
    "private": [owner_fc()],
    "aws-exec-read": [owner_fc()],
    "public-read": [group(ALL_USERS, "READ"), owner_fc()],
    "public-read-write": [group(ALL_USERS, "READ"), group(ALL_USERS, "WRITE"), owner_fc()],
    "authenticated-read": [group(AUTHENTICATED_USERS, "READ"), owner_fc()],
    "log-delivery-write": [group(LOG_DELIVERY, "WRITE"), group(LOG_DELIVERY, "READ_ACP"), owner_fc()],
    "bucket-owner-read": [owner_fc()],
    "bucket-owner-full-control": [owner_fc()],
}


def test_canned_names_complete() -> None:
    assert set(CANNED_ACLS) == set(EXPECTED_CANNED)


@pytest.mark.parametrize("name", CANNED_ACLS)
def test_canned_acl_without_bucket_owner(name: str) -> None:
    acl = canned_acl(name, OWNER, OWNER_NAME)
    assert acl.owner_id == OWNER
    assert acl.owner_display_name == OWNER_NAME
    assert list(acl.grants) == EXPECTED_CANNED[name]


def test_canned_bucket_owner_read_other_owner() -> None:
    acl = canned_acl(
        "bucket-owner-read", ALT, ALT_NAME, bucket_owner_id=OWNER, bucket_owner_display_name=OWNER_NAME
    )
    assert acl.owner_id == ALT
    assert acl.grants == (user(ALT, "FULL_CONTROL"), user(OWNER, "READ"))


def test_canned_bucket_owner_full_control_other_owner() -> None:
    acl = canned_acl(
        "bucket-owner-full-control",
        ALT,
        ALT_NAME,
        bucket_owner_id=OWNER,
        bucket_owner_display_name=OWNER_NAME,
    )
    assert acl.grants == (user(ALT, "FULL_CONTROL"), user(OWNER, "FULL_CONTROL"))


@pytest.mark.parametrize("name", ["bucket-owner-read", "bucket-owner-full-control"])
def test_canned_bucket_owner_same_as_owner(name: str) -> None:
    acl = canned_acl(name, OWNER, OWNER_NAME, bucket_owner_id=OWNER, bucket_owner_display_name=OWNER_NAME)
    assert acl.grants == (owner_fc(),)


@pytest.mark.parametrize("name", ["public-read", "private", "public-read-write"])
def test_canned_ignores_bucket_owner_for_other_acls(name: str) -> None:
    with_bo = canned_acl(name, ALT, ALT_NAME, bucket_owner_id=OWNER, bucket_owner_display_name=OWNER_NAME)
    assert with_bo == canned_acl(name, ALT, ALT_NAME)


@pytest.mark.parametrize("name", ["", "Private", "public", "public-write", "bogus"])
def test_canned_unknown(name: str) -> None:
    with pytest.raises(S3Error) as ei:
        canned_acl(name, OWNER, OWNER_NAME)
    assert ei.value.code == "InvalidArgument"
    assert ei.value.status == 400


# ---------------------------------------------------------------------------
# Grant headers


def test_no_grant_headers_is_none() -> None:
    assert headers_acl({}) is None
    assert headers_acl({"x-amz-acl": "private", "content-type": "text/plain"}) is None
    assert headers_acl({"x-amz-grant-read": "  "}) is None


def test_grant_headers_all_permissions_like_s3tests() -> None:
    # s3-tests test_bucket_header_acl_grants: unquoted id=, one header per permission.
    h = {
        "x-amz-grant-read": f"id={ALT}",
        "x-amz-grant-write": f"id={ALT}",
        "x-amz-grant-read-acp": f"id={ALT}",
        "x-amz-grant-write-acp": f"id={ALT}",
        "x-amz-grant-full-control": f"id={ALT}",
    }
    acl = headers_acl(h)
    assert acl is not None
    assert acl.owner_id == OWNER
    # Exactly the grants listed, in READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL order; no owner grant.
    assert acl.grants == tuple(
        user(ALT, p) for p in ("READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL")
    )


def test_grant_headers_multiple_mixed_grantees() -> None:
    h = {
        "X-Amz-Grant-Read": f'id="{ALT}", uri="{ALL_USERS}",emailAddress="third@example.com"',
        "x-amz-grant-write-acp": f'  id = "{OWNER}" ',
        "x-amz-grant-write": f'uri="{LOG_DELIVERY}"',
    }
    acl = headers_acl(h)
    assert acl is not None
    assert acl.grants == (
        group(ALL_USERS, "READ"),
        group(LOG_DELIVERY, "WRITE"),
        user(ALT, "READ"),
        user(THIRD, "READ"),
        user(OWNER, "WRITE_ACP"),
    )


def test_grant_headers_email_key_case_insensitive_and_dedup() -> None:
    acl = headers_acl({"x-amz-grant-read": f'EmailAddress="alt@example.com", id="{ALT}"'})
    assert acl is not None
    assert acl.grants == (user(ALT, "READ"),)


def test_grant_headers_unknown_email() -> None:
    with pytest.raises(S3Error) as ei:
        headers_acl({"x-amz-grant-read": 'emailAddress="nobody@example.com"'})
    assert ei.value.code == "UnresolvableGrantByEmailAddress"
    assert ei.value.status == 400


def test_grant_headers_unknown_id() -> None:
    with pytest.raises(S3Error) as ei:
        headers_acl({"x-amz-grant-full-control": 'id="_foo"'})
    assert ei.value.code == "InvalidArgument"


def test_grant_headers_unknown_group() -> None:
    with pytest.raises(S3Error) as ei:
        headers_acl({"x-amz-grant-read": 'uri="http://acs.amazonaws.com/groups/global/Nobody"'})
    assert ei.value.code == "InvalidArgument"


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        f"{ALT}",
        f'id="{ALT}",',
        f'id="{ALT}",,uri="{ALL_USERS}"',
        f'id="{ALT}" uri="{ALL_USERS}"',
        f'name="{ALT}"',
        'id=""',
        'id="unterminated',
        "id=a b",
        "=x",
    ],
)
def test_grant_headers_bad_syntax(value: str) -> None:
    with pytest.raises(S3Error) as ei:
        headers_acl({"x-amz-grant-read": value})
    assert ei.value.code == "InvalidArgument"


def test_grant_headers_too_many() -> None:
    many = ", ".join(f'uri="{ALL_USERS}"' for _ in range(3))  # duplicates collapse: fine
    acl = headers_acl({"x-amz-grant-read": many})
    assert acl is not None and len(acl.grants) == 1
    ids = {f"{i:064x}": f"u{i}" for i in range(150)}
    value = ", ".join(f"id={i}" for i in ids)
    with pytest.raises(S3Error) as ei:
        acl_from_grant_headers({"x-amz-grant-read": value}, OWNER, OWNER_NAME, resolve_email, ids.get)
    assert ei.value.code == "InvalidArgument"


def test_request_headers_canned_or_grants() -> None:
    def req(h: dict[str, str]) -> Acl | None:
        return acl_from_request_headers(
            h,
            ALT,
            ALT_NAME,
            resolve_email,
            resolve_id,
            bucket_owner_id=OWNER,
            bucket_owner_display_name=OWNER_NAME,
        )

    assert req({}) is None
    assert req({"X-Amz-Acl": "public-read"}) == canned_acl("public-read", ALT, ALT_NAME)
    assert req({"x-amz-acl": "bucket-owner-read"}) == canned_acl(
        "bucket-owner-read", ALT, ALT_NAME, bucket_owner_id=OWNER, bucket_owner_display_name=OWNER_NAME
    )
    assert req({"x-amz-grant-read": f"id={OWNER}"}) == Acl(ALT, ALT_NAME, (user(OWNER, "READ"),))
    with pytest.raises(S3Error) as ei:
        req({"x-amz-acl": "private", "x-amz-grant-read": f"id={OWNER}"})
    assert ei.value.code == "InvalidRequest"
    with pytest.raises(S3Error) as ei:
        req({"x-amz-acl": "nope"})
    assert ei.value.code == "InvalidArgument"


# ---------------------------------------------------------------------------
# AccessControlPolicy XML


def test_render_exact_shape() -> None:
    acl = canned_acl("public-read", OWNER, OWNER_NAME)
    assert (
        render_access_control_policy(acl)
        == (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<AccessControlPolicy xmlns="{NS}">'
            f"<Owner><ID>{OWNER}</ID><DisplayName>owner</DisplayName></Owner>"
            "<AccessControlList>"
            f'<Grant><Grantee {XSI} xsi:type="Group"><URI>{ALL_USERS}</URI></Grantee>'
            "<Permission>READ</Permission></Grant>"
            f'<Grant><Grantee {XSI} xsi:type="CanonicalUser"><ID>{OWNER}</ID><DisplayName>owner</DisplayName>'
            "</Grantee><Permission>FULL_CONTROL</Permission></Grant>"
            "</AccessControlList></AccessControlPolicy>"
        ).encode()
    )


def test_render_escapes_and_omits_empty_display_names() -> None:
    acl = Acl(
        "o&<>", "", (Grant(CANONICAL_USER, "x", "READ", 'a<b>&"c"'), Grant(CANONICAL_USER, "y", "READ"))
    )
    body = render_access_control_policy(acl).decode()
    assert "<Owner><ID>o&amp;&lt;&gt;</ID></Owner>" in body
    assert "<DisplayName>a&lt;b&gt;&amp;&quot;c&quot;</DisplayName>" in body
    assert "<ID>y</ID></Grantee>" in body


ROUND_TRIP_ACLS = [
    *[canned_acl(n, OWNER, OWNER_NAME) for n in CANNED_ACLS],
    canned_acl(
        "bucket-owner-full-control",
        ALT,
        ALT_NAME,
        bucket_owner_id=OWNER,
        bucket_owner_display_name=OWNER_NAME,
    ),
    Acl(OWNER, OWNER_NAME, ()),
    Acl(
        OWNER,
        OWNER_NAME,
        (
            group(AUTHENTICATED_USERS, "READ_ACP"),
            group(LOG_DELIVERY, "WRITE"),
            user(ALT, "WRITE"),
            user(THIRD, "WRITE_ACP"),
            user(OWNER, "READ"),
        ),
    ),
]


@pytest.mark.parametrize("acl", ROUND_TRIP_ACLS)
def test_xml_round_trip(acl: Acl) -> None:
    assert parse(render_access_control_policy(acl)) == acl


@pytest.mark.parametrize("acl", ROUND_TRIP_ACLS)
def test_json_round_trip(acl: Acl) -> None:
    s = acl.to_json()
    assert Acl.from_json(s) == acl
    assert Acl.from_json(s) is Acl.from_json(s)  # cached


def test_json_compact() -> None:
    s = canned_acl("public-read", OWNER, OWNER_NAME).to_json()
    assert " " not in s
    assert len(s) < 140
    assert ALL_USERS not in s


def test_json_keeps_non_owner_details() -> None:
    acl = Acl(OWNER, OWNER_NAME, (Grant(CANONICAL_USER, OWNER, "READ", "other name"), user(ALT, "READ")))
    assert Acl.from_json(acl.to_json()) == acl
    unicode_acl = Acl("ü", "名前", (Grant(CANONICAL_USER, "ü", "FULL_CONTROL", "名前"),))
    assert Acl.from_json(unicode_acl.to_json()) == unicode_acl


def test_parse_unnamespaced_and_email_resolves_to_canonical_user() -> None:
    body = policy(
        grant_xml("AmazonCustomerByEmail", "<EmailAddress>alt@example.com</EmailAddress>", "FULL_CONTROL")
        + grant_xml("CanonicalUser", f"<ID>{OWNER}</ID><DisplayName>lies</DisplayName>", "FULL_CONTROL"),
        ns=False,
    )
    acl = parse(body)
    assert acl.owner_id == OWNER
    assert acl.owner_display_name == OWNER_NAME  # resolved, not taken from the body
    assert acl.grants == (user(ALT, "FULL_CONTROL"), owner_fc())


def test_parse_groups_ordered_first() -> None:
    # s3-tests test_put_bucket_acl_grant_group_read appends a group grant after the owner's.
    body = policy(
        grant_xml("CanonicalUser", f"<ID>{OWNER}</ID>", "FULL_CONTROL")
        + grant_xml("Group", f"<URI>{ALL_USERS}</URI>", "READ")
    )
    assert parse(body).grants == (group(ALL_USERS, "READ"), owner_fc())


def test_parse_empty_grants_and_missing_list() -> None:
    assert parse(policy("")).grants == ()
    no_list = f'<AccessControlPolicy xmlns="{NS}"><Owner><ID>{OWNER}</ID></Owner></AccessControlPolicy>'
    assert parse(no_list) == Acl(OWNER, OWNER_NAME, ())


def test_parse_unknown_owner_kept_for_caller_to_check() -> None:
    acl = parse(policy("", owner="someone-else"))
    assert acl.owner_id == "someone-else"
    assert acl.owner_display_name == "whatever"


def test_parse_whitespace_and_other_prefix() -> None:
    body = (
        '<?xml version="1.0"?>\n<s3:AccessControlPolicy xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"\n'
        '  xmlns:x="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"  <s3:Owner>\n    <s3:ID> {OWNER} </s3:ID>\n  </s3:Owner>\n"
        "  <s3:AccessControlList>\n"
        '    <s3:Grant><s3:Grantee x:type="Group"><s3:URI>\n'
        f"{AUTHENTICATED_USERS}</s3:URI></s3:Grantee>\n"
        "      <s3:Permission> READ </s3:Permission></s3:Grant>\n"
        "  </s3:AccessControlList>\n</s3:AccessControlPolicy>\n"
    )
    assert parse(body).grants == (group(AUTHENTICATED_USERS, "READ"),)


def test_parse_infers_missing_xsi_type() -> None:
    body = policy(
        f"<Grant><Grantee><ID>{ALT}</ID></Grantee><Permission>READ</Permission></Grant>"
        f"<Grant><Grantee><URI>{ALL_USERS}</URI></Grantee><Permission>READ</Permission></Grant>"
    )
    assert parse(body).grants == (group(ALL_USERS, "READ"), user(ALT, "READ"))


def test_parse_unknown_canonical_id() -> None:
    with pytest.raises(S3Error) as ei:
        parse(policy(grant_xml("CanonicalUser", "<ID>_foo</ID>", "FULL_CONTROL")))
    assert (ei.value.code, ei.value.status) == ("InvalidArgument", 400)


def test_parse_unknown_email() -> None:
    with pytest.raises(S3Error) as ei:
        parse(
            policy(
                grant_xml(
                    "AmazonCustomerByEmail",
                    "<EmailAddress>doesnotexist@dreamhost.com.invalid</EmailAddress>",
                    "FULL_CONTROL",
                )
            )
        )
    assert (ei.value.code, ei.value.status) == ("UnresolvableGrantByEmailAddress", 400)


def test_parse_unknown_group() -> None:
    with pytest.raises(S3Error) as ei:
        parse(policy(grant_xml("Group", "<URI>http://example.com/group</URI>", "READ")))
    assert ei.value.code == "InvalidArgument"


MALFORMED = [
    b"",
    b"   ",
    b"not xml at all",
    b"<AccessControlPolicy>",
    b"<AccessControlPolicy><Owner><ID>x</ID></Owner>",
    b"\xff\xfe\x00garbage",
    b"<Foo/>",
    f"<AccessControlPolicy><Owner><ID>{OWNER}</ID></Owner></AccessControlPolicy><extra/>".encode(),
    # missing owner / owner id
    b"<AccessControlPolicy><AccessControlList/></AccessControlPolicy>",
    b"<AccessControlPolicy><Owner><DisplayName>x</DisplayName></Owner></AccessControlPolicy>",
    b"<AccessControlPolicy><Owner><ID> </ID></Owner></AccessControlPolicy>",
    f"<AccessControlPolicy><Owner><ID>{OWNER}</ID></Owner><Owner><ID>{OWNER}</ID></Owner>"
    "</AccessControlPolicy>".encode(),
    # bad permission / grantee
    policy(grant_xml("CanonicalUser", f"<ID>{ALT}</ID>", "READ_WRITE")).encode(),
    policy(grant_xml("CanonicalUser", f"<ID>{ALT}</ID>", "read")).encode(),
    policy(grant_xml("CanonicalUser", f"<ID>{ALT}</ID>", "")).encode(),
    policy(f"<Grant><Grantee {XSI} xsi:type='CanonicalUser'><ID>{ALT}</ID></Grantee></Grant>").encode(),
    policy("<Grant><Permission>READ</Permission></Grant>").encode(),
    policy(grant_xml("Martian", f"<ID>{ALT}</ID>", "READ")).encode(),
    policy(grant_xml("CanonicalUser", f"<URI>{ALL_USERS}</URI>", "READ")).encode(),
    policy(grant_xml("Group", f"<ID>{ALT}</ID>", "READ")).encode(),
    policy(grant_xml("AmazonCustomerByEmail", "", "READ")).encode(),
    policy("<Grantee/>").encode(),
    # unbound xsi prefix
    policy(
        f'<Grant><Grantee xsi:type="CanonicalUser"><ID>{ALT}</ID></Grantee>'
        "<Permission>READ</Permission></Grant>"
    ).encode(),
]


@pytest.mark.parametrize("body", MALFORMED)
def test_parse_malformed(body: bytes) -> None:
    with pytest.raises(S3Error) as ei:
        parse(body)
    assert (ei.value.code, ei.value.status) == ("MalformedACLError", 400)


HOSTILE = [
    # billion laughs
    (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<AccessControlPolicy><Owner><ID>&lol2;</ID></Owner></AccessControlPolicy>"
    ),
    # external entity
    (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<AccessControlPolicy><Owner><ID>&xxe;</ID></Owner></AccessControlPolicy>"
    ),
    # external DTD
    (
        b'<!DOCTYPE AccessControlPolicy SYSTEM "http://example.com/evil.dtd">'
        b"<AccessControlPolicy><Owner><ID>x</ID></Owner></AccessControlPolicy>"
    ),
    # DOCTYPE hidden in UTF-16
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY e "x">]>'
    "<AccessControlPolicy><Owner><ID>&e;</ID></Owner></AccessControlPolicy>".encode("utf-16"),
    # undefined entity
    b"<AccessControlPolicy><Owner><ID>&nope;</ID></Owner></AccessControlPolicy>",
    # deep nesting
    b"<AccessControlPolicy>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</AccessControlPolicy>",
    # many elements
    b"<AccessControlPolicy><Owner><ID>x</ID></Owner>" + b"<junk/>" * 50000 + b"</AccessControlPolicy>",
]


@pytest.mark.parametrize("body", HOSTILE)
def test_parse_hostile(body: bytes) -> None:
    with pytest.raises(S3Error) as ei:
        parse(body)
    assert ei.value.code == "MalformedACLError"


def test_parse_too_many_grants() -> None:
    g = grant_xml("Group", f"<URI>{ALL_USERS}</URI>", "READ")
    with pytest.raises(S3Error) as ei:
        parse(policy(g * 101))
    assert ei.value.code == "MalformedACLError"
    assert parse(policy(g * 100)).grants == (group(ALL_USERS, "READ"),)


def test_parse_accepts_utf16_without_doctype() -> None:
    body = policy(grant_xml("CanonicalUser", f"<ID>{ALT}</ID>", "READ")).replace("UTF-8", "UTF-16")
    assert parse(body.encode("utf-16")).grants == (user(ALT, "READ"),)


# ---------------------------------------------------------------------------
# allowed()

OWNER_ONLY = {"FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP"}
ACP = {"READ_ACP", "WRITE_ACP"}

# canned ACL -> (owner's permissions, another user's, anonymous's)
MATRIX: dict[str, tuple[set[str], set[str], set[str]]] = {
    "private": (OWNER_ONLY, set(), set()),
    "aws-exec-read": (OWNER_ONLY, set(), set()),
    "public-read": (OWNER_ONLY, {"READ"}, {"READ"}),
    "public-read-write": (OWNER_ONLY, {"READ", "WRITE"}, {"READ", "WRITE"}),
    "authenticated-read": (OWNER_ONLY, {"READ"}, set()),
    "log-delivery-write": (OWNER_ONLY, set(), set()),
    "bucket-owner-read": (OWNER_ONLY, set(), set()),
    "bucket-owner-full-control": (OWNER_ONLY, set(), set()),
}


@pytest.mark.parametrize("name", CANNED_ACLS)
def test_allowed_matrix(name: str) -> None:
    acl = canned_acl(name, OWNER, OWNER_NAME)
    want_owner, want_other, want_anon = MATRIX[name]
    for perm in PERMISSIONS:
        assert allowed(acl, OWNER, perm) is (perm in want_owner), (name, "owner", perm)
        assert allowed(acl, ALT, perm) is (perm in want_other), (name, "other", perm)
        assert allowed(acl, None, perm) is (perm in want_anon), (name, "anon", perm)


def test_allowed_bucket_owner_on_objects_of_others() -> None:
    # Object owned by ALT in OWNER's bucket.
    plain = canned_acl("private", ALT, ALT_NAME, bucket_owner_id=OWNER)
    assert not any(allowed(plain, OWNER, p) for p in PERMISSIONS)
    bor = canned_acl(
        "bucket-owner-read", ALT, ALT_NAME, bucket_owner_id=OWNER, bucket_owner_display_name=OWNER_NAME
    )
    assert {p for p in PERMISSIONS if allowed(bor, OWNER, p)} == {"READ"}
    bofc = canned_acl(
        "bucket-owner-full-control",
        ALT,
        ALT_NAME,
        bucket_owner_id=OWNER,
        bucket_owner_display_name=OWNER_NAME,
    )
    assert all(allowed(bofc, OWNER, p) for p in PERMISSIONS)
    assert not any(allowed(bofc, THIRD, p) for p in PERMISSIONS)


def test_allowed_owner_keeps_acp_without_grants() -> None:
    acl = Acl(OWNER, OWNER_NAME, ())  # s3-tests test_bucket_acl_revoke_all
    assert {p for p in PERMISSIONS if allowed(acl, OWNER, p)} == ACP
    assert not any(allowed(acl, None, p) for p in PERMISSIONS)


@pytest.mark.parametrize("perm", PERMISSIONS)
def test_allowed_single_user_grant(perm: str) -> None:
    acl = Acl(OWNER, OWNER_NAME, (owner_fc(), user(ALT, perm)))
    got = {p for p in PERMISSIONS if allowed(acl, ALT, p)}
    assert got == (OWNER_ONLY if perm == "FULL_CONTROL" else {perm})
    assert not any(allowed(acl, THIRD, p) for p in PERMISSIONS)
    assert not any(allowed(acl, None, p) for p in PERMISSIONS)


def test_allowed_groups() -> None:
    acl = Acl(
        OWNER,
        OWNER_NAME,
        (
            group(AUTHENTICATED_USERS, "FULL_CONTROL"),
            group(ALL_USERS, "READ_ACP"),
            group(LOG_DELIVERY, "WRITE"),
        ),
    )
    assert all(allowed(acl, ALT, p) for p in PERMISSIONS)
    assert {p for p in PERMISSIONS if allowed(acl, None, p)} == {"READ_ACP"}
    assert allowed(acl, LOG_DELIVERY, "WRITE")
    only_log = canned_acl("log-delivery-write", OWNER, OWNER_NAME)
    assert {p for p in PERMISSIONS if allowed(only_log, LOG_DELIVERY, p)} == {"WRITE", "READ_ACP"}


def test_allowed_from_json_and_headers() -> None:
    acl = headers_acl({"x-amz-grant-write": f"id={ALT}", "x-amz-grant-read": f'uri="{ALL_USERS}"'})
    assert acl is not None
    loaded = Acl.from_json(acl.to_json())
    assert allowed(loaded, ALT, "WRITE") and allowed(loaded, None, "READ")
    assert not allowed(loaded, OWNER, "WRITE")  # no implicit owner grant with header grants
    assert allowed(loaded, OWNER, "WRITE_ACP")


def test_allowed_unknown_permission() -> None:
    with pytest.raises(ValueError):
        allowed(canned_acl("private", OWNER, OWNER_NAME), OWNER, "DELETE")


def test_principal() -> None:
    assert ANONYMOUS.anonymous and ANONYMOUS.canonical_id is None
    p = Principal(ALT, ALT_NAME)
    assert not p.anonymous
    assert allowed(canned_acl("authenticated-read", OWNER, OWNER_NAME), p.canonical_id, "READ")
    assert not allowed(canned_acl("authenticated-read", OWNER, OWNER_NAME), ANONYMOUS.canonical_id, "READ")
