"""ACL enforcement with boto3: canned ACLs, x-amz-grant-* headers and AccessControlPolicy bodies,
for the owner, another registered user and the anonymous principal.

Expected results are AWS S3's legacy ACL semantics (object ownership "ObjectWriter"):

* the object's ACL governs reading the object (GET/HEAD);
* the bucket's ACL governs listing (READ) and writing/deleting objects (WRITE);
* READ_ACP / WRITE_ACP govern ``?acl``; the resource owner can always read and write its ACL;
* a denied operation is ``403 AccessDenied`` (a HEAD has no body).
"""

from __future__ import annotations

import http.client
import uuid
from collections.abc import Callable, Iterator

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import client

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"

OWNER, OTHER, ANON = "owner", "other", "anonymous"
PRINCIPALS = (OWNER, OTHER, ANON)
CANNED = ("private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read",
          "bucket-owner-full-control")

# Who is granted READ / WRITE by each canned ACL when the owner applies it to its own bucket or
# object (bucket-owner-* on a bucket, or on an object of the bucket's owner, is just "private").
READERS = {
    "private": {OWNER},
    "public-read": {OWNER, OTHER, ANON},
    "public-read-write": {OWNER, OTHER, ANON},
    "authenticated-read": {OWNER, OTHER},
    "bucket-owner-read": {OWNER},
    "bucket-owner-full-control": {OWNER},
}
WRITERS = {
    "private": {OWNER},
    "public-read": {OWNER},
    "public-read-write": {OWNER, OTHER, ANON},
    "authenticated-read": {OWNER},
    "bucket-owner-read": {OWNER},
    "bucket-owner-full-control": {OWNER},
}


def unique(prefix: str = "acl") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="module")
def anon_s3(server):
    return boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                        config=Config(signature_version=botocore.UNSIGNED))


@pytest.fixture(scope="module")
def clients(s3, alt_s3, anon_s3) -> dict[str, object]:
    return {OWNER: s3, OTHER: alt_s3, ANON: anon_s3}


@pytest.fixture(scope="module")
def owner_id(s3) -> str:
    return s3.list_buckets()["Owner"]["ID"]


@pytest.fixture(scope="module")
def bucket_account(server):
    """An account other than the operator (whose root reaches every object): (its S3 client, canonical id)."""
    account = server.add_user(f"acl-owner-{unique()[-8:]}")
    return client(server, account["access_key"], account["secret_key"]), account["canonical_id"]


@pytest.fixture
def new_bucket(s3) -> Iterator[Callable[..., str]]:
    """Creates buckets (root user, extra create_bucket arguments); removes them afterwards."""
    made: list[str] = []

    def make(**kw: object) -> str:
        name = unique()
        s3.create_bucket(Bucket=name, **kw)
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            s3.put_bucket_acl(Bucket=name, ACL="private")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                for o in page.get("Contents", []):
                    s3.delete_object(Bucket=name, Key=o["Key"])
            s3.delete_bucket(Bucket=name)
        except ClientError:
            pass  # best effort: a failure here must not hide the test's own result


def outcome(fn: Callable[[], object]) -> tuple[bool, ClientError | None]:
    try:
        fn()
    except ClientError as e:
        return False, e
    return True, None


def check(allowed: bool, fn: Callable[[], object], head: bool = False) -> None:
    ok, err = outcome(fn)
    if allowed:
        assert ok, f"expected success, got {err and err.response.get('Error')}"
        return
    assert not ok, "expected 403 AccessDenied, the request succeeded"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403, err.response
    if head:
        assert err.response["Error"]["Code"] == "403"  # no body to carry a code
    else:
        assert err.response["Error"]["Code"] == "AccessDenied", err.response["Error"]


def grants_of(resp: dict) -> set[tuple[str, str, str]]:
    out = set()
    for g in resp["Grants"]:
        ge = g["Grantee"]
        ident = ge.get("ID") if ge["Type"] == "CanonicalUser" else ge.get("URI")
        out.add((g["Permission"], ge["Type"], ident))
    return out


def raw(server, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# bucket ACL matrix


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("canned", CANNED)
def test_bucket_acl_list_objects(clients, new_bucket, canned, who):
    name = new_bucket(ACL=canned)
    clients[OWNER].put_object(Bucket=name, Key="k", Body=b"v")
    c = clients[who]
    check(who in READERS[canned], lambda: c.list_objects(Bucket=name))
    check(who in READERS[canned], lambda: c.list_objects_v2(Bucket=name))


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("canned", CANNED)
def test_bucket_acl_head_bucket(clients, new_bucket, canned, who):
    name = new_bucket(ACL=canned)
    check(who in READERS[canned], lambda: clients[who].head_bucket(Bucket=name), head=True)


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("canned", CANNED)
def test_bucket_acl_put_and_delete_object(clients, new_bucket, canned, who):
    name = new_bucket(ACL=canned)
    s3 = clients[OWNER]
    c = clients[who]
    allowed = who in WRITERS[canned]
    # a writer other than the owner hands the bucket owner full control of what it writes
    acl = {} if who == OWNER else {"ACL": "bucket-owner-full-control"}
    check(allowed, lambda: c.put_object(Bucket=name, Key="new", Body=b"written", **acl))
    if allowed:
        assert s3.get_object(Bucket=name, Key="new")["Body"].read() == b"written"
    else:
        assert s3.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0

    s3.put_object(Bucket=name, Key="victim", Body=b"v")
    check(allowed, lambda: c.delete_object(Bucket=name, Key="victim"))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
    assert ("victim" in keys) is not allowed


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("canned", CANNED)
def test_bucket_acl_get_and_put_acl(clients, new_bucket, owner_id, canned, who):
    name = new_bucket(ACL=canned)
    c = clients[who]
    check(who == OWNER, lambda: c.get_bucket_acl(Bucket=name))
    check(who == OWNER, lambda: c.put_bucket_acl(Bucket=name, ACL="public-read-write"))
    grants = grants_of(clients[OWNER].get_bucket_acl(Bucket=name))
    assert (("WRITE", "Group", ALL_USERS) in grants) is (who == OWNER or canned == "public-read-write")


@pytest.mark.parametrize("canned", CANNED)
def test_bucket_canned_acl_grants(s3, new_bucket, owner_id, canned):
    name = new_bucket(ACL=canned)
    expected = {("FULL_CONTROL", "CanonicalUser", owner_id)}
    if canned in ("public-read", "public-read-write"):
        expected.add(("READ", "Group", ALL_USERS))
    if canned == "public-read-write":
        expected.add(("WRITE", "Group", ALL_USERS))
    if canned == "authenticated-read":
        expected.add(("READ", "Group", AUTHENTICATED_USERS))
    resp = s3.get_bucket_acl(Bucket=name)
    assert resp["Owner"]["ID"] == owner_id
    assert grants_of(resp) == expected
    # and the same canned ACL set afterwards gives the same result
    other = new_bucket()
    s3.put_bucket_acl(Bucket=other, ACL=canned)
    assert grants_of(s3.get_bucket_acl(Bucket=other)) == expected


# --------------------------------------------------------------------------------------------
# object ACL matrix (a private bucket: only the object's ACL opens reads)


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("canned", CANNED)
def test_object_acl_get_and_head(clients, new_bucket, canned, who):
    name = new_bucket()
    clients[OWNER].put_object(Bucket=name, Key="obj", Body=b"payload", ACL=canned)
    c = clients[who]
    allowed = who in READERS[canned]
    check(allowed, lambda: c.head_object(Bucket=name, Key="obj"), head=True)
    ok, err = outcome(lambda: c.get_object(Bucket=name, Key="obj"))
    if allowed:
        assert ok, err
        assert c.get_object(Bucket=name, Key="obj")["Body"].read() == b"payload"
    else:
        check(False, lambda: c.get_object(Bucket=name, Key="obj"))


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("canned", CANNED)
def test_object_acl_does_not_open_the_bucket(clients, new_bucket, canned, who):
    """A public object in a private bucket: the object can be read, the bucket not listed, and
    nobody but the owner can write into the bucket (object ACL WRITE means nothing)."""
    name = new_bucket()
    clients[OWNER].put_object(Bucket=name, Key="obj", Body=b"payload", ACL=canned)
    c = clients[who]
    check(who == OWNER, lambda: c.list_objects_v2(Bucket=name))
    check(who == OWNER, lambda: c.put_object(Bucket=name, Key="obj", Body=b"overwritten"))
    check(who == OWNER, lambda: c.delete_object(Bucket=name, Key="obj"))


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("canned", CANNED)
def test_object_acl_get_and_put_acl(clients, new_bucket, canned, who):
    name = new_bucket()
    s3 = clients[OWNER]
    s3.put_object(Bucket=name, Key="obj", Body=b"payload", ACL=canned)
    c = clients[who]
    check(who == OWNER, lambda: c.get_object_acl(Bucket=name, Key="obj"))
    check(who == OWNER, lambda: c.put_object_acl(Bucket=name, Key="obj", ACL="public-read-write"))
    grants = grants_of(s3.get_object_acl(Bucket=name, Key="obj"))
    assert (("WRITE", "Group", ALL_USERS) in grants) is (who == OWNER or canned == "public-read-write")


@pytest.mark.parametrize("canned", CANNED)
def test_object_canned_acl_grants(s3, new_bucket, owner_id, canned):
    name = new_bucket()
    s3.put_object(Bucket=name, Key="obj", Body=b"x", ACL=canned)
    expected = {("FULL_CONTROL", "CanonicalUser", owner_id)}
    if canned in ("public-read", "public-read-write"):
        expected.add(("READ", "Group", ALL_USERS))
    if canned == "public-read-write":
        expected.add(("WRITE", "Group", ALL_USERS))
    if canned == "authenticated-read":
        expected.add(("READ", "Group", AUTHENTICATED_USERS))
    if canned == "bucket-owner-read":
        expected.add(("READ", "CanonicalUser", owner_id))
    resp = s3.get_object_acl(Bucket=name, Key="obj")
    assert resp["Owner"]["ID"] == owner_id
    got = grants_of(resp)
    # bucket-owner-read by the bucket's owner: AWS may list the owner's READ beside FULL_CONTROL
    assert got == expected or (canned == "bucket-owner-read" and got == expected - {("READ", "CanonicalUser",
                                                                                      owner_id)})
    s3.put_object_acl(Bucket=name, Key="obj", ACL="private")
    assert grants_of(s3.get_object_acl(Bucket=name, Key="obj")) == {("FULL_CONTROL", "CanonicalUser", owner_id)}


def test_put_object_without_acl_resets_to_private(s3, anon_s3, new_bucket):
    name = new_bucket()
    s3.put_object(Bucket=name, Key="obj", Body=b"v1", ACL="public-read")
    assert anon_s3.get_object(Bucket=name, Key="obj")["Body"].read() == b"v1"
    s3.put_object(Bucket=name, Key="obj", Body=b"v2")  # a new object: a new (private) ACL
    check(False, lambda: anon_s3.get_object(Bucket=name, Key="obj"))


def test_object_acl_on_a_missing_key_is_404(s3, new_bucket):
    name = new_bucket()
    with pytest.raises(ClientError) as ei:
        s3.get_object_acl(Bucket=name, Key="missing")
    assert ei.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as ei:
        s3.put_object_acl(Bucket=name, Key="missing", ACL="public-read")
    assert ei.value.response["Error"]["Code"] == "NoSuchKey"


# --------------------------------------------------------------------------------------------
# objects written by another user into the owner's bucket (ObjectWriter ownership)


@pytest.mark.parametrize(("canned", "owner_reads", "owner_acp"), [
    ("private", False, False),
    ("public-read", True, False),
    ("bucket-owner-read", True, False),
    ("bucket-owner-full-control", True, True),
])
def test_object_written_by_another_user(server, s3, alt_s3, alt_user, bucket_account, canned, owner_reads,
                                        owner_acp):
    owner_s3, owner_id = bucket_account
    name = unique()
    owner_s3.create_bucket(Bucket=name, ACL="public-read-write")
    alt_s3.put_object(Bucket=name, Key="theirs", Body=b"alt data", ACL=canned)

    # the writer owns the object: it reads it and its ACL
    assert alt_s3.get_object(Bucket=name, Key="theirs")["Body"].read() == b"alt data"
    resp = alt_s3.get_object_acl(Bucket=name, Key="theirs")
    assert resp["Owner"]["ID"] == alt_user["canonical_id"]
    grants = grants_of(resp)
    assert ("FULL_CONTROL", "CanonicalUser", alt_user["canonical_id"]) in grants
    if canned == "bucket-owner-read":
        assert ("READ", "CanonicalUser", owner_id) in grants
    if canned == "bucket-owner-full-control":
        assert ("FULL_CONTROL", "CanonicalUser", owner_id) in grants

    # the bucket owner reads it only if the object's ACL says so ...
    check(owner_reads, lambda: owner_s3.get_object(Bucket=name, Key="theirs"))
    check(owner_reads, lambda: owner_s3.head_object(Bucket=name, Key="theirs"), head=True)
    check(owner_acp, lambda: owner_s3.get_object_acl(Bucket=name, Key="theirs"))
    # ... the operator (the server's root credentials) reaches every object ...
    assert s3.get_object(Bucket=name, Key="theirs")["Body"].read() == b"alt data"
    # ... and the owner lists it (bucket READ) and can always delete it (bucket WRITE)
    assert [o["Key"] for o in owner_s3.list_objects_v2(Bucket=name)["Contents"]] == ["theirs"]
    owner_s3.delete_object(Bucket=name, Key="theirs")
    assert owner_s3.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0
    owner_s3.delete_bucket(Bucket=name)


def test_anonymous_write_to_public_read_write_bucket(server, s3, anon_s3, new_bucket):
    name = new_bucket(ACL="public-read-write")
    anon_s3.put_object(Bucket=name, Key="anon", Body=b"from anyone", ACL="bucket-owner-full-control")
    assert s3.get_object(Bucket=name, Key="anon")["Body"].read() == b"from anyone"
    # the bucket's READ lists, it does not open the object
    assert [o["Key"] for o in anon_s3.list_objects_v2(Bucket=name)["Contents"]] == ["anon"]
    # anonymously, over plain HTTP with no checksum headers at all
    status, _, body = raw(server, "PUT", f"/{name}/plain", b"plain body", {"x-amz-acl": "bucket-owner-full-control"})
    assert status == 200, body
    assert s3.get_object(Bucket=name, Key="plain")["Body"].read() == b"plain body"
    anon_s3.delete_object(Bucket=name, Key="anon")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]] == ["plain"]


# --------------------------------------------------------------------------------------------
# the resource owner keeps READ_ACP / WRITE_ACP whatever the ACL says


def test_bucket_owner_can_always_read_and_write_the_acl(s3, alt_s3, alt_user, new_bucket, owner_id):
    name = new_bucket()
    s3.put_bucket_acl(Bucket=name, AccessControlPolicy={
        "Owner": {"ID": owner_id},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": alt_user["canonical_id"]}, "Permission": "READ"}],
    })
    resp = s3.get_bucket_acl(Bucket=name)
    assert resp["Owner"]["ID"] == owner_id
    assert grants_of(resp) == {("READ", "CanonicalUser", alt_user["canonical_id"])}
    alt_s3.list_objects_v2(Bucket=name)
    s3.put_bucket_acl(Bucket=name, ACL="private")
    assert grants_of(s3.get_bucket_acl(Bucket=name)) == {("FULL_CONTROL", "CanonicalUser", owner_id)}
    check(False, lambda: alt_s3.list_objects_v2(Bucket=name))


def test_object_owner_can_always_read_and_write_the_acl(s3, new_bucket, owner_id):
    name = new_bucket()
    s3.put_object(Bucket=name, Key="obj", Body=b"x")
    s3.put_object_acl(Bucket=name, Key="obj", AccessControlPolicy={
        "Owner": {"ID": owner_id},
        "Grants": [{"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}],
    })
    assert grants_of(s3.get_object_acl(Bucket=name, Key="obj")) == {("READ", "Group", ALL_USERS)}
    s3.put_object_acl(Bucket=name, Key="obj", ACL="private")
    assert grants_of(s3.get_object_acl(Bucket=name, Key="obj")) == {("FULL_CONTROL", "CanonicalUser", owner_id)}


# --------------------------------------------------------------------------------------------
# x-amz-grant-* headers


def test_grant_read_by_canonical_id_on_create_bucket(clients, new_bucket, alt_user):
    alt_id = alt_user["canonical_id"]
    name = new_bucket(GrantRead=f'id="{alt_id}"')
    resp = clients[OWNER].get_bucket_acl(Bucket=name)
    assert grants_of(resp) == {("READ", "CanonicalUser", alt_id)}
    clients[OTHER].list_objects_v2(Bucket=name)
    check(False, lambda: clients[ANON].list_objects_v2(Bucket=name))
    check(False, lambda: clients[OTHER].put_object(Bucket=name, Key="k", Body=b"x"))
    check(False, lambda: clients[OTHER].get_bucket_acl(Bucket=name))


def test_grant_full_control_by_email_address(clients, new_bucket, alt_user, owner_id):
    alt_id = alt_user["canonical_id"]
    name = new_bucket()
    s3, alt = clients[OWNER], clients[OTHER]
    s3.put_object(Bucket=name, Key="obj", Body=b"shared", GrantFullControl=f'emailAddress="{alt_user["email"]}"')
    resp = s3.get_object_acl(Bucket=name, Key="obj")
    assert resp["Owner"]["ID"] == owner_id
    [grant] = resp["Grants"]
    assert grant["Permission"] == "FULL_CONTROL"
    assert grant["Grantee"]["Type"] == "CanonicalUser"  # an email grant comes back as the user
    assert grant["Grantee"]["ID"] == alt_id
    assert alt.get_object(Bucket=name, Key="obj")["Body"].read() == b"shared"
    assert grants_of(alt.get_object_acl(Bucket=name, Key="obj")) == {("FULL_CONTROL", "CanonicalUser", alt_id)}
    alt.put_object_acl(Bucket=name, Key="obj", ACL="public-read")  # FULL_CONTROL includes WRITE_ACP
    assert clients[ANON].get_object(Bucket=name, Key="obj")["Body"].read() == b"shared"


def test_grant_read_to_a_group_uri(clients, new_bucket):
    name = new_bucket()
    s3 = clients[OWNER]
    s3.put_object(Bucket=name, Key="all", Body=b"a", GrantRead=f'uri="{ALL_USERS}"')
    s3.put_object(Bucket=name, Key="auth", Body=b"b", GrantRead=f'uri="{AUTHENTICATED_USERS}"')
    resp = s3.get_object_acl(Bucket=name, Key="all")
    assert resp["Grants"] == [{"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]
    assert clients[ANON].get_object(Bucket=name, Key="all")["Body"].read() == b"a"
    assert clients[OTHER].get_object(Bucket=name, Key="all")["Body"].read() == b"a"
    assert clients[OTHER].get_object(Bucket=name, Key="auth")["Body"].read() == b"b"
    check(False, lambda: clients[ANON].get_object(Bucket=name, Key="auth"))


def test_grant_write_on_bucket_by_header(clients, new_bucket, alt_user):
    alt_id = alt_user["canonical_id"]
    name = new_bucket()
    clients[OWNER].put_bucket_acl(Bucket=name, GrantWrite=f'id="{alt_id}"', GrantRead=f'uri="{AUTHENTICATED_USERS}"')
    grants = grants_of(clients[OWNER].get_bucket_acl(Bucket=name))
    assert grants == {("WRITE", "CanonicalUser", alt_id), ("READ", "Group", AUTHENTICATED_USERS)}
    clients[OTHER].put_object(Bucket=name, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    assert [o["Key"] for o in clients[OTHER].list_objects_v2(Bucket=name)["Contents"]] == ["k"]
    check(False, lambda: clients[ANON].put_object(Bucket=name, Key="k2", Body=b"x"))
    check(False, lambda: clients[ANON].list_objects_v2(Bucket=name))
    check(False, lambda: clients[OTHER].get_bucket_acl(Bucket=name))


def test_several_grantees_in_one_header(clients, new_bucket, alt_user, owner_id):
    alt_id = alt_user["canonical_id"]
    name = new_bucket()
    s3 = clients[OWNER]
    s3.put_object(Bucket=name, Key="obj", Body=b"x",
                  GrantRead=f'id="{alt_id}", uri="{ALL_USERS}"', GrantReadACP=f'id="{alt_id}"',
                  GrantWriteACP=f'emailAddress="{alt_user["email"]}"')
    assert grants_of(s3.get_object_acl(Bucket=name, Key="obj")) == {
        ("READ", "CanonicalUser", alt_id), ("READ", "Group", ALL_USERS),
        ("READ_ACP", "CanonicalUser", alt_id), ("WRITE_ACP", "CanonicalUser", alt_id)}
    # READ_ACP lets alt read the ACL, WRITE_ACP lets it change it
    clients[OTHER].get_object_acl(Bucket=name, Key="obj")
    clients[OTHER].put_object_acl(Bucket=name, Key="obj", ACL="private")
    assert grants_of(s3.get_object_acl(Bucket=name, Key="obj")) == {("FULL_CONTROL", "CanonicalUser", owner_id)}
    check(False, lambda: clients[OTHER].get_object(Bucket=name, Key="obj"))


def test_canned_acl_and_grant_headers_together_are_refused(s3, new_bucket, alt_user):
    name = new_bucket()
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=name, Key="obj", Body=b"x", ACL="public-read",
                      GrantRead=f'id="{alt_user["canonical_id"]}"')
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ei.value.response["Error"]["Code"] == "InvalidRequest"


def test_grant_to_an_unknown_email_is_refused(s3, new_bucket):
    name = new_bucket()
    with pytest.raises(ClientError) as ei:
        s3.put_bucket_acl(Bucket=name, GrantRead='emailAddress="nobody-here@example.invalid"')
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ei.value.response["Error"]["Code"] == "UnresolvableGrantByEmailAddress"


def test_grant_to_an_unknown_canonical_id_is_refused(s3, new_bucket):
    name = new_bucket()
    with pytest.raises(ClientError) as ei:
        s3.put_bucket_acl(Bucket=name, GrantRead=f'id="{"0" * 64}"')
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ei.value.response["Error"]["Code"] == "InvalidArgument"


# --------------------------------------------------------------------------------------------
# AccessControlPolicy bodies


def test_put_bucket_acl_with_a_policy_body(clients, new_bucket, alt_user, owner_id):
    alt_id = alt_user["canonical_id"]
    name = new_bucket()
    s3 = clients[OWNER]
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.put_bucket_acl(Bucket=name, AccessControlPolicy={
        "Owner": {"ID": owner_id},
        "Grants": [
            {"Grantee": {"Type": "CanonicalUser", "ID": owner_id}, "Permission": "FULL_CONTROL"},
            {"Grantee": {"Type": "CanonicalUser", "ID": alt_id}, "Permission": "WRITE"},
            {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"},
            {"Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": alt_user["email"]},
             "Permission": "READ_ACP"},
        ],
    })
    resp = s3.get_bucket_acl(Bucket=name)
    assert resp["Owner"]["ID"] == owner_id
    assert "DisplayName" in resp["Owner"]
    assert grants_of(resp) == {
        ("FULL_CONTROL", "CanonicalUser", owner_id), ("WRITE", "CanonicalUser", alt_id),
        ("READ", "Group", ALL_USERS), ("READ_ACP", "CanonicalUser", alt_id)}
    for g in resp["Grants"]:
        if g["Grantee"]["Type"] == "CanonicalUser":
            assert set(g["Grantee"]) >= {"Type", "ID", "DisplayName"}
        else:
            assert set(g["Grantee"]) == {"Type", "URI"}
    assert [o["Key"] for o in clients[ANON].list_objects_v2(Bucket=name)["Contents"]] == ["k"]
    clients[OTHER].put_object(Bucket=name, Key="from-alt", Body=b"y", ACL="bucket-owner-full-control")
    check(False, lambda: clients[ANON].put_object(Bucket=name, Key="from-anon", Body=b"z"))
    assert grants_of(clients[OTHER].get_bucket_acl(Bucket=name)) == grants_of(resp)
    check(False, lambda: clients[OTHER].put_bucket_acl(Bucket=name, ACL="public-read-write"))


def test_put_object_acl_with_a_policy_body(clients, new_bucket, alt_user, owner_id):
    alt_id = alt_user["canonical_id"]
    name = new_bucket()
    s3 = clients[OWNER]
    s3.put_object(Bucket=name, Key="obj", Body=b"body")
    s3.put_object_acl(Bucket=name, Key="obj", AccessControlPolicy={
        "Owner": {"ID": owner_id},
        "Grants": [
            {"Grantee": {"Type": "CanonicalUser", "ID": owner_id}, "Permission": "FULL_CONTROL"},
            {"Grantee": {"Type": "CanonicalUser", "ID": alt_id}, "Permission": "READ"},
        ],
    })
    resp = s3.get_object_acl(Bucket=name, Key="obj")
    assert resp["Owner"]["ID"] == owner_id
    assert grants_of(resp) == {("FULL_CONTROL", "CanonicalUser", owner_id), ("READ", "CanonicalUser", alt_id)}
    assert clients[OTHER].get_object(Bucket=name, Key="obj")["Body"].read() == b"body"
    check(False, lambda: clients[ANON].get_object(Bucket=name, Key="obj"))
    check(False, lambda: clients[OTHER].get_object_acl(Bucket=name, Key="obj"))


def test_policy_body_with_a_different_owner_is_refused(s3, new_bucket, alt_user):
    name = new_bucket()
    with pytest.raises(ClientError) as ei:
        s3.put_bucket_acl(Bucket=name, AccessControlPolicy={
            "Owner": {"ID": alt_user["canonical_id"]},
            "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": alt_user["canonical_id"]},
                        "Permission": "FULL_CONTROL"}],
        })
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    assert ei.value.response["Error"]["Code"] in ("AccessDenied", "InvalidArgument")


def test_malformed_policy_body_is_refused(server, s3, new_bucket):
    name = new_bucket()
    with pytest.raises(ClientError) as ei:
        s3.put_bucket_acl(Bucket=name, AccessControlPolicy={
            "Owner": {"ID": s3.list_buckets()["Owner"]["ID"]},
            "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "x" * 64}, "Permission": "NOT_A_PERMISSION"}],
        })
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ei.value.response["Error"]["Code"] in ("MalformedACLError", "InvalidArgument")


# --------------------------------------------------------------------------------------------
# response shapes and error bodies


def test_get_bucket_acl_shape(s3, new_bucket, owner_id):
    name = new_bucket(ACL="public-read")
    resp = s3.get_bucket_acl(Bucket=name)
    assert set(resp["Owner"]) >= {"ID", "DisplayName"}
    assert resp["Owner"]["ID"] == owner_id
    assert len(owner_id) == 64 and all(ch in "0123456789abcdef" for ch in owner_id)
    by_type = {g["Grantee"]["Type"]: g for g in resp["Grants"]}
    assert by_type["CanonicalUser"] == {
        "Grantee": {"Type": "CanonicalUser", "ID": owner_id, "DisplayName": resp["Owner"]["DisplayName"]},
        "Permission": "FULL_CONTROL"}
    assert by_type["Group"] == {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}


def test_denied_requests_have_an_access_denied_body_and_head_has_none(server, s3, new_bucket):
    name = new_bucket()
    s3.put_object(Bucket=name, Key="obj", Body=b"secret")
    for method, path in (("GET", f"/{name}/obj"), ("GET", f"/{name}"), ("GET", f"/{name}?acl"),
                         ("GET", f"/{name}/obj?acl"), ("PUT", f"/{name}/new"), ("DELETE", f"/{name}/obj")):
        status, headers, body = raw(server, method, path, b"" if method == "PUT" else None)
        assert status == 403, (method, path, body)
        assert b"<Code>AccessDenied</Code>" in body, (method, path, body)
        assert headers.get("content-type", "").startswith("application/xml"), (method, path, headers)
        assert b"secret" not in body
    for path in (f"/{name}/obj", f"/{name}"):
        status, headers, body = raw(server, "HEAD", path)
        assert status == 403, path
        assert body == b"", path
    assert s3.get_object(Bucket=name, Key="obj")["Body"].read() == b"secret"


def test_anonymous_list_buckets_reveals_nothing(anon_s3, new_bucket):
    """AWS answers an anonymous ListBuckets 403 AccessDenied; Ceph RGW (and ceph/s3-tests'
    test_list_buckets_anonymous, which Pails follows) answers an empty list.  Either way no
    bucket and no owner may show."""
    new_bucket(ACL="public-read-write")
    ok, err = outcome(lambda: anon_s3.list_buckets())
    if not ok:
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert err.response["Error"]["Code"] == "AccessDenied"
        return
    resp = anon_s3.list_buckets()
    assert resp["Buckets"] == []
    assert "ID" not in resp.get("Owner", {})


def test_other_users_buckets_are_not_listed(s3, alt_s3, new_bucket):
    name = new_bucket(ACL="public-read-write")
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name not in [b["Name"] for b in alt_s3.list_buckets()["Buckets"]]


def test_other_user_cannot_delete_a_public_bucket(clients, new_bucket):
    name = new_bucket(ACL="public-read-write")
    for who in (OTHER, ANON):
        check(False, lambda c=clients[who]: c.delete_bucket(Bucket=name))
    clients[OWNER].head_bucket(Bucket=name)


@pytest.mark.parametrize("header", ["id={alt_id}", 'id="{alt_id}"', "emailAddress={email}", "ID={alt_id}"])
def test_grant_header_value_forms(clients, new_bucket, alt_user, header):
    """s3-tests and the AWS CLI send grantees unquoted (id=...), SDK docs quote them."""
    alt_id = alt_user["canonical_id"]
    name = new_bucket()
    value = header.format(alt_id=alt_id, email=alt_user["email"])
    clients[OWNER].put_object(Bucket=name, Key="obj", Body=b"x", GrantRead=value)
    assert grants_of(clients[OWNER].get_object_acl(Bucket=name, Key="obj")) == {("READ", "CanonicalUser", alt_id)}
    assert clients[OTHER].get_object(Bucket=name, Key="obj")["Body"].read() == b"x"


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("canned", ["private", "public-read", "authenticated-read"])
def test_missing_key_is_404_only_for_those_who_may_list(clients, new_bucket, canned, who):
    """Without READ on the bucket a missing key is 403 AccessDenied, so a stranger cannot probe
    which keys exist; with it, 404 NoSuchKey."""
    name = new_bucket(ACL=canned)
    c = clients[who]
    with pytest.raises(ClientError) as ei:
        c.get_object(Bucket=name, Key="missing")
    if who in READERS[canned]:
        assert ei.value.response["Error"]["Code"] == "NoSuchKey"
        assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    else:
        assert ei.value.response["Error"]["Code"] == "AccessDenied"
        assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as ei:
        c.head_object(Bucket=name, Key="missing")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == (404 if who in READERS[canned] else 403)


def test_full_control_on_a_bucket_does_not_let_another_user_delete_it(clients, new_bucket, alt_user):
    name = new_bucket(GrantFullControl=f'id="{alt_user["canonical_id"]}"')
    alt = clients[OTHER]
    alt.put_object(Bucket=name, Key="k", Body=b"x")
    alt.delete_object(Bucket=name, Key="k")
    alt.put_bucket_acl(Bucket=name, GrantFullControl=f'id="{alt_user["canonical_id"]}"')  # WRITE_ACP
    check(False, lambda: alt.delete_bucket(Bucket=name))
    assert name in [b["Name"] for b in clients[OWNER].list_buckets()["Buckets"]]


def test_bucket_write_lets_another_user_overwrite_the_owners_object(clients, new_bucket, alt_user):
    name = new_bucket(ACL="public-read-write")
    s3, alt = clients[OWNER], clients[OTHER]
    s3.put_object(Bucket=name, Key="k", Body=b"owner's", ACL="private")
    check(False, lambda: alt.get_object(Bucket=name, Key="k"))
    alt.put_object(Bucket=name, Key="k", Body=b"alt's")  # a new object, owned by alt
    assert alt.get_object(Bucket=name, Key="k")["Body"].read() == b"alt's"
    assert alt.get_object_acl(Bucket=name, Key="k")["Owner"]["ID"] == alt_user["canonical_id"]
