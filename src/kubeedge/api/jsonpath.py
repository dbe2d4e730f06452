"""JSONPath for CRD `additionalPrinterColumns` and the cells they produce.

Owns a small evaluator for the `jsonPath` of a printer column (the subset of client-go
`util/jsonpath` that column definitions use: `.a.b`, `['a.b/c']`, `[0]`, `[-1]`,
`[1:3]`, `[*]`, `.*`, `..name`, unions `[0,2]`, and filters such as
`[?(@.type=="Ready")]`) and `format_cell`, which turns the matches into a Table cell the
way kube-apiserver's CRD table convertor does (specs/k8s-api.md §5).

Never does I/O, never formats ages (the caller turns `date` cells into `5m`), never
builds Table rows. Missing keys are not errors (AllowMissingKeys, as kube-apiserver
sets it): they just produce no match. A malformed expression is a 400 `StatusError`;
the CRD validator may re-wrap its message as a field cause.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from kubeedge.api.errors import bad_request

__all__ = ["JSONPath", "find", "format_cell", "printer_cell"]


# ---------------------------------------------------------------------------------------
# Parsed form
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    name: str  # "*" = every member / element


@dataclass(frozen=True, slots=True)
class _Recursive:
    name: str  # "*" = every descendant


@dataclass(frozen=True, slots=True)
class _Union:
    keys: tuple[str | int, ...]  # ints index lists, strings index maps


@dataclass(frozen=True, slots=True)
class _Slice:
    start: int | None
    stop: int | None
    step: int | None


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class _Filter:
    left: tuple[Any, ...] | _Literal  # a relative path (segments) or a literal
    op: str  # "exists" or a comparison
    right: tuple[Any, ...] | _Literal | None


_IDENT_STOP = frozenset(".[]() \t\n\r=!<>&|,'\"{}")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INT = re.compile(r"-?[0-9]+")
_COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> Exception:
        return bad_request(
            f"invalid JSONPath expression {json.dumps(self.text)} at offset {self.pos}: {why}"
        )

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def expect(self, token: str) -> None:
        self.skip_space()
        if not self.text.startswith(token, self.pos):
            raise self.fail(f"expected {token!r}")
        self.pos += len(token)

    def parse(self) -> tuple[Any, ...]:
        text = self.text.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1].strip()  # the `{.spec}` template form
        self.text, self.pos = text, 0
        if not text:
            raise self.fail("empty expression")
        if self.peek() in ("$", "@"):
            self.pos += 1
        segments = self.segments(stop="")
        if self.pos != len(self.text):
            raise self.fail(f"unexpected {self.peek()!r}")
        return segments

    def segments(self, stop: str) -> tuple[Any, ...]:
        """Segments until the end, or (in a filter) until a character of `stop`."""
        out: list[Any] = []
        while self.pos < len(self.text):
            c = self.peek()
            if c in stop or c in " \t\r\n":
                break
            if self.peek(2) == "..":
                self.pos += 2
                if self.peek() == "[":
                    out.append(_Recursive("*"))
                    out.append(self.bracket())
                else:
                    out.append(_Recursive(self.name()))
            elif c == ".":
                self.pos += 1
                out.append(_Field(self.name()))
            elif c == "[":
                out.append(self.bracket())
            else:
                raise self.fail(f"unexpected {c!r}")
        return tuple(out)

    def name(self) -> str:
        if self.peek() == "*":
            self.pos += 1
            return "*"
        chars: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])  # `\.` keeps a dot in a key
                self.pos += 2
                continue
            if c in _IDENT_STOP:
                break
            chars.append(c)
            self.pos += 1
        if not chars:
            raise self.fail("expected a field name")
        return "".join(chars)

    def bracket(self) -> Any:
        self.expect("[")
        self.skip_space()
        if self.peek(2) == "?(":
            self.pos += 2
            node = self.filter()
            self.expect(")")
            self.expect("]")
            return node
        if self.peek() == "*":
            self.pos += 1
            self.expect("]")
            return _Field("*")
        keys: list[str | int] = []
        slice_parts: list[int | None] | None = None
        while True:
            self.skip_space()
            c = self.peek()
            if c in ("'", '"'):
                keys.append(self.string())
            elif c == ":" or _INT.match(self.text, self.pos):
                parts: list[int | None] = [self.integer_or_none()]
                while self.peek() == ":":
                    self.pos += 1
                    parts.append(self.integer_or_none())
                if len(parts) > 3:
                    raise self.fail("a slice has at most start:stop:step")
                if len(parts) > 1:
                    if keys or slice_parts is not None:
                        raise self.fail("a slice cannot be part of a union")
                    slice_parts = parts
                elif parts[0] is None:
                    raise self.fail("expected an index")
                else:
                    keys.append(parts[0])
            else:
                keys.append(self.name())  # bare key: [name]
            self.skip_space()
            if self.peek() == ",":
                if slice_parts is not None:
                    raise self.fail("a slice cannot be part of a union")
                self.pos += 1
                continue
            self.expect("]")
            break
        if slice_parts is not None:
            start, stop, step = [*slice_parts, None, None][:3]
            if step == 0:
                raise self.fail("slice step cannot be 0")
            return _Slice(start, stop, step)
        return _Union(tuple(keys))

    def integer_or_none(self) -> int | None:
        self.skip_space()
        m = _INT.match(self.text, self.pos)
        if not m:
            return None
        self.pos = m.end()
        self.skip_space()
        return int(m.group())

    def string(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if c == quote:
                self.pos += 1
                return "".join(chars)
            chars.append(c)
            self.pos += 1
        raise self.fail("unterminated string")

    def operand(self) -> tuple[Any, ...] | _Literal:
        self.skip_space()
        c = self.peek()
        if c == "@":
            self.pos += 1
            return self.segments(stop=")=!<>&|")
        if c in ("'", '"'):
            return _Literal(self.string())
        m = _NUMBER.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            text = m.group()
            return _Literal(float(text) if any(ch in text for ch in ".eE") else int(text))
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return _Literal(value)
        raise self.fail("expected @path or a literal in the filter")

    def filter(self) -> _Filter:
        left = self.operand()
        self.skip_space()
        op = next((o for o in _COMPARISONS if self.text.startswith(o, self.pos)), None)
        if op is None:
            if isinstance(left, _Literal):
                raise self.fail("a filter needs @path or a comparison")
            return _Filter(left, "exists", None)
        self.pos += len(op)
        return _Filter(left, op, self.operand())


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        yield from node.values()
    elif isinstance(node, list):
        yield from node


def _descendants(node: Any) -> Iterator[Any]:
    """`node` and everything under it, depth first, pre-order."""
    yield node
    for child in _children(node):
        yield from _descendants(child)


def _step(nodes: list[Any], segment: Any) -> list[Any]:
    out: list[Any] = []
    for node in nodes:
        if isinstance(segment, _Field):
            if segment.name == "*":
                out.extend(_children(node))
            elif isinstance(node, dict) and segment.name in node:
                out.append(node[segment.name])
        elif isinstance(segment, _Recursive):
            for d in _descendants(node):
                if segment.name == "*":
                    out.append(d)
                elif isinstance(d, dict) and segment.name in d:
                    out.append(d[segment.name])
        elif isinstance(segment, _Union):
            for key in segment.keys:
                if isinstance(key, int) and isinstance(node, list):
                    if -len(node) <= key < len(node):
                        out.append(node[key])
                elif isinstance(key, str) and isinstance(node, dict) and key in node:
                    out.append(node[key])
        elif isinstance(segment, _Slice):
            if isinstance(node, list):
                out.extend(node[segment.start : segment.stop : segment.step])
        elif isinstance(segment, _Filter) and isinstance(node, list):
            out.extend(item for item in node if _passes(segment, item))
    return out


def _operand_values(operand: tuple[Any, ...] | _Literal | None, item: Any) -> list[Any]:
    if isinstance(operand, _Literal):
        return [operand.value]
    if operand is None:
        return []
    nodes = [item]
    for segment in operand:
        nodes = _step(nodes, segment)
    return nodes


def _compare(left: Any, op: str, right: Any) -> bool:
    if op in ("==", "!="):
        equal = _json_equal(left, right)
        return equal if op == "==" else not equal
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
    if not numbers and not (isinstance(left, str) and isinstance(right, str)):
        return False  # client-go refuses to order values of different kinds
    if op == "<":
        return left < right
    if op == ">":
        return left > right
    if op == "<=":
        return left <= right
    return left >= right


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _passes(flt: _Filter, item: Any) -> bool:
    lefts = _operand_values(flt.left, item)
    if flt.op == "exists":
        return bool(lefts)
    rights = _operand_values(flt.right, item)
    if len(lefts) != 1 or len(rights) != 1:
        return False  # client-go compares exactly one element at a time
    return _compare(lefts[0], flt.op, rights[0])


@dataclass(frozen=True, slots=True)
class JSONPath:
    """A parsed expression; `JSONPath.parse` caches by text."""

    expression: str
    segments: tuple[Any, ...]

    @staticmethod
    def parse(expression: str) -> JSONPath:
        if not isinstance(expression, str):
            raise bad_request(f"a JSONPath expression must be a string, got {expression!r}")
        return _parse(expression)

    def find(self, obj: Any) -> list[Any]:
        """Every match, in document order; [] when nothing matches."""
        nodes = [obj]
        for segment in self.segments:
            nodes = _step(nodes, segment)
            if not nodes:
                break
        return nodes


@lru_cache(maxsize=512)
def _parse(expression: str) -> JSONPath:
    return JSONPath(expression, _Parser(expression).parse())


def find(expression: str, obj: Any) -> list[Any]:
    """Evaluate `expression` (e.g. `.status.conditions[?(@.type=="Ready")].status`)."""
    return JSONPath.parse(expression).find(obj)


# ---------------------------------------------------------------------------------------
# Cells (apiextensions-apiserver tableconvertor: cellForJSONValue)
# ---------------------------------------------------------------------------------------


def _go_float(value: float) -> str:
    """Go's `%v` for a float64 (`%g`, shortest digits): exponent form below 1e-4 and from
    1e6 (strconv uses precision 6 for that decision), e.g. 1.5, 100000, 1e+06, 1e-05."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    neg = "-" if sign else ""
    x = exponent + len(digits) - 1  # decimal exponent of the first digit
    if x < -4 or x >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{neg}{mantissa}e{'+' if x >= 0 else '-'}{abs(x):02d}"
    if x < 0:
        return f"{neg}0.{'0' * (-x - 1)}{digits}"
    whole, frac = digits[: x + 1].ljust(x + 1, "0"), digits[x + 1 :]
    return f"{neg}{whole}.{frac}" if frac else f"{neg}{whole}"


def _go_json(value: Any) -> str:
    """encoding/json.Marshal: compact, sorted keys, `<>&` escaped as \\u003c etc."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _as_text(value: Any) -> str:
    """How client-go jsonpath prints one value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    try:
        return _go_json(value)
    except (TypeError, ValueError):
        return str(value)


def format_cell(values: Sequence[Any], type_: str) -> Any:
    """The Table cell of a printer column of type integer/number/string/boolean/date.

    Like kube-apiserver, only the *first* match is used (`results[0][0]`) and a missing
    or ill-typed value is None, which kubectl prints as `<none>`. `string` columns print
    any value (numbers in Go `%v` form, objects as compact JSON). `date` cells are the raw
    timestamp string; the caller renders the age.
    """
    if not values:
        return None
    value = values[0]
    if value is None:
        return None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if type_ == "integer":
        if isinstance(value, int) and is_number:
            return value
        if isinstance(value, float) and math.isfinite(value):
            return int(value)
        return None
    if type_ == "number":
        return float(value) if is_number else None
    if type_ == "boolean":
        return value if isinstance(value, bool) else None
    if type_ == "string":
        return _as_text(value)
    if type_ == "date":
        return value if isinstance(value, str) else None
    return None


def printer_cell(obj: Any, json_path: str, type_: str) -> Any:
    """`format_cell(find(json_path, obj), type_)`, for one additionalPrinterColumn."""
    return format_cell(JSONPath.parse(json_path).find(obj), type_)
