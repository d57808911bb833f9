"""The SQL of the daily digest: which articles a window holds, and the record of every digest.

A digest of what is new ("kind" `new`) covers the articles stored after the previous
*sent* digest. Its lower and upper bounds are article ids, not times: the crawl sets
`first_seen` before its batch commits, so an article stamped 07:29:59 may become visible
only at 07:30:01, after a digest cut at 07:30:00 had looked. Ids do not have that gap: one
writer at a time hands them out in commit order, so "every id up to the largest one I can
see" is a complete set, and the next digest starts exactly above it.

Times are UTC text `YYYY-MM-DD HH:MM:SS`, as everywhere in the archive.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlite_utils

# `sending` is written just before the SMTP transaction and replaced by `sent` or `failed`
# right after it; a `sending` row found later belongs to a process that died mid-send.
STATUSES = ("rendered", "sending", "sent", "failed")


def _ids(ids: Iterable[int]) -> str:
    return json.dumps(sorted(set(ids)))


def max_article_id(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]


def window_stories(
    db: sqlite_utils.Database,
    *,
    after_id: int | None,
    upto_id: int,
    since: str | None,
    until: str | None,
    min_published: str,
    min_first_seen: str,
) -> list[dict[str, Any]]:
    """The stories whose lead (first-seen report) is relevant, has after_id < id <= upto_id and
    since <= first_seen < until (None = unbounded), and was published on or after
    `min_published` (undated: first stored at or after `min_first_seen`). A story that gains
    a report later is not new again: its lead was in an earlier window. Newest first; one
    row per story, the lead's fields with `story_id`."""
    rows = db.query(
        """
        SELECT a.id, a.story_id, a.url, a.source, a.title, substr(a.text, 1, 3000) AS text,
               nullif(a.published, '') AS published, a.first_seen, a.lang, a.relevance
        FROM stories s JOIN articles a ON a.id = s.lead_article_id
        WHERE a.relevant = 1
          AND s.lead_article_id > coalesce(:after_id, 0) AND s.lead_article_id <= :upto_id
          AND (:since IS NULL OR a.first_seen >= :since)
          AND (:until IS NULL OR a.first_seen < :until)
          AND CASE WHEN nullif(a.published, '') IS NOT NULL THEN a.published >= :min_published
                   ELSE a.first_seen >= :min_first_seen END
        ORDER BY coalesce(nullif(a.published, ''), substr(a.first_seen, 1, 10)) DESC, a.id DESC
        """,
        {"after_id": after_id, "upto_id": upto_id, "since": since, "until": until,
         "min_published": min_published, "min_first_seen": min_first_seen},
    )
    return [dict(r) for r in rows]


def cluster_tags(db: sqlite_utils.Database, article_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Each article's clusters, strongest first, with the cluster's names from the gazetteer table."""
    tags: dict[int, list[dict[str, Any]]] = {}
    rows = db.query(
        """
        SELECT ac.article_id, ac.cluster_id, ac.score, c.name, c.name_zh, c.province, c.city, c.specialty
        FROM article_clusters ac LEFT JOIN clusters c ON c.id = ac.cluster_id
        WHERE ac.article_id IN (SELECT value FROM json_each(?))
        ORDER BY ac.article_id, ac.score DESC, ac.cluster_id
        """,
        [_ids(article_ids)],
    )
    for row in rows:
        tags.setdefault(row["article_id"], []).append(dict(row))
    return tags


def story_reports(db: sqlite_utils.Database, story_ids: Iterable[int], upto_id: int) -> dict[int, list[dict[str, Any]]]:
    """Every report of each story stored up to `upto_id` (copies, rewrites, translations), earliest first."""
    reports: dict[int, list[dict[str, Any]]] = {}
    rows = db.query(
        """
        SELECT id, story_id, url, source, title, substr(text, 1, 3000) AS text, nullif(published, '') AS published,
               first_seen, lang
        FROM articles INDEXED BY articles_story
        WHERE story_id IN (SELECT value FROM json_each(?)) AND id <= ?
        ORDER BY story_id, id
        """,
        [_ids(story_ids), upto_id],
    )
    for row in rows:
        reports.setdefault(row["story_id"], []).append(dict(row))
    return reports


def failed_sources(db: sqlite_utils.Database, start: str, end: str) -> list[dict[str, Any]]:
    """Sources that failed in crawl runs started within [start, end): runs failed, the latest error."""
    # SQLite takes the bare columns of a max() aggregate from the row holding the maximum.
    rows = db.query(
        """
        SELECT sr.source AS name, count(*) AS failed_runs, max(cr.started) AS last_failed_at,
               sr.last_error AS last_error
        FROM source_runs sr JOIN crawl_runs cr ON cr.id = sr.run_id
        WHERE sr.status != 'ok' AND cr.started >= ? AND cr.started < ?
        GROUP BY sr.source ORDER BY sr.source
        """,
        [start, end],
    )
    return [dict(r) for r in rows]


def crawl_runs_between(db: sqlite_utils.Database, start: str, end: str) -> dict[str, int]:
    """How many crawl runs started within [start, end), by status (ok, partial, failed, killed, running)."""
    rows = db.query("SELECT status, count(*) AS n FROM crawl_runs WHERE started >= ? AND started < ? GROUP BY status", [start, end])
    return {r["status"]: r["n"] for r in rows}


def last_sent(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The latest digest of what is new that a mail server accepted."""
    row = db.execute_returning_dicts(
        "SELECT * FROM digests WHERE kind = 'new' AND status = 'sent' ORDER BY id DESC LIMIT 1"
    )
    return row[0] if row else None


def first_failed(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The earliest digest of what is new that failed to go out (for when none was ever sent)."""
    row = db.execute_returning_dicts("SELECT * FROM digests WHERE kind = 'new' AND status = 'failed' ORDER BY id LIMIT 1")
    return row[0] if row else None


def day_sent(db: sqlite_utils.Database, window_start: str) -> dict[str, Any] | None:
    """The latest sent digest of the calendar day starting at `window_start` (UTC), if any."""
    row = db.execute_returning_dicts(
        "SELECT * FROM digests WHERE kind = 'day' AND status = 'sent' AND window_start = ? ORDER BY id DESC LIMIT 1",
        [window_start],
    )
    return row[0] if row else None


def record_digest(db: sqlite_utils.Database, row: dict[str, Any]) -> int:
    """Insert one digest row (`article_ids`, `recipients` and `files` given as lists); returns its id."""
    row = {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, tuple)) else v for k, v in row.items()}
    with db.atomic():
        cursor = db.execute(f"INSERT INTO digests ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    return cursor.lastrowid


def update_digest(db: sqlite_utils.Database, digest_id: int, **values: Any) -> None:
    with db.atomic():
        db.execute(f"UPDATE digests SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?", [*values.values(), digest_id])


def close_interrupted(db: sqlite_utils.Database, now: str) -> list[dict[str, Any]]:
    """Mark digests left `sending` by a process that ended mid-send as failed; returns them.

    Only call while holding the digest lock: then no other process can be sending."""
    rows = db.execute_returning_dicts("SELECT * FROM digests WHERE status = 'sending'")
    for row in rows:
        update_digest(db, row["id"], status="failed",
                      error=f"interrupted: the process ended while the SMTP server had the message (noticed {now} UTC); "
                            "it may or may not have been delivered")
    return rows
