"""The weekly coverage counts kept by triggers (migrations 0006_coverage_weekly, 0008_stories) agree with the tags."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from loomwatch.storage import open_database
from loomwatch.storage.articles import insert_article, set_clusters

CLUSTERS = ["keqiao", "nantong", "humen", "shengze", "jinjiang"]

# What the view computed before the counts were kept in a table (migration 0005), with
# stories counted by their story (0008) rather than by original.
FROM_THE_TAGS = """
SELECT date(coalesce(date(a.published), date(a.first_seen)), 'weekday 0', '-6 days') AS week, ac.cluster_id,
       count(DISTINCT coalesce(a.story_id, a.id)), count(*), count(DISTINCT a.source)
FROM article_clusters ac JOIN articles a ON a.id = ac.article_id
GROUP BY 1, 2 ORDER BY 1, 2"""
KEPT = "SELECT week, cluster, stories, articles, sources FROM cluster_coverage_weekly ORDER BY 1, 2"


def store_random_articles(db, rnd: random.Random, n: int) -> list[int]:
    ids: list[int] = []
    with db.atomic():
        for i in range(n):
            original = rnd.choice(ids) if ids and rnd.random() < 0.25 else None
            published = f"2026-03-{rnd.randint(1, 28):02d}" if rnd.random() < 0.7 else None
            article = {"url": f"https://example.test/{i}", "source": rnd.choice("abc"), "title": "t", "text": f"text {i}",
                       "published": published, "first_seen": f"2026-03-{rnd.randint(1, 28):02d} 08:00:00", "duplicate_of": original,
                       "relevant": 1}
            tags = [(c, 1.0) for c in rnd.sample(CLUSTERS, rnd.randint(0, 3))]
            ids.append(insert_article(db, article, clusters=tags))
    return ids


def test_counts_follow_new_articles_and_retagging(tmp_path: Path) -> None:
    db = open_database(tmp_path / "a.db")
    rnd = random.Random(7)
    ids = store_random_articles(db, rnd, 600)
    counts = db.execute(KEPT).fetchall()
    assert counts == db.execute(FROM_THE_TAGS).fetchall()
    assert any(stories < articles for _, _, stories, articles, _ in counts), "copies must make stories < articles somewhere"
    with db.atomic():  # what retag does: replace some articles' tags, drop others'
        for article_id in rnd.sample(ids, 300):
            set_clusters(db, article_id, [(c, 1.0) for c in rnd.sample(CLUSTERS, rnd.randint(0, 2))])
    assert db.execute(KEPT).fetchall() == db.execute(FROM_THE_TAGS).fetchall()
    with db.atomic():
        for article_id in ids:
            set_clusters(db, article_id, [])
    assert db.execute("SELECT count(*) FROM coverage_weekly").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM coverage_tags").fetchone()[0] == 0


def test_a_failed_transaction_leaves_counts_and_tags_together(tmp_path: Path) -> None:
    db = open_database(tmp_path / "a.db")
    store_random_articles(db, random.Random(3), 50)
    before = db.execute(KEPT).fetchall()
    with pytest.raises(sqlite3.IntegrityError):
        with db.atomic():
            insert_article(db, {"url": "https://example.test/new", "source": "a", "text": "new", "published": "2026-03-02"},
                           clusters=[("keqiao", 1.0)])
            insert_article(db, {"url": "https://example.test/new", "source": "a", "text": "again"})  # same URL: fails
    assert db.execute(KEPT).fetchall() == before == db.execute(FROM_THE_TAGS).fetchall()
