"""Stages 4–5: deduplicate against the archive, decide the story, and store.

Articles are written in small batches, one transaction per batch, each article complete
with its URL aliases, cluster tags, search entry and near-duplicate index entries; a
crash or kill loses at most the unwritten batch, whose URLs are not yet known and so are
fetched again by the next run. Deduplication and the story decision run inside the same
transaction, so they see every article written before, including earlier ones of the batch.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Any
from urllib.parse import urljoin

from scrapy.crawler import Crawler

from loomwatch.pipelines import dedup, stories
from loomwatch.spiders.links import canonical_url, same_site, site_of
from loomwatch.storage import open_database
from loomwatch.storage.articles import article_id_for_url, content_hash, exact_duplicate, insert_article, record_skipped

log = logging.getLogger(__name__)
BATCH_SIZE = 50
BATCH_SECONDS = 2.0


class StorePipeline:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        config = crawler.settings["LOOMWATCH_CONFIG"]
        self.database = config.storage.database
        self.threshold = config.dedup.threshold
        self.run_id = crawler.settings.getint("LOOMWATCH_RUN_ID") or None
        self.batch: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.dedup_cpu = 0.0  # CPU seconds of near-duplicate lookups in the current flush
        self.story_cpu = 0.0  # CPU seconds of story decisions in the current flush
        self.story_rules = config.stories
        self.db = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "StorePipeline":
        return cls(crawler)

    def open_spider(self) -> None:
        self.db = open_database(self.database)

    def close_spider(self) -> None:
        self.flush()
        if self.db is not None:
            self.db.close()

    def count(self, source: str, key: str) -> None:
        self.crawler.stats.inc_value(f"loomwatch/{source}/{key}")

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        self.batch.append(item)
        if len(self.batch) >= BATCH_SIZE or time.monotonic() - self.last_flush >= BATCH_SECONDS:
            self.flush()
        return {"source": item["source"], "url": item["url"], "failure": item.get("failure")}

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        self.last_flush = time.monotonic()
        if not batch or self.db is None:
            return
        # thread_time: the pool's result thread runs in this process at the same time
        started, self.dedup_cpu, self.story_cpu = time.thread_time(), 0.0, 0.0
        with self.db.atomic():
            for item in batch:
                self._write(item)
        stats = self.crawler.stats
        stats.inc_value("loomwatch/cpu/store", time.thread_time() - started - self.dedup_cpu - self.story_cpu)
        stats.inc_value("loomwatch/cpu/dedup_lookup", self.dedup_cpu)
        stats.inc_value("loomwatch/cpu/story_lookup", self.story_cpu)

    def _write(self, item: dict[str, Any]) -> None:
        db, source = self.db, item["source"]
        failure = item.get("failure")
        if failure:
            if failure["reason"] in ("not_html", "no_text"):  # found here; fetch failures are counted by the spider
                self.count(source, "errors")
                self.count(source, failure["reason"])
                self.crawler.stats.set_value(f"loomwatch/{source}/last_error", f"{item['url']}: {failure['detail']}")
            record_skipped(db, item["url"], source, failure["reason"], failure["detail"])
            return
        article = item["article"]
        urls = set(item["urls"])
        url = item["url"]
        canonical = article.get("canonical")
        if canonical:
            canonical = canonical_url(urljoin(url, canonical))
            if same_site(canonical, {site_of(url)}):
                urls.add(url)
                url = canonical
        if any(article_id_for_url(db, u) for u in (url, *urls)):
            return  # reached under another URL in this run (a redirect or rel=canonical to a stored article)
        digest = content_hash(article["text"])
        lookup = time.thread_time()
        duplicate_of = exact_duplicate(db, digest) or dedup.find_near_duplicate(db, article["signature"], self.threshold)
        self.dedup_cpu += time.thread_time() - lookup
        row = {**article, "url": url, "source": source, "content_hash": digest, "duplicate_of": duplicate_of, "run_id": self.run_id}
        lookup = time.thread_time()
        day = stories.article_day(article.get("published"))
        row["story_id"] = self._story(article, duplicate_of, day)
        self.story_cpu += time.thread_time() - lookup
        try:
            with db.atomic():  # a savepoint: one bad article does not undo the batch
                article_id = insert_article(db, row, urls=urls, clusters=article["clusters"])  # none when off-topic: see Tagger.tag
                dedup.index(db, article_id, article["signature"])
                if db.execute("SELECT story_id FROM articles WHERE id = ?", [article_id]).fetchone()[0] is not None:
                    stories.record(db, article_id, article.get("facts", ()), day)
        except sqlite3.IntegrityError as exc:
            log.warning("%s: not stored: %s", url, exc)
            return
        self.count(source, "new_articles")
        if duplicate_of:
            self.count(source, "duplicates")

    def _story(self, article: dict[str, Any], duplicate_of: int | None, day: int) -> int | None:
        """The story decision (loomwatch.pipelines.stories.story_for), inside the batch's
        transaction: a story to join, NEW_STORY, or None for the default (a copy's
        original's story; none when off-topic)."""
        return stories.story_for(self.db, article, duplicate_of, day, self.story_rules)


