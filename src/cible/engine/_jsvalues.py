"""JavaScript value semantics that JSON Logic conditions assume.

JSON Logic was specified by its JavaScript implementation (`json-logic-js`, which Adobe's Node SDK
runs); Adobe's Python SDK runs the `json-logic-qubit` port. Conditions compiled by Adobe (and by
Cible) compare strings and numbers loosely, so the engine reproduces JavaScript's truthiness,
`==`, `===`, relational comparison, `ToNumber`, `parseFloat` and `ToString` here, once, for the
operators in `_jsonlogic.py`. One deliberate difference from JavaScript, taken from
json-logic-qubit: an ordering comparison (`<`, `<=`, `>`, `>=`) involving a missing value (null)
is false, so that a condition on an absent attribute never matches.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = [
    "NAN",
    "js_le",
    "js_less",
    "js_loose_eq",
    "js_parse_float",
    "js_strict_eq",
    "js_to_int",
    "js_to_number",
    "js_to_string",
    "js_truthy",
]

NAN = float("nan")

# ECMAScript StringNumericLiteral (decimal part) and parseFloat's StrDecimalLiteral prefix.
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_SAFE_LIMIT = 2**53
_JS_WHITESPACE = " \t\n\r\v\f\u00a0\ufeff\u2028\u2029"


def js_truthy(value: Any) -> bool:
    """JSON Logic truthiness: JavaScript's, except that an empty array is false too."""
    # Concrete types first: conditions see JSON values, and this runs once per clause.
    kind = type(value)
    if kind is bool:
        return value  # type: ignore[no-any-return]
    if kind is str or kind is list:
        return len(value) > 0
    if kind is int:
        return value != 0  # type: ignore[no-any-return]
    if value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, int | float):
        return value != 0 and value == value
    if isinstance(value, str | list):
        return len(value) > 0
    return True


def js_to_string(value: Any) -> str:
    """JavaScript `String(value)` for JSON values."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_to_string(item) for item in value)
    return "[object Object]"


def _to_primitive(value: Any) -> Any:
    if isinstance(value, list | dict):
        return js_to_string(value)
    return value


def js_to_number(value: Any) -> float | int:
    """JavaScript `Number(value)`; null is 0, unparsable text is NaN."""
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | dict):
        return js_to_number(js_to_string(value))
    if isinstance(value, str):
        text = value.strip(_JS_WHITESPACE)
        if not text:
            return 0
        if _DECIMAL.fullmatch(text):
            return _decimal(text)
        if _HEX.fullmatch(text):
            return _js_integer(int(text, 16))
        return NAN
    return NAN


def _decimal(text: str) -> float | int:
    if text.endswith("Infinity"):
        return -math.inf if text.startswith("-") else math.inf
    try:
        return _js_integer(int(text))
    except ValueError:  # not an integer, or more digits than int() reads: a double
        return float(text)


def _js_integer(number: int) -> float | int:
    # A JavaScript number is a double: an integer text past 2**53 reads as the nearest double,
    # Infinity past the largest, where Python's int would stay exact and unbounded (and make
    # float arithmetic raise OverflowError).
    if -_SAFE_LIMIT <= number <= _SAFE_LIMIT:
        return number
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


def js_parse_float(value: Any) -> float | int:
    """JavaScript `parseFloat(value)`: the longest numeric prefix of `String(value)`, else NaN."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    match = _DECIMAL.match(js_to_string(value).lstrip(_JS_WHITESPACE))
    return _decimal(match.group(0)) if match else NAN


def js_to_int(value: Any) -> int:
    """JavaScript `ToIntegerOrInfinity`, clamped to Python ints (NaN is 0)."""
    number = js_to_number(value)
    if number != number:
        return 0
    if math.isinf(number):
        return 2**31 if number > 0 else -(2**31)
    return int(number)


_NUMBER_TYPES = (int, float)


def js_loose_eq(left: Any, right: Any) -> bool:
    """JavaScript `==` (Abstract Equality) over JSON values."""
    left_type = type(left)
    if left_type is type(right) and (left_type is str or left_type in _NUMBER_TYPES):
        return bool(left == right)
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool):
        left = int(left)
    if isinstance(right, bool):
        right = int(right)
    left_container = isinstance(left, list | dict)
    right_container = isinstance(right, list | dict)
    if left_container and right_container:
        return left is right
    if left_container:
        left = _to_primitive(left)
    elif right_container:
        right = _to_primitive(right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, str):
        left = js_to_number(left)
    elif isinstance(right, str):
        right = js_to_number(right)
    return bool(left == right)


def js_strict_eq(left: Any, right: Any) -> bool:
    """JavaScript `===` over JSON values (every number is one type)."""
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return bool(left == right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return left is right


def _utf16_less(left: str, right: str, or_equal: bool) -> bool:
    # JavaScript orders strings by UTF-16 code unit; big-endian UTF-16 bytes sort the same way.
    if not (left.isascii() and right.isascii()):
        left_units, right_units = left.encode("utf-16-be"), right.encode("utf-16-be")
        return left_units <= right_units if or_equal else left_units < right_units
    return left <= right if or_equal else left < right


def _compare(left: Any, right: Any, or_equal: bool) -> bool:
    if type(left) in _NUMBER_TYPES and type(right) in _NUMBER_TYPES:
        return bool(left <= right) if or_equal else bool(left < right)
    if left is None or right is None:
        return False
    left, right = _to_primitive(left), _to_primitive(right)
    if isinstance(left, str) and isinstance(right, str):
        return _utf16_less(left, right, or_equal)
    left_number, right_number = js_to_number(left), js_to_number(right)
    if or_equal:
        return bool(left_number <= right_number)
    return bool(left_number < right_number)


def js_less(left: Any, right: Any) -> bool:
    """JavaScript `left < right`, false when either side is null (a missing attribute)."""
    if type(left) in _NUMBER_TYPES and type(right) in _NUMBER_TYPES:
        return bool(left < right)
    return _compare(left, right, or_equal=False)


def js_le(left: Any, right: Any) -> bool:
    """JavaScript `left <= right`, false when either side is null (a missing attribute)."""
    if type(left) in _NUMBER_TYPES and type(right) in _NUMBER_TYPES:
        return bool(left <= right)
    return _compare(left, right, or_equal=True)
