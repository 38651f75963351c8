"""Small drawing sets written as document.md, for tests that need many distinct documents."""

from __future__ import annotations

import hashlib
from pathlib import Path


def block_id(*parts: object) -> str:
    """A valid, stable block id (`XXXX-XXXX-XXX`) for the given parts."""
    digest = hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest().upper()
    return f"{digest[:4]}-{digest[4:8]}-{digest[8:11]}"


def markdown(title: str, code: str, sheets: list[tuple[str, list[str]]]) -> str:
    """document.md with a title, a stamp, and one page per sheet holding its text blocks."""
    lines = [f"# {title}", "", f"**Штамп:** Шифр: {code} | Стадия: РД", "", "---", ""]
    for number, (sheet_name, texts) in enumerate(sheets, start=1):
        lines += [
            f"## СТРАНИЦА {number}",
            f"**Лист:** {number}",
            f"**Наименование листа:** {sheet_name}",
            "",
        ]
        for index, text in enumerate(texts, start=1):
            lines += [f"### BLOCK [TEXT]: {block_id(code, number, index)}", text, ""]
    return "\n".join(lines)


def write_set(folder: Path, title: str, code: str, sheets: list[tuple[str, list[str]]]) -> Path:
    """A folder `flask projects import` accepts."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "document.md").write_text(markdown(title, code, sheets), encoding="utf-8")
    return folder
