"""The story layer (storage.stories, migration 0008_stories): every relevant article in exactly one story."""

from __future__ import annotations

import json

import sqlite_utils

from loomwatch.storage import db as storage_db
from loomwatch.storage import open_database
from loomwatch.storage.articles import insert_article
from loomwatch.storage.stories import set_story


def add(db, n: int, *, relevant: int = 1, duplicate_of: int | None = None, story_id: int | None = None,
        source: str = "a", lang: str = "en", first_seen: str | None = None) -> int:
    with db.atomic():
        return insert_article(db, {"url": f"https://news.example/{n}", "source": source, "title": f"t{n}", "text": f"text {n}",
                                   "lang": lang, "relevant": relevant, "duplicate_of": duplicate_of, "story_id": story_id,
                                   "first_seen": first_seen or f"2026-05-0{n} 08:00:00"})


def stories(db) -> dict[int, tuple]:
    return {r["id"]: (r["lead_article_id"], r["reports"], json.loads(r["languages"]), json.loads(r["sources"]), r["first_seen"], r["last_seen"])
            for r in db.query("SELECT * FROM stories")}


def story_ids(db) -> dict[int, int | None]:
    return {r["id"]: r["story_id"] for r in db.query("SELECT id, story_id FROM articles")}


def test_articles_join_stories_by_default_rules(tmp_path):
    db = open_database(tmp_path / "a.db")
    lead = add(db, 1)
    copy = add(db, 2, duplicate_of=lead, source="b")
    off_topic_copy = add(db, 3, duplicate_of=lead, relevant=0, source="c")
    translation = add(db, 4, story_id=lead, source="d", lang="zh-cn")
    off_topic = add(db, 5, relevant=0)
    other = add(db, 6)
    relevant_copies = [add(db, 7, duplicate_of=off_topic, source="e"), add(db, 8, duplicate_of=off_topic, source="f")]
    assert story_ids(db) == {lead: lead, copy: lead, off_topic_copy: lead, translation: lead, off_topic: None, other: other,
                             relevant_copies[0]: relevant_copies[0], relevant_copies[1]: relevant_copies[0]}
    assert stories(db) == {
        lead: (lead, 4, ["en", "zh-cn"], ["a", "b", "c", "d"], "2026-05-01 08:00:00", "2026-05-04 08:00:00"),
        other: (other, 1, ["en"], ["a"], "2026-05-06 08:00:00", "2026-05-06 08:00:00"),
        relevant_copies[0]: (relevant_copies[0], 2, ["en"], ["e", "f"], "2026-05-07 08:00:00", "2026-05-08 08:00:00"),
    }


def test_moving_reports_keeps_both_stories_right_and_drops_an_empty_one(tmp_path):
    db = open_database(tmp_path / "a.db")
    first, second, third = add(db, 1), add(db, 2, source="b"), add(db, 3, source="c")
    with db.atomic():
        set_story(db, second, first)  # a rewrite found later: second's own story goes
        set_story(db, third, first)
    assert set(stories(db)) == {first} and stories(db)[first][1:4] == (3, ["en"], ["a", "b", "c"])
    with db.atomic():
        set_story(db, first, third)  # the lead moves away (third leads a story of its own again first)
        set_story(db, third, third)
        set_story(db, first, third)
    assert stories(db)[first][:2] == (second, 1), "a story whose lead left is led by its earliest remaining report"
    assert stories(db)[third][:4] == (first, 2, ["en"], ["a", "c"])


def test_migration_fills_stories_for_an_existing_archive(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    storage_db.migrations.apply(old, stop_before="0008_stories")  # an archive of the previous release

    def row(n: int, relevant: int, duplicate_of: int | None, lang: str = "en", source: str = "a") -> None:
        old.execute("INSERT INTO articles (id, url, source, text, first_seen, lang, relevant, duplicate_of, content_hash) "
                    "VALUES (?, ?, ?, 't', ?, ?, ?, ?, ?)",
                    [n, f"https://news.example/{n}", source, f"2026-05-0{n} 08:00:00", lang, relevant, duplicate_of, str(n)])

    with old.conn:
        row(1, 1, None)
        row(2, 1, 1, "zh-cn", "b")   # a copy of a relevant original
        row(3, 0, None)              # off-topic original
        row(4, 1, 3, "en", "c")      # relevant copies of it lead a story of their own
        row(5, 1, 3, "en", "d")
        row(6, 0, 3)
        old.execute("INSERT INTO article_clusters (article_id, cluster_id, score) VALUES (2, 'keqiao', 0.9)")
    old.close()
    db = open_database(path)
    assert story_ids(db) == {1: 1, 2: 1, 3: None, 4: 4, 5: 4, 6: None}
    assert stories(db) == {1: (1, 2, ["en", "zh-cn"], ["a", "b"], "2026-05-01 08:00:00", "2026-05-02 08:00:00"),
                           4: (4, 2, ["en"], ["c", "d"], "2026-05-04 08:00:00", "2026-05-05 08:00:00")}
    assert db.execute("SELECT story_id FROM coverage_tags").fetchall() == [(1,)]
