"""Stages 4–5: deduplicate against the archive, decide the story, and store.

Articles are written in small batches, one transaction per batch, each article complete
with its URL aliases, cluster tags, search entry and near-duplicate index entries; a
crash or kill loses at most the unwritten batch, whose URLs are not yet known and so are
fetched again by the next run. Deduplication and the story decision run inside the same
transaction, so they see every article written before, including earlier ones of the batch.

A batch that cannot be written (the disk is full, another program holds the write lock
past the busy timeout, an I/O error) is rolled back whole and `write` raises ArchiveError.
A local crawl then stops: its error goes into the stats under ARCHIVE_ERROR for the
orchestrator to report, and every later item is dropped (its URL is not known, so the next
run fetches it again).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import sqlite_utils

from loomwatch.pipelines import dedup, stories
from loomwatch.storage import ArchiveError, open_database
from loomwatch.storage.archive import archive_error
from loomwatch.storage.articles import (
    content_hash,
    exact_duplicates,
    index_for_search,
    insert_article,
    known_of,
    record_skipped,
)
from loomwatch.storage.stories import NEW_STORY
from loomwatch.storage.urls import canonical_url, same_site, site_of

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from loomwatch.pipelines.settings import PipelineSettings

log = logging.getLogger(__name__)
BATCH_SIZE = 50
BATCH_SECONDS = 2.0
ARCHIVE_ERROR = "loomwatch/archive_error"  # stats key: the ArchiveError that stopped the crawl


class Counters(dict):
    """Stats for StorePipeline outside Scrapy (a fleet's writer, `loomwatch stories`): the
    methods of Scrapy's stats collector that it calls."""

    def inc_value(self, key: str, count: float = 1, start: float = 0) -> None:
        self[key] = self.get(key, start) + count

    def set_value(self, key: str, value: Any) -> None:
        self[key] = value


class StorePipeline:
    """The one way pages become archive rows: a local crawl runs it as Scrapy's item
    pipeline, `crawl --fleet` (crawler/fleet/writer.py) calls `write` with the pages its
    workers analysed. `stats` is Scrapy's stats collector or anything with its
    `inc_value` and `set_value`; `crawler`, when given, is stopped when a batch cannot be written."""

    def __init__(self, settings: PipelineSettings, run_id: int | None, stats: Any, crawler: Crawler | None = None):
        self.stats = stats
        self.crawler = crawler
        self.database = settings.storage.database
        self.busy_timeout = settings.storage.busy_timeout
        self.threshold = settings.dedup.threshold
        self.run_id = run_id
        self.batch: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.dedup_cpu = 0.0  # CPU seconds of near-duplicate lookups in the current flush
        self.search: list[tuple[int, str, str]] = []  # search-index entries of the current batch
        self.stored: list[tuple[str, bool]] = []  # (source, is a duplicate) of each article in the current batch
        self.failures: list[tuple[str, str, str]] = []  # (source, reason, last error) of the current batch's unusable pages
        self.careful = False  # each article in a savepoint of its own
        self.known: set[str] = set()  # URLs of the current batch stored already (in the archive or earlier in the batch)
        self.originals: dict[str, int] = {}  # content hash -> its original, for the current batch's hashes
        self.params: dedup.Params | None = None
        self.story_cpu = 0.0  # CPU seconds of story decisions in the current flush
        self.story_rules = settings.stories
        self.story_reports = stories.StoredReports()  # the stored articles decisions read, kept across batches
        self.db = None
        self.failed: ArchiveError | None = None
        self.stopping: Any = None  # the Deferred of the engine's close, kept so that it is not collected

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "StorePipeline":
        return cls(crawler.settings["LOOMWATCH_PIPELINES"], crawler.settings.getint("LOOMWATCH_RUN_ID") or None, crawler.stats, crawler)

    def open_spider(self) -> None:
        self.db = open_database(self.database, busy_timeout=self.busy_timeout)

    def close_spider(self) -> None:
        self.flush()
        if self.db is not None:
            self.db.close()

    def count(self, source: str, key: str) -> None:
        self.stats.inc_value(f"loomwatch/{source}/{key}")

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        self.batch.append(item)
        if len(self.batch) >= BATCH_SIZE or time.monotonic() - self.last_flush >= BATCH_SECONDS:
            self.flush()
        return {"source": item["source"], "url": item["url"], "failure": item.get("failure")}

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        self.last_flush = time.monotonic()
        if self.failed:
            return
        try:
            self.write(batch)
        except ArchiveError as error:
            self._stop(error, len(batch))

    def write(self, batch: list[dict[str, Any]], also: Callable[[sqlite_utils.Database], None] | None = None) -> None:
        """Store a batch of pages in one transaction, together with whatever `also` writes.
        Raises ArchiveError, with nothing of the batch stored, when the archive cannot be written."""
        if not batch or self.db is None:
            return
        # thread_time: the pool's result thread runs in this process at the same time
        started, self.dedup_cpu, self.story_cpu = time.thread_time(), 0.0, 0.0
        try:
            try:
                self._write_batch(batch, also, careful=False)
            except sqlite3.IntegrityError:
                self.story_reports.clear()  # rolled back: the batch's ids are given again
                # An article broke a constraint (a bug or a damaged archive): the batch is written
                # again, each article in a savepoint of its own, so that only that article is left out.
                # Savepoints for every article cost a copy of each page an article touches.
                self._write_batch(batch, also, careful=True)
        except sqlite3.IntegrityError:
            raise  # one article's problem is handled in _write: this is a bug
        except (sqlite3.DatabaseError, OSError) as exc:
            self.story_reports.clear()
            raise archive_error(self.database, exc, self.busy_timeout) from None
        finally:
            for source, reason, detail in self.failures:  # counted whether or not the batch could be written
                self.count(source, "errors")
                self.count(source, reason)
                self.stats.set_value(f"loomwatch/{source}/last_error", detail)
        for source, duplicate in self.stored:  # counted once committed: a batch that could not be written stored nothing
            self.count(source, "new_articles")
            if duplicate:
                self.count(source, "duplicates")
        stats = self.stats
        stats.inc_value("loomwatch/cpu/store", time.thread_time() - started - self.dedup_cpu - self.story_cpu)
        stats.inc_value("loomwatch/cpu/dedup_lookup", self.dedup_cpu)
        stats.inc_value("loomwatch/cpu/story_lookup", self.story_cpu)

    def _write_batch(self, batch: list[dict[str, Any]], also: Callable[[sqlite_utils.Database], None] | None, careful: bool) -> None:
        self.search, self.stored, self.failures, self.careful = [], [], [], careful
        with self.db.atomic():
            pages = [(item, *self._urls(item)) for item in batch]
            # What the archive knows of the batch's URLs and content hashes, read at once; the
            # batch's own articles are added to both as they are stored.
            self.known = known_of(self.db, {u for item, url, urls in pages if url for u in (url, *urls)})
            self.originals = exact_duplicates(self.db, {self._digest(item["article"]) for item, url, _ in pages if url})
            self.params = dedup.prepare(self.db, self.threshold)
            for item, url, urls in pages:
                self._write(item, url, urls)
            index_for_search(self.db, self.search, indexed=True)  # one search-index segment per batch (see insert_article)
            if also is not None:
                also(self.db)

    def _stop(self, error: ArchiveError, lost: int) -> None:
        from scrapy.utils.defer import deferred_from_coro

        self.failed = error
        self.stats.set_value(ARCHIVE_ERROR, error)
        log.warning("the archive cannot be written: the crawl stops; %d pages of the last batch were not stored "
                    "(the next crawl fetches them again)", lost)
        if self.crawler is not None:
            self.stopping = deferred_from_coro(self.crawler.engine.close_spider_async(reason="archive_unwritable"))

    @staticmethod
    def _urls(item: dict[str, Any]) -> tuple[str | None, set[str]]:
        """The URL an article is stored under and its other URLs (None for a failed page)."""
        if item.get("failure"):
            return None, set()
        urls = set(item["urls"])
        url = item["url"]
        canonical = item["article"].get("canonical")
        if canonical:
            canonical = canonical_url(urljoin(url, canonical))
            if same_site(canonical, {site_of(url)}):
                urls.add(url)
                url = canonical
        return url, urls

    @staticmethod
    def _digest(article: dict[str, Any]) -> str:
        return article.get("content_hash") or content_hash(article["text"])

    def _write(self, item: dict[str, Any], url: str | None, urls: set[str]) -> None:
        db, source = self.db, item["source"]
        failure = item.get("failure")
        if failure:
            if failure["reason"] in ("not_html", "no_text"):  # found here; fetch failures are counted by the spider
                self.failures.append((source, failure["reason"], f"{item['url']}: {failure['detail']}"))
            record_skipped(db, item["url"], source, failure["reason"], failure["detail"])
            return
        article = item["article"]
        if not self.known.isdisjoint((url, *urls)):
            return  # reached under another URL in this run (a redirect or rel=canonical to a stored article)
        digest = self._digest(article)
        lookup = time.thread_time()
        duplicate_of = self.originals.get(digest) or dedup.find_near_duplicate(db, article["signature"], self.threshold, self.params)
        self.dedup_cpu += time.thread_time() - lookup
        row = {**article, "url": url, "source": source, "content_hash": digest, "duplicate_of": duplicate_of, "run_id": self.run_id}
        lookup = time.thread_time()
        day = stories.article_day(article.get("published"))
        newcomer = stories.Newcomer(article)
        decided = row["story_id"] = self._story(article, duplicate_of, day, newcomer)
        self.story_cpu += time.thread_time() - lookup
        indexed = len(self.search)
        try:
            with db.atomic() if self.careful else contextlib.nullcontext():  # a savepoint: one bad article does not undo the batch
                article_id = insert_article(db, row, urls=urls, clusters=article["clusters"], search=self.search)  # none when off-topic: see Tagger.tag
                dedup.index(db, article_id, article["signature"], self.params)
                if decided is None:  # the default story, which insert_article worked out
                    story_id = db.execute("SELECT story_id FROM articles WHERE id = ?", [article_id]).fetchone()[0]
                else:
                    story_id = article_id if decided == NEW_STORY else decided
                if story_id is not None:
                    stories.record(db, article_id, newcomer, day)
                    self.story_reports.add(article_id, story_id, newcomer.report)
        except sqlite3.IntegrityError as exc:
            if not self.careful:
                raise
            del self.search[indexed:]
            log.warning("%s: not stored: %s", url, exc)
            return
        self.known.update((url, *urls))
        self.originals.setdefault(digest, duplicate_of or article_id)
        self.stored.append((source, bool(duplicate_of)))

    def _story(self, article: dict[str, Any], duplicate_of: int | None, day: int, newcomer: stories.Newcomer) -> int | None:
        """The story decision (loomwatch.pipelines.stories.story_for), inside the batch's
        transaction: a story to join, NEW_STORY, or None for the default (a copy's
        original's story; none when off-topic)."""
        return stories.story_for(self.db, article, duplicate_of, day, self.story_rules, cache=self.story_reports,
                                 newcomer=newcomer)


