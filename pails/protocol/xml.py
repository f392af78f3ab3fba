"""XML in and out.  Rendering is string building (fast, exact AWS shapes);
parsing drives expat directly into an ElementTree with DOCTYPEs refused
outright (so no entity, internal or external, is ever declared), only the
encodings expat knows itself, and bounded depth and element count."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.parsers import expat

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
# Far beyond any S3 request document (AccessControlPolicy/AccessControlList/
# Grant/Grantee/ID is 5 deep), and small enough that nothing downstream recurses far.
MAX_DEPTH = 32
# Per document unless the caller says otherwise: a 1 MiB body of "<a/>" would
# otherwise be a quarter of a million elements held at once.
MAX_ELEMENTS = 10_000
# The declared encodings expat decodes itself; any other name would reach
# Python's codec registry (an unknown name raises LookupError, a multi-byte
# codec ValueError); they are refused as malformed.
_ENCODINGS = frozenset({"utf-8", "utf-16", "utf-16le", "utf-16be", "iso-8859-1", "us-ascii"})


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


class _Refused(Exception):
    """A document this parser will not build (DOCTYPE, encoding, size)."""


def parse(body: bytes, error_code: str = "MalformedXML", *, max_elements: int = MAX_ELEMENTS) -> ET.Element:
    """Parse a request body into elements named by their local names
    (namespaces stripped; attribute names keep theirs as ``{uri}name``).
    Anything not well-formed, or refused as above: ``S3Error(error_code)``."""
    if not body.strip():
        raise S3Error(error_code)
    builder = ET.TreeBuilder()
    depth = 0
    count = 0

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth, count
        depth += 1
        count += 1
        if depth > MAX_DEPTH or count > max_elements:
            raise _Refused("too deep or too many elements")
        if attrs:
            attrs = {("{" + k if "}" in k else k): v for k, v in attrs.items()}
        builder.start(name.rpartition("}")[2], attrs)

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(name.rpartition("}")[2])

    def declaration(version: str, encoding: str | None, standalone: int) -> None:
        if encoding is not None and encoding.lower() not in _ENCODINGS:
            raise _Refused(f"encoding {encoding!r}")

    def doctype(*_args: object) -> None:
        raise _Refused("DOCTYPE")

    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.XmlDeclHandler = declaration
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype  # unreachable without a DOCTYPE; refused all the same
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(body, True)
        return builder.close()
    except (expat.ExpatError, _Refused, LookupError, ValueError) as exc:
        raise S3Error(error_code) from exc


def child_text(el: ET.Element, name: str) -> str | None:
    c = el.find(name)
    if c is None:
        return None
    return c.text or ""
