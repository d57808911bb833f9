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
# `skipped`: an alert not mailed because its subscription's daily limit was reached.
STATUSES = ("rendered", "sending", "sent", "failed", "skipped")


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


def stories_reported_in(
    db: sqlite_utils.Database,
    *,
    after_id: int | None,
    upto_id: int,
    since: str | None,
    min_published: str,
    min_first_seen: str,
) -> list[dict[str, Any]]:
    """The stories whose lead came *before* the window (after_id < id <= upto_id, or since <=
    first_seen when after_id is None) but which gained a report within it: a translation or a
    rewrite that may make them match a subscription now. Same rows and age rule as
    `window_stories`."""
    inside = ("id > :after_id AND id <= :upto_id" if after_id is not None
              else "first_seen >= :since AND id <= :upto_id")
    rows = db.query(
        f"""
        SELECT a.id, a.story_id, a.url, a.source, a.title, substr(a.text, 1, 3000) AS text,
               nullif(a.published, '') AS published, a.first_seen, a.lang, a.relevance
        FROM stories s JOIN articles a ON a.id = s.lead_article_id
        WHERE s.id IN (SELECT story_id FROM articles WHERE {inside} AND story_id IS NOT NULL)
          AND a.relevant = 1
          AND (CASE WHEN :after_id IS NOT NULL THEN s.lead_article_id <= :after_id ELSE a.first_seen < :since END)
          AND CASE WHEN nullif(a.published, '') IS NOT NULL THEN a.published >= :min_published
                   ELSE a.first_seen >= :min_first_seen END
        ORDER BY coalesce(nullif(a.published, ''), substr(a.first_seen, 1, 10)) DESC, a.id DESC
        """,
        {"after_id": after_id, "upto_id": upto_id, "since": since, "min_published": min_published,
         "min_first_seen": min_first_seen},
    )
    return [dict(r) for r in rows]


def first_id_since(db: sqlite_utils.Database, since: str) -> int:
    """The smallest article id first stored at or after `since` (one past the last id when none)."""
    row = db.execute("SELECT min(id) FROM articles WHERE first_seen >= ?", [since]).fetchone()
    return row[0] if row[0] is not None else max_article_id(db) + 1


def recent_story_ids(db: sqlite_utils.Database, *, min_id: int, limit: int, cluster_ids: Iterable[str] | None = None) -> list[int]:
    """The `limit` stories most recently stored (newest first) among articles with id >=
    `min_id`: by their lead, or with `cluster_ids` by their latest report tagged with one
    of them. Index walks, not sorts of the whole range: for the feeds, after every crawl."""
    if cluster_ids is None:
        rows = db.execute(
            "SELECT s.id FROM stories s INDEXED BY stories_lead WHERE s.lead_article_id >= ? "
            "ORDER BY s.lead_article_id DESC LIMIT ?", [min_id, limit])
    else:
        rows = db.execute(
            """SELECT a.story_id FROM article_clusters ac JOIN articles a ON a.id = ac.article_id
               WHERE ac.cluster_id IN (SELECT value FROM json_each(?)) AND ac.article_id >= ? AND a.story_id IS NOT NULL
               GROUP BY a.story_id ORDER BY max(ac.article_id) DESC LIMIT ?""",
            [json.dumps(sorted(cluster_ids)), min_id, limit])
    return [r[0] for r in rows]


def story_leads(db: sqlite_utils.Database, story_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The lead (first report) of each story whose lead is relevant, with the story's last_seen:
    the rows `window_stories` gives."""
    rows = db.query(
        """
        SELECT a.id, a.story_id, a.url, a.source, a.title, substr(a.text, 1, 3000) AS text,
               nullif(a.published, '') AS published, a.first_seen, a.lang, a.relevance, s.last_seen
        FROM stories s JOIN articles a ON a.id = s.lead_article_id
        WHERE s.id IN (SELECT value FROM json_each(?)) AND a.relevant = 1
        """,
        [_ids(story_ids)],
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


def story_reports(db: sqlite_utils.Database, story_ids: Iterable[int], upto_id: int, *,
                  full_text: bool = False) -> dict[int, list[dict[str, Any]]]:
    """Every report of each story stored up to `upto_id` (copies, rewrites, translations),
    earliest first; `text` cut to its first 3000 characters unless `full_text`."""
    reports: dict[int, list[dict[str, Any]]] = {}
    text = "text" if full_text else "substr(text, 1, 3000) AS text"
    rows = db.query(
        f"""
        SELECT id, story_id, url, source, title, {text}, nullif(published, '') AS published,
               first_seen, lang, relevance
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


def last_sent(db: sqlite_utils.Database, subscription: str = "", kind: str = "new") -> dict[str, Any] | None:
    """The latest digest of what is new (or alert: `kind`) of a subscription that a mail server
    accepted; for alerts also the latest one skipped because the daily limit was reached."""
    row = db.execute_returning_dicts(
        "SELECT * FROM digests WHERE subscription = ? AND kind = ? AND status IN ('sent', 'skipped') "
        "ORDER BY id DESC LIMIT 1",
        [subscription, kind],
    )
    return row[0] if row else None


def first_failed(db: sqlite_utils.Database, subscription: str = "", kind: str = "new") -> dict[str, Any] | None:
    """The earliest digest of what is new (or alert) of a subscription that failed to go out (for when none was ever sent)."""
    row = db.execute_returning_dicts(
        "SELECT * FROM digests WHERE subscription = ? AND kind = ? AND status = 'failed' ORDER BY id LIMIT 1",
        [subscription, kind],
    )
    return row[0] if row else None


def day_sent(db: sqlite_utils.Database, window_start: str, subscription: str = "") -> dict[str, Any] | None:
    """The latest sent digest of the calendar day starting at `window_start` (UTC), if any."""
    row = db.execute_returning_dicts(
        "SELECT * FROM digests WHERE subscription = ? AND kind = 'day' AND status = 'sent' AND window_start = ? "
        "ORDER BY id DESC LIMIT 1",
        [subscription, window_start],
    )
    return row[0] if row else None


def last_mailed(db: sqlite_utils.Database, subscription: str) -> str | None:
    """When a digest or alert of the subscription last went out (UTC), if ever."""
    return db.execute("SELECT max(sent) FROM digests WHERE subscription = ? AND status = 'sent'", [subscription]).fetchone()[0]


def already_mailed(db: sqlite_utils.Database, subscription: str, kind: str, lead_ids: Iterable[int]) -> set[int]:
    """Which of these story leads a sent digest (or alert) of the subscription held."""
    rows = db.execute(
        """SELECT DISTINCT j.value FROM digests d, json_each(d.article_ids) j
           WHERE d.subscription = ? AND d.kind = ? AND d.status = 'sent' AND j.value IN (SELECT value FROM json_each(?))""",
        [subscription, kind, _ids(lead_ids)],
    )
    return {r[0] for r in rows}


def alerted_since(db: sqlite_utils.Database, subscription: str, since: str) -> int:
    """How many stories sent alerts of a subscription held since `since` (UTC)."""
    return db.execute(
        "SELECT coalesce(sum(json_array_length(article_ids)), 0) FROM digests "
        "WHERE subscription = ? AND kind = 'alert' AND status = 'sent' AND sent >= ?",
        [subscription, since],
    ).fetchone()[0]


def record_digest(db: sqlite_utils.Database, row: dict[str, Any]) -> int:
    """Insert one digest row (`article_ids`, `recipients` and `files` given as lists); returns its id."""
    row = {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, tuple)) else v for k, v in row.items()}
    with db.atomic():
        cursor = db.execute(f"INSERT INTO digests ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    return cursor.lastrowid


def record_run(db: sqlite_utils.Database, finished: str, mailed: int) -> None:
    """Note that a whole digest run (every daily and weekly subscription, none failed) finished."""
    with db.atomic():
        db.execute("INSERT INTO digest_runs (finished, mailed) VALUES (?, ?)", [finished, mailed])


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
