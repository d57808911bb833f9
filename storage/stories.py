"""Stories: the reports of one event or release, however many outlets and languages carry it.

Every relevant article belongs to exactly one story (`articles.story_id`); an article that
copies another (`duplicate_of`) belongs to its original's story whatever its own relevance.
A story is led by its first-seen article and takes that article's id as its own, so a
story's id is stable while its lead stays, and equals the `coalesce(duplicate_of, id)` that
counted stories before the story layer existed. `stories` keeps what readers and analysts
ask of a story (first and last seen, number of reports, languages, sources), refreshed from
its members whenever they change.

Which story a new article joins beyond its copies (rewrites, translations) is decided in
the store pipeline (loomwatch.pipelines.stories); this module records the decision and
keeps what the decision reads: each story member's facts (`story_facts`) and a blocking
index of its weightiest facts by day (`story_keys`), read a few bounded index ranges at a
time whatever the size of the archive.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlite_utils

from loomwatch.storage.pending import Pending

BUCKET_LIMIT = 30  # articles read per fact and window at most: a hot fact costs no more
NEW_STORY = 0  # as a decided story_id: the article leads a story of its own


def story_of(db: sqlite_utils.Database, article_id: int) -> int | None:
    row = db.execute("SELECT story_id FROM articles WHERE id = ?", [article_id]).fetchone()
    return row[0] if row else None


def default_story(db: sqlite_utils.Database, article_id: int, duplicate_of: int | None, relevant: bool,
                  pending: Pending | None = None) -> int | None:
    """The story an article belongs to when nothing better is known: its original's (or, for
    an off-topic original, that of its earliest copy in a story), else, when it is
    relevant, a story of its own. (`pending`: see storage.pending.)"""
    if duplicate_of is not None:
        row = db.execute(
            "SELECT story_id FROM articles WHERE id = :original AND story_id IS NOT NULL UNION ALL "
            "SELECT * FROM (SELECT story_id FROM articles WHERE duplicate_of = :original AND story_id IS NOT NULL ORDER BY id LIMIT 1)",
            {"original": duplicate_of},
        ).fetchone()
        if row:
            return row[0]
        if pending:  # the original or its copies may be pending (after every visible one)
            ids = ([duplicate_of] if duplicate_of in pending.articles else []) + pending.copies.get(duplicate_of, [])
            for story_id in (pending.articles[i].story_id for i in ids):
                if story_id is not None:
                    return story_id
    return article_id if relevant else None


def story_as_stored(db: sqlite_utils.Database, article_id: int, decided: int | None, duplicate_of: int | None,
                    relevant: bool, pending: Pending | None = None) -> int | None:
    """The story an article is stored in, given the story decision about it (a story to
    join, NEW_STORY for one of its own, None for `default_story`)."""
    if decided is None:
        return default_story(db, article_id, duplicate_of, relevant, pending)
    return article_id if decided == NEW_STORY else decided


def set_story(db: sqlite_utils.Database, article_id: int, story_id: int | None) -> None:
    """Put an article into a story (a new one when `story_id` is the article's own id), or
    into none; keeps the `stories` rows of the old and the new story up to date.
    Run inside the caller's transaction."""
    old = story_of(db, article_id)
    if old == story_id:
        return
    if story_id == article_id:
        db.execute(
            "INSERT OR IGNORE INTO stories (id, lead_article_id, first_seen, last_seen, reports, languages, sources) "
            "SELECT id, id, first_seen, first_seen, 0, '[]', '[]' FROM articles WHERE id = ?",
            [article_id],
        )
    db.execute("UPDATE articles SET story_id = ? WHERE id = ?", [story_id, article_id])
    refresh(db, [s for s in (old, story_id) if s is not None])
    # The weekly coverage keys each cluster tag by its article's story when the tag is
    # written (storage.db, 0006/0008): write the article's tags again so the counts follow.
    tags = db.execute("SELECT cluster_id, score FROM article_clusters WHERE article_id = ?", [article_id]).fetchall()
    if tags:
        db.conn.execute("DELETE FROM article_clusters WHERE article_id = ?", [article_id])
        db.conn.executemany("INSERT INTO article_clusters (article_id, cluster_id, score) VALUES (?, ?, ?)",
                            [(article_id, *tag) for tag in tags])


def story_added(db: sqlite_utils.Database, article_id: int, story_id: int) -> None:
    """Keep the `stories` row of a new article's story (written with the article's row,
    before its tags) up to date: what `set_story` does for an article that had none."""
    if story_id != article_id:
        refresh(db, [story_id])
        return
    # A story of its own: its only report is the article (as `refresh` would write it).
    db.execute(
        "INSERT OR REPLACE INTO stories (id, lead_article_id, first_seen, last_seen, reports, languages, sources) "
        "SELECT id, id, first_seen, first_seen, 1, CASE WHEN lang IS NULL THEN '[]' ELSE json_array(lang) END, json_array(source) "
        "FROM articles WHERE id = ?",
        [article_id],
    )


def refresh(db: sqlite_utils.Database, story_ids: Iterable[int]) -> None:
    """Recompute the given stories' rows from their members; a story left without members
    goes, and one whose lead left is led by its earliest remaining member."""
    for story_id in set(story_ids):
        members = db.execute(
            "SELECT min(id), min(first_seen), max(first_seen), count(*) FROM articles WHERE story_id = ?", [story_id]
        ).fetchone()
        if not members[3]:
            db.execute("DELETE FROM stories WHERE id = ?", [story_id])
            continue
        db.execute(
            """UPDATE stories SET lead_article_id = :lead, first_seen = :first, last_seen = :last, reports = :n,
                   languages = (SELECT json_group_array(lang) FROM
                                (SELECT DISTINCT lang FROM articles WHERE story_id = :id AND lang IS NOT NULL ORDER BY lang)),
                   sources = (SELECT json_group_array(source) FROM
                              (SELECT DISTINCT source FROM articles WHERE story_id = :id ORDER BY source))
               WHERE id = :id""",
            {"lead": members[0], "first": members[1], "last": members[2], "n": members[3], "id": story_id},
        )


def rebuild(db: sqlite_utils.Database) -> None:
    """Rewrite every `stories` row from `articles.story_id` (a migration, restory or a bulk
    load that sets story_id directly); a story is led by its earliest report."""
    db.execute("DELETE FROM stories")
    db.execute(
        """INSERT INTO stories (id, lead_article_id, first_seen, last_seen, reports, languages, sources)
           SELECT story_id, min(id), min(first_seen), max(first_seen), count(*),
                  (SELECT json_group_array(lang) FROM (SELECT DISTINCT lang FROM articles l
                   WHERE l.story_id = a.story_id AND lang IS NOT NULL ORDER BY lang)),
                  (SELECT json_group_array(source) FROM (SELECT DISTINCT source FROM articles s
                   WHERE s.story_id = a.story_id ORDER BY source))
           FROM articles a WHERE story_id IS NOT NULL GROUP BY story_id"""
    )


@functools.lru_cache(maxsize=1 << 16)
def fact_key(fact: str) -> int:
    """A fact's key in `story_keys`: a stable signed 64-bit hash."""
    return int.from_bytes(hashlib.blake2b(fact.encode(), digest_size=8).digest(), "little", signed=True)


def record_facts(db: sqlite_utils.Database, article_id: int, day: int, facts: Sequence[str], keys: Sequence[str]) -> None:
    """Keep an article's facts and index it under `keys` (some of its facts) on `day`;
    replaces what was recorded for it before. Run inside the caller's transaction."""
    forget_facts(db, article_id)
    db.execute("INSERT INTO story_facts (article_id, day, facts) VALUES (?, ?, ?)",
               [article_id, day, json.dumps(list(facts), ensure_ascii=False)])
    db.conn.executemany("INSERT OR IGNORE INTO story_keys (key, day, article_id) VALUES (?, ?, ?)",
                        [(fact_key(k), day, article_id) for k in keys])


def forget_facts(db: sqlite_utils.Database, article_id: int) -> None:
    row = db.execute("SELECT day, facts FROM story_facts WHERE article_id = ?", [article_id]).fetchone()
    if row is None:
        return
    # The keys were the article's facts: delete every possible one by its primary key.
    db.conn.executemany("DELETE FROM story_keys WHERE key = ? AND day = ? AND article_id = ?",
                        [(fact_key(f), row[0], article_id) for f in json.loads(row[1])])
    db.execute("DELETE FROM story_facts WHERE article_id = ?", [article_id])


_BUCKET_SQL = ("SELECT day, article_id FROM story_keys WHERE key = ? AND day BETWEEN ? AND ? AND article_id < ? "
               f"ORDER BY day DESC, article_id DESC LIMIT {BUCKET_LIMIT}")
_CANDIDATES_SQL: dict[tuple[int, bool], str] = {}


def _candidates_sql(keys: int, with_pending: bool) -> str:
    if (keys, with_pending) not in _CANDIDATES_SQL:
        bucket = f"SELECT article_id FROM ({_BUCKET_SQL})"
        if with_pending:  # or a bucket worked out with the pending articles, given as a JSON list of ids
            bucket += " UNION ALL SELECT value FROM json_each(?)"
        # Counted and ranked by SQLite: a hundred rows and more per new article need not reach Python.
        _CANDIDATES_SQL[keys, with_pending] = ("SELECT article_id FROM (" + " UNION ALL ".join([bucket] * keys) + ") "
                                               "GROUP BY article_id ORDER BY count(*) DESC, article_id DESC LIMIT ?")
    return _CANDIDATES_SQL[keys, with_pending]


def candidates(db: sqlite_utils.Database, keys: Sequence[str], day: int, window: int, before_id: int | None = None,
               limit: int = -1, pending: Pending | None = None) -> list[int]:
    """Articles dated within `window` days of `day` (and with an id below `before_id`)
    indexed under any of `keys`: the `limit` (-1: all) sharing the most keys, ties the
    latest first. Reads at most BUCKET_LIMIT articles per key, the nearest in time first
    (the latest first within a day). (`pending`: see storage.pending.)"""
    if not keys:
        return []
    bound = before_id if before_id is not None else 2**62
    parameters: list[Any] = []
    for key in keys:
        hashed = fact_key(key)
        found = pending.bucket(hashed, day - window, day + window, bound, BUCKET_LIMIT) if pending else []
        if found:  # the bucket is the latest of the stored and the pending articles together
            stored = _stored_bucket(db, hashed, day - window, day + window, bound, pending)
            if len(found) == BUCKET_LIMIT and (not stored or stored[0][0] <= found[-1][0]):
                ids = [i for _, i in found]  # pending ones of a later day, or of the same day with larger ids, come first
            else:
                ids = [i for _, i in sorted(stored + found, reverse=True)[:BUCKET_LIMIT]]
            parameters += [None, day - window, day + window, bound, f"[{','.join(map(str, ids))}]"]
        else:
            parameters += [hashed, day - window, day + window, bound] + (["[]"] if pending else [])
    return [row[0] for row in db.execute(_candidates_sql(len(keys), bool(pending)), [*parameters, limit])]


def _stored_bucket(db: sqlite_utils.Database, key: int, first_day: int, last_day: int, before_id: int,
                   pending: Pending) -> list[tuple[int, int]]:
    """(day, id) of a story key's stored bucket, the latest first (as Pending.bucket gives
    them); kept in `pending` while the connection sees no more articles (a hot key is read
    once per batch the writer commits)."""
    kept = pending.visible is not None and before_id > pending.visible  # the bound then excludes no stored article
    if kept and (key, first_day, last_day) in pending.stored_buckets:
        return pending.stored_buckets[key, first_day, last_day]
    rows = db.execute(_BUCKET_SQL, [key, first_day, last_day, before_id]).fetchall()
    if kept:
        pending.stored_buckets[key, first_day, last_day] = rows
    return rows


def reports(db: sqlite_utils.Database, article_ids: Iterable[int]) -> list[dict[str, Any]]:
    """What the story decision compares of stored articles: id, story_id, facts (the
    stored JSON list), the near-duplicate signature (None when the text was too short
    to sign) and the language."""
    rows = db.execute(
        """SELECT a.id, a.story_id, f.facts, s.signature, a.lang FROM story_facts f
           JOIN articles a ON a.id = f.article_id
           LEFT JOIN dedup_signatures s ON s.article_id = f.article_id
           WHERE f.article_id IN (SELECT value FROM json_each(?))""",
        [json.dumps(list(article_ids))],
    ).fetchall()
    return [{"id": r[0], "story_id": r[1], "facts": r[2], "signature": r[3], "lang": r[4]} for r in rows]


def members(db: sqlite_utils.Database, story_id: int, before_id: int, limit: int, pending: Pending | None = None) -> list[int]:
    """Ids of a story's lead and its latest other reports stored before `before_id`, at most `limit` in all
    (`pending`: see storage.pending)."""
    rows = db.execute(
        """SELECT id FROM (SELECT id FROM articles INDEXED BY articles_story WHERE story_id = :story AND id < :before ORDER BY id LIMIT 1)
           UNION
           SELECT id FROM (SELECT id FROM articles INDEXED BY articles_story WHERE story_id = :story AND id < :before ORDER BY id DESC LIMIT :rest)""",
        {"story": story_id, "before": before_id, "rest": max(limit - 1, 0)},
    ).fetchall()
    ids = sorted(r[0] for r in rows)
    extra = [i for i in pending.members.get(story_id, []) if i < before_id] if pending else []
    if not extra:
        return ids
    every = sorted({*ids, *extra})  # the lead is the first; the latest are among these
    return sorted({every[0], *every[max(len(every) - max(limit - 1, 0), 0):]}) if limit > 1 else every[:1]
