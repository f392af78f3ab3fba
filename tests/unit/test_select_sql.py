"""The S3 Select SQL parser: what it builds and the errors it names."""

from __future__ import annotations

import pytest

from pails.errors import S3Error
from pails.s3.select.sql import parse, tokenize


def test_select_list_from_where_limit():
    q = parse("SELECT s._1 AS a, UPPER(s.name) b, 3 FROM S3Object s WHERE a > 2 LIMIT 10;")
    assert q.alias == "s" and q.limit == 10 and not q.aggregate
    assert q.items is not None and [alias for _e, alias in q.items] == ["a", "b", None]
    assert q.items[0][0] == ("ref", ["s", "_1"])
    assert q.where == ("cmp", ">", ("ref", ["a"]), ("lit", 2))


def test_star_and_json_paths():
    q = parse("select * from s3object[*].root[0].items[*] r")
    assert q.items is None and q.source == ["*", "root", 0, "items", "*"] and q.alias == "r"
    q = parse("SELECT r.a.b[1] FROM S3Object r")
    assert q.items == [(("ref", ["r", "a", "b", 1]), None)]


def test_precedence_and_associativity():
    q = parse("SELECT 1 FROM S3Object WHERE NOT a = 1 OR b = 2 AND c = 3")
    assert q.where == ("or", ("not", ("cmp", "=", ("ref", ["a"]), ("lit", 1))),
                       ("and", ("cmp", "=", ("ref", ["b"]), ("lit", 2)), ("cmp", "=", ("ref", ["c"]), ("lit", 3))))
    e = parse("SELECT 1 + 2 * 3 - 4 / 2 FROM S3Object").items[0][0]  # type: ignore[index]
    assert e == ("arith", "-", ("arith", "+", ("lit", 1), ("arith", "*", ("lit", 2), ("lit", 3))),
                 ("arith", "/", ("lit", 4), ("lit", 2)))
    # chained comparisons read left to right (Ceph's tests use "x = 'a' = true")
    w = parse("SELECT 1 FROM S3Object WHERE a = 'x' = true").where
    assert w == ("cmp", "=", ("cmp", "=", ("ref", ["a"]), ("lit", "x")), ("lit", True))


def test_predicates_and_special_forms():
    w = parse("SELECT 1 FROM S3Object WHERE a NOT LIKE 'x%' ESCAPE '!' AND b BETWEEN 1 AND 2 "
              "AND c NOT IN (1, 2) AND d IS NOT NULL").where
    assert w is not None and w[0] == "and"
    items = parse("SELECT CAST(a AS INTEGER), TRIM(LEADING 'x' FROM a), SUBSTRING(a FROM 2 FOR 3), "
                  "EXTRACT(YEAR FROM t), DATE_ADD(day, 1, t), COUNT(*), "
                  "CASE WHEN a = 1 THEN 'one' ELSE 'other' END FROM S3Object").items
    assert items is not None
    kinds = [e[0] for e, _ in items]
    assert kinds == ["cast", "trim", "call", "extract", "dateop", "agg", "case"]
    assert items[0][0] == ("cast", ("ref", ["a"]), "int")
    assert items[1][0] == ("trim", ("ref", ["a"]), "leading", ("lit", "x"))


def test_literals():
    items = parse("SELECT 'it''s', \"dq\", 1.5, -2, 1e3, true, null, `2020-01-01T` FROM S3Object").items
    assert [e for e, _ in items] == [  # type: ignore[union-attr]
        ("lit", "it's"), ("dq", "dq"), ("lit", 1.5), ("lit", -2), ("lit", 1000.0), ("lit", True), ("lit", None),
        ("call", "to_timestamp", [("lit", "2020-01-01T")])]


def test_aggregate_flag_and_where_refusal():
    assert parse("SELECT MIN(_1) + 1 FROM S3Object").aggregate
    with pytest.raises(S3Error) as exc:
        parse("SELECT _1 FROM S3Object WHERE COUNT(*) > 1")
    assert exc.value.code == "InvalidQuery"


@pytest.mark.parametrize(("text", "code"), [
    ("", "ParseExpectedExpression"),
    ("SELEC * FROM S3Object", "ParseExpectedKeyword"),
    ("SELECT * FROM S3Object WHERE", "ParseExpectedExpression"),
    ("SELECT * FROM nothing", "ParseUnsupportedSyntax"),
    ("SELECT a FROM S3Object WHERE a LIKE 'x' LIKE;", "ParseUnexpectedToken"),
    ("SELECT a FROM S3Object extra tokens", "UnsupportedSyntax"),
    ("SELECT CAST(a AS BLOB) FROM S3Object", "InvalidCast"),
    ("SELECT a FROM S3Object LIMIT x", "ParseExpectedNumber"),
    ("SELECT a ? b FROM S3Object", "LexerInvalidChar"),
])
def test_errors(text, code):
    with pytest.raises(S3Error) as exc:
        parse(text)
    assert exc.value.code == code and exc.value.status == 400


def test_expression_length_limit():
    with pytest.raises(S3Error) as exc:
        tokenize("SELECT " + "a," * 200_000 + "a FROM S3Object")
    assert exc.value.code == "ExpressionTooLong"


def test_deep_nesting_is_a_clear_error():
    for text in ("SELECT " + "(" * 5000 + "1" + ")" * 5000 + " FROM S3Object",
                 "SELECT 1 FROM S3Object WHERE " + "NOT " * 5000 + "true"):
        with pytest.raises(S3Error) as exc:
            parse(text)
        assert exc.value.status == 400
