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

import collections
import contextlib
import logging
import multiprocessing
import signal
import sqlite3
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import sqlite_utils

from loomwatch.pipelines import dedup, stories
from loomwatch.storage import ArchiveError, open_database
from loomwatch.storage import stories as stories_table
from loomwatch.storage.archive import archive_error
from loomwatch.storage.db import writing
from loomwatch.storage.articles import (
    content_hash,
    exact_duplicates,
    index_for_search,
    insert_article,
    known_of,
    record_skipped,
)
from loomwatch.storage.pending import Pending, PendingArticle
from loomwatch.storage.stories import NEW_STORY
from loomwatch.storage.urls import canonical_url, same_site, site_of

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from loomwatch.pipelines.settings import PipelineSettings, StorySettings

log = logging.getLogger(__name__)
BATCH_SIZE = 50
BATCH_SECONDS = 2.0
ARCHIVE_ERROR = "loomwatch/archive_error"  # stats key: the ArchiveError that stopped the crawl
READY_SECONDS = 10.0  # how long the store step waits for its deciding process to open the archive, at most
DECIDED_AGAIN = "loomwatch/decided_again"  # stats key: batches decided ahead that had to be decided again (WritingAhead)


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
        self.params: dedup.Params | None = None
        self.settled: int | None = None  # the last near-duplicate key settle moved (see dedup.settle)
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

    def write(self, batch: list[dict[str, Any]], also: Callable[[sqlite_utils.Database], None] | None = None,
              decided: Decided | None = None) -> None:
        """Store a batch of pages in one transaction, together with whatever `also` writes
        (`decided`: the batch's decisions made ahead, see AheadDecider).
        Raises ArchiveError, with nothing of the batch stored, when the archive cannot be written,
        and DecidedAheadVoid, with nothing stored, when the decisions made ahead cannot be used."""
        if not batch or self.db is None:
            return
        # thread_time: the pool's result thread runs in this process at the same time
        started, self.dedup_cpu, self.story_cpu = time.thread_time(), 0.0, 0.0
        try:
            try:
                self._write_batch(batch, also, careful=False, decided=decided)
            except sqlite3.IntegrityError as exc:
                if decided is not None:
                    raise DecidedAheadVoid(f"an article broke a constraint ({exc})") from None
                self.story_reports.clear()  # rolled back: the batch's ids are given again
                # An article broke a constraint (a bug or a damaged archive): the batch is written
                # again, each article in a savepoint of its own, so that only that article is left out.
                # Savepoints for every article cost a copy of each page an article touches.
                self._write_batch(batch, also, careful=True)
        except sqlite3.IntegrityError:
            raise  # one article's problem is handled in _store: this is a bug
        except DecidedAheadVoid:
            self.failures = []  # counted when the batch is written again
            raise
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
        elsewhere = 0.0 if decided else self.dedup_cpu + self.story_cpu  # decisions made ahead took another thread's time
        stats.inc_value("loomwatch/cpu/store", time.thread_time() - started - elsewhere)
        stats.inc_value("loomwatch/cpu/dedup_lookup", self.dedup_cpu)
        stats.inc_value("loomwatch/cpu/story_lookup", self.story_cpu)

    def _write_batch(self, batch: list[dict[str, Any]], also: Callable[[sqlite_utils.Database], None] | None, careful: bool,
                     decided: Decided | None = None) -> None:
        self.search, self.stored, self.failures, self.careful = [], [], [], careful
        with writing(self.db):
            self.params = dedup.prepare(self.db, self.threshold)
            if decided is None:  # decided here, article after article, on this connection
                decider = Decider(self.db, self.threshold, self.params, self.story_rules, self.story_reports)
                pages = [(item, *self._urls(item)) for item in batch]
                decider.begin(pages)
                for item, url, urls in pages:
                    self._store(decider.decide(item, url, urls), decider)
                self.dedup_cpu, self.story_cpu = decider.dedup_cpu, decider.story_cpu
            else:
                for decision in decided.decisions:
                    self._store(decision)
                self.dedup_cpu, self.story_cpu = decided.dedup_cpu, decided.story_cpu
            index_for_search(self.db, self.search, indexed=True)  # one search-index segment per batch (see insert_article)
            self.settled = dedup.settle(self.db, self.settled)
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

    def _store(self, d: Decision, decider: Decider | None = None) -> None:
        """Write one decided page (`decider`: the one that decided it, told what was stored;
        without it, the decision was made ahead, with the id and story it gets)."""
        db, item = self.db, d.item
        source = item["source"]
        failure = item.get("failure")
        if failure:
            if failure["reason"] in ("not_html", "no_text", "too_slow"):  # found here; fetch failures are counted by the spider
                self.failures.append((source, failure["reason"], f"{item['url']}: {failure['detail']}"))
            record_skipped(db, item["url"], source, failure["reason"], failure["detail"])
            return
        if d.known:
            return  # reached under another URL in this run (a redirect or rel=canonical to a stored article)
        article = item["article"]
        row = {**article, "url": d.url, "source": source, "content_hash": d.digest, "duplicate_of": d.duplicate_of,
               "run_id": self.run_id, "story_id": d.story}
        indexed = len(self.search)
        try:
            with db.atomic() if self.careful else contextlib.nullcontext():  # a savepoint: one bad article does not undo the batch
                article_id = insert_article(db, row, urls=d.urls, clusters=article["clusters"], search=self.search)  # none when off-topic: see Tagger.tag
                dedup.index(db, article_id, article["signature"], self.params, dedup.article_band_keys(article, self.params))
                if d.story is None:  # the default story, which insert_article worked out
                    story_id = db.execute("SELECT story_id FROM articles WHERE id = ?", [article_id]).fetchone()[0]
                else:
                    story_id = article_id if d.story == NEW_STORY else d.story
                if story_id is not None:
                    stories.record(db, article_id, d.newcomer, d.day)
        except sqlite3.IntegrityError as exc:
            if not self.careful:
                raise
            del self.search[indexed:]
            log.warning("%s: not stored: %s", d.url, exc)
            return
        if decider is not None:
            decider.stored(d, article_id, story_id)
        elif (article_id, story_id) != (d.article_id, d.story_id):
            raise DecidedAheadVoid(f"{d.url} was decided as article {d.article_id} of story {d.story_id} and is "
                                   f"article {article_id} of story {story_id} (a bug: please report it)")
        self.stored.append((source, d.duplicate_of is not None))

    def ahead(self) -> WritingAhead:
        """Batches to `submit` and `write` in order, each decided while the one before is
        written (the near-duplicate index made ready for this run's threshold first)."""
        with writing(self.db):
            dedup.prepare(self.db, self.threshold)
        process = DecidingProcess(str(self.database), self.threshold, self.story_rules, self.busy_timeout)
        process.wait_ready(READY_SECONDS)
        return WritingAhead(self, process)

    @staticmethod
    def _urls(item: dict[str, Any]) -> tuple[str | None, set[str]]:
        """The URL an article is stored under and its other URLs (None for a failed page)."""
        if item.get("failure"):
            return None, set()
        urls = set(item["urls"])
        url = item["url"]
        canonical = item["article"].get("canonical")
        if canonical:
            try:
                canonical = canonical_url(urljoin(url, canonical))
            except ValueError:  # http://host:8o/: raised here it would lose the whole batch
                return url, urls
            if same_site(canonical, {site_of(url)}):
                urls.add(url)
                url = canonical
        return url, urls


class DecidingFailed(RuntimeError):
    """The process deciding batches ahead ended or failed: the writer decides as it writes."""


class DecidedAheadVoid(Exception):
    """A batch decided ahead cannot be written as it was decided: an article broke a
    constraint, or the archive shows what the decisions did not foresee. Nothing of it is
    stored; it is written again with its decisions made as it is written."""


@dataclass
class Decision:
    """What the store step decided for one page: whether and under which URLs it is stored,
    the article it copies, its story (as `stories.story_for` answers)."""

    item: dict[str, Any]
    url: str | None = None  # None: a failed page, recorded as skipped
    urls: set[str] = field(default_factory=set)
    known: bool = False  # reached under a URL stored already: nothing to store
    digest: str = ""
    duplicate_of: int | None = None
    story: int | None = None
    newcomer: stories.Newcomer | None = None
    day: int = 0
    article_id: int | None = None  # decided ahead (AheadDecider): the id it is stored under
    story_id: int | None = None  # decided ahead: the story it is stored in


@dataclass
class Decided:
    """A batch decided ahead, with the CPU seconds its decisions took (in the deciding thread)."""

    decisions: list[Decision]
    dedup_cpu: float
    story_cpu: float


class Decider:
    """The store step's reads: for each page of a batch, whether it is new, the article it
    copies and its story, from what `db` holds and what the batch stored before it (`stored`).
    `pending`: the articles decided that `db` does not show yet (see storage.pending)."""

    def __init__(self, db: sqlite_utils.Database, threshold: float, params: dedup.Params, rules: StorySettings,
                 reports: stories.StoredReports, pending: Pending | None = None):
        """`params`: the near-duplicate index's, as `dedup.prepare` gave them for `threshold`."""
        self.db, self.threshold, self.params, self.rules, self.reports, self.pending = db, threshold, params, rules, reports, pending
        self.known: set[str] = set()  # URLs stored already (in the archive or earlier in the batch)
        self.originals: dict[str, int] = {}  # content hash -> its original, for the batch's hashes
        self.dedup_cpu = 0.0  # CPU seconds of near-duplicate lookups
        self.story_cpu = 0.0  # CPU seconds of story decisions

    def begin(self, pages: list[tuple[dict[str, Any], str | None, set[str]]]) -> None:
        """Read at once what the archive knows of a batch's URLs and content hashes; the
        batch's own articles are added to both as they are stored."""
        self.known = known_of(self.db, {u for item, url, urls in pages if url for u in (url, *urls)}, self.pending)
        self.originals = exact_duplicates(self.db, {_digest(item["article"]) for item, url, _ in pages if url}, self.pending)

    def decide(self, item: dict[str, Any], url: str | None, urls: set[str]) -> Decision:
        if url is None:
            return Decision(item)
        if not self.known.isdisjoint((url, *urls)):
            return Decision(item, url, urls, known=True)
        article = item["article"]
        digest = _digest(article)
        lookup = time.thread_time()
        duplicate_of = self.originals.get(digest) or dedup.find_near_duplicate(
            self.db, article["signature"], self.threshold, self.params, self.pending, dedup.article_band_keys(article, self.params))
        self.dedup_cpu += time.thread_time() - lookup
        lookup = time.thread_time()
        day = stories.article_day(article.get("published"))
        newcomer = stories.Newcomer(article)
        story = stories.story_for(self.db, article, duplicate_of, day, self.rules, cache=self.reports, newcomer=newcomer,
                                  pending=self.pending)
        self.story_cpu += time.thread_time() - lookup
        return Decision(item, url, urls, digest=digest, duplicate_of=duplicate_of, story=story, newcomer=newcomer, day=day)

    def stored(self, d: Decision, article_id: int, story_id: int | None) -> None:
        """The decided page is stored as `article_id`, in `story_id` (None: no story)."""
        self.known.update((d.url, *d.urls))
        self.originals.setdefault(d.digest, d.duplicate_of or article_id)
        if story_id is not None:
            self.reports.add(article_id, story_id, d.newcomer.report)


class AheadDecider(Decider):
    """Decides a fleet writer's next batch on a read-only connection of its own, in a process
    of its own (DecidingProcess), while the writing connection stores the batch before (crawler/fleet/writer.py):
    the reads and comparisons of a batch then cost the writer no time. The articles decided
    and not yet visible to this connection are `pending`; each is given the id and story it
    will be stored with (ids are given in order: one above the largest). The writing side
    checks both as it stores them; a batch it had to write otherwise (an article broke a
    constraint) makes every decision ahead void: `reset` and decide again."""

    def __init__(self, database: str, threshold: float, rules: StorySettings, busy_timeout: float):
        conn = sqlite3.connect(database, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA cache_size = -{256 * 1024}")  # the indexes decisions read (KiB)
        db, pending = sqlite_utils.Database(conn), Pending()
        # The writer made the index ready for `threshold` (StorePipeline.ahead): its parameters are only read here.
        super().__init__(db, threshold, dedup.prepare(db, threshold), rules, stories.StoredReports(pending), pending)

    def close(self) -> None:
        self.db.close()

    def reset(self) -> None:
        self.pending.clear()
        self.reports.clear()

    def decide_batch(self, pages: list[tuple[dict[str, Any], str | None, set[str]]]) -> Decided:
        self.dedup_cpu = self.story_cpu = 0.0
        self.begin(pages)  # what it reads is in the archive or pending, whichever the writer has committed
        decided = []
        visible = self._visible()
        for item, url, urls in pages:
            # No snapshot is held across decisions (it would keep the writer's checkpoints from
            # completing, and the write-ahead log would grow without end): a decision during
            # which the writer committed (since `visible` was read) is made again.
            while True:
                d = self.decide(item, url, urls)
                if d.url is not None and not d.known:
                    d.article_id = max(visible, self.pending.last_id) + 1
                    d.story_id = stories_table.story_as_stored(self.db, d.article_id, d.story, d.duplicate_of,
                                                               bool(item["article"].get("relevant")), self.pending)
                now = self._visible()
                if now == visible:
                    break
                visible = now
            if d.article_id is not None:
                self.stored(d, d.article_id, d.story_id)
            decided.append(d)
        return Decided(decided, self.dedup_cpu, self.story_cpu)

    def _visible(self) -> int:
        """The last article this connection sees; the pending ones up to it are forgotten."""
        visible = self.db.conn.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]
        self.pending.visible_up_to(visible)
        return visible

    def stored(self, d: Decision, article_id: int, story_id: int | None) -> None:
        super().stored(d, article_id, story_id)
        article = d.item["article"]
        signature = article["signature"]
        self.pending.add(PendingArticle(
            id=article_id, urls=frozenset((d.url, *d.urls)), content_hash=d.digest, duplicate_of=d.duplicate_of,
            story_id=story_id, signature=signature, band_keys=tuple(dedup.article_band_keys(article, self.params) or ()),
            day=d.day, keys=tuple(dict.fromkeys(stories_table.fact_key(k) for k in d.newcomer.keys)) if story_id is not None else ()))


def _digest(article: dict[str, Any]) -> str:
    return article.get("content_hash") or content_hash(article["text"])


class WritingAhead:
    """A fleet writer's batches, each decided by a DecidingProcess while the one before is
    written: `submit` them as they are read, `write` the earliest submitted. Should the process
    fail, the writer decides as it writes, as a local crawl does."""

    def __init__(self, store: StorePipeline, process: DecidingProcess):
        self.store = store
        self.process: DecidingProcess | None = process
        self.waiting: collections.deque[list[dict[str, Any]]] = collections.deque()  # submitted, not written

    def submit(self, batch: list[dict[str, Any]]) -> None:
        self.waiting.append(batch)
        if self.process is not None:
            self.process.submit(batch)

    def write(self, also: Callable[[sqlite_utils.Database], None] | None = None) -> list[dict[str, Any]]:
        """Store the earliest batch submitted (see StorePipeline.write); returns it."""
        batch = self.waiting.popleft()
        decided = None
        if self.process is not None:
            try:
                decided = self.process.result(batch)
            except DecidingFailed as exc:
                log.warning("%s; the writer decides as it writes from now on (slower)", exc)
                self.close()
        try:
            self.store.write(batch, also=also, decided=decided)
        except DecidedAheadVoid as exc:
            # Written again, decided as it is written (an article that broke a constraint is left
            # out): the ids and stories given to the batches after it may change: decided again.
            log.warning("a batch decided ahead is decided again as it is written: %s", exc)
            self.store.stats.inc_value(DECIDED_AGAIN)
            self.store.write(batch, also=also)
            if self.process is not None:
                for later in self.waiting:
                    with contextlib.suppress(Exception):
                        self.process.result(later)
                self.process.reset()
                for later in self.waiting:
                    self.process.submit(later)
        return batch

    def close(self) -> None:
        if self.process is not None:
            self.process.close()
            self.process = None


class DecidingProcess:
    """An AheadDecider in a process of its own, fed batches in order: `submit` a batch, later
    take its decisions with `result` (first in, first out). In a thread of the writer's
    process the decisions cost more than they saved: the two threads' many short SQLite calls
    hand Python's interpreter lock back and forth."""

    def __init__(self, database: str, threshold: float, rules: StorySettings, busy_timeout: float):
        context = multiprocessing.get_context("spawn")  # a fork would copy the writer's SQLite connection
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_decide_ahead, args=(child, database, threshold, rules, busy_timeout),
                                       name="loomwatch-decide", daemon=True)
        self.process.start()
        child.close()
        self.ready = False  # its first message, "ready", is taken

    def wait_ready(self, timeout: float | None) -> None:
        """Wait until the process has opened the archive, at most `timeout` seconds (None: as
        long as it takes; one that ended instead is reported by `result`)."""
        with contextlib.suppress(EOFError, OSError):
            if not self.ready and self.pipe.poll(timeout):
                self.pipe.recv()
                self.ready = True

    def submit(self, batch: list[dict[str, Any]]) -> None:
        with contextlib.suppress(OSError):  # it has ended: `result` says so
            self.pipe.send(("decide", [_for_decision(item) for item in batch]))

    def result(self, batch: list[dict[str, Any]]) -> Decided:
        """The decisions of the earliest batch submitted and not yet taken (`batch`: its pages).
        Raises ArchiveError when the archive could not be read, DecidingFailed when the process
        ended or failed."""
        self.wait_ready(None)
        try:
            kind, value = self.pipe.recv()
        except (EOFError, OSError):
            self.process.join(1)
            raise DecidingFailed(f"the process deciding batches ahead ended (exit code {self.process.exitcode})") from None
        if kind == "error":
            raise value
        fields, dedup_cpu, story_cpu = value
        decisions = []
        for item, (url, urls, known, digest, duplicate_of, story, day, article_id, story_id) in zip(batch, fields):
            newcomer = stories.Newcomer(item["article"]) if url is not None and not known else None
            decisions.append(Decision(item, url, urls, known, digest, duplicate_of, story, newcomer, day, article_id, story_id))
        return Decided(decisions, dedup_cpu, story_cpu)

    def reset(self) -> None:
        """Forget what was decided ahead (the batches submitted and not yet taken must be taken first)."""
        with contextlib.suppress(OSError):  # it has ended: `result` says so
            self.pipe.send(("reset", None))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.pipe.send(("stop", None))
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
        self.pipe.close()


# What the decisions read of a page; the rest (its text, above all) stays with the writer.
_DECISION_FIELDS = ("signature", "facts", "lang", "published", "relevant", "canonical", "content_hash", "bands", "band_keys",
                    "story_keys")


def _for_decision(item: dict[str, Any]) -> dict[str, Any]:
    if item.get("failure"):
        return {"url": item["url"], "failure": item["failure"]}
    article = item["article"]
    slim = {key: article.get(key) for key in _DECISION_FIELDS}
    slim["content_hash"] = _digest(article)
    return {"url": item["url"], "urls": item["urls"], "article": slim}


def _decide_ahead(pipe: Any, database: str, threshold: float, rules: StorySettings, busy_timeout: float) -> None:
    """The deciding process: decides the batches it is sent until told to stop or the writer is gone."""
    for signum in (signal.SIGINT, signal.SIGTERM):  # the writer stops it
        signal.signal(signum, signal.SIG_IGN)
    decider = AheadDecider(database, threshold, rules, busy_timeout)
    pipe.send(("ready", None))
    try:
        while True:
            try:
                kind, batch = pipe.recv()
            except EOFError:
                return
            if kind == "stop":
                return
            if kind == "reset":
                decider.reset()
                continue
            try:
                decided = decider.decide_batch([(item, *StorePipeline._urls(item)) for item in batch])
                fields = [(d.url, d.urls, d.known, d.digest, d.duplicate_of, d.story, d.day, d.article_id, d.story_id)
                          for d in decided.decisions]
                pipe.send(("ok", (fields, decided.dedup_cpu, decided.story_cpu)))
            except (sqlite3.DatabaseError, OSError) as exc:
                pipe.send(("error", archive_error(Path(database), exc, busy_timeout)))
            except Exception:
                pipe.send(("error", DecidingFailed(f"deciding a batch ahead failed (a bug: please report it):\n{traceback.format_exc()}")))
    finally:
        decider.close()
