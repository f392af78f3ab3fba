"""A parsed query compiled once into Python closures: per record only the
closures run (no tree walking, no name lookups).

A CSV record is a list of field strings; a JSON record is the decoded value
at the FROM path.  ``Plan.project(record)`` gives the output values of a
plain query, ``Plan.accumulate(record)`` and ``Plan.result()`` those of an
aggregate one."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pails.errors import S3Error
from pails.s3.select import functions as fn
from pails.s3.select.sql import Node, Query

Fn = Callable[[Any], Any]
_MAX_ALIAS_DEPTH = 64


@dataclass(slots=True)
class Plan:
    where: Fn | None
    project: Fn | None  # record -> list of values (plain queries)
    names: list[str]  # output column names (JSON output keys)
    star: bool = False
    accumulators: list[Any] = field(default_factory=list)
    result: Callable[[], list[Any]] | None = None  # aggregate queries: the one output row

    def accumulate(self, record: Any) -> None:
        for acc in self.accumulators:
            acc.update(record)


class _Count:
    __slots__ = ("arg", "value")

    def __init__(self, arg: Fn | None) -> None:
        self.arg = arg
        self.value = 0

    def update(self, record: Any) -> None:
        if self.arg is None or self.arg(record) is not None:
            self.value += 1

    def result(self) -> Any:
        return self.value


class _Sum:
    __slots__ = ("arg", "total", "seen", "avg")

    def __init__(self, arg: Fn, avg: bool) -> None:
        self.arg = arg
        self.total: int | float = 0
        self.seen = 0
        self.avg = avg

    def update(self, record: Any) -> None:
        v = self.arg(record)
        if v is None:
            return
        if type(v) is not int and type(v) is not float:
            v = fn.to_number(v)
            if v is None:
                raise S3Error("EvaluatorInvalidArguments",
                              "SUM and AVG take numbers.")
        self.total += v
        self.seen += 1

    def result(self) -> Any:
        if not self.seen:
            return None
        return self.total / self.seen if self.avg else self.total


class _Extreme:
    __slots__ = ("arg", "best", "lower")

    def __init__(self, arg: Fn, lower: bool) -> None:
        self.arg = arg
        self.best: Any = None
        self.lower = lower

    def update(self, record: Any) -> None:
        v = self.arg(record)
        if v is None:
            return
        if type(v) is str:
            n = fn.to_number(v)
            v = v if n is None else n
        best = self.best
        if best is None or (fn.compare("<", v, best) if self.lower else fn.compare(">", v, best)):
            self.best = v

    def result(self) -> Any:
        return self.best


class Compiler:
    def __init__(self, query: Query, kind: str, header: list[str] | None = None) -> None:
        self.query = query
        self.kind = kind  # "csv" or "json"
        self.header = header
        self.columns: dict[str, int] = {}
        if header is not None:
            for i, name in enumerate(header):
                self.columns.setdefault(name, i)
            for i, name in enumerate(header):
                self.columns.setdefault(name.lower(), i)
        self.aliases: dict[str, Node] = {}
        for expr, alias in query.items or ():
            if alias is not None:
                if header is not None and (alias in self.columns or alias.lower() in self.columns):
                    raise S3Error("AmbiguousFieldName",
                                  f"multiple definition of column {{{alias}}} as schema-column and alias")
                self.aliases.setdefault(alias.lower(), expr)
        self.accumulators: list[Any] = []
        self.in_aggregate = False
        self.alias_stack: list[str] = []

    # --- the plan ------------------------------------------------------------------------------------------------
    def plan(self) -> Plan:
        q = self.query
        where = self.compile(q.where) if q.where is not None else None
        if q.items is None:
            return Plan(where, self._star(), list(self.header or []), star=True)
        names = [self._name(expr, alias, i) for i, (expr, alias) in enumerate(q.items)]
        if q.aggregate:
            finals = [self.compile_outer(expr) for expr, _alias in q.items]
            accs = self.accumulators
            return Plan(where, None, names, accumulators=accs, result=lambda: [f(None) for f in finals])
        fns = [self.compile(expr) for expr, _alias in q.items]
        if len(fns) == 1:
            only = fns[0]
            return Plan(where, lambda r: [only(r)], names)
        return Plan(where, lambda r: [f(r) for f in fns], names)

    def _name(self, expr: Node, alias: str | None, i: int) -> str:
        if alias is not None:
            return alias
        if expr[0] == "ref":
            last = [s for s in expr[1] if isinstance(s, str) and s != "*"]
            if last:
                return str(last[-1])
        return f"_{i + 1}"

    def _star(self) -> Fn:
        return lambda r: r

    def compile_outer(self, node: Node) -> Fn:
        """An aggregate query's output expression: aggregates become their results."""
        kind = node[0]
        if kind == "agg":
            acc = self._accumulator(node)
            return lambda _r: acc.result()
        if kind in ("lit",):
            v = node[1]
            return lambda _r: v
        if kind in ("ref", "dq", "star"):
            if kind == "dq" and not self._is_column(node[1]):
                v = node[1]
                return lambda _r: v
            if kind == "ref" and len(node[1]) == 1 and str(node[1][0]).lower() in self.aliases:
                return self._alias(str(node[1][0]), self.compile_outer)
            raise S3Error("InvalidQuery", "A column outside an aggregate function in an aggregate query.")
        # rebuild the node with its children compiled against the aggregate results
        return self._generic(node, self.compile_outer)

    def _accumulator(self, node: Node) -> Any:
        _agg, name, arg = node
        if self.in_aggregate:
            raise S3Error("InvalidQuery", "Aggregate functions cannot be nested.")
        self.in_aggregate = True
        try:
            f = self.compile(arg) if arg is not None and arg[0] != "star" else None
        finally:
            self.in_aggregate = False
        if name == "count":
            acc: Any = _Count(f)
        elif f is None:
            raise S3Error("InvalidQuery", f"{name.upper()}(*) is not valid.")
        elif name in ("sum", "avg"):
            acc = _Sum(f, name == "avg")
        else:
            acc = _Extreme(f, name == "min")
        self.accumulators.append(acc)
        return acc

    # --- expressions ---------------------------------------------------------------------------------------------
    def compile(self, node: Node) -> Fn:
        kind = node[0]
        if kind == "lit":
            return _const(node[1])
        if kind == "ref":
            return self._ref(node[1])
        if kind == "dq":
            if self._is_column(node[1]):
                return self._ref([node[1]])
            return _const(node[1])
        if kind == "agg":
            raise S3Error("InvalidQuery", "Aggregate functions are allowed only in the SELECT list.")
        if kind == "star":
            raise S3Error("ParseAsteriskIsNotAloneInSelectList", "* is allowed only alone in the SELECT list.")
        return self._generic(node, self.compile)

    def _generic(self, node: Node, sub: Callable[[Node], Fn]) -> Fn:  # noqa: C901 - one branch per node kind
        kind = node[0]
        if kind == "cmp":
            return _comparison(node[1], sub(node[2]), sub(node[3]))
        if kind == "and":
            a, b = sub(node[1]), sub(node[2])

            def and_(r: Any) -> Any:
                x = a(r)
                if x is False:
                    return False
                y = b(r)
                if y is False:
                    return False
                if x is None or y is None:
                    return None
                return True
            return and_
        if kind == "or":
            a, b = sub(node[1]), sub(node[2])

            def or_(r: Any) -> Any:
                x = a(r)
                if x is True:
                    return True
                y = b(r)
                if y is True:
                    return True
                if x is None or y is None:
                    return None
                return False
            return or_
        if kind == "not":
            a = sub(node[1])

            def not_(r: Any) -> Any:
                x = a(r)
                return None if x is None else not fn.to_bool(x)
            return not_
        if kind == "arith":
            return _arithmetic(node[1], sub(node[2]), sub(node[3]))
        if kind == "neg":
            a = sub(node[1])

            def neg(r: Any) -> Any:
                x = fn.to_number(a(r))
                return None if x is None else -x
            return neg
        if kind == "concat":
            a, b = sub(node[1]), sub(node[2])

            def concat(r: Any) -> Any:
                x, y = a(r), b(r)
                if x is None or y is None:
                    return None
                return fn.to_text(x) + fn.to_text(y)  # type: ignore[operator]
            return concat
        if kind == "is":
            return _is(sub(node[1]), node[2], node[3])
        if kind == "like":
            return self._like(node, sub)
        if kind == "between":
            a, lo, hi, negated = sub(node[1]), sub(node[2]), sub(node[3]), node[4]

            def between(r: Any) -> Any:
                x = a(r)
                low, high = fn.compare(">=", x, lo(r)), fn.compare("<=", x, hi(r))
                if low is None or high is None:
                    return None
                return (low and high) != negated
            return between
        if kind == "in":
            a = sub(node[1])
            items = [sub(i) for i in node[2]]
            negated = node[3]

            def in_(r: Any) -> Any:
                x = a(r)
                if x is None:
                    return None
                unknown = False
                for item in items:
                    hit = fn.compare("=", x, item(r))
                    if hit:
                        return not negated
                    if hit is None:
                        unknown = True
                return None if unknown else negated
            return in_
        if kind == "cast":
            a, target = sub(node[1]), node[2]
            if target == "int":
                to_int = fn.to_int

                def cast_int(r: Any) -> Any:
                    v = a(r)
                    if type(v) is str:
                        try:
                            return int(v)
                        except ValueError:
                            pass
                    return to_int(v)
                return cast_int
            return lambda r: fn.cast(a(r), target)
        if kind == "case":
            return self._case(node, sub)
        if kind == "trim":
            a, mode = sub(node[1]), node[2]
            chars = sub(node[3]) if node[3] is not None else None
            if chars is None:
                return lambda r: fn.trim(a(r), mode, None)
            return lambda r: fn.trim(a(r), mode, chars(r))
        if kind == "extract":
            part, a = node[1], sub(node[2])
            return lambda r: fn.extract(part, a(r))
        if kind == "dateop":
            name, part, a, b = node[1], node[2], sub(node[3]), sub(node[4])
            op = fn.date_add if name == "date_add" else fn.date_diff
            return lambda r: op(part, a(r), b(r))
        if kind == "call":
            return self._call(node[1], node[2], sub)
        raise S3Error("UnsupportedSyntax", f"Unsupported expression {kind!r}.")

    def _like(self, node: Node, sub: Callable[[Node], Fn]) -> Fn:
        _k, value, pattern, escape, negated = node
        a = sub(value)
        if pattern[0] == "lit" and (escape is None or escape[0] == "lit"):
            if not isinstance(pattern[1], str) and pattern[1] is not None:
                raise S3Error("InvalidArgument", "LIKE takes a string pattern.")
            matches = fn.like_matcher(pattern[1], escape[1] if escape is not None else None) \
                if pattern[1] is not None else None

            def like_const(r: Any) -> Any:
                x = a(r)
                if x is None or matches is None:
                    return None
                return matches(x if type(x) is str else fn.to_text(x)) != negated
            return like_const
        if pattern[0] == "dq" and not self._is_column(pattern[1]):
            return self._like(("like", value, ("lit", pattern[1]), escape, negated), sub)
        p = sub(pattern)
        e = sub(escape) if escape is not None else None

        def like(r: Any) -> Any:
            x, pat = a(r), p(r)
            esc = e(r) if e is not None else None
            if x is None or pat is None:
                return None
            return (fn.like_pattern(fn.to_text(pat), esc).fullmatch(fn.to_text(x)) is not None) != negated  # type: ignore[arg-type]
        return like

    def _case(self, node: Node, sub: Callable[[Node], Fn]) -> Fn:
        _k, operand, arms, other = node
        subject = sub(operand) if operand is not None else None
        compiled = [(sub(w), sub(t)) for w, t in arms]
        otherwise = sub(other) if other is not None else (lambda _r: None)

        def case(r: Any) -> Any:
            x = subject(r) if subject is not None else None
            for when, then in compiled:
                hit = fn.compare("=", x, when(r)) if subject is not None else when(r)
                if hit is True:
                    return then(r)
            return otherwise(r)
        return case

    def _call(self, name: str, args: list[Node], sub: Callable[[Node], Fn]) -> Fn:
        compiled = [sub(a) for a in args]
        if name == "coalesce":
            if not compiled:
                raise S3Error("IncorrectSqlFunctionArgumentType", "COALESCE takes at least one argument.")

            def coalesce(r: Any) -> Any:
                for f in compiled:
                    v = f(r)
                    if v is not None:
                        return v
                return None
            return coalesce
        if name == "nullif":
            if len(compiled) != 2:
                raise S3Error("IncorrectSqlFunctionArgumentType", "NULLIF takes two arguments.")
            a, b = compiled

            def nullif(r: Any) -> Any:
                x = a(r)
                return None if fn.compare("=", x, b(r)) else x
            return nullif
        entry = fn.FUNCTIONS.get(name)
        if entry is None:
            raise S3Error("UnsupportedFunction", f"Unsupported function {name.upper()}.")
        func, low, high = entry
        if not low <= len(compiled) <= high:
            raise S3Error("IncorrectSqlFunctionArgumentType",
                          f"{name.upper()} takes {low}{'' if low == high else f' to {high}'} arguments.")
        if len(compiled) == 1:
            only = compiled[0]
            return lambda r: func(only(r))
        if not compiled:
            return lambda _r: func()
        return lambda r: func(*[f(r) for f in compiled])

    # --- names ---------------------------------------------------------------------------------------------------
    def _is_column(self, name: str) -> bool:
        return self.header is not None and name in self.columns

    def _alias(self, name: str, sub: Callable[[Node], Fn]) -> Fn:
        key = name.lower()
        if key in self.alias_stack or len(self.alias_stack) >= _MAX_ALIAS_DEPTH:
            raise S3Error("UnsupportedSyntax",
                          "number of calls exceed maximum size, probably a cyclic reference to alias "
                          f"{{{name}}}")
        self.alias_stack.append(key)
        try:
            return sub(self.aliases[key])
        finally:
            self.alias_stack.pop()

    def _ref(self, steps: list[Any]) -> Fn:
        first = str(steps[0])
        if len(steps) == 1 and first.lower() in self.aliases and not self._is_column(first):
            return self._alias(first, self.compile)
        rest = list(steps)
        alias = (self.query.alias or "").lower()
        if len(rest) > 1 and isinstance(rest[0], str) and rest[0].lower() in (alias, "s3object"):
            rest = rest[1:]
        if self.kind == "json":
            if len(rest) > 1 and rest[0] == "_1":
                rest = rest[1:]
            elif len(rest) == 1 and alias and str(rest[0]).lower() == alias:
                rest = []  # SELECT s FROM S3Object s: the whole record
            return _path(rest)
        if len(rest) != 1 or not isinstance(rest[0], str):
            raise S3Error("EvaluatorInvalidPathComponent" if len(rest) > 1 else "InvalidColumnIndex",
                          f"A CSV record has no path {'.'.join(map(str, steps))}.")
        name = rest[0]
        if name.startswith("_") and name[1:].isdigit():
            index = int(name[1:]) - 1
            if index < 0:
                raise S3Error("InvalidColumnIndex", f"The column index {name} is not valid.")
        elif self.header is not None and (name in self.columns or name.lower() in self.columns):
            index = self.columns.get(name, self.columns.get(name.lower(), 0))
        else:
            raise S3Error("EvaluatorBindingDoesNotExist",
                          f"ProcessingTimeError: alias {{{name}}} or column not exist in schema")

        def column(r: Any) -> Any:
            try:
                return r[index]
            except IndexError:
                return None
        return column


def _path(steps: list[Any]) -> Fn:
    if not steps:
        return lambda r: r
    if len(steps) == 1 and isinstance(steps[0], str) and steps[0] != "*":
        key = steps[0]

        def one(r: Any) -> Any:
            return r.get(key) if type(r) is dict else None
        return one

    def walk(r: Any) -> Any:
        for s in steps:
            if type(s) is int:
                r = r[s] if type(r) is list and s < len(r) else None
            elif s == "*":
                return None
            else:
                r = r.get(s) if type(r) is dict else None
            if r is None:
                return None
        return r
    return walk


_OPERATORS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt, "<=": operator.le,
              ">=": operator.ge}


def _const(value: Any) -> Fn:
    def const(_r: Any) -> Any:
        return value
    const.constant = (value,)  # type: ignore[attr-defined]
    return const


def _comparison(op: str, a: Fn, b: Fn) -> Fn:
    compare = fn.compare
    constant = getattr(b, "constant", None)
    if constant is not None and constant[0] is not None:
        # column <op> literal: the literal's type known once, the common case one type check
        y = constant[0]
        ty = type(y)
        native = _OPERATORS[op]

        def cmp_const(r: Any) -> Any:
            x = a(r)
            if type(x) is ty:
                return native(x, y)
            return compare(op, x, y)
        return cmp_const

    def cmp(r: Any) -> Any:
        x, y = a(r), b(r)
        if x is None or y is None:
            return None
        if type(x) is type(y):
            if op == "=":
                return x == y
            if op == "!=":
                return x != y
        return compare(op, x, y)
    return cmp


def _is(a: Fn, what: str, negated: bool) -> Fn:
    if what in ("null", "missing"):
        return lambda r: (a(r) is None) != negated
    target = what == "true"
    return lambda r: (a(r) is target) != negated


def _arithmetic(op: str, a: Fn, b: Fn) -> Fn:
    num = fn.to_number

    def arith(r: Any) -> Any:
        x, y = a(r), b(r)
        if type(x) is not int and type(x) is not float:
            x = num(x)
        if type(y) is not int and type(y) is not float:
            y = num(y)
        if x is None or y is None:
            return None
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if y == 0:
            raise S3Error("DivisionByZero", "Division by zero.")
        if op == "/":
            if type(x) is int and type(y) is int:
                q = abs(x) // abs(y)  # SQL: integer division truncates toward zero
                return q if (x >= 0) == (y >= 0) else -q
            return x / y
        return x - y * int(x / y) if type(x) is int and type(y) is int else x % y
    return arith


def compile_query(query: Query, kind: str, header: list[str] | None = None) -> Plan:
    """The plan of ``query`` over records of ``kind`` ("csv" or "json"), with
    the CSV header's column names when the request says USE."""
    try:
        return Compiler(query, kind, header).plan()
    except RecursionError:  # parse() lets through less nesting than this needs; kept as a safety net
        raise S3Error("UnsupportedSyntax", "The SQL expression is nested too deeply.") from None
