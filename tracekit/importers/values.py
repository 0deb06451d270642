"""Attribute values as text, rendered the way Jaeger renders them.

Every attribute, resource and event value is stored as text (DESIGN.md). The same value must give
the same text whether it arrives as a Jaeger tag or as an OTLP ``AnyValue``, so both importers use
these functions: strings as-is, bools ``true``/``false``, ints in decimal, doubles as Go's
``encoding/json`` writes them (Jaeger's JSON is written by Go), bytes as standard base64, arrays and
key-value lists as compact JSON with sorted keys (Go's ``json.Marshal`` of the value, which is what
Jaeger puts in the tag when it converts OTLP to its own model).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

INT64_MAX = 2**63 - 1
# The times a dataset can hold and tracekit can print (Python's datetime: years 1 to 9999), in
# microseconds since 1970. A span outside them is bad input: it would overflow int64 on the way
# in, or every query printing it.
MIN_TIME_US = -62_135_596_800_000_000
MAX_TIME_US = 253_402_300_799_999_999


def time_us(value: int, what: str = "time") -> int:
    """``value`` (microseconds since 1970) if a dataset can hold it, else ValueError."""
    if not MIN_TIME_US <= value <= MAX_TIME_US:
        raise ValueError(f"out of range: {value} us is not a {what} between years 1 and 9999")
    return value


def unix_nanos(value: Any) -> int:
    """An OTLP time (nanoseconds since 1970: an unsigned 64-bit number, stored as int64)."""
    nanos = parse_int(value)
    if not 0 <= nanos <= INT64_MAX:
        raise ValueError(f"out of range: {nanos} is not a time in nanoseconds since 1970")
    return nanos


def go_float(value: float) -> str:
    """A double as Go's ``encoding/json`` writes it: shortest digits, exponent only outside
    [1e-6, 1e21).

    >>> go_float(72.5), go_float(3.0), go_float(1e21), go_float(1.5e-7), go_float(1e16)
    ('72.5', '3', '1e+21', '1.5e-7', '10000000000000000')
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        # Python's repr already uses the exponent form here, with two-digit exponents like Go;
        # Go then shortens "e-07" to "e-7" (but keeps "e+21").
        if len(text) >= 4 and text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
            text = text[:-2] + text[-1]
        return text
    if "e" in text:
        # the same shortest digits, written out in positional notation
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return text


def parse_float(value: Any) -> float:
    """A JSON number, or the strings proto3 JSON uses ("NaN", "Infinity", "-Infinity", "1.5")."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    raise ValueError(f"expected a number, got {type(value).__name__}")


def parse_int(value: Any) -> int:
    """A JSON integer, or an integer in a string (int64 values beyond 2^53 arrive as strings)."""
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"expected an integer, got {value!r}") from None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def go_json(value: Any) -> str:
    """Compact JSON as Go's ``json.Marshal`` writes it: sorted keys, HTML characters escaped.

    >>> go_json(["a", 1, 2.0, True, {"z": None, "b": "<x>"}])
    '["a",1,2,true,{"b":"\\\\u003cx\\\\u003e","z":null}]'
    """
    parts: list[str] = []
    _go_json(value, parts)
    return "".join(parts)


def _go_json(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(go_float(value))
    elif isinstance(value, str):
        out.append(_go_string(value))
    elif isinstance(value, dict):
        out.append("{")
        for number, key in enumerate(sorted(value)):
            if number:
                out.append(",")
            out.append(_go_string(str(key)))
            out.append(":")
            _go_json(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for number, item in enumerate(value):
            if number:
                out.append(",")
            _go_json(item, out)
        out.append("]")
    else:
        out.append(_go_string(str(value)))


_GO_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _go_string(text: str) -> str:
    chars = []
    for char in text:
        escaped = _GO_ESCAPES.get(char)
        if escaped is not None:
            chars.append(escaped)
        elif char < " ":
            chars.append(f"\\u{ord(char):04x}")
        else:
            chars.append(char)
    return '"' + "".join(chars) + '"'


def jaeger_tag_text(tag_type: str | None, value: Any) -> str:
    """The text of a Jaeger tag value of the given declared type.

    Jaeger writes int64 beyond 2^53 as strings and some stores write every value as a string,
    so strings are accepted for every type. Raises ValueError for a value its type cannot hold.
    """
    kind = (tag_type or "string").lower()
    if kind == "string":
        return value if isinstance(value, str) else _loose_text(value)
    if kind == "bool":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower()
        raise ValueError(f"bool tag holds {value!r}")
    if kind == "int64":
        try:
            return str(parse_int(value))
        except ValueError:
            raise ValueError(f"int64 tag holds {value!r}") from None
    if kind == "float64":
        try:
            return go_float(parse_float(value))
        except ValueError:
            raise ValueError(f"float64 tag holds {value!r}") from None
    if kind == "binary":
        if isinstance(value, str):
            return value
        raise ValueError(f"binary tag holds {value!r} (expected base64 text)")
    return value if isinstance(value, str) else _loose_text(value)


def _loose_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, int):
        return str(value)
    return go_json(value)
