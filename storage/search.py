"""Full-text search that finds English words and Chinese words alike.

SQLite's tokenizers do not segment Chinese: `unicode61` keeps a whole run of Han
characters as one token, and `trigram` cannot match the two-character words most
searches use (家纺, 印染). So the index stores Chinese as overlapping character
bigrams ("中国轻纺城" → "中国 国轻 轻纺 纺城"), and queries are rewritten the same way
into phrases of adjacent bigrams, which matches any Chinese string of two or more
characters exactly where it occurs. Latin text is left to `unicode61`.
"""

from __future__ import annotations

import re

# Han (with extensions and compatibility ideographs), kana and Hangul: scripts written without spaces.
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002fa1f]+")
_TERMS = re.compile(r'("[^"]*"|\S+)')


def _bigrams(run: str) -> str:
    if len(run) == 1:
        return run
    return " ".join(run[i : i + 2] for i in range(len(run) - 1))


def fts_text(text: str | None) -> str:
    """The form of a text that goes into the FTS index."""
    if not text:
        return ""
    return CJK.sub(lambda m: f" {_bigrams(m.group())} ", text)


def fts_query(query: str) -> str:
    """Turn what a person typed into an FTS5 MATCH expression for `fts_text` indexes.

    Like Datasette's escaped search mode, every space-separated term (or "quoted phrase")
    must occur; operators are not interpreted, so any input is a valid query.
    """
    query = query.replace("\0", " ")  # FTS5 reads a NUL as the end of the expression: "unterminated string"
    if query.count('"') % 2:
        query += '"'
    terms = []
    for term in _TERMS.findall(query):
        term = term.strip('"').replace('"', "")
        if not term.strip():
            continue
        indexed = " ".join(fts_text(term).split())
        if len(indexed) == 1 and CJK.fullmatch(indexed):
            terms.append(f'"{indexed}" *')  # one character: any bigram starting with it
        else:
            terms.append(f'"{indexed}"')
    return " ".join(terms) or '""'
