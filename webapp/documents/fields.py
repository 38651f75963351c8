"""Labelled fields of image blocks (`**Описание:** …`), shared by the markdown and HTML parsers."""

from __future__ import annotations

import re

IMAGE_MARKER_RE = re.compile(r"^\s*\*\*\s*\[\s*ИЗОБРАЖЕНИЕ\s*\]\s*\*\*\s*(.*)$", re.IGNORECASE)
LABEL_LINE_RE = re.compile(r"^\s*\*\*\s*([^*\n]{1,80}?)\s*:\s*\*\*\s*(.*)$")

KNOWN_LABELS = {
    "тип": "image_type",
    "краткое описание": "short_description",
    "описание": "description",
    "текст на чертеже": "drawing_text",
    "сущности": "entities",
    "распознанный ocr текст на чертеже": "ocr_text",
    "распознанный текст на чертеже": "ocr_text",
    "оси": "axes",
    "масштаб": "scale",
}
# A field whose content is free-form OCR output: bold "labels" inside it belong to the drawing.
FREE_FORM_FIELDS = {"ocr_text"}

_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "a b v g d e e zh z i i k l m n o p r s t u f kh ts ch sh shch  y  e yu ya".split(" "),
    )
)


def slugify(label: str) -> str:
    """A stable ASCII key for a label: "Оси" → "axes", "Стадия чертежа" → "stadiya_chertezha"."""
    folded = " ".join(label.lower().replace("ё", "е").split())
    if folded in KNOWN_LABELS:
        return KNOWN_LABELS[folded]
    latin = "".join(_TRANSLIT.get(char, char) for char in folded)
    slug = re.sub(r"[^a-z0-9]+", "_", latin).strip("_")
    return slug or "field"


def _store(fields: dict[str, str], key: str, value: str) -> None:
    value = value.strip()
    if key in fields and fields[key]:
        if value:
            fields[key] = f"{fields[key]}\n{value}"
    else:
        fields[key] = value


def _parse_marker_line(rest: str, fields: dict[str, str]) -> None:
    """`| Тип: План этажа | Оси: 1-4/А-Е` → image_type, axes."""
    for part in rest.split("|"):
        label, sep, value = part.partition(":")
        if sep and label.strip():
            _store(fields, slugify(label.strip().strip("*")), value)


def parse_fields(text: str) -> dict[str, str]:
    """Labelled fields of an image block's text; lines before the first label are ignored."""
    fields: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if current is not None:
            _store(fields, current, "\n".join(lines))

    for line in text.splitlines():
        marker = IMAGE_MARKER_RE.match(line)
        if marker and current not in FREE_FORM_FIELDS:
            flush()
            current, lines = None, []
            _parse_marker_line(marker.group(1), fields)
            continue
        label = LABEL_LINE_RE.match(line)
        if label:
            key = slugify(label.group(1))
            known = label.group(1).lower().replace("ё", "е").strip() in KNOWN_LABELS
            if current not in FREE_FORM_FIELDS or (known and key != current):
                flush()
                current, lines = key, [label.group(2)]
                continue
        if current is not None:
            lines.append(line)
    flush()
    return {key: value for key, value in fields.items() if key}
