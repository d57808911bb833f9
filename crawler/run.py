"""Running a crawl: lock the database, record the run, crawl, record what each source did.

A crawl runs Twisted's reactor, which cannot be started twice in one process: call
`crawl` once per process (the CLI does; the scheduler starts a fresh `loomwatch crawl`
process for every run).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loomwatch.crawler.config import Config, ConfigError
from loomwatch.crawler.httpcache import cache_dir, prune_cache
from loomwatch.crawler.scrapy_settings import scrapy_settings
from loomwatch.pipelines.store import ARCHIVE_ERROR
from loomwatch.spiders.sources import SourcesSpider
from loomwatch.storage import ArchiveError, CrawlLock, open_database
from loomwatch.storage.archive import archive_error
from loomwatch.storage.articles import is_known_url, sync_clusters
from loomwatch.storage.db import check_database
from loomwatch.storage.runs import (
    SourceResult,
    close_abandoned_runs,
    finish_run,
    start_run,
)

if TYPE_CHECKING:
    from scrapy.crawler import AsyncCrawlerProcess, Crawler

log = logging.getLogger(__name__)


@dataclass
class CrawlReport:
    run_id: int
    status: str  # ok, partial, failed
    results: list[SourceResult] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    archive_error: ArchiveError | None = None  # the archive could not be written (a full disk): the crawl stopped
    problem: str = ""  # a fleet run that could not finish its work (no worker, Redis lost it): exit 1

    @property
    def failed(self) -> list[SourceResult]:
        return [r for r in self.results if r.status != "ok"]


def select_sources(config: Config, names: Sequence[str] = ()) -> list:
    if not names:
        if not config.sources:
            raise ConfigError(f"{config.path}: no [[sources]] configured; add one (see `loomwatch init`)")
        return list(config.sources)
    return [config.source(name) for name in names]


def crawl(config: Config, source_names: Sequence[str] = ()) -> CrawlReport:
    """Crawl the named sources (all when none are named). Raises LockedError if a crawl is running."""
    sources = select_sources(config, source_names)
    database, busy_timeout = config.storage.database, config.storage.busy_timeout
    check_database(database, busy_timeout=busy_timeout)  # before the lock file is made beside it
    with CrawlLock(database):
        db = open_database(database, busy_timeout=busy_timeout)
        run_id = begin_run(db, config, sources)
        prune_cache(cache_dir(database))  # under the lock: no other crawl is writing the cache
        process, crawler = _scrapy_process(scrapy_settings(config, run_id))
        process.crawl(crawler, sources=sources, is_known=lambda url: is_known_url(db, url))
        process.start()
        stats = crawler.stats.get_stats() if crawler.stats else {}
        spider = crawler.spider
        results = [source_result(s.name, stats, spider.entries.get(s.name, [0, 0]) if spider else [0, 0]) for s in sources]
        reason = stats.get("finish_reason", "")
        stopped_by = stats.get(ARCHIVE_ERROR)  # set by the store pipeline
        message = str(stopped_by) if stopped_by else "" if reason in ("finished", "") else f"crawl stopped early: {reason}"
        try:
            status = finish_run(db, run_id, results, message, health=config.health, stopped=stopped_by is not None)
        except (sqlite3.Error, OSError) as exc:  # the disk is still full: the next crawl marks this run as ended
            stopped_by = stopped_by or archive_error(database, exc, busy_timeout)
            status = "failed"
        db.close()
    cpu = {k.rsplit("/", 1)[1]: v for k, v in stats.items() if k.startswith("loomwatch/cpu/")}
    return CrawlReport(run_id, status, results, cpu, stats.get("downloader/request_count", 0), stopped_by)


def begin_run(db: Any, config: Config, sources: Sequence[Any]) -> int:
    """Record the start of a crawl (local or fleet) once the lock is held; returns the run id.
    Raises ArchiveError (and closes `db`) when the archive cannot be written."""
    try:
        if close_abandoned_runs(db):
            log.warning("an earlier crawl was killed before it finished; this run picks up its work")
        sync_clusters(db, config.gazetteer().rows())
        return start_run(db, [{"name": s.name, "start_urls": s.start_urls, "feeds": s.feeds, "sitemaps": s.sitemaps} for s in sources])
    except (sqlite3.Error, OSError) as exc:  # a full disk, say
        db.close()
        raise archive_error(config.storage.database, exc, config.storage.busy_timeout) from None


@dataclass
class SourceCheck:
    """What `loomwatch sources check` found for one source."""

    source: str
    entry_points: int  # start URLs, feeds and sitemaps configured
    read: int
    failed: int
    article_links: int
    sample: list[str] = field(default_factory=list)
    last_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.read > 0 and self.article_links > 0


def _scrapy_process(settings: dict[str, Any], spider: type = SourcesSpider) -> tuple[AsyncCrawlerProcess, Crawler]:
    """A Scrapy process and the crawler of loomwatch's spider, as `crawl`, `check_sources`
    and a fleet's `loomwatch worker` run them."""
    # Imported before the reactor starts: its deprecation shims call inspect.stack(), whose
    # cost grows with the depth of the stack, and inside the running reactor it took 0.15 s.
    import scrapy.core.downloader.handlers.http11  # noqa: F401
    from scrapy.crawler import AsyncCrawlerProcess

    process = AsyncCrawlerProcess(settings)
    # Scrapy sets its logger to DEBUG; unless the root logger wants DEBUG too (`-v`), that
    # only builds a record for every page fetched for the handler to drop.
    logging.getLogger("scrapy").setLevel(max(logging.getLogger().getEffectiveLevel(), logging.DEBUG))
    return process, process.create_crawler(spider)


def check_sources(config: Config, source_names: Sequence[str] = ()) -> list[SourceCheck]:
    """Read each source's start pages, feeds and sitemaps once and count the article links
    they yield. Requests no article, follows no pagination, writes nothing (no archive, no
    HTTP cache, no lock). Runs Twisted's reactor: once per process, like `crawl`."""
    sources = select_sources(config, source_names)
    process, crawler = _scrapy_process({**scrapy_settings(config), "HTTPCACHE_ENABLED": False, "ITEM_PIPELINES": {}})
    process.crawl(crawler, sources=sources, check=True)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    spider = crawler.spider
    checks = []
    for s in sources:
        read, failed = spider.entries.get(s.name, [0, 0]) if spider else (0, 0)
        links = sorted(spider.plans[s.name].article_links) if spider else []
        checks.append(SourceCheck(s.name, len(s.start_urls) + len(s.feeds) + len(s.sitemaps), read, failed, len(links),
                                  links[:3], stats.get(f"loomwatch/{s.name}/last_error")))
    return checks


def source_result(name: str, stats: dict, entries: Sequence[int]) -> SourceResult:
    """What a run did for one source, from the `loomwatch/<source>/<key>` counters and the
    number of its entry points read and failed."""
    def get(key: str) -> int:
        return int(stats.get(f"loomwatch/{name}/{key}", 0))

    read, failed = entries
    result = SourceResult(
        source=name,
        pages_fetched=get("pages_fetched"),
        article_links=get("article_links"),
        new_articles=get("new_articles"),
        duplicates=get("duplicates"),
        no_text=get("no_text"),
        errors=get("errors"),
        last_error=stats.get(f"loomwatch/{name}/last_error"),
    )
    if read == 0:
        result.status = "failed"
        result.last_error = result.last_error or "no start URL, feed or sitemap could be read"
    return result
