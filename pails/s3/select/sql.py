"""The S3 Select SQL subset: a lexer and a recursive-descent parser to an AST
of tuples.

Nodes: ("lit", value), ("ref", steps) a column or JSON path (steps: names,
ints for [n], "*" for [*]), ("dq", text) a double-quoted token (a column
name when the input has one by that name, else a string: Ceph's dialect),
("star",), ("neg", e), ("arith", op, a, b), ("concat", a, b), ("cmp", op,
a, b), ("and", a, b), ("or", a, b), ("not", e), ("is", e, what, negated)
with what in null/missing/true/false, ("like", e, pattern, escape,
negated), ("between", e, lo, hi, negated), ("in", e, items, negated),
("call", name, args), ("agg", name, arg or None for COUNT(*)), ("cast", e,
type), ("case", operand or None, [(when, then)], else or None), ("trim",
e, mode, chars or None), ("extract", part, e), ("dateop", name, part, a, b).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pails.errors import S3Error

Node = tuple[Any, ...]

AGGREGATES = frozenset({"count", "sum", "avg", "min", "max"})
KEYWORDS = frozenset({
    "select", "from", "where", "limit", "and", "or", "not", "like", "escape", "between", "in", "is", "null",
    "true", "false", "as", "case", "when", "then", "else", "end", "cast", "missing",
})
DATE_PARTS = frozenset({"year", "month", "day", "hour", "minute", "second", "timezone_hour", "timezone_minute"})
CAST_TYPES = {
    "int": "int", "integer": "int", "bigint": "int", "smallint": "int",
    "float": "float", "real": "float", "double": "float", "decimal": "float", "numeric": "float",
    "string": "string", "varchar": "string", "char": "string", "text": "string",
    "bool": "bool", "boolean": "bool", "timestamp": "timestamp",
}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^']|'')*')
  | (?P<dq>"(?:[^"]|"")*")
  | (?P<ion>`[^`]*`)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|<>|!=|\|\||[-+*/%=<>(),.\[\];])
""", re.VERBOSE)

MAX_EXPRESSION = 256 * 1024  # AWS: an SQL expression is at most 256 KB


@dataclass(slots=True)
class Token:
    kind: str  # num, str, dq, ion, name, op, eof
    text: str
    pos: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "name" else ""


@dataclass(slots=True)
class Query:
    items: list[tuple[Node, str | None]] | None  # None: SELECT *
    source: list[Any]  # the FROM path after S3Object: names, ints, "*"
    alias: str | None
    where: Node | None = None
    limit: int | None = None
    aggregate: bool = False
    names: list[str] = field(default_factory=list)


def syntax_error(code: str, text: str) -> S3Error:
    return S3Error(code, text)


def tokenize(text: str) -> list[Token]:
    if len(text.encode()) > MAX_EXPRESSION:
        raise S3Error("ExpressionTooLong", "The SQL expression is too long: the maximum byte length is 256 KB.")
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise syntax_error("ParseInvalidTypeParam" if text[pos] == "'" else "LexerInvalidChar",
                               f"Invalid character {text[pos]!r} at position {pos} of the SQL expression.")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(Token(kind, m.group(), pos))
        pos = m.end()
    out.append(Token("eof", "", pos))
    return out


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    # --- token helpers -------------------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def at(self, *words: str) -> bool:
        t = self.tok
        return (t.kind == "name" and t.text.lower() in words) or (t.kind == "op" and t.text in words)

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.i += 1
            return True
        return False

    def expect(self, word: str) -> Token:
        if not self.at(word):
            raise self.unexpected(f"expected {word.upper()!r}")
        return self.next()

    def unexpected(self, why: str = "") -> S3Error:
        t = self.tok
        if t.kind == "eof":
            return syntax_error("ParseExpectedExpression",
                                f"UnsupportedSyntax: unexpected end of the SQL expression{': ' + why if why else ''}.")
        return syntax_error("ParseUnexpectedToken",
                            f"UnsupportedSyntax: unexpected token {t.text!r} at position {t.pos}"
                            f"{': ' + why if why else ''}.")

    # --- statement -----------------------------------------------------------------------------------------------
    def query(self) -> Query:
        if not self.accept("select"):
            raise syntax_error("ParseExpectedKeyword" if self.tok.kind != "eof" else "ParseExpectedExpression",
                               "The SQL expression must start with SELECT.")
        items: list[tuple[Node, str | None]] | None
        if self.accept("*"):
            items = None
        else:
            items = []
            while True:
                expr = self.expr()
                alias = None
                if self.accept("as"):
                    alias = self.identifier()
                elif self.tok.kind == "name" and self.tok.word not in KEYWORDS:
                    alias = self.identifier()
                items.append((expr, alias))
                if not self.accept(","):
                    break
        if not self.accept("from"):
            raise syntax_error("ParseExpectedKeyword" if self.tok.kind != "eof" else "ParseMissingIdentAfterAt",
                               "Expected FROM after the SELECT list.")
        source, alias = self.source()
        q = Query(items, source, alias)
        if self.accept("where"):
            q.where = self.expr()
        if self.accept("limit"):
            t = self.next()
            if t.kind != "num" or not t.text.isdigit():
                raise syntax_error("ParseExpectedNumber", "LIMIT takes a non-negative integer.")
            q.limit = int(t.text)
        self.accept(";")
        if self.tok.kind != "eof":
            raise syntax_error("UnsupportedSyntax",
                               f"UnsupportedSyntax: unexpected {self.tok.text!r} at position {self.tok.pos}.")
        return q

    def identifier(self) -> str:
        t = self.next()
        if t.kind == "name" and t.word not in KEYWORDS:
            return t.text
        if t.kind == "dq":
            return t.text[1:-1].replace('""', '"')
        self.i -= 1
        raise self.unexpected("expected an identifier")

    def source(self) -> tuple[list[Any], str | None]:
        t = self.next()
        if t.kind != "name" or t.word not in ("s3object", "stdin"):
            self.i -= 1
            raise syntax_error("ParseUnsupportedSyntax" if t.kind != "eof" else "ParseExpectedIdentForAlias",
                               "FROM must name S3Object.")
        steps = self.steps()
        alias = None
        if self.accept("as"):
            alias = self.identifier()
        elif self.tok.kind in ("name", "dq") and self.tok.word not in KEYWORDS:
            alias = self.identifier()
        return steps, alias

    def steps(self) -> list[Any]:
        out: list[Any] = []
        while True:
            if self.accept("."):
                t = self.next()
                if t.kind == "name":
                    out.append(t.text)
                elif t.kind == "dq":
                    out.append(t.text[1:-1].replace('""', '"'))
                elif t.kind == "op" and t.text == "*":
                    out.append("*")
                else:
                    self.i -= 1
                    raise self.unexpected("expected a name after '.'")
            elif self.accept("["):
                if self.accept("*"):
                    out.append("*")
                else:
                    t = self.next()
                    if t.kind == "num" and t.text.isdigit():
                        out.append(int(t.text))
                    elif t.kind == "str":
                        out.append(t.text[1:-1].replace("''", "'"))
                    else:
                        self.i -= 1
                        raise self.unexpected("expected [*], [n] or ['name']")
                self.expect("]")
            else:
                return out

    # --- expressions, lowest precedence first --------------------------------------------------------------------
    def expr(self) -> Node:
        left = self.conjunction()
        while self.accept("or"):
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self) -> Node:
        left = self.negation()
        while self.accept("and"):
            left = ("and", left, self.negation())
        return left

    def negation(self) -> Node:
        if self.accept("not"):
            return ("not", self.negation())
        return self.comparison()

    def comparison(self) -> Node:
        left = self.additive()
        while True:
            t = self.tok
            if t.kind == "op" and t.text in ("=", "!=", "<>", "<", ">", "<=", ">="):
                self.i += 1
                op = "!=" if t.text == "<>" else t.text
                left = ("cmp", op, left, self.additive())
                continue
            if self.accept("is"):
                negated = self.accept("not")
                t = self.next()
                if t.word not in ("null", "missing", "true", "false"):
                    self.i -= 1
                    raise self.unexpected("expected NULL, MISSING, TRUE or FALSE after IS")
                left = ("is", left, t.word, negated)
                continue
            negated = False
            if self.at("not") and self.tokens[self.i + 1].word in ("like", "between", "in"):
                self.i += 1
                negated = True
            if self.accept("like"):
                pattern = self.additive()
                escape = self.additive() if self.accept("escape") else None
                left = ("like", left, pattern, escape, negated)
            elif self.accept("between"):
                lo = self.additive()
                self.expect("and")
                left = ("between", left, lo, self.additive(), negated)
            elif self.accept("in"):
                self.expect("(")
                items = [self.expr()]
                while self.accept(","):
                    items.append(self.expr())
                self.expect(")")
                left = ("in", left, items, negated)
            else:
                return left

    def additive(self) -> Node:
        left = self.multiplicative()
        while True:
            if self.accept("+"):
                left = ("arith", "+", left, self.multiplicative())
            elif self.accept("-"):
                left = ("arith", "-", left, self.multiplicative())
            elif self.accept("||"):
                left = ("concat", left, self.multiplicative())
            else:
                return left

    def multiplicative(self) -> Node:
        left = self.unary()
        while True:
            t = self.tok
            if t.kind == "op" and t.text in ("*", "/", "%"):
                self.i += 1
                left = ("arith", t.text, left, self.unary())
            else:
                return left

    def unary(self) -> Node:
        if self.accept("-"):
            inner = self.unary()
            if inner[0] == "lit" and isinstance(inner[1], (int, float)) and not isinstance(inner[1], bool):
                return ("lit", -inner[1])
            return ("neg", inner)
        if self.accept("+"):
            return self.unary()
        return self.primary()

    def primary(self) -> Node:
        t = self.next()
        if t.kind == "num":
            text = t.text
            return ("lit", float(text) if any(c in text for c in ".eE") else int(text))
        if t.kind == "str":
            return ("lit", t.text[1:-1].replace("''", "'"))
        if t.kind == "dq":
            return ("dq", t.text[1:-1].replace('""', '"'))
        if t.kind == "ion":
            return ("call", "to_timestamp", [("lit", t.text[1:-1])])
        if t.kind == "op" and t.text == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        if t.kind == "op" and t.text == "*":
            return ("star",)
        if t.kind != "name":
            self.i -= 1
            raise self.unexpected("expected an expression")
        word = t.word
        if word == "null":
            return ("lit", None)
        if word in ("true", "false"):
            return ("lit", word == "true")
        if word == "missing":
            return ("lit", None)
        if word == "case":
            return self.case()
        if word in KEYWORDS and word != "cast":
            self.i -= 1
            raise self.unexpected("expected an expression")
        if self.at("("):
            self.i += 1
            return self.call(word)
        return ("ref", [t.text, *self.steps()])

    def case(self) -> Node:
        operand = None if self.at("when") else self.expr()
        arms = []
        while self.accept("when"):
            cond = self.expr()
            self.expect("then")
            arms.append((cond, self.expr()))
        if not arms:
            raise self.unexpected("expected WHEN")
        other = self.expr() if self.accept("else") else None
        self.expect("end")
        return ("case", operand, arms, other)

    def call(self, name: str) -> Node:
        if name in AGGREGATES:
            if name == "count" and self.accept("*"):
                self.expect(")")
                return ("agg", "count", None)
            arg = self.expr()
            self.expect(")")
            return ("agg", name, arg)
        if name == "cast":
            value = self.expr()
            self.expect("as")
            t = self.next()
            kind = CAST_TYPES.get(t.text.lower()) if t.kind == "name" else None
            if kind is None:
                self.i -= 1
                raise syntax_error("ParseCastArity" if t.kind == "eof" else "InvalidCast",
                                   f"CAST to unsupported type {t.text!r}.")
            self.expect(")")
            return ("cast", value, kind)
        if name == "trim":
            mode = "both"
            chars: Node | None = None
            if self.at("both", "leading", "trailing"):
                mode = self.next().word
                if not self.accept("from"):
                    chars = self.expr()
                    self.expect("from")
                value = self.expr()
            else:
                value = self.expr()
                if self.accept("from"):
                    chars, value = value, self.expr()
            self.expect(")")
            return ("trim", value, mode, chars)
        if name == "substring":
            value = self.expr()
            if self.accept("from"):
                args = [value, self.expr()]
                if self.accept("for"):
                    args.append(self.expr())
            else:
                args = [value]
                while self.accept(","):
                    args.append(self.expr())
            self.expect(")")
            return ("call", "substring", args)
        if name == "extract":
            part = self.date_part()
            self.expect("from")
            value = self.expr()
            self.expect(")")
            return ("extract", part, value)
        if name in ("date_add", "date_diff"):
            part = self.date_part()
            self.expect(",")
            a = self.expr()
            self.expect(",")
            b = self.expr()
            self.expect(")")
            return ("dateop", name, part, a, b)
        args = []
        if not self.accept(")"):
            args.append(self.expr())
            while self.accept(","):
                args.append(self.expr())
            self.expect(")")
        return ("call", name, args)

    def date_part(self) -> str:
        t = self.next()
        part = t.text.lower() if t.kind in ("name", "str") else ""
        if t.kind == "str":
            part = part[1:-1]
        if part not in DATE_PARTS:
            self.i -= 1
            raise syntax_error("EvaluatorInvalidTimestampFormatPattern" if t.kind == "str" else "ParseExpectedDatePart",
                               f"Unknown date part {t.text!r}.")
        return part


def parse(text: str) -> Query:
    """The query ``text`` says, or an S3Error (400) naming what is wrong."""
    try:
        q = Parser(text).query()
    except RecursionError:
        raise S3Error("UnsupportedSyntax", "UnsupportedSyntax: the SQL expression is nested too deeply.") from None
    if q.items is not None:
        q.aggregate = any(_has_aggregate(e) for e, _ in q.items)
    if q.where is not None and _has_aggregate(q.where):
        raise S3Error("InvalidQuery", "Aggregate functions are not allowed in the WHERE clause.")
    return q


def _has_aggregate(node: Any) -> bool:
    if isinstance(node, tuple):
        if node and node[0] == "agg":
            return True
        return any(_has_aggregate(x) for x in node[1:])
    if isinstance(node, list):
        return any(_has_aggregate(x) for x in node)
    return False
