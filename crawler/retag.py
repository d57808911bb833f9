"""Re-applying the current gazetteer and thresholds to the whole archive, without re-crawling."""

from __future__ import annotations

import logging
from collections.abc import Callable

from loomwatch.crawler.config import Config
from loomwatch.pipelines.clusters import tagger_for
from loomwatch.pipelines.facts import extract_facts
from loomwatch.pipelines.settings import SourceHints
from loomwatch.pipelines.stories import article_day, reassign
from loomwatch.storage import open_database
from loomwatch.storage.articles import iter_articles, set_clusters, sync_clusters
from loomwatch.storage.db import writing
from loomwatch.storage.stories import forget_facts, set_story

log = logging.getLogger(__name__)


def retag(config: Config, batch: int = 500, progress: Callable[[int], None] = lambda n: None) -> tuple[int, int]:
    """Re-tag every article, one transaction per batch; returns (articles, changed).

    A kill between batches leaves every article tagged by either the old or the new
    gazetteer, never half; running retag again finishes the job.
    """
    settings = config.pipelines
    tagger = tagger_for(settings)
    db = open_database(config.storage.database, busy_timeout=config.storage.busy_timeout)
    sync_clusters(db, tagger.gazetteer.rows())
    total = changed = 0
    for rows in iter_articles(db, batch):
        with writing(db):
            for row in rows:
                tagging = tagger.tag(row["title"], row["text"], settings.sources.get(row["source"], SourceHints()).clusters)
                clusters = [(c.id, c.score) for c in tagging.clusters]  # none when off-topic
                before = db.execute("SELECT relevance, relevant, story_id, duplicate_of, published, first_seen, lang FROM articles WHERE id = ?",
                                    [row["id"]]).fetchone()
                old_tags = db.execute("SELECT cluster_id, score FROM article_clusters WHERE article_id = ? ORDER BY cluster_id", [row["id"]]).fetchall()
                if tuple(before[:2]) != (tagging.relevance, int(tagging.relevant)) or sorted(map(tuple, old_tags)) != sorted(clusters):
                    changed += 1
                    db.execute("UPDATE articles SET relevance = ?, relevant = ? WHERE id = ?", [tagging.relevance, int(tagging.relevant), row["id"]])
                    story_id, duplicate_of, published, first_seen, lang = before[2:]
                    if tagging.relevant and story_id is None:  # newly relevant: into a story, as a new article would be
                        signature = db.execute("SELECT signature FROM dedup_signatures WHERE article_id = ?", [row["id"]]).fetchone()
                        article = {"facts": extract_facts(row["title"], row["text"], tagger.gazetteer), "relevant": 1,
                                   "signature": signature[0] if signature else None, "lang": lang}
                        reassign(db, row["id"], article, duplicate_of, article_day(published, first_seen), config.stories)
                    elif not tagging.relevant and duplicate_of is None and story_id is not None:  # off-topic now
                        set_story(db, row["id"], None)
                        forget_facts(db, row["id"])
                    set_clusters(db, row["id"], clusters)
        total += len(rows)
        progress(total)
    db.close()
    return total, changed
