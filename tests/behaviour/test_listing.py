"""ListObjects (v1), ListObjectsV2 and ListObjectVersions against a real Pails server."""

from __future__ import annotations

import http.client
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, unquote, urlencode

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def raw_get(server, bucket: str, query: dict[str, str]) -> tuple[int, ET.Element]:
    """A SigV4-signed GET /bucket?query sent with http.client; returns (status, parsed XML root)."""
    qs = urlencode(query, quote_via=quote)
    url = f"{server.endpoint}/{bucket}" + (f"?{qs}" if qs else "")
    req = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", f"/{bucket}" + (f"?{qs}" if qs else ""), headers=dict(req.headers.items()))
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    return resp.status, ET.fromstring(body)


def _text(root: ET.Element, tag: str) -> str | None:
    el = root.find(NS + tag)
    return None if el is None else (el.text or "")


def _put_all(s3, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys))


def _v1_keys(s3, **kw) -> tuple[list[str], list[str], dict]:
    r = s3.list_objects(**kw)
    return [o["Key"] for o in r.get("Contents", [])], [p["Prefix"] for p in r.get("CommonPrefixes", [])], r


def _v2_keys(s3, **kw) -> tuple[list[str], list[str], dict]:
    r = s3.list_objects_v2(**kw)
    return [o["Key"] for o in r.get("Contents", [])], [p["Prefix"] for p in r.get("CommonPrefixes", [])], r


# --- a big bucket shared by the pagination tests -----------------------------------------------------------------

BIG_KEYS = sorted([f"obj/{i:05d}" for i in range(2500)])


@pytest.fixture(scope="module")
def big_bucket(s3):
    name = f"list-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    _put_all(s3, name, BIG_KEYS)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=name)


def test_v2_paginator_returns_every_key_once_in_order(s3, big_bucket):
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=big_bucket))
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert keys == BIG_KEYS
    assert [p["KeyCount"] for p in pages] == [1000, 1000, 500]
    assert [p["IsTruncated"] for p in pages] == [True, True, False]
    assert "NextContinuationToken" in pages[0] and "NextContinuationToken" not in pages[-1]
    assert pages[1]["ContinuationToken"] == pages[0]["NextContinuationToken"]


def test_v2_small_pages(s3, big_bucket):
    pages = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket=big_bucket, PaginationConfig={"PageSize": 333}))
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == BIG_KEYS
    assert all(p["KeyCount"] <= 333 for p in pages)
    assert all(p["MaxKeys"] == 333 for p in pages)


def test_v1_paginator_returns_every_key_once_in_order(s3, big_bucket):
    pages = list(s3.get_paginator("list_objects").paginate(Bucket=big_bucket))
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert keys == BIG_KEYS
    assert len(pages) == 3
    # without a delimiter, v1 gives no NextMarker: the client uses the last key as the next marker
    assert "NextMarker" not in pages[0]
    assert pages[1]["Marker"] == BIG_KEYS[999]


def test_default_max_keys_is_1000(s3, big_bucket):
    keys, _, r = _v2_keys(s3, Bucket=big_bucket)
    assert len(keys) == 1000 and r["MaxKeys"] == 1000 and r["IsTruncated"] is True
    keys, _, r = _v1_keys(s3, Bucket=big_bucket)
    assert len(keys) == 1000 and r["MaxKeys"] == 1000 and r["IsTruncated"] is True


def test_max_keys_above_1000_is_capped(s3, big_bucket):
    keys, _, r = _v2_keys(s3, Bucket=big_bucket, MaxKeys=5000)
    assert len(keys) == 1000 and r["IsTruncated"] is True


def test_v2_delimiter_on_big_bucket_gives_one_prefix(s3, big_bucket):
    keys, prefixes, r = _v2_keys(s3, Bucket=big_bucket, Delimiter="/")
    assert keys == [] and prefixes == ["obj/"] and r["KeyCount"] == 1 and r["IsTruncated"] is False


# --- small listings ---------------------------------------------------------------------------------------------

TREE = ["a.txt", "b/1", "b/2", "b/c/3", "c", "d/", "d/e", "photos/2024/jan.jpg", "photos/2024/feb.jpg",
        "photos/2025/mar.jpg", "photos/index.html", "z"]


@pytest.fixture
def tree(s3, bucket) -> str:
    _put_all(s3, bucket, TREE)
    return bucket


def test_v2_lists_all_sorted_with_fields(s3, tree):
    keys, prefixes, r = _v2_keys(s3, Bucket=tree)
    assert keys == sorted(TREE) and prefixes == []
    assert r["KeyCount"] == len(TREE) and r["IsTruncated"] is False and r["Name"] == tree
    o = r["Contents"][0]
    assert o["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"' and o["Size"] == 0
    assert o["StorageClass"] == "STANDARD" and o["LastModified"]
    assert "Owner" not in o


def test_v2_fetch_owner(s3, tree):
    r = s3.list_objects_v2(Bucket=tree, FetchOwner=True)
    owner = r["Contents"][0]["Owner"]
    assert len(owner["ID"]) == 64
    assert owner["ID"] == s3.list_buckets()["Owner"]["ID"]


def test_v1_includes_owner(s3, tree):
    r = s3.list_objects(Bucket=tree)
    assert len(r["Contents"][0]["Owner"]["ID"]) == 64


def test_prefix(s3, tree):
    assert _v2_keys(s3, Bucket=tree, Prefix="photos/2024/")[0] == ["photos/2024/feb.jpg", "photos/2024/jan.jpg"]
    assert _v1_keys(s3, Bucket=tree, Prefix="b/")[0] == ["b/1", "b/2", "b/c/3"]
    keys, _, r = _v2_keys(s3, Bucket=tree, Prefix="nothing-here")
    assert keys == [] and r["KeyCount"] == 0 and r["Prefix"] == "nothing-here"


def test_delimiter_common_prefixes(s3, tree):
    for lister in (_v1_keys, _v2_keys):
        keys, prefixes, r = lister(s3, Bucket=tree, Delimiter="/")
        assert keys == ["a.txt", "c", "z"]
        assert prefixes == ["b/", "d/", "photos/"]
        assert r["Delimiter"] == "/"
        keys, prefixes, _ = lister(s3, Bucket=tree, Delimiter="/", Prefix="photos/")
        assert keys == ["photos/index.html"]
        assert prefixes == ["photos/2024/", "photos/2025/"]
        keys, prefixes, _ = lister(s3, Bucket=tree, Delimiter="/", Prefix="d/")
        assert keys == ["d/", "d/e"] and prefixes == []


def test_multi_character_delimiter(s3, bucket):
    _put_all(s3, bucket, ["a--b--c", "a--d", "a-e", "f"])
    keys, prefixes, _ = _v2_keys(s3, Bucket=bucket, Delimiter="--")
    assert keys == ["a-e", "f"] and prefixes == ["a--"]


def test_delimiter_that_is_not_slash(s3, tree):
    keys, prefixes, _ = _v2_keys(s3, Bucket=tree, Delimiter=".")
    assert prefixes == ["a.", "photos/2024/feb.", "photos/2024/jan.", "photos/2025/mar.", "photos/index."]
    assert keys == ["b/1", "b/2", "b/c/3", "c", "d/", "d/e", "z"]


def test_v2_start_after(s3, tree):
    keys, _, r = _v2_keys(s3, Bucket=tree, StartAfter="c")
    assert keys == [k for k in sorted(TREE) if k > "c"]
    assert r["StartAfter"] == "c"
    assert _v2_keys(s3, Bucket=tree, StartAfter="zzz")[0] == []
    assert _v2_keys(s3, Bucket=tree, StartAfter="b")[0][0] == "b/1"


def test_v1_marker(s3, tree):
    keys, _, r = _v1_keys(s3, Bucket=tree, Marker="b/2")
    assert keys == [k for k in sorted(TREE) if k > "b/2"]
    assert r["Marker"] == "b/2"


def test_v1_next_marker_with_delimiter(s3, tree):
    # v1 returns NextMarker only when a delimiter is given; it is the last key or common prefix of the page
    r = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=2)
    assert [o["Key"] for o in r.get("Contents", [])] == ["a.txt"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/"]
    assert r["IsTruncated"] is True
    assert r["NextMarker"] == "b/"
    seen_keys, seen_prefixes, marker = [], [], ""
    while True:
        r = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=2, Marker=marker)
        seen_keys += [o["Key"] for o in r.get("Contents", [])]
        seen_prefixes += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        if not r["IsTruncated"]:
            assert "NextMarker" not in r
            break
        marker = r["NextMarker"]
    assert seen_keys == ["a.txt", "c", "z"]
    assert seen_prefixes == ["b/", "d/", "photos/"]


def test_v1_marker_inside_common_prefix_skips_it(s3, tree):
    keys, prefixes, _ = _v1_keys(s3, Bucket=tree, Delimiter="/", Marker="b/1")
    assert "b/" not in prefixes
    assert keys == ["c", "z"] and prefixes == ["d/", "photos/"]


def test_v2_continuation_with_delimiter(s3, tree):
    pages = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket=tree, Delimiter="/", PaginationConfig={"PageSize": 1}))
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert keys == ["a.txt", "c", "z"] and prefixes == ["b/", "d/", "photos/"]
    assert len(pages) == 6


def test_v2_continuation_token_beats_start_after(s3, tree):
    r1 = s3.list_objects_v2(Bucket=tree, MaxKeys=3, StartAfter="a.txt")
    assert [o["Key"] for o in r1["Contents"]] == ["b/1", "b/2", "b/c/3"]
    r2 = s3.list_objects_v2(Bucket=tree, MaxKeys=3, StartAfter="a.txt",
                            ContinuationToken=r1["NextContinuationToken"])
    assert [o["Key"] for o in r2["Contents"]] == ["c", "d/", "d/e"]
    assert r2["StartAfter"] == "a.txt"


def test_v2_invalid_continuation_token(s3, tree):
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=tree, ContinuationToken="%%%not-a-token%%%")
    assert _err(e) == (400, "InvalidArgument")


def test_max_keys_zero(s3, tree):
    for lister in (_v1_keys, _v2_keys):
        keys, prefixes, r = lister(s3, Bucket=tree, MaxKeys=0)
        assert keys == [] and prefixes == [] and r["MaxKeys"] == 0
        assert r["IsTruncated"] is False


def test_max_keys_exact_page_end(s3, tree):
    keys, _, r = _v2_keys(s3, Bucket=tree, MaxKeys=len(TREE))
    assert len(keys) == len(TREE) and r["IsTruncated"] is False
    keys, _, r = _v2_keys(s3, Bucket=tree, MaxKeys=len(TREE) - 1)
    assert len(keys) == len(TREE) - 1 and r["IsTruncated"] is True


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "99999999999999999999"])
def test_invalid_max_keys(server, tree, value):
    for extra in ({}, {"list-type": "2"}):
        status, root = raw_get(server, tree, {**extra, "max-keys": value})
        assert status == 400, value
        assert _text(root, "Code") == "InvalidArgument" or root.findtext("Code") == "InvalidArgument"


def test_invalid_encoding_type(server, tree):
    status, root = raw_get(server, tree, {"list-type": "2", "encoding-type": "base64"})
    assert status == 400 and root.findtext("Code") == "InvalidArgument"


def test_list_missing_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=f"missing-{uuid.uuid4().hex[:12]}")
    assert _err(e) == (404, "NoSuchBucket")


def test_list_by_other_user_denied(alt_s3, tree):
    with pytest.raises(ClientError) as e:
        alt_s3.list_objects_v2(Bucket=tree)
    assert _err(e) == (403, "AccessDenied")


# --- encoding-type=url ------------------------------------------------------------------------------------------

AWKWARD = ["a b", "plus+sign", "pct%41", "amp&lt;", "uni/ü日本/😀", "tab\tx", "ctl\x01char", "q?h#", "/leading",
           "nl\nkey"]


def _delete_each(s3, bucket: str, keys: list[str]) -> None:
    # a control character cannot travel in a DeleteObjects XML body: delete these one by one
    for k in keys:
        s3.delete_object(Bucket=bucket, Key=k)


def test_awkward_keys_via_boto3(s3, bucket):
    # boto3 asks for encoding-type=url and decodes the answer
    _put_all(s3, bucket, AWKWARD)
    for lister in (_v1_keys, _v2_keys):
        assert lister(s3, Bucket=bucket)[0] == sorted(AWKWARD)
    keys, prefixes, _ = _v2_keys(s3, Bucket=bucket, Delimiter="/")
    assert prefixes == ["/", "uni/"]
    _delete_each(s3, bucket, AWKWARD)


def test_encoding_type_url_raw(server, s3, bucket):
    _put_all(s3, bucket, AWKWARD)
    status, root = raw_get(server, bucket, {"list-type": "2", "encoding-type": "url", "delimiter": "/",
                                            "prefix": "", "start-after": "a b"})
    assert status == 200
    assert _text(root, "EncodingType") == "url"
    raw_keys = [c.findtext(NS + "Key") for c in root.findall(NS + "Contents")]
    assert [unquote(k) for k in raw_keys] == sorted(k for k in AWKWARD if "/" not in k and k > "a b")
    assert "plus%2Bsign" in raw_keys and "ctl%01char" in raw_keys and "tab%09x" in raw_keys
    assert _text(root, "StartAfter") == "a%20b"
    assert _text(root, "Delimiter") == "/"
    raw_prefixes = [c.findtext(NS + "Prefix") for c in root.findall(NS + "CommonPrefixes")]
    assert [unquote(p) for p in raw_prefixes] == ["uni/"]  # "/" sorts before start-after
    _delete_each(s3, bucket, AWKWARD)


def test_encoding_type_url_v1_raw(server, s3, bucket):
    _put_all(s3, bucket, ["a b/c", "x+y"])
    status, root = raw_get(server, bucket, {"encoding-type": "url", "delimiter": "/", "marker": "a"})
    assert status == 200
    assert [c.findtext(NS + "Key") for c in root.findall(NS + "Contents")] == ["x%2By"]
    assert [c.findtext(NS + "Prefix") for c in root.findall(NS + "CommonPrefixes")] == ["a%20b/"]


def test_without_encoding_type_keys_are_xml_escaped(server, s3, bucket):
    _put_all(s3, bucket, ["<tag>&\"'"])
    status, root = raw_get(server, bucket, {"list-type": "2"})
    assert status == 200
    assert root.find(NS + "Contents").findtext(NS + "Key") == "<tag>&\"'"


# --- ListObjectVersions on an unversioned bucket ----------------------------------------------------------------

def test_list_object_versions_unversioned(s3, tree):
    r = s3.list_object_versions(Bucket=tree)
    versions = r["Versions"]
    assert [v["Key"] for v in versions] == sorted(TREE)
    assert all(v["VersionId"] == "null" and v["IsLatest"] is True for v in versions)
    assert versions[0]["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert "DeleteMarkers" not in r
    assert r["IsTruncated"] is False


def test_list_object_versions_prefix_delimiter_and_paging(s3, tree):
    r = s3.list_object_versions(Bucket=tree, Prefix="photos/", Delimiter="/")
    assert [v["Key"] for v in r["Versions"]] == ["photos/index.html"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
    pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=tree, PaginationConfig={"PageSize": 5}))
    assert [v["Key"] for p in pages for v in p.get("Versions", [])] == sorted(TREE)
    assert pages[0]["IsTruncated"] is True and pages[0]["NextKeyMarker"] == sorted(TREE)[4]
