"""The SelectObjectContentRequest XML, read and checked into settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from pails.errors import S3Error
from pails.protocol import xml


@dataclass(slots=True)
class CsvInput:
    header: str = "NONE"  # USE, IGNORE, NONE
    record_delimiter: str = "\n"
    field_delimiter: str = ","
    quote: str = '"'
    escape: str | None = None
    comments: str | None = None
    quoted_record_delimiter: bool = False


@dataclass(slots=True)
class CsvOutput:
    record_delimiter: str = "\n"
    field_delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    quote_fields: str = "ASNEEDED"  # ALWAYS, ASNEEDED


@dataclass(slots=True)
class Settings:
    expression: str
    input_format: str  # csv, json, parquet
    compression: str = "NONE"
    csv: CsvInput = field(default_factory=CsvInput)
    json_type: str = "DOCUMENT"
    output_format: str = "csv"
    csv_out: CsvOutput = field(default_factory=CsvOutput)
    json_record_delimiter: str = "\n"
    progress: bool = False
    scan_start: int | None = None
    scan_end: int | None = None


def _text(el: ET.Element | None, name: str) -> str | None:
    if el is None:
        return None
    return xml.child_text(el, name)


def _flag(el: ET.Element | None, name: str, default: bool = False) -> bool:
    value = _text(el, name)
    if value is None:
        return default
    v = value.strip().lower()
    if v not in ("true", "false"):
        raise S3Error("InvalidArgument", f"{name} must be TRUE or FALSE.", ArgumentName=name, ArgumentValue=value)
    return v == "true"


def _char(el: ET.Element | None, name: str, default: str | None, code: str) -> str | None:
    value = _text(el, name)
    if value is None:
        return default
    if value == "":
        return default
    if len(value) > 1:
        raise S3Error(code, f"{name} must be a single character.")
    return value


def _delimiter(el: ET.Element | None, name: str, default: str, code: str) -> str:
    value = _text(el, name)
    if value is None or value == "":
        return default
    if len(value) > 2:
        raise S3Error(code, f"{name} must be one or two characters.")
    return value


def parse(body: bytes) -> Settings:
    root = xml.parse(body)
    expression = _text(root, "Expression")
    if expression is None or not expression.strip():
        raise S3Error("MissingRequiredParameter", "The SelectRequest entity is missing a required parameter: "
                      "Expression.")
    kind = _text(root, "ExpressionType")
    if kind is None:
        raise S3Error("MissingRequiredParameter", "The SelectRequest entity is missing a required parameter: "
                      "ExpressionType.")
    if kind.strip().upper() != "SQL":
        raise S3Error("InvalidExpressionType", "The ExpressionType is invalid. Only SQL expressions are supported.")
    inp = root.find("InputSerialization")
    out = root.find("OutputSerialization")
    if inp is None:
        raise S3Error("MissingRequiredParameter", "The SelectRequest entity is missing a required parameter: "
                      "InputSerialization.")
    if out is None:
        raise S3Error("MissingRequiredParameter", "The SelectRequest entity is missing a required parameter: "
                      "OutputSerialization.")
    formats = [c for c in ("CSV", "JSON", "Parquet") if inp.find(c) is not None]
    if len(formats) != 1:
        raise S3Error("InvalidDataSource" if formats else "MissingRequiredParameter",
                      "InputSerialization must name exactly one of CSV, JSON and Parquet.")
    s = Settings(expression=expression, input_format=formats[0].lower())
    compression = (_text(inp, "CompressionType") or "NONE").strip().upper()
    if compression not in ("NONE", "GZIP", "BZIP2"):
        raise S3Error("InvalidCompressionFormat", "The file is not in a supported compression format. "
                      "Only GZIP and BZIP2 are supported.")
    s.compression = compression
    if s.input_format == "parquet" and compression != "NONE":
        raise S3Error("InvalidCompressionFormat", "Parquet input does not take a CompressionType.")
    if s.input_format == "csv":
        c = inp.find("CSV")
        header = (_text(c, "FileHeaderInfo") or "NONE").strip().upper()
        if header not in ("USE", "IGNORE", "NONE"):
            raise S3Error("InvalidFileHeaderInfo", "The FileHeaderInfo is invalid. Only NONE, USE, and IGNORE "
                          "are supported.")
        s.csv = CsvInput(
            header=header,
            record_delimiter=_delimiter(c, "RecordDelimiter", "\n", "InvalidRecordDelimiter"),
            field_delimiter=_delimiter(c, "FieldDelimiter", ",", "InvalidFieldDelimiter"),
            quote=_char(c, "QuoteCharacter", '"', "InvalidQuoteCharacter") or '"',
            escape=_char(c, "QuoteEscapeCharacter", None, "InvalidQuoteEscapeCharacter"),
            comments=_char(c, "Comments", None, "InvalidCommentCharacter"),
            quoted_record_delimiter=_flag(c, "AllowQuotedRecordDelimiter"),
        )
        if len(s.csv.field_delimiter) != 1:
            raise S3Error("InvalidFieldDelimiter", "The FieldDelimiter must be a single character.")
    elif s.input_format == "json":
        j = inp.find("JSON")
        jtype = (_text(j, "Type") or "DOCUMENT").strip().upper()
        if jtype not in ("DOCUMENT", "LINES"):
            raise S3Error("InvalidJsonType", "The JsonType is invalid. Only DOCUMENT and LINES are supported.")
        s.json_type = jtype
    outs = [c for c in ("CSV", "JSON") if out.find(c) is not None]
    if len(outs) != 1:
        raise S3Error("InvalidDataSource" if outs else "MissingRequiredParameter",
                      "OutputSerialization must name exactly one of CSV and JSON.")
    s.output_format = outs[0].lower()
    if s.output_format == "csv":
        c = out.find("CSV")
        quote_fields = (_text(c, "QuoteFields") or "ASNEEDED").strip().upper()
        if quote_fields not in ("ALWAYS", "ASNEEDED"):
            raise S3Error("InvalidQuoteFields", "The QuoteFields is invalid. Only ALWAYS and ASNEEDED are "
                          "supported.")
        s.csv_out = CsvOutput(
            record_delimiter=_delimiter(c, "RecordDelimiter", "\n", "InvalidRecordDelimiter"),
            field_delimiter=_delimiter(c, "FieldDelimiter", ",", "InvalidFieldDelimiter"),
            quote=_char(c, "QuoteCharacter", '"', "InvalidQuoteCharacter") or '"',
            escape=_char(c, "QuoteEscapeCharacter", '"', "InvalidQuoteEscapeCharacter") or '"',
            quote_fields=quote_fields,
        )
    else:
        s.json_record_delimiter = _delimiter(out.find("JSON"), "RecordDelimiter", "\n", "InvalidRecordDelimiter")
    s.progress = _flag(root.find("RequestProgress"), "Enabled")
    scan = root.find("ScanRange")
    if scan is not None:
        if s.input_format == "parquet" or compression != "NONE" or \
                (s.input_format == "json" and s.json_type == "DOCUMENT"):
            raise S3Error("InvalidRequestParameter", "ScanRange is supported only for uncompressed CSV and JSON "
                          "LINES input.")
        start, end = _text(scan, "Start"), _text(scan, "End")
        try:
            s.scan_start = int(start) if start else None
            s.scan_end = int(end) if end else None
        except ValueError:
            raise S3Error("InvalidRequestParameter", "ScanRange Start and End must be integers.") from None
        if (s.scan_start is not None and s.scan_start < 0) or (s.scan_end is not None and s.scan_end < 0) or \
                (s.scan_start is not None and s.scan_end is not None and s.scan_end < s.scan_start):
            raise S3Error("InvalidRequestParameter", "The ScanRange is not valid.")
    return s
