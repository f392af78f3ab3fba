"""Values and functions of S3 Select SQL: conversions, comparison, LIKE,
string and date functions.  Values are None (NULL), bool, int, float, str
and timezone-aware datetime; a CSV field is a str, converted where an
operator needs a number or a timestamp (as Ceph's and AWS's engines do)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from pails.errors import S3Error

UTC = dt.UTC


def evaluation_error(code: str, text: str) -> S3Error:
    return S3Error(code, text)


# --- conversions -------------------------------------------------------------------------------------------------

def to_number(v: Any) -> int | float | None:
    """A number for arithmetic: strings are read as int or float; NULL for a
    string that is not a number."""
    t = type(v)
    if t is int or t is float:
        return v  # type: ignore[no-any-return]
    if t is str:
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return None
    if t is bool:
        return int(v)
    return None


def to_int(v: Any) -> int | None:
    if v is None:
        return None
    t = type(v)
    if t is int:
        return v  # type: ignore[no-any-return]
    if t is str:
        s = v.strip()
        try:
            return int(s)
        except ValueError:
            try:
                return int(float(s))
            except (ValueError, OverflowError):
                raise evaluation_error("CastFailed", f"Cannot cast {v[:64]!r} to INT.") from None
    if t is float:
        try:
            return int(v)
        except (OverflowError, ValueError):  # inf, nan
            raise evaluation_error("CastFailed", f"Cannot cast {v!r} to INT.") from None
    if t is bool:
        return int(v)
    raise evaluation_error("CastFailed", f"Cannot cast a {type(v).__name__} to INT.")


def to_float(v: Any) -> float | None:
    if v is None:
        return None
    if type(v) is str:
        try:
            return float(v.strip())
        except ValueError:
            raise evaluation_error("CastFailed", f"Cannot cast {v[:64]!r} to FLOAT.") from None
    if isinstance(v, (int, float)):
        return float(v)
    raise evaluation_error("CastFailed", f"Cannot cast a {type(v).__name__} to FLOAT.")


def to_bool(v: Any) -> bool | None:
    if v is None or type(v) is bool:
        return v  # type: ignore[no-any-return]
    if isinstance(v, (int, float)):
        return v != 0
    if type(v) is str:
        s = v.strip().lower()
        if s in ("true", "1"):
            return True
        if s in ("false", "0"):
            return False
        n = to_number(s)
        if n is not None:
            return n != 0
    raise evaluation_error("CastFailed", f"Cannot cast {str(v)[:64]!r} to BOOL.")


def to_text(v: Any) -> str | None:
    """A value as output and as CAST(... AS STRING) writes it."""
    if v is None:
        return None
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if t is bool:
        return "true" if v else "false"
    if t is float:
        return repr(v)
    if t is dt.datetime:
        return format_timestamp(v)
    return str(v)


def cast(v: Any, kind: str) -> Any:
    if v is None:
        return None
    if kind == "int":
        return to_int(v)
    if kind == "float":
        return to_float(v)
    if kind == "string":
        return to_text(v)
    if kind == "bool":
        return to_bool(v)
    return to_timestamp(v)


# --- comparison --------------------------------------------------------------------------------------------------

def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    """Two values of different types made comparable, or (None, None)."""
    ta, tb = type(a), type(b)
    num = (int, float)
    if ta in num and tb in num:
        return a, b
    if ta is str and tb in num:
        return to_number(a), b
    if tb is str and ta in num:
        return a, to_number(b)
    if ta is bool or tb is bool:
        try:
            return to_bool(a), to_bool(b)
        except S3Error:
            return None, None
    if ta is dt.datetime and tb is str:
        return a, to_timestamp(b)
    if tb is dt.datetime and ta is str:
        return to_timestamp(a), b
    return None, None


def compare(op: str, a: Any, b: Any) -> bool | None:
    """SQL comparison: NULL when either side is NULL or they cannot be compared."""
    if a is None or b is None:
        return None
    if type(a) is not type(b):
        a, b = _coerce(a, b)
        if a is None or b is None:
            return None
    if op == "=":
        return a == b  # type: ignore[no-any-return]
    if op == "!=":
        return a != b  # type: ignore[no-any-return]
    try:
        if op == "<":
            return a < b  # type: ignore[no-any-return]
        if op == ">":
            return a > b  # type: ignore[no-any-return]
        if op == "<=":
            return a <= b  # type: ignore[no-any-return]
        return a >= b  # type: ignore[no-any-return]
    except TypeError:  # JSON objects or arrays have no order
        return None


def like_pattern(pattern: str, escape: str | None) -> re.Pattern[str]:
    """LIKE's pattern as a regular expression: % any run, _ one character,
    [a-z] a character class (Ceph's extension), ``escape`` makes the next
    character literal."""
    if escape is not None and len(escape) != 1:
        raise evaluation_error("InvalidArgument", "The ESCAPE of LIKE must be one character.")
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if escape is not None and c == escape:
            i += 1
            if i == len(pattern):
                raise evaluation_error("InvalidArgument", "LIKE pattern ends with its escape character.")
            out.append(re.escape(pattern[i]))
        elif c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        elif c == "[" and "]" in pattern[i + 2:]:
            close = pattern.index("]", i + 2)
            body = pattern[i + 1:close]
            negate = body.startswith("^") or body.startswith("!")
            if negate:
                body = body[1:]
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = close
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def like_matcher(pattern: str, escape: str | None) -> Callable[[str], bool]:
    """A test of a string against a LIKE pattern: str methods for the
    common shapes ('abc%', '%abc', '%abc%', 'abc'), a regular expression
    otherwise."""
    inner = pattern.strip("%")
    plain = not any(c in inner for c in "%_[") and (escape is None or escape not in pattern)
    if plain:
        lead, trail = pattern.startswith("%"), pattern.endswith("%") and len(pattern) > len(inner)
        if lead and trail:
            return lambda s: inner in s
        if lead:
            return lambda s: s.endswith(inner)
        if trail:
            return lambda s: s.startswith(inner)
        return lambda s: s == inner
    regex = like_pattern(pattern, escape).fullmatch
    return lambda s: regex(s) is not None


# --- strings -----------------------------------------------------------------------------------------------------

def substring(s: Any, start: Any, length: Any = None) -> str | None:
    if s is None or start is None:
        return None
    s = to_text(s)
    assert s is not None
    first = to_int(start)
    assert first is not None
    if length is None:
        return s[max(first, 1) - 1:]
    n = to_int(length)
    assert n is not None
    if n < 0:
        raise evaluation_error("InvalidArgument", "SUBSTRING's length must not be negative.")
    end = first + n  # SQL: the characters at positions [first, first + n)
    lo = max(first, 1)
    if end <= lo:
        return ""
    return s[lo - 1:end - 1]


def trim(s: Any, mode: str, chars: Any) -> str | None:
    if s is None:
        return None
    s = to_text(s)
    assert s is not None
    cs = " " if chars is None else to_text(chars)
    if mode == "leading":
        return s.lstrip(cs)
    if mode == "trailing":
        return s.rstrip(cs)
    return s.strip(cs)


# --- timestamps --------------------------------------------------------------------------------------------------

_TS = re.compile(r"""\s*(\d{4})(?:(-?)(\d{2})(?:\2(\d{2}))?)?
    (?:T(?:(\d{2}):?(\d{2})(?::?(\d{2})(?:\.(\d{1,9}))?)?)?)?
    (Z|[+-]\d{2}(?::?\d{2})?)?\s*$""", re.VERBOSE | re.IGNORECASE)


def to_timestamp(v: Any) -> dt.datetime | None:
    """An Ion-style timestamp (2007T, 2007-02-23T12:14:33.079-08:00, or the
    basic form 20070223T121433Z): NULL for NULL, CastFailed otherwise."""
    if v is None or type(v) is dt.datetime:
        return v
    m = _TS.match(str(v))
    if m is None:
        raise evaluation_error("CastFailed", f"Cannot read {str(v)[:64]!r} as a timestamp.")
    year, _sep, month, day, hh, mm, ss, frac, zone = m.groups()
    tz = UTC
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))
    try:
        return dt.datetime(int(year), int(month or 1), int(day or 1), int(hh or 0), int(mm or 0), int(ss or 0),
                           int((frac or "0").ljust(6, "0")[:6]), tzinfo=tz)
    except ValueError:
        raise evaluation_error("CastFailed", f"Cannot read {str(v)[:64]!r} as a timestamp.") from None


def format_timestamp(t: dt.datetime) -> str:
    off = t.utcoffset() or dt.timedelta(0)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    return text + ("Z" if not off else _offset(off, ":"))


def _offset(off: dt.timedelta, sep: str, minutes: bool = True) -> str:
    total = int(off.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    h, m = divmod(abs(total), 60)
    return f"{sign}{h:02d}" + (f"{sep}{m:02d}" if minutes else "")


def _need_ts(v: Any) -> dt.datetime | None:
    t = to_timestamp(v)
    return t


def extract(part: str, v: Any) -> int | None:
    t = _need_ts(v)
    if t is None:
        return None
    if part == "timezone_hour" or part == "timezone_minute":
        total = int((t.utcoffset() or dt.timedelta(0)).total_seconds()) // 60
        h, m = divmod(abs(total), 60)
        sign = -1 if total < 0 else 1
        return sign * (h if part == "timezone_hour" else m)
    return int(getattr(t, part))


def date_add(part: str, n: Any, v: Any) -> dt.datetime | None:
    try:
        return _date_add(part, n, v)
    except (OverflowError, ValueError):
        raise evaluation_error("EvaluatorInvalidArguments", "DATE_ADD goes past the years 1 to 9999.") from None


def _date_add(part: str, n: Any, v: Any) -> dt.datetime | None:
    t = _need_ts(v)
    k = to_int(n)
    if t is None or k is None:
        return None
    if part in ("year", "month"):
        months = t.month - 1 + (k * 12 if part == "year" else k)
        year = t.year + months // 12
        month = months % 12 + 1
        day = min(t.day, calendar.monthrange(year, month)[1])
        return t.replace(year=year, month=month, day=day)
    if part.startswith("timezone"):
        raise evaluation_error("InvalidArgument", f"DATE_ADD does not take {part}.")
    return t + dt.timedelta(**{part + "s": k})


def date_diff(part: str, a: Any, b: Any) -> int | None:
    t1, t2 = _need_ts(a), _need_ts(b)
    if t1 is None or t2 is None:
        return None
    if part == "year":
        return t2.year - t1.year
    if part == "month":
        return (t2.year - t1.year) * 12 + t2.month - t1.month
    seconds = (t2 - t1).total_seconds()
    unit = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}.get(part)
    if unit is None:
        raise evaluation_error("InvalidArgument", f"DATE_DIFF does not take {part}.")
    return int(seconds / unit)


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


_PATTERN = re.compile(r"y+|M+|d+|a|h+|H+|m+|s+|S+|n|X+|x+|'[^']*'|.", re.DOTALL)


def to_string(v: Any, fmt: Any) -> str | None:
    """TO_STRING(timestamp, pattern) with AWS's pattern letters (y M d a h H
    m s S n X x and 'quoted text')."""
    t = _need_ts(v)
    if t is None or fmt is None:
        return None
    off = t.utcoffset() or dt.timedelta(0)
    out = []
    for tok in _PATTERN.findall(str(fmt)):
        c, n = tok[0], len(tok)
        if c == "y":
            out.append(str(t.year)[-2:] if n == 2 else str(t.year).zfill(n))
        elif c == "M":
            out.append(t.strftime("%B") if n >= 4 else t.strftime("%b") if n == 3 else str(t.month).zfill(n))
        elif c == "d":
            out.append(str(t.day).zfill(n))
        elif c == "a":
            out.append("AM" if t.hour < 12 else "PM")
        elif c == "h":
            out.append(str((t.hour % 12) or 12).zfill(n))
        elif c == "H":
            out.append(str(t.hour).zfill(n))
        elif c == "m":
            out.append(str(t.minute).zfill(n))
        elif c == "s":
            out.append(str(t.second).zfill(n))
        elif c == "S":
            out.append(f"{t.microsecond:06d}"[:n].ljust(n, "0"))
        elif c == "n":
            out.append(str(t.microsecond * 1000))
        elif c in "Xx":
            if c == "X" and not off:
                out.append("Z")
            else:
                out.append(_offset(off, ":" if n >= 3 else "", minutes=n >= 2))
        elif c == "'":
            out.append(tok[1:-1])
        else:
            out.append(tok)
    return "".join(out)


# --- the plain functions by name (special forms live in the compiler) --------------------------------------------

def _lower(s: Any) -> Any:
    return None if s is None else to_text(s).lower()  # type: ignore[union-attr]


def _upper(s: Any) -> Any:
    return None if s is None else to_text(s).upper()  # type: ignore[union-attr]


def _char_length(s: Any) -> Any:
    return None if s is None else len(to_text(s))  # type: ignore[arg-type]


def _abs(v: Any) -> Any:
    n = to_number(v)
    return None if n is None else abs(n)


FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {  # name -> (function, min args, max args)
    "lower": (_lower, 1, 1),
    "upper": (_upper, 1, 1),
    "char_length": (_char_length, 1, 1),
    "character_length": (_char_length, 1, 1),
    "substring": (substring, 2, 3),
    "to_timestamp": (to_timestamp, 1, 1),
    "to_string": (to_string, 2, 2),
    "utcnow": (utcnow, 0, 0),
    "abs": (_abs, 1, 1),
    # Ceph's short casts
    "int": (to_int, 1, 1),
    "float": (to_float, 1, 1),
    "string": (to_text, 1, 1),
}
