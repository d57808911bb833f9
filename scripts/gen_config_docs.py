"""Regenerate the reference tables in docs/configuration.md from crawler/config.py.

    .venv/bin/python scripts/gen_config_docs.py

The tables sit between the BEGIN/END markers; everything else in the file is hand-written.
tests/test_config.py fails when the file is out of date.
"""

from pathlib import Path

from loomwatch.crawler.config import reference_markdown

BEGIN, END = "<!-- BEGIN GENERATED REFERENCE -->", "<!-- END GENERATED REFERENCE -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def updated(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{reference_markdown()}\n{END}{tail}"


if __name__ == "__main__":
    DOC.write_text(updated(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"updated {DOC}")
