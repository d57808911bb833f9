"""Writing articles and looking up what is already stored.

Callers wrap `insert_article` in `db.atomic()` together with whatever else belongs to the
article (its cluster tags, its near-duplicate index entries), so that an article is
either wholly in the archive or not at all.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlite_utils

from loomwatch.storage.clock import utcnow
from loomwatch.storage.pending import Pending
from loomwatch.storage.search import fts_text
from loomwatch.storage.stories import story_added, story_as_stored

ARTICLE_COLUMNS = ("url", "source", "title", "text", "published", "lang", "author", "relevance", "relevant", "duplicate_of", "content_hash", "run_id")
_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w]+")


def normalise_text(text: str) -> str:
    """The form two texts are compared in: NFKC, case-folded, punctuation and spacing dropped."""
    return _SPACE.sub(" ", _PUNCT.sub(" ", unicodedata.normalize("NFKC", text).casefold())).strip()


def content_hash(text: str) -> str:
    return hashlib.sha1(normalise_text(text).encode()).hexdigest()


# Pages that will not become articles by asking again: not HTML, too large, gone (404/410),
# or without text, or too slow to analyse, three times running. Server errors and download
# timeouts are retried every run. A page too slow to analyse costs each crawl that tries it
# the time limit: three tries tell a slow machine from a page that is slow everywhere.
NO_TEXT_ATTEMPTS = 3


_FINAL_SKIP = ("(reason IN ('not_html', 'too_large') OR (reason = 'http_error' AND detail IN ('HTTP 404', 'HTTP 410')) "
               "OR (reason IN ('no_text', 'too_slow') AND attempts >= ?))")


def is_known_url(db: sqlite_utils.Database, url: str) -> bool:
    """True when the URL led to a stored article, or to a page that will not become one."""
    row = db.execute(
        f"SELECT 1 FROM article_urls WHERE url = ? UNION ALL SELECT 1 FROM skipped_pages WHERE url = ? AND {_FINAL_SKIP} LIMIT 1",
        [url, url, NO_TEXT_ATTEMPTS],
    ).fetchone()
    return row is not None


def known_urls(db: sqlite_utils.Database, after_article: int = 0, seen_since: str = "") -> Iterator[str]:
    """The URLs `is_known_url` holds true for: those of articles after `after_article`, and
    those of skipped pages last seen at or after `seen_since` (a fleet's writer publishes them)."""
    for (url,) in db.execute("SELECT url FROM article_urls WHERE article_id > ?", [after_article]):
        yield url
    for (url,) in db.execute(f"SELECT url FROM skipped_pages WHERE last_seen >= ? AND {_FINAL_SKIP}", [seen_since, NO_TEXT_ATTEMPTS]):
        yield url


def exact_duplicate(db: sqlite_utils.Database, digest: str) -> int | None:
    """The first stored article with this content hash, followed to its original."""
    return exact_duplicates(db, [digest]).get(digest)


def known_of(db: sqlite_utils.Database, urls: Iterable[str], pending: Pending | None = None) -> set[str]:
    """Those of `urls` that stored articles were reached under (`pending`: see storage.pending)."""
    urls = list(urls)
    found = {row[0] for row in db.execute("SELECT url FROM article_urls WHERE url IN (SELECT value FROM json_each(?))", [dumps(urls)])}
    return found | pending.urls.intersection(urls) if pending else found


def exact_duplicates(db: sqlite_utils.Database, digests: Iterable[str], pending: Pending | None = None) -> dict[str, int]:
    """For each of these content hashes that is stored: the first article with it, followed to its original."""
    digests = list(digests)
    found: dict[str, int] = {}
    for digest, original in db.execute(
        "SELECT content_hash, coalesce(duplicate_of, id) FROM articles WHERE content_hash IN (SELECT value FROM json_each(?)) ORDER BY id",
        [dumps(digests)],
    ):
        found.setdefault(digest, original)
    if pending:
        for digest in digests:
            if digest not in found and digest in pending.hashes:
                found[digest] = pending.hashes[digest]
    return found


def insert_article(
    db: sqlite_utils.Database,
    article: dict[str, Any],
    *,
    urls: Iterable[str] = (),
    clusters: Sequence[tuple[str, float]] = (),
    search: list[tuple[int, str, str]] | None = None,
) -> int:
    """Store one article with its URL aliases, story, cluster tags and search index entry. Returns its id.

    The story is `article["story_id"]` when the caller decided it (`NEW_STORY`: one of its
    own), else the default (`storage.stories.default_story`: its original's story, or its
    own when relevant).
    Must run inside `db.atomic()`; raises sqlite3.IntegrityError if its URL is stored already.
    With `search`, the search index entry is appended to that list instead, for the caller to
    add with `index_for_search(..., indexed=True)` before the transaction commits: FTS5 writes
    its pending entries out as a new segment whenever a statement opens a savepoint, so
    entries added one by one between savepoints cost a segment (and its merging) each.
    """
    row = {key: article.get(key) for key in ARTICLE_COLUMNS}
    row["first_seen"] = article.get("first_seen") or utcnow()
    if row["content_hash"] is None:
        row["content_hash"] = content_hash(article["text"])
    # The id SQLite would give the row (one above the largest), known before the insert so
    # that the row is written with its story at once: setting story_id afterwards rewrote
    # the three story indexes' entries of every new article.
    article_id = db.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM articles").fetchone()[0]
    story_id = story_as_stored(db, article_id, article.get("story_id"), row["duplicate_of"], bool(row["relevant"]))
    row["id"], row["story_id"] = article_id, story_id
    db.conn.execute(_insert_sql(tuple(row)), list(row.values()))
    db.conn.executemany(
        "INSERT OR IGNORE INTO article_urls (url, article_id) VALUES (?, ?)",
        [(u, article_id) for u in {row["url"], *urls}],
    )
    db.conn.execute("DELETE FROM skipped_pages WHERE url = ?", [row["url"]])
    if story_id is not None:  # before the tags: the weekly coverage counts stories
        story_added(db, article_id, story_id)
    set_clusters(db, article_id, clusters)
    # the title and text in their index form (see fts_text): computed by the extraction workers
    title, text = article.get("search_forms") or (fts_text(row["title"]), fts_text(row["text"]))
    if search is None:
        index_for_search(db, [(article_id, title, text)], indexed=True)
    else:
        search.append((article_id, title, text))
    return article_id


@functools.lru_cache(maxsize=8)
def _insert_sql(columns: tuple[str, ...]) -> str:
    return f"INSERT INTO articles ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def index_for_search(db: sqlite_utils.Database, articles: Iterable[tuple[int, str | None, str | None]], *, indexed: bool = False) -> None:
    """Add articles, given as (id, title, text), to the full-text index, in its bigram form
    (see loomwatch.storage.search; `indexed`: title and text are in that form already).
    The index keeps no copy of the texts: add each article once."""
    db.conn.executemany(
        "INSERT INTO articles_fts (rowid, title, text) VALUES (?, ?, ?)",
        [(article_id, title, text) if indexed else (article_id, fts_text(title), fts_text(text)) for article_id, title, text in articles],
    )


def set_clusters(db: sqlite_utils.Database, article_id: int, clusters: Sequence[tuple[str, float]]) -> None:
    db.conn.execute("DELETE FROM article_clusters WHERE article_id = ?", [article_id])
    db.conn.executemany(
        "INSERT INTO article_clusters (article_id, cluster_id, score) VALUES (?, ?, ?)",
        [(article_id, cluster_id, score) for cluster_id, score in clusters],
    )


def record_skipped(db: sqlite_utils.Database, url: str, source: str, reason: str, detail: str = "") -> None:
    """Remember an article-shaped page that gave no article (reason: not_html, too_large, no_text, too_slow, http_error)."""
    now = utcnow()
    db.conn.execute(
        "INSERT INTO skipped_pages (url, source, reason, detail, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(url) DO UPDATE SET reason = excluded.reason, detail = excluded.detail, "
        "last_seen = excluded.last_seen, attempts = attempts + 1",
        [url, source, reason, detail[:500], now, now],
    )


def iter_articles(db: sqlite_utils.Database, batch: int = 500, columns: str = "id, source, title, text") -> Iterator[list[dict]]:
    """All articles in id order, in batches (for re-tagging without loading the archive at once)."""
    last = 0
    while True:
        rows = [dict(r) for r in db.query(f"SELECT {columns} FROM articles WHERE id > ? ORDER BY id LIMIT ?", [last, batch])]
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def sync_clusters(db: sqlite_utils.Database, rows: Iterable[dict]) -> None:
    """Replace the `clusters` table with the current gazetteer (package data plus config)."""
    rows = list(rows)
    with db.atomic():
        db.conn.execute("DELETE FROM clusters")
        db["clusters"].insert_all(rows)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
