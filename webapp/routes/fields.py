"""Text fields whose OpenAPI `pattern` states exactly what their validators refuse.

Every text input refuses NUL (PostgreSQL cannot store it, so it would fail on Supabase only);
"non-blank" text must also hold a character that `str.strip()` keeps. The validators are plain
Python (no backtracking regex on 20,000 characters); the patterns say the same to clients and
fuzzers, in the syntax ECMA-262, Python and Rust regexes share, and tests/routes/test_fields.py
checks that both agree on every character.
"""

from __future__ import annotations

import re
from typing import Any

from apiflask.fields import Boolean, Float, Integer, Raw, String
from apiflask.validators import Length
from marshmallow import ValidationError

# The characters str.isspace() (and so str.strip()) treats as white space, as a regex class.
SPACE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NUL = r"^[^\x00]*$"
NON_BLANK = rf"^[{SPACE}]*[^{SPACE}\x00][^\x00]*$"


def refuse_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters")


def refuse_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


def is_valid_text(value: str, blank: bool) -> bool:
    """What the validators of `text(blank=...)` accept (tests compare it with the patterns)."""
    return "\x00" not in value and (blank or bool(value.strip()))


def text(
    *,
    min_length: int | None = None,
    max_length: int | None = None,
    blank: bool = True,
    **kwargs: Any,
) -> String:
    """A String without NUL, of the given length, and non-blank unless `blank`."""
    validators: list = []
    if min_length is not None or max_length is not None:
        validators.append(Length(min_length, max_length))
    validators.append(refuse_nul)
    if not blank:
        validators.append(refuse_blank)
    metadata = {**kwargs.pop("metadata", {}), "pattern": NO_NUL if blank else NON_BLANK}
    return String(validate=validators, metadata=metadata, **kwargs)


class LooseId(Raw):
    """A positive integer id (≤ 2³¹-1, PostgreSQL's integer), also accepted as a string of up to
    nine digits, as the reference server (pydantic) took it; never a boolean."""

    MAX = 2**31 - 1
    DIGITS = r"^[1-9][0-9]{0,8}$"  # every such string is ≤ MAX, so the pattern says it all

    def __init__(self, **kwargs: Any) -> None:
        number = {"type": "integer", "minimum": 1, "maximum": self.MAX}
        digits = {"type": "string", "pattern": self.DIGITS}
        options = [number, digits] + ([{"type": "null"}] if kwargs.get("allow_none") else [])
        super().__init__(metadata={"anyOf": options}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and re.fullmatch(self.DIGITS[1:-1], value):
            value = int(value)
        elif isinstance(value, float) and value.is_integer():  # JSON Schema: 5.0 is an integer
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= self.MAX:
            raise ValidationError(f"must be a whole number from 1 to {self.MAX}")
        return value


class JSONInteger(Integer):
    """An integer as JSON Schema has it (5 or 5.0): never a boolean, a string or 5.5 cut to 5."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not integral:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class JSONNumber(Float):
    """A JSON number: never a boolean or a string of digits."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class JSONBoolean(Boolean):
    """true or false only (marshmallow also takes "yes", 1, "on"...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value
