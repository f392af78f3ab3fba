"""pails.protocol.xml.parse on hostile bodies: every one is the caller's S3
error code (MalformedXML, MalformedACLError...), never another exception."""

from __future__ import annotations

import pytest

from pails.access import acl as acls
from pails.errors import S3Error
from pails.protocol import xml

BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
        b']><Tagging>&lol3;</Tagging>')
XXE = b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/hostname">]><Tagging>&x;</Tagging>'
HOSTILE = [
    pytest.param(b'<?xml version="1.0" encoding="bogus"?><Tagging/>', id="unknown-encoding"),
    pytest.param(b'<?xml version="1.0" encoding="utf-7"?><Tagging/>', id="multibyte-python-codec"),
    pytest.param(b'<?xml version="1.0" encoding="shift_jis"?><Tagging/>', id="shift-jis"),
    pytest.param(b'<?xml version="1.0" encoding="utf-16"?><Tagging/>', id="declared-utf16-but-utf8"),
    pytest.param(BOMB, id="billion-laughs"),
    pytest.param(BOMB.decode().encode("utf-16"), id="billion-laughs-utf16"),
    pytest.param(XXE, id="external-entity"),
    pytest.param(b'<!DOCTYPE Tagging SYSTEM "http://127.0.0.1:1/x.dtd"><Tagging/>', id="external-dtd"),
    pytest.param(b"<Tagging>&undefined;</Tagging>", id="undefined-entity"),
    pytest.param(b"<a>" * 10_000 + b"</a>" * 10_000, id="deep-nesting"),
    pytest.param(b"<a>" + b"<b/>" * 200_001 + b"</a>", id="too-many-elements"),
    pytest.param(b"<Tagging>\xff\xfe</Tagging>", id="invalid-utf8"),
    pytest.param(b"<Tagging><TagSet><Tag><Key>k", id="truncated"),
    pytest.param(b"<Tagging/>trailing", id="trailing-garbage"),
    pytest.param(b"\x00\x00\x00", id="nul-bytes"),
    pytest.param(b"   \n", id="blank"),
    pytest.param(b"", id="empty"),
    pytest.param(b"<a xmlns:p='urn:x'><p:b/><q:c/></a>", id="unbound-prefix"),
]


@pytest.mark.parametrize("body", HOSTILE)
def test_hostile_bodies_are_malformed_xml(body: bytes) -> None:
    with pytest.raises(S3Error) as err:
        xml.parse(body)
    assert err.value.code == "MalformedXML" and err.value.status == 400


@pytest.mark.parametrize("body", HOSTILE)
def test_hostile_bodies_are_malformed_acl(body: bytes) -> None:
    with pytest.raises(S3Error) as err:
        acls.parse_access_control_policy(body, lambda e: None, lambda i: None)
    assert err.value.code == "MalformedACLError" and err.value.status == 400


def test_error_code_is_the_callers() -> None:
    with pytest.raises(S3Error) as err:
        xml.parse(b'<?xml version="1.0" encoding="bogus"?><a/>', "MalformedPolicy")
    assert err.value.code == "MalformedPolicy"


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0" encoding="UTF-8"?><Tagging><TagSet/></Tagging>',
    b'<?xml version="1.0" encoding="utf-8" standalone="yes"?><Tagging><TagSet/></Tagging>',
    b'<?xml version="1.0" encoding="US-ASCII"?><Tagging><TagSet/></Tagging>',
    b'<?xml version="1.0" encoding="ISO-8859-1"?><Tagging><TagSet/></Tagging>',
    '<?xml version="1.0" encoding="UTF-16"?><Tagging><TagSet/></Tagging>'.encode("utf-16"),
    b'\xef\xbb\xbf<Tagging><TagSet/></Tagging>',  # UTF-8 byte order mark
    b'<!-- a comment --><Tagging><?pi data?><TagSet/><!-- another --></Tagging>',
])
def test_well_formed_declarations_parse(body: bytes) -> None:
    root = xml.parse(body)
    assert root.tag == "Tagging" and [c.tag for c in root] == ["TagSet"]


def test_namespaces_are_stripped_from_tags_not_from_attributes() -> None:
    root = xml.parse(b'<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/" '
                     b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Grantee xsi:type="Group">'
                     b"<URI>u</URI></Grantee></AccessControlPolicy>")
    grantee = root.find("Grantee")
    assert grantee is not None and grantee.tag == "Grantee"
    assert grantee.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "Group"
    assert xml.child_text(grantee, "URI") == "u"


def test_text_and_limits() -> None:
    root = xml.parse(b"<a><b>x &amp; y &#x41;<![CDATA[<z>]]></b></a>")
    assert xml.child_text(root, "b") == "x & y A<z>"
    deep = b"<a>" * 32 + b"</a>" * 32
    assert xml.parse(deep).tag == "a"
    with pytest.raises(S3Error):
        xml.parse(b"<a>" * 33 + b"</a>" * 33)
    many = b"<a>" + b"<b/>" * 999 + b"</a>"
    assert len(xml.parse(many, max_elements=1000)) == 999
    with pytest.raises(S3Error):
        xml.parse(b"<a>" + b"<b/>" * 1000 + b"</a>", max_elements=1000)
