"""Deltas of one string field of a JSON object while the object is still being generated.

The model streams its structured answer as JSON text in arbitrary chunks; the client wants the
answer markdown as it grows. `FieldStream` scans the text once, tracking nesting and strings, and
decodes the chosen top-level string field incrementally — every JSON escape included, also when
a chunk ends in the middle of one (`\\`, `\\u04`, or half of a surrogate pair).
"""

from __future__ import annotations

import re

_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


class FieldStream:
    def __init__(self, field: str) -> None:
        self.field = field
        self._buffer = ""
        self._pos = 0
        self._depth = 0
        self._in_string = False
        self._string_is_key = False
        self._key = ""
        self._last_key: str | None = None
        self._expect_key = False
        self._capturing = False
        self._raw = ""  # the current string's raw text so far (escapes undecoded)
        self._pending_high: str | None = None
        self.value = ""
        self.done = False
        self.prefix_before_field = ""

    def feed(self, chunk: str) -> str:
        """Add text; return what became known of the field's value (may be '')."""
        self._buffer += chunk
        out: list[str] = []
        text, i = self._buffer, self._pos
        while i < len(text):
            c = text[i]
            if self._in_string:
                if c == "\\":
                    end = self._escape_end(text, i)
                    if end is None:
                        break  # the escape is not complete yet: wait for more text
                    if self._capturing:
                        out.append(self._decode_escape(text[i:end]))
                    elif self._string_is_key:
                        self._key += text[i:end]
                    i = end
                    continue
                if c == '"':
                    self._in_string = False
                    if self._string_is_key:
                        self._last_key = self._key
                    elif self._capturing:
                        self._capturing = False
                        self.done = True
                    i += 1
                    continue
                if self._capturing:
                    out.append(c)
                elif self._string_is_key:
                    self._key += c
                i += 1
                continue
            if c == '"':
                self._in_string = True
                self._string_is_key = self._depth == 1 and self._expect_key
                self._key = ""
                if (
                    not self._string_is_key
                    and self._depth == 1
                    and self._last_key == self.field
                    and not self.done
                ):
                    self._capturing = True
                    self.prefix_before_field = text[:i]
            elif c in "{[":
                self._depth += 1
                self._expect_key = c == "{" and self._depth == 1
            elif c in "}]":
                self._depth -= 1
            elif c == "," and self._depth == 1:
                self._expect_key = True
            elif c == ":" and self._depth == 1:
                self._expect_key = False
            i += 1
        self._pos = i
        delta = "".join(out)
        self.value += delta
        return delta

    @staticmethod
    def _escape_end(text: str, i: int) -> int | None:
        if i + 1 >= len(text):
            return None
        if text[i + 1] != "u":
            return i + 2
        if i + 6 > len(text):
            return None
        code = int(text[i + 2 : i + 6], 16)
        if 0xD800 <= code < 0xDC00:  # high surrogate: take its low half too
            if i + 12 > len(text):
                return None
            if text[i + 6 : i + 8] == "\\u":
                return i + 12
        return i + 6

    @staticmethod
    def _decode_escape(raw: str) -> str:
        if raw[1] != "u":
            return _SIMPLE_ESCAPES.get(raw[1], raw[1])
        high = int(raw[2:6], 16)
        if len(raw) == 12:
            low = int(raw[8:12], 16)
            if 0xDC00 <= low < 0xE000:
                return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            return chr(high) + chr(low)
        return chr(high)


def first_json_object(text: str) -> str | None:
    """The first balanced `{...}` in text (models sometimes wrap JSON in prose or fences)."""
    start = text.find("{")
    while start != -1:
        depth, in_string, escaped = 0, False, False
        for index in range(start, len(text)):
            c = text[index]
            if in_string:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == '"':
                    in_string = False
            elif c == '"':
                in_string = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return text[start : index + 1]
        start = text.find("{", start + 1)
    return None


# A reply whose fields before the answer ask for more evidence: its answer text is only a note
# on what is being checked, never streamed as the answer.
WANTS_MORE = re.compile(
    r'"needs_more_evidence"\s*:\s*true'
    r'|"(?:followup_images|followup_rois|followup_blocks|search_queries)"\s*:\s*\[\s*[^\]\s]'
)
