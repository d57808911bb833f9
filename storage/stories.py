"""Stories: the reports of one event or release, however many outlets and languages carry it.

Every relevant article belongs to exactly one story (`articles.story_id`); an article that
copies another (`duplicate_of`) belongs to its original's story whatever its own relevance.
A story is led by its first-seen article and takes that article's id as its own, so a
story's id is stable while its lead stays, and equals the `coalesce(duplicate_of, id)` that
counted stories before the story layer existed. `stories` keeps what readers and analysts
ask of a story (first and last seen, number of reports, languages, sources), refreshed from
its members whenever they change.

Which story a new article joins beyond its copies (rewrites, translations) is decided in
the store pipeline; this module only records the decision.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils


def story_of(db: sqlite_utils.Database, article_id: int) -> int | None:
    row = db.execute("SELECT story_id FROM articles WHERE id = ?", [article_id]).fetchone()
    return row[0] if row else None


def default_story(db: sqlite_utils.Database, article_id: int, duplicate_of: int | None, relevant: bool) -> int | None:
    """The story an article belongs to when nothing better is known: its original's (or, for
    an off-topic original, that of its earliest copy in a story), else, when it is
    relevant, a story of its own."""
    if duplicate_of is not None:
        row = db.execute(
            "SELECT story_id FROM articles WHERE id = :original AND story_id IS NOT NULL UNION ALL "
            "SELECT * FROM (SELECT story_id FROM articles WHERE duplicate_of = :original AND story_id IS NOT NULL ORDER BY id LIMIT 1)",
            {"original": duplicate_of},
        ).fetchone()
        if row:
            return row[0]
    return article_id if relevant else None


def set_story(db: sqlite_utils.Database, article_id: int, story_id: int | None) -> None:
    """Put an article into a story (a new one when `story_id` is the article's own id), or
    into none; keeps the `stories` rows of the old and the new story up to date.
    Run inside the caller's transaction."""
    old = story_of(db, article_id)
    if old == story_id:
        return
    if story_id == article_id:
        db.execute(
            "INSERT INTO stories (id, lead_article_id, first_seen, last_seen, reports, languages, sources) "
            "SELECT id, id, first_seen, first_seen, 0, '[]', '[]' FROM articles WHERE id = ?",
            [article_id],
        )
    db.execute("UPDATE articles SET story_id = ? WHERE id = ?", [story_id, article_id])
    refresh(db, [s for s in (old, story_id) if s is not None])


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
