"""The two seed documents (/work/shared/seeds), run as written with the legacy boto 2 library.

* 000: boto's S3 tutorial (connections, buckets, keys, strings and files, listing buckets,
  canned ACLs and ``get_acl``, user metadata).
* 002: Python S3 examples for a self-hosted gateway (path-style connection to a custom host,
  listing with creation dates / sizes / last-modified, deletes, canned ACLs, downloads,
  unsigned public URLs and signed expiring URLs).

boto 2 signs with SigV2 (HmacAuthV1) against a custom host.  Every test talks to a real
Pails server over TCP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator

import boto
import boto.s3.connection
import pytest
from boto.exception import S3CreateError, S3ResponseError
from boto.s3.connection import S3Connection
from boto.s3.key import Key

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
# The timestamp format both documents show: 2011-04-21T18:05:39.000Z
ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def unique(prefix: str = "seed") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def connect(server, access_key: str, secret_key: str) -> S3Connection:
    """The 002 document's connection, pointed at the test server (plain HTTP)."""
    return boto.connect_s3(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        host="127.0.0.1",
        port=server.port,
        is_secure=False,  # uncomment if you are not using ssl
        calling_format=boto.s3.connection.OrdinaryCallingFormat(),
    )


def purge(clients, name: str) -> None:
    """Best-effort removal of a bucket and everything in it, by whichever client owns it."""
    for s3 in clients:
        try:
            s3.put_bucket_acl(Bucket=name, ACL="private")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                for o in page.get("Contents", []):
                    s3.delete_object(Bucket=name, Key=o["Key"])
            s3.delete_bucket(Bucket=name)
            return
        except Exception:  # noqa: BLE001 - cleanup must not mask the test's own result
            pass


def http_request(url: str, method: str = "GET", body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """An anonymous request with nothing but the standard library."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def urlopen_status(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def on_port(url: str, server) -> str:
    """boto 2's ``force_http=True`` always means port 80 (it drops the connection's port), as the
    document's host is on port 80; point the URL at the test server's port (SigV2 does not sign
    the host)."""
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "http"
    assert parts.netloc == "127.0.0.1", url
    return urllib.parse.urlunsplit(parts._replace(netloc=f"127.0.0.1:{server.port}"))


@pytest.fixture
def conn(server) -> S3Connection:
    return connect(server, server.access_key, server.secret_key)


@pytest.fixture
def alt_conn(server, alt_user) -> S3Connection:
    return connect(server, alt_user["access_key"], alt_user["secret_key"])


@pytest.fixture
def owner_id(s3) -> str:
    return s3.list_buckets()["Owner"]["ID"]


@pytest.fixture
def names(s3, alt_s3) -> Iterator[list[str]]:
    """Bucket names a test creates (as root or as the other user); all are removed afterwards."""
    created: list[str] = []
    yield created
    for name in created:
        purge((s3, alt_s3), name)


@pytest.fixture
def bucket(conn, names):  # noqa: F811 - a boto 2 bucket, unlike conftest's boto3 one
    name = unique()
    names.append(name)
    return conn.create_bucket(name)


def grant_set(acp) -> set[tuple[str, str, str]]:
    out = set()
    for g in acp.acl.grants:
        out.add((g.permission, g.type, g.id if g.type == "CanonicalUser" else g.uri))
    return out


def assert_s3_error(exc: S3ResponseError, status: int, code: str) -> None:
    assert exc.status == status, (exc.status, exc.error_code, exc.body)
    assert exc.error_code == code, (exc.status, exc.error_code, exc.body)


# --------------------------------------------------------------------------------------------
# 000: Creating a Connection


def test_connection_with_explicit_keys(server, names):
    conn = S3Connection(server.access_key, server.secret_key, host="127.0.0.1", port=server.port,
                        is_secure=False, calling_format=boto.s3.connection.OrdinaryCallingFormat())
    name = unique()
    names.append(name)
    conn.create_bucket(name)
    assert name in [b.name for b in conn.get_all_buckets()]


def test_connection_from_environment_variables(server, monkeypatch, names):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    kw = dict(host="127.0.0.1", port=server.port, is_secure=False,
              calling_format=boto.s3.connection.OrdinaryCallingFormat())
    conn = S3Connection(**kw)
    name = unique()
    names.append(name)
    conn.create_bucket(name)
    conn2 = boto.connect_s3(**kw)
    assert name in [b.name for b in conn2.get_all_buckets()]


def test_connection_with_a_wrong_secret_is_refused(server):
    conn = connect(server, server.access_key, server.secret_key[:-4] + "xxxx")
    with pytest.raises(S3ResponseError) as ei:
        conn.get_all_buckets()
    assert_s3_error(ei.value, 403, "SignatureDoesNotMatch")


def test_connection_with_an_unknown_access_key_is_refused(server):
    conn = connect(server, "AKIANOSUCHKEY0000000", server.secret_key)
    with pytest.raises(S3ResponseError) as ei:
        conn.get_all_buckets()
    assert_s3_error(ei.value, 403, "InvalidAccessKeyId")


# --------------------------------------------------------------------------------------------
# 000: Creating a Bucket ("mybucket" is taken by someone else)


def test_bucket_name_taken_by_another_user_is_a_409(conn, alt_conn, names):
    name = unique("mybucket")
    names.append(name)
    alt_conn.create_bucket(name)  # "someone has already created a bucket called mybucket"
    with pytest.raises(S3CreateError) as ei:
        conn.create_bucket(name)
    assert ei.value.status == 409
    assert ei.value.error_code == "BucketAlreadyExists"
    # and the bucket is still the other user's
    assert name not in [b.name for b in conn.get_all_buckets()]
    assert name in [b.name for b in alt_conn.get_all_buckets()]


def test_create_bucket_returns_the_existing_bucket_of_its_owner(conn, names):
    # "will create the requested bucket if it does not exist or will return the existing bucket"
    name = unique()
    names.append(name)
    b1 = conn.create_bucket(name)
    Key(b1, "foobar").set_contents_from_string("kept")
    b2 = conn.create_bucket(name)
    assert b2.name == name
    assert Key(b2, "foobar").get_contents_as_string() == b"kept"


def test_create_bucket_with_an_invalid_name_is_refused(conn):
    with pytest.raises(S3ResponseError) as ei:
        conn.create_bucket("xy")  # too short: 3 to 63 characters
    assert_s3_error(ei.value, 400, "InvalidBucketName")


# --------------------------------------------------------------------------------------------
# 000: Storing Data


def test_store_a_string_and_read_it_back_from_a_new_connection(server, conn, bucket):
    k = Key(bucket)
    k.key = "foobar"
    k.set_contents_from_string("This is a test of S3")

    # "quit out of the interpreter and start it up again"
    c = connect(server, server.access_key, server.secret_key)
    b = c.create_bucket(bucket.name)  # substitute your bucket name here
    k = Key(b)
    k.key = "foobar"
    assert k.get_contents_as_string() == b"This is a test of S3"
    assert k.get_contents_as_string(encoding="utf-8") == "This is a test of S3"


def test_missing_key_is_a_404(bucket):
    k = Key(bucket)
    k.key = "nothing-here"
    with pytest.raises(S3ResponseError) as ei:
        k.get_contents_as_string()
    assert_s3_error(ei.value, 404, "NoSuchKey")
    assert bucket.get_key("nothing-here") is None


@pytest.mark.parametrize(("filename", "content_type"), [
    ("foo.jpg", "image/jpeg"),
    ("foo.txt", "text/plain"),
    ("perl_poetry.pdf", "application/pdf"),
    ("page.html", "text/html"),
])
def test_file_upload_and_download_with_guessed_content_type(tmp_path, monkeypatch, bucket, s3, filename,
                                                            content_type):
    data = os.urandom(3 * 1024 * 1024 + 17)  # streamed, larger than one read buffer
    src = tmp_path / filename
    src.write_bytes(data)
    monkeypatch.chdir(tmp_path)  # the tutorial uses bare file names
    k = Key(bucket)
    k.key = "myfile"
    k.set_contents_from_filename(filename)
    k.get_contents_to_filename("bar" + os.path.splitext(filename)[1])
    assert (tmp_path / ("bar" + os.path.splitext(filename)[1])).read_bytes() == data
    got = bucket.get_key("myfile")
    assert got.content_type == content_type
    assert got.size == len(data)
    head = s3.head_object(Bucket=bucket.name, Key="myfile")
    assert head["ContentType"] == content_type
    assert head["ContentLength"] == len(data)


# --------------------------------------------------------------------------------------------
# 000 + 002: Listing All Available / Owned Buckets


def test_get_all_buckets_lists_names_and_creation_dates(conn, alt_conn, names, capsys):
    mine = sorted(unique("mahbuckat") for _ in range(3))
    for n in mine:
        names.append(n)
        conn.create_bucket(n)
    before = dt.datetime.now(dt.UTC)

    rs = conn.get_all_buckets()
    assert len(rs) >= 3
    listed = [b.name for b in rs]
    for n in mine:
        assert n in listed
    assert listed == sorted(listed)  # S3 lists buckets in name order
    b = rs[0]
    assert b.name == listed[0]

    for bucket in conn.get_all_buckets():
        print("{name}\t{created}".format(  # noqa: UP032 - as the document writes it
            name=bucket.name,
            created=bucket.creation_date,
        ))
    out = capsys.readouterr().out
    for n in mine:
        line = next(ln for ln in out.splitlines() if ln.startswith(n + "\t"))
        created = line.split("\t")[1]
        assert ISO_MS_Z.match(created), created
        when = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        assert abs((when - before).total_seconds()) < 300

    # another user does not see them
    theirs = [b.name for b in alt_conn.get_all_buckets()]
    assert not set(mine) & set(theirs)


# --------------------------------------------------------------------------------------------
# 002: Listing a Bucket's Content


def test_bucket_list_gives_name_size_and_last_modified(bucket, capsys):
    sizes = {"myphoto1.jpg": 251262, "myphoto2.jpg": 262518, "a/nested.txt": 0}
    for name, size in sizes.items():
        key = bucket.new_key(name)
        key.set_contents_from_string(b"x" * size)
    for key in bucket.list():
        print("{name}\t{size}\t{modified}".format(  # noqa: UP032 - as the document writes it
            name=key.name,
            size=key.size,
            modified=key.last_modified,
        ))
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split("\t")[0] for ln in lines] == sorted(sizes)
    now = dt.datetime.now(dt.UTC)
    for ln in lines:
        name, size, modified = ln.split("\t")
        assert int(size) == sizes[name]
        assert ISO_MS_Z.match(modified), modified
        when = dt.datetime.strptime(modified, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        assert abs((when - now).total_seconds()) < 300


def test_bucket_list_with_prefix_and_delimiter(bucket):
    for name in ("a/1", "a/2", "b/1", "c"):
        bucket.new_key(name).set_contents_from_string(name)
    assert [k.name for k in bucket.list(prefix="a/")] == ["a/1", "a/2"]
    top = [k.name for k in bucket.list(delimiter="/")]
    assert sorted(top) == ["a/", "b/", "c"]  # boto yields the keys first, then the common prefixes


def test_bucket_list_pages_through_more_than_one_page(bucket, s3):
    # boto 2's bucket.list() follows IsTruncated/NextMarker; 1001 keys need two pages
    names = [f"k{i:05d}" for i in range(1001)]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda n: s3.put_object(Bucket=bucket.name, Key=n, Body=b""), names))
    assert [k.name for k in bucket.list()] == names


# --------------------------------------------------------------------------------------------
# 000 + 002: canned ACLs and get_acl


CANNED = {
    "private": set(),
    "public-read": {("READ", "Group", ALL_USERS)},
    "public-read-write": {("READ", "Group", ALL_USERS), ("WRITE", "Group", ALL_USERS)},
    "authenticated-read": {("READ", "Group", AUTHENTICATED_USERS)},
}


def test_new_bucket_acl_is_owner_full_control(bucket, owner_id, capsys):
    acp = bucket.get_acl()
    assert acp.owner.id == owner_id
    assert grant_set(acp) == {("FULL_CONTROL", "CanonicalUser", owner_id)}
    for grant in acp.acl.grants:
        # the tutorial prints ``grant.grantee``; boto 2.49's Grant has the grantee's fields instead
        print(grant.permission, grant.display_name or grant.id)
    out = capsys.readouterr().out.strip()
    assert out.startswith("FULL_CONTROL ")


@pytest.mark.parametrize("canned", list(CANNED))
def test_bucket_set_acl_canned(bucket, owner_id, canned):
    bucket.set_acl(canned)
    acp = bucket.get_acl()
    assert acp.owner.id == owner_id
    assert grant_set(acp) == {("FULL_CONTROL", "CanonicalUser", owner_id)} | CANNED[canned]


@pytest.mark.parametrize("canned", list(CANNED))
@pytest.mark.parametrize("how", ["bucket.set_acl(policy, key)", "key.set_acl", "key.set_canned_acl"])
def test_key_set_acl_canned(bucket, owner_id, canned, how):
    k = Key(bucket)
    k.key = "foobar"
    k.set_contents_from_string("This is a test of S3")
    if how == "key.set_acl":
        k.set_acl(canned)
    elif how == "key.set_canned_acl":
        bucket.get_key("foobar").set_canned_acl(canned)
    else:
        bucket.set_acl(canned, "foobar")
    acp = k.get_acl()
    assert acp.owner.id == owner_id
    assert grant_set(acp) == {("FULL_CONTROL", "CanonicalUser", owner_id)} | CANNED[canned]
    # the bucket's own ACL is untouched
    assert grant_set(bucket.get_acl()) == {("FULL_CONTROL", "CanonicalUser", owner_id)}


def test_unknown_canned_policy_returns_400(bucket):
    resp = bucket.connection.make_request("PUT", bucket.name, query_args="acl",
                                          headers={"x-amz-acl": "no-such-policy"})
    body = resp.read()
    assert resp.status == 400, body
    assert b"<Code>InvalidArgument</Code>" in body


def test_key_set_acl_on_a_missing_key_is_a_404(bucket):
    with pytest.raises(S3ResponseError) as ei:
        bucket.set_acl("public-read", "no-such-key")
    assert_s3_error(ei.value, 404, "NoSuchKey")


# --------------------------------------------------------------------------------------------
# 000: Setting/Getting Metadata Values on Key Objects


def test_user_metadata_round_trip(tmp_path, bucket):
    (tmp_path / "foo.txt").write_text("some text\n")
    k = Key(bucket)
    k.key = "has_metadata"
    k.set_metadata("meta1", "This is the first metadata value")
    k.set_metadata("meta2", "This is the second metadata value")
    k.set_contents_from_filename(str(tmp_path / "foo.txt"))

    k = bucket.lookup("has_metadata")
    assert k.get_metadata("meta1") == "This is the first metadata value"
    assert k.get_metadata("meta2") == "This is the second metadata value"
    assert k.get_metadata("meta3") is None
    assert k.content_type == "text/plain"
    # and with a GET, too
    k2 = Key(bucket, "has_metadata")
    assert k2.get_contents_as_string() == b"some text\n"
    assert k2.metadata == {"meta1": "This is the first metadata value",
                           "meta2": "This is the second metadata value"}


def test_lookup_of_a_missing_key_is_none(bucket):
    assert bucket.lookup("no-such-key") is None


# --------------------------------------------------------------------------------------------
# 002: Deleting a Bucket / an Object


def test_delete_bucket_must_be_empty(conn, names):
    name = unique()
    names.append(name)
    bucket = conn.create_bucket(name)
    key = bucket.new_key("goodbye.txt")
    key.set_contents_from_string("Goodbye!")

    with pytest.raises(S3ResponseError) as ei:
        conn.delete_bucket(bucket.name)
    assert_s3_error(ei.value, 409, "BucketNotEmpty")
    assert conn.lookup(name) is not None

    bucket.delete_key("goodbye.txt")
    assert bucket.get_key("goodbye.txt") is None
    assert list(bucket.list()) == []

    conn.delete_bucket(bucket.name)
    assert conn.lookup(name) is None
    assert name not in [b.name for b in conn.get_all_buckets()]
    with pytest.raises(S3ResponseError) as ei:
        conn.delete_bucket(name)
    assert_s3_error(ei.value, 404, "NoSuchBucket")


def test_delete_key_of_a_missing_key_succeeds(bucket):
    bucket.delete_key("never-existed.txt")  # S3 answers 204 for a missing key
    assert bucket.get_key("never-existed.txt") is None


def test_bucket_name_is_free_again_after_delete(conn, alt_conn, names):
    name = unique()
    names.append(name)
    conn.create_bucket(name)
    conn.delete_bucket(name)
    alt_conn.create_bucket(name)
    assert name in [b.name for b in alt_conn.get_all_buckets()]


# --------------------------------------------------------------------------------------------
# 002: Creating an Object, Change an Object's ACL, Download, URLs


def make_hello_and_plans(bucket):
    key = bucket.new_key("hello.txt")
    key.set_contents_from_string("Hello World!")
    bucket.new_key("secret_plans.txt").set_contents_from_string("Take over the world.")

    hello_key = bucket.get_key("hello.txt")
    hello_key.set_canned_acl("public-read")
    plans_key = bucket.get_key("secret_plans.txt")
    plans_key.set_canned_acl("private")


def test_download_an_object_to_a_file(tmp_path, bucket):
    data = os.urandom(200_000)
    bucket.new_key("perl_poetry.pdf").set_contents_from_string(data)
    documents = tmp_path / "home" / "larry" / "documents"
    documents.mkdir(parents=True)

    key = bucket.get_key("perl_poetry.pdf")
    key.get_contents_to_filename(str(documents / "perl_poetry.pdf"))
    assert (documents / "perl_poetry.pdf").read_bytes() == data
    assert key.size == len(data)


def test_unsigned_url_to_a_public_object_works_anonymously(server, bucket, capsys):
    make_hello_and_plans(bucket)
    hello_key = bucket.get_key("hello.txt")
    hello_url = hello_key.generate_url(0, query_auth=False, force_http=True)
    print(hello_url)
    assert capsys.readouterr().out.strip() == f"http://127.0.0.1/{bucket.name}/hello.txt"
    status, body = urlopen_status(on_port(hello_url, server))
    assert (status, body) == (200, b"Hello World!")


def test_unsigned_url_to_a_private_object_is_403(server, bucket):
    make_hello_and_plans(bucket)
    plans_key = bucket.get_key("secret_plans.txt")
    url = on_port(plans_key.generate_url(0, query_auth=False, force_http=True), server)
    status, body = urlopen_status(url)
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body
    assert b"Take over" not in body


def test_signed_url_to_a_private_object_works_for_an_hour(server, bucket, capsys):
    make_hello_and_plans(bucket)
    plans_key = bucket.get_key("secret_plans.txt")
    plans_url = plans_key.generate_url(3600, query_auth=True, force_http=True)
    print(plans_url)
    printed = capsys.readouterr().out.strip()
    parts = urllib.parse.urlsplit(printed)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"http://127.0.0.1/{bucket.name}/secret_plans.txt"
    q = urllib.parse.parse_qs(parts.query)
    assert set(q) == {"Signature", "Expires", "AWSAccessKeyId"}
    assert 3500 < int(q["Expires"][0]) - time.time() <= 3601
    status, body = urlopen_status(on_port(plans_url, server))
    assert (status, body) == (200, b"Take over the world.")
    # without force_http, the URL keeps the connection's port
    url = plans_key.generate_url(3600, query_auth=True)
    assert url.startswith(f"http://127.0.0.1:{server.port}/{bucket.name}/secret_plans.txt?")
    assert urlopen_status(url) == (200, b"Take over the world.")


def test_signed_url_of_another_users_key_is_403_when_they_lack_access(server, bucket, alt_conn):
    make_hello_and_plans(bucket)
    alt_key = Key(alt_conn.get_bucket(bucket.name, validate=False), "secret_plans.txt")
    url = on_port(alt_key.generate_url(3600, query_auth=True, force_http=True), server)
    status, body = urlopen_status(url)
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body


def test_expired_signed_url_is_403(server, bucket):
    make_hello_and_plans(bucket)
    plans_key = bucket.get_key("secret_plans.txt")
    url = on_port(plans_key.generate_url(-10, query_auth=True, force_http=True), server)
    status, body = urlopen_status(url)
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body
    assert b"Take over" not in body


def test_signed_url_stops_working_when_its_time_is_up(server, bucket):
    make_hello_and_plans(bucket)
    plans_key = bucket.get_key("secret_plans.txt")
    url = on_port(plans_key.generate_url(1, query_auth=True, force_http=True), server)
    time.sleep(2.2)
    status, body = urlopen_status(url)
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body


def tamper(url: str, param: str, new: str) -> str:
    parts = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(parts.query)
    q = [(k, new if k == param else v) for k, v in q]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q)))


def test_signed_url_with_a_tampered_signature_is_403(server, bucket):
    make_hello_and_plans(bucket)
    url = on_port(bucket.get_key("secret_plans.txt").generate_url(3600, query_auth=True, force_http=True), server)
    sig = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["Signature"][0]
    forged = ("A" if sig[0] != "A" else "B") + sig[1:]
    status, body = urlopen_status(tamper(url, "Signature", forged))
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in body
    assert b"Take over" not in body


def test_signed_url_with_an_extended_expiry_is_403(server, bucket):
    make_hello_and_plans(bucket)
    url = on_port(bucket.get_key("secret_plans.txt").generate_url(60, query_auth=True, force_http=True), server)
    expires = int(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["Expires"][0])
    status, body = urlopen_status(tamper(url, "Expires", str(expires + 86400)))
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in body


def test_signed_url_for_another_key_does_not_open_this_one(server, bucket):
    make_hello_and_plans(bucket)
    bucket.new_key("other.txt").set_contents_from_string("other")
    bucket.get_key("other.txt").set_canned_acl("private")
    url = on_port(bucket.get_key("secret_plans.txt").generate_url(3600, query_auth=True, force_http=True), server)
    status, _ = urlopen_status(url.replace("/secret_plans.txt?", "/other.txt?"))
    assert status == 403


def test_anonymous_boto_connection_reads_a_public_key(server, bucket):
    make_hello_and_plans(bucket)
    anon = boto.connect_s3(anon=True, host="127.0.0.1", port=server.port, is_secure=False,
                           calling_format=boto.s3.connection.OrdinaryCallingFormat())
    b = anon.get_bucket(bucket.name, validate=False)
    assert b.get_key("hello.txt").get_contents_as_string() == b"Hello World!"
    with pytest.raises(S3ResponseError) as ei:
        Key(b, "secret_plans.txt").get_contents_as_string()
    assert_s3_error(ei.value, 403, "AccessDenied")


# --------------------------------------------------------------------------------------------
# 000: what the four canned policies mean, enforced


def test_private_key_is_closed_to_other_users_and_anonymous(server, bucket, alt_conn):
    k = bucket.new_key("foobar")
    k.set_contents_from_string("secret")
    k.set_acl("private")
    with pytest.raises(S3ResponseError) as ei:
        Key(alt_conn.get_bucket(bucket.name, validate=False), "foobar").get_contents_as_string()
    assert_s3_error(ei.value, 403, "AccessDenied")
    status, body = urlopen_status(on_port(k.generate_url(0, query_auth=False, force_http=True), server))
    assert status == 403


def test_authenticated_read_key_is_readable_by_other_users_but_not_anonymous(server, bucket, alt_conn):
    k = bucket.new_key("foobar")
    k.set_contents_from_string("for registered users")
    k.set_acl("authenticated-read")

    theirs = Key(alt_conn.get_bucket(bucket.name, validate=False), "foobar")
    assert theirs.get_contents_as_string() == b"for registered users"

    status, body = urlopen_status(on_port(k.generate_url(0, query_auth=False, force_http=True), server))
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body


def test_authenticated_read_bucket_is_listable_by_other_users_but_not_anonymous(server, bucket, alt_conn):
    bucket.new_key("foobar").set_contents_from_string("x")
    bucket.set_acl("authenticated-read")
    assert [k.name for k in alt_conn.get_bucket(bucket.name, validate=False).list()] == ["foobar"]
    status, body = urlopen_status(f"http://127.0.0.1:{server.port}/{bucket.name}/")
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body


def test_public_read_bucket_is_listable_anonymously(server, bucket):
    bucket.new_key("foobar").set_contents_from_string("x")
    status, _ = urlopen_status(f"http://127.0.0.1:{server.port}/{bucket.name}")
    assert status == 403
    bucket.set_acl("public-read")
    status, body = urlopen_status(f"http://127.0.0.1:{server.port}/{bucket.name}")
    assert status == 200
    assert b"<Key>foobar</Key>" in body
    assert b"<Size>1</Size>" in body


def test_public_read_write_bucket_takes_anonymous_writes(server, bucket):
    url = f"http://127.0.0.1:{server.port}/{bucket.name}/from-anyone.txt"
    headers = {"Content-Type": "text/plain", "x-amz-acl": "bucket-owner-full-control"}

    status, _, body = http_request(url, "PUT", b"anonymous data", headers)
    assert status == 403, body  # private bucket: no anonymous writes
    assert b"<Code>AccessDenied</Code>" in body
    bucket.set_acl("public-read")
    status, _, body = http_request(url, "PUT", b"anonymous data", headers)
    assert status == 403, body  # READ does not let anyone write
    assert bucket.get_key("from-anyone.txt") is None

    bucket.set_acl("public-read-write")
    status, resp_headers, body = http_request(url, "PUT", b"anonymous data", headers)
    assert status == 200, body
    assert resp_headers.get("etag") == f'"{hashlib.md5(b"anonymous data").hexdigest()}"'

    k = bucket.get_key("from-anyone.txt")
    assert k is not None
    assert k.get_contents_as_string() == b"anonymous data"
    assert k.content_type == "text/plain"
    assert [key.name for key in bucket.list()] == ["from-anyone.txt"]

    # WRITE on the bucket also lets the anonymous principal delete
    status, _, body = http_request(url, "DELETE")
    assert status == 204, body
    assert bucket.get_key("from-anyone.txt") is None


def test_public_read_write_bucket_takes_writes_from_other_users(bucket, alt_conn):
    bucket.set_acl("public-read-write")
    theirs = alt_conn.get_bucket(bucket.name, validate=False)
    k = theirs.new_key("from-alt.txt")
    k.set_contents_from_string("alt data", headers={"x-amz-acl": "bucket-owner-full-control"})
    assert bucket.get_key("from-alt.txt").get_contents_as_string() == b"alt data"
    assert [key.name for key in theirs.list()] == ["from-alt.txt"]


# --------------------------------------------------------------------------------------------
# beyond the documents: boto 2's own custom grants and other signed URLs


def test_boto2_user_and_email_grants(bucket, alt_conn, alt_user, owner_id):
    bucket.new_key("foobar").set_contents_from_string("shared")
    bucket.add_user_grant("READ", alt_user["canonical_id"])  # get_acl, add a grant, PUT the XML back
    assert grant_set(bucket.get_acl()) == {("FULL_CONTROL", "CanonicalUser", owner_id),
                                           ("READ", "CanonicalUser", alt_user["canonical_id"])}
    assert [k.name for k in alt_conn.get_bucket(bucket.name, validate=False).list()] == ["foobar"]

    k = bucket.get_key("foobar")
    k.add_email_grant("READ", alt_user["email"])
    acp = k.get_acl()
    assert acp.owner.id == owner_id
    assert grant_set(acp) == {("FULL_CONTROL", "CanonicalUser", owner_id),
                              ("READ", "CanonicalUser", alt_user["canonical_id"])}
    assert Key(alt_conn.get_bucket(bucket.name, validate=False), "foobar").get_contents_as_string() == b"shared"


def test_boto2_set_xml_acl_round_trip(bucket, owner_id):
    bucket.set_acl("public-read")
    xml = bucket.get_xml_acl()
    assert b"AllUsers" in xml
    bucket.set_acl("private")
    bucket.set_xml_acl(xml)
    assert grant_set(bucket.get_acl()) == {("FULL_CONTROL", "CanonicalUser", owner_id), ("READ", "Group", ALL_USERS)}


def test_signed_put_url_uploads_anonymously(bucket):
    key = bucket.new_key("uploaded.txt")
    url = key.generate_url(60, method="PUT", headers={"Content-Type": "text/plain"})
    status, _, body = http_request(url, "PUT", b"via a signed URL", {"Content-Type": "text/plain"})
    assert status == 200, body
    got = bucket.get_key("uploaded.txt")
    assert got.get_contents_as_string() == b"via a signed URL"
    assert got.content_type == "text/plain"
    # the signature covers the Content-Type
    status, _, body = http_request(url, "PUT", b"changed", {"Content-Type": "text/html"})
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in body


def test_signed_url_with_response_header_overrides(bucket):
    bucket.new_key("report.bin").set_contents_from_string("data")
    url = bucket.get_key("report.bin").generate_url(
        60, response_headers={"response-content-type": "text/csv",
                              "response-content-disposition": "attachment; filename=report.csv"})
    status, headers, body = http_request(url)
    assert (status, body) == (200, b"data")
    assert headers["content-type"] == "text/csv"
    assert headers["content-disposition"] == "attachment; filename=report.csv"
