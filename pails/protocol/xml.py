"""XML in and out.  Rendering is string building (fast, exact AWS shapes);
parsing goes through expat via ElementTree with DOCTYPEs refused outright, so
no entity tricks reach us."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from pails.errors import S3Error

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
# Control characters XML 1.0 cannot carry at all (not even as references)
# become U+FFFD, so a hostile key never makes a document unparsable.
_ILLEGAL = [c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)] + [0xFFFE, 0xFFFF]
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;",
                          "\r": "&#13;", "\n": "&#10;", "\t": "&#9;", **{chr(c): "\ufffd" for c in _ILLEGAL}})
_SPECIAL = frozenset("&<>\"'\r\n\t" + "".join(chr(c) for c in _ILLEGAL))
# The same set for checking a long text at once (a listing checks all its
# keys in one pass): ASCII text as bytes (translate deleting the special bytes
# is a table lookup per byte), any other text with a regex.
_SPECIAL_RE = re.compile("[" + re.escape("".join(sorted(_SPECIAL))) + "]")
_SPECIAL_BYTES = "".join(sorted(c for c in _SPECIAL if c.isascii())).encode()
_SPECIAL_BYTES_NO_QUOTE = _SPECIAL_BYTES.replace(b'"', b"")
MAX_XML_BODY = 1024 * 1024


def escape(text: str) -> str:
    """Escape text for element content or attributes (keys may hold anything)."""
    if _SPECIAL.isdisjoint(text):
        return text
    return text.translate(_ESCAPES)


def needs_escape(text: str, quotes: bool = True) -> bool:
    """Whether ``escape`` would change ``text`` (with ``quotes`` False: other
    than by escaping double quotes)."""
    if text.isascii():  # O(1) for str
        data = text.encode("ascii")
        return len(data.translate(None, _SPECIAL_BYTES if quotes else _SPECIAL_BYTES_NO_QUOTE)) != len(data)
    return _SPECIAL_RE.search(text if quotes else text.replace('"', "")) is not None


def element(name: str, value: str | int | None) -> str:
    if value is None:
        return ""
    return f"<{name}>{escape(str(value))}</{name}>"


def document(root: str, inner: str) -> bytes:
    return f'{XML_DECL}<{root} xmlns="{S3_NS}">{inner}</{root}>'.encode()


def document_of(root: str, parts: list[str]) -> bytes:
    """``document`` of the concatenated ``parts`` (a listing's thousand
    entries), joined once."""
    return "".join([XML_DECL, f'<{root} xmlns="{S3_NS}">', *parts, f"</{root}>"]).encode()


def parse(body: bytes, error_code: str = "MalformedXML") -> ET.Element:
    """Parse a request body; strip namespaces so callers match local names."""
    if not body.strip():
        raise S3Error(error_code)
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise S3Error(error_code)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise S3Error(error_code) from exc
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag[:1] == "{":
            el.tag = el.tag.split("}", 1)[1]
    return root


def child_text(el: ET.Element, name: str) -> str | None:
    c = el.find(name)
    if c is None:
        return None
    return c.text or ""
