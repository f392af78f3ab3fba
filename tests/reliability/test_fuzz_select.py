"""Property-based fuzzing of S3 Select's pure modules (pails/s3/select): any
SQL text, request XML or object bytes give a result or an S3Error, never
another exception (which the handler would turn into a 500 or an
InternalError event).  Derandomized; quick and full modes as
test_fuzz_parsers.py."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pails.errors import S3Error
from pails.s3.select import config
from pails.s3.select.scanner import Scanner
from pails.s3.select.sql import parse
from tests.pails_server import STORE
from tests.reliability import FULL
from tests.reliability.fuzzing import mutate, mutate_text

QUICK = 200
FULL_EXAMPLES = 5_000
pytestmark = pytest.mark.skipif(STORE == "postgresql", reason="store-independent (run in the SQLite pass)")
FUZZ = settings(max_examples=FULL_EXAMPLES if FULL else QUICK, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck), print_blob=True)
rngs = st.randoms(use_true_random=False)

SQL_SEEDS = [
    "SELECT s._1, UPPER(s.name) AS u FROM S3Object s WHERE CAST(s._2 AS INT) BETWEEN 1 AND 10 LIMIT 5",
    "SELECT COUNT(*), SUM(CAST(_1 AS FLOAT)), MIN(_2) + 1 FROM S3Object WHERE _3 LIKE '%a!_' ESCAPE '!'",
    "SELECT CASE WHEN _1 IN (1, 'x') THEN TRIM(LEADING 'a' FROM _2) ELSE SUBSTRING(_2 FROM 2 FOR 3) END FROM S3Object",
    "SELECT EXTRACT(YEAR FROM TO_TIMESTAMP(_1)), DATE_DIFF(day, `2020T`, DATE_ADD(month, _2, UTCNOW())) FROM S3Object",
    "SELECT TO_STRING(TO_TIMESTAMP('2020-01-02T03:04:05Z'), 'yyyy MMM d h a XXX'), COALESCE(NULLIF(_1, ''), \"x\") "
    "FROM S3Object[*].root[0] r WHERE r.a.b[1] IS NOT NULL AND NOT (r.c = true OR _1 || 'x' < 'y')",
    "select int(_1) as a1, a1 * 2 as a2 from s3object where a2 % 3 = 1 and char_length(_2) > 0",
]
RECORDS = {
    "csv": b'a,1,2020-01-01T\nb,x,\n"q,""u",3.5,1999T\n99999999999999999999,1e308,-0\n,,\n',
    "json": b'{"_1": 1, "name": "a", "root": [{"a": {"b": [1, 2]}}]}\n{"name": null, "s": 5}\n[1,2]\n"s"\n'
            b'{"_1": 1e308, "name": "2020T", "c": true}\n',
}


def sql_texts() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(SQL_SEEDS), st.text(max_size=200),
                     st.builds(lambda rng, s: mutate_text(rng, s), rngs, st.sampled_from(SQL_SEEDS)))


@FUZZ
@given(sql_texts(), st.sampled_from(["csv", "json"]), st.sampled_from(["csv", "json"]), rngs)
def test_query_over_records(text: str, fmt: str, out: str, rng: random.Random) -> None:
    try:
        query = parse(text)
        s = config.Settings(expression=text, input_format=fmt, output_format=out, json_type="LINES")
        scanner = Scanner(s, query)
        data = RECORDS[fmt]
        cut = rng.randint(0, len(data))
        scanner.feed(data[:cut])
        scanner.feed(data[cut:], last=True)
    except S3Error:
        pass


REQUEST_SEEDS = [
    b"<SelectObjectContentRequest><Expression>SELECT * FROM S3Object</Expression><ExpressionType>SQL</ExpressionType>"
    b"<InputSerialization><CompressionType>GZIP</CompressionType><CSV><FileHeaderInfo>USE</FileHeaderInfo>"
    b"<RecordDelimiter>\n</RecordDelimiter><QuoteCharacter>'</QuoteCharacter><Comments>#</Comments></CSV>"
    b"</InputSerialization><OutputSerialization><JSON><RecordDelimiter>,</RecordDelimiter></JSON>"
    b"</OutputSerialization><RequestProgress><Enabled>true</Enabled></RequestProgress></SelectObjectContentRequest>",
    b"<SelectObjectContentRequest><Expression>SELECT 1</Expression><ExpressionType>SQL</ExpressionType>"
    b"<InputSerialization><JSON><Type>LINES</Type></JSON></InputSerialization><OutputSerialization><CSV>"
    b"<QuoteFields>ALWAYS</QuoteFields></CSV></OutputSerialization><ScanRange><Start>1</Start><End>9</End>"
    b"</ScanRange></SelectObjectContentRequest>",
]


@FUZZ
@given(st.one_of(st.sampled_from(REQUEST_SEEDS), st.binary(max_size=300),
                 st.builds(lambda rng, s: mutate(rng, s), rngs, st.sampled_from(REQUEST_SEEDS))))
def test_request_xml(body: bytes) -> None:
    try:
        config.parse(body)
    except S3Error:
        pass


OBJECT_SEEDS = [RECORDS["csv"], RECORDS["json"], b'{"root": [{"a": 1}, [1, {"b": "x"}]], "z": "q"}']


@FUZZ
@given(st.one_of(st.sampled_from(OBJECT_SEEDS), st.binary(max_size=300),
                 st.builds(lambda rng, s: mutate(rng, s), rngs, st.sampled_from(OBJECT_SEEDS))),
       st.sampled_from(["csv", "LINES", "DOCUMENT"]), st.booleans(), st.integers(1, 17))
def test_readers(data: bytes, kind: str, quoted: bool, size: int) -> None:
    s = config.Settings(expression="", input_format="csv" if kind == "csv" else "json", output_format="json",
                        json_type=kind if kind != "csv" else "DOCUMENT")
    s.csv.quoted_record_delimiter = quoted
    s.csv.escape = "\\"
    scanner = Scanner(s, parse("SELECT * FROM S3Object[*].root[*]" if kind == "DOCUMENT" else
                               "SELECT * FROM S3Object"))
    try:
        for i in range(0, len(data), size):
            scanner.feed(data[i:i + size])
        scanner.feed(b"", last=True)
    except S3Error:
        pass
