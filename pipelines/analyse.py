"""Stages 1–3 plus the near-duplicate signature and the story facts, run in worker processes.

Extraction (trafilatura), language detection and tagging are CPU-bound: run on the
Twisted reactor they would stall every download. `AnalysePipeline` sends each page to a
pool of worker processes (one per core by default) and awaits the result, so the reactor
keeps fetching while both cores extract. `analyse_page` is a plain function of a page:
the same code serves `loomwatch extract` and the benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, NamedTuple

from loomwatch.pipelines.settings import DedupSettings, PipelineSettings, SourceHints

# The worker processes import this module: keep Scrapy (~1 s, ~20 MB each) out of them.
# The crawl process imports it too but never extracts: trafilatura, langdetect and the
# tagger (0.6 s of imports) are imported in the workers only, by the functions below.
if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from loomwatch.pipelines.clusters import Tagger

log = logging.getLogger(__name__)
_tagger: Tagger | None = None
_slots: Any = None  # the crawl process's `Slots`, in a worker process of AnalysePipeline
_dedup_threshold = DedupSettings().threshold  # the configuration's, once init_worker is called
HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")


def init_worker(settings: PipelineSettings, parent: int | None = None, slots: Any = None) -> None:
    """Build the tagger (and the story facts' name automaton) once per worker process, and leave with the crawl process."""
    from loomwatch.pipelines.clusters import tagger_for
    from loomwatch.pipelines.facts import load_names

    # Imported here, not by the first page: a page's time limit counts its own work only.
    import loomwatch.pipelines.extract  # noqa: F401
    import loomwatch.pipelines.language  # noqa: F401

    global _tagger, _dedup_threshold, _slots
    _slots = slots
    _tagger = tagger_for(settings)
    _dedup_threshold = settings.dedup.threshold
    load_names(_tagger.gazetteer)
    # The tagger's automaton is a large, permanent object graph: keep it out of every
    # garbage collection the extraction's allocations trigger.
    gc.freeze()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), name="exit-with-parent", daemon=True).start()


def _exit_with(parent: int) -> None:
    # A crawl killed with SIGKILL (OOM killer, kill -9) cannot shut its pool down, and a
    # worker waiting for work never notices: each holds both ends of the task queue.
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def analyse_in_slot(slot: int, page: dict[str, Any], hints: tuple[str, ...] = (), language: str = "") -> dict[str, Any]:
    """`analyse_page`, telling the crawl process when it started and in which process (see `Slots`)."""
    if _slots is not None:
        _slots.pids[slot] = os.getpid()
        _slots.times[slot] = time.monotonic()
    return analyse_page(page, hints, language)


def analyse_page(page: dict[str, Any], hints: tuple[str, ...] = (), language: str = "") -> dict[str, Any]:
    """Decode, extract, detect the language, tag, sign and take the facts of one fetched page.

    Returns the article fields, or {"failure": {...}} when the page holds no article.
    Also returns CPU seconds per stage under "cpu".
    """
    from loomwatch.pipelines.extract import decode_html, extract_article

    if _tagger is None:
        init_worker(PipelineSettings())
    cpu: dict[str, float] = {}
    clock = time.process_time()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.process_time()
        cpu[stage] = now - clock
        clock = now

    html, encoding = decode_html(page["body"], page.get("content_type"))
    lap("decode")
    found = extract_article(html, page["url"])
    lap("extract")
    if found is None:
        return {"failure": {"reason": "no_text", "detail": "no article text found on the page"}, "cpu": cpu}
    feed = page.get("feed") or {}
    title = found.title or feed.get("title") or ""
    return {
        "title": title,
        "text": found.text,
        "published": found.published or _feed_date(feed.get("published")),
        "author": found.author,
        "canonical": found.canonical,
        "encoding": encoding,
        **analyse_text(title, found.text, hints, language, lap),
        "cpu": cpu,
    }


def analyse_text(title: str, text: str, hints: tuple[str, ...] = (), language: str = "",
                 lap: Callable[[str], None] = lambda stage: None, relevant: bool = False) -> dict[str, Any]:
    """Language, relevance, clusters, near-duplicate signature and story facts of an
    article's text: what the store step needs besides the text. Facts are taken for
    relevant articles only (only they are in stories; `relevant=True`: for every text).
    `lap(stage)` is called after each stage (CPU accounting)."""
    from loomwatch.pipelines import dedup
    from loomwatch.pipelines.facts import extract_facts
    from loomwatch.pipelines.language import detect_language

    if _tagger is None:
        init_worker(PipelineSettings())
    lang = detect_language(text, language)
    lap("language")
    tagging = _tagger.tag(title, text, hints)  # type: ignore[union-attr]
    lap("tagging")
    signature = dedup.signature(text)
    lap("dedup")
    facts = extract_facts(title, text, _tagger.gazetteer) if relevant or tagging.relevant else []  # type: ignore[union-attr]
    lap("facts")
    keys = search_keys(title, text)
    lap("store")  # the store stage's share of the work, done here
    return {
        "lang": lang,
        "relevance": tagging.relevance,
        "relevant": int(tagging.relevant),
        "clusters": [(c.id, c.score) for c in tagging.clusters],
        "signature": signature,
        "facts": facts,
        **lookup_keys(signature, facts, _dedup_threshold),
        **keys,
    }


def lookup_keys(signature: bytes | None, facts: list[str], threshold: float) -> dict[str, Any]:
    """The keys the store step looks an article up and indexes it by: its near-duplicate band
    keys for the band parameters of `threshold` (with those parameters: the store step uses
    them only if the archive's are the same) and its story keys. Computed here, in the worker
    processes, like `search_keys`: a fleet's writer and its deciding process have no CPU to spare."""
    from loomwatch.pipelines import dedup, stories

    params = dedup.params_for(threshold)
    return {"bands": [params.bands, params.rows],
            "band_keys": dedup.band_keys_of(signature, params) if signature is not None else None,
            "story_keys": stories.story_keys(facts)}


def search_keys(title: str, text: str) -> dict[str, Any]:
    """What the store stage would compute from the text to look it up and index it: computed
    here, in the worker processes (a fleet's writer has no CPU to spare for it)."""
    from loomwatch.storage.articles import content_hash
    from loomwatch.storage.search import fts_text

    return {"content_hash": content_hash(text), "search_forms": [fts_text(title), fts_text(text)]}


def is_html(content_type: str | None, body: bytes) -> bool:
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime not in HTML_TYPES:
        return False
    head = body[:1024].lstrip()
    return not head.startswith((b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8", b"PK\x03\x04", b"\xd0\xcf\x11\xe0"))


def _feed_date(value: str | None) -> str | None:
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError):
        return value[:10] if len(value) >= 10 and value[4] == "-" else None


class Slots(NamedTuple):
    """Shared with the worker processes: for each page in the pool (one slot each), when a
    worker started it (time.monotonic(), 0 = not yet) and which worker took it."""

    times: Any
    pids: Any


# Pages handed to the pool at once, per worker: as many as Scrapy has pages to give (16
# requests in flight). Two per worker looked some 5 % slower on benchmarks/bench_crawl.py.
PAGES_PER_WORKER = 8
# Seconds a fresh pool may take to start (spawn, imports, the tagger) beyond the time the pages
# ahead of a page may take; a page not started by then finds the pool stuck.
START_GRACE = 120.0


class AnalysePipeline:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.settings: PipelineSettings = crawler.settings["LOOMWATCH_PIPELINES"]
        self.workers = self.settings.workers or os.cpu_count() or 1
        self.timeout = self.settings.analysis_timeout
        self.pool: ProcessPoolExecutor | None = None
        # A page in the pool waits for at most PAGES_PER_WORKER rounds of pages that each have the time limit.
        slots = PAGES_PER_WORKER * self.workers
        context = multiprocessing.get_context("spawn")
        self.slots = Slots(context.RawArray("d", slots), context.RawArray("i", slots))
        self.free = list(range(slots))
        self.room = asyncio.Semaphore(slots)
        self.killed: weakref.WeakSet[ProcessPoolExecutor] = weakref.WeakSet()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "AnalysePipeline":
        return cls(crawler)

    def _start_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: forking a process that runs a reactor and threads is unsafe
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(self.settings, os.getpid(), self.slots),
        )

    def open_spider(self) -> None:
        # Workers are spawned by the first pages submitted: a crawl that finds nothing new starts none.
        self.pool = self._start_pool()

    def close_spider(self) -> None:
        if self.pool:
            self.pool.shutdown(wait=True, cancel_futures=True)

    async def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("failure"):
            return item
        body = item.pop("body")
        if item.get("status", 200) != 200 or not is_html(item.get("content_type"), body):
            item["failure"] = {"reason": "not_html", "detail": f"content type {item.get('content_type') or 'unknown'}"}
            return item
        source = self.settings.sources.get(item["source"], SourceHints())
        page = {"url": item["url"], "body": body, "content_type": item.get("content_type"), "feed": item.get("feed")}
        result = await self._run(page, tuple(source.clusters), source.language)
        for stage, seconds in result.pop("cpu", {}).items():
            self.crawler.stats.inc_value(f"loomwatch/cpu/{stage}", seconds)
        if "failure" in result:
            item["failure"] = result["failure"]
        else:
            item["article"] = result
        return item

    async def _run(self, page: dict[str, Any], hints: tuple[str, ...], language: str) -> dict[str, Any]:
        async with self.room:
            slot = self.free.pop()
            try:
                return await self._run_in(slot, page, hints, language)
            finally:
                self.free.append(slot)

    async def _run_in(self, slot: int, page: dict[str, Any], hints: tuple[str, ...], language: str) -> dict[str, Any]:
        deaths = 0
        while True:
            pool = self.pool
            assert pool is not None
            self.slots.times[slot] = 0.0
            try:
                result = await self._settle(pool.submit(analyse_in_slot, slot, page, hints, language), slot)
            except BrokenProcessPool:
                self._replace(pool)
                if pool in self.killed:
                    continue  # stopped because another page ran out of time: not this page's fault
                deaths += 1
                if deaths > 1:
                    raise
                # A worker died (out of memory, killed): try this page once more in a fresh pool.
                log.error("a worker process died; restarting the worker pool")
                continue
            if result is not None:
                return result
            log.warning("%s: analysis took longer than %g s; its worker process is stopped and the worker pool restarted",
                        page["url"], self.timeout)
            self._kill(pool, slot)
            return {"failure": {"reason": "too_slow",
                                "detail": f"analysis took longer than {self.timeout:g} s (crawl.analysis_timeout)"}}

    async def _settle(self, future: Future, slot: int) -> dict[str, Any] | None:
        """The page's result, or None when its worker has spent the time limit on it (counted
        from when the worker started it: neither the wait for a worker nor a fresh pool's
        start-up is the page's)."""
        waiting = asyncio.wrap_future(future)
        handed = time.monotonic()
        while True:
            started = self.slots.times[slot]
            deadline = started + self.timeout if started else handed + PAGES_PER_WORKER * self.timeout + START_GRACE
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not future.done():
                waiting.cancel()  # its worker is killed: nobody is to wait for the outcome
                return None
            if not started:  # look again soon: once it has started, its limit counts from then
                remaining = min(remaining, 0.2)
            done, _ = await asyncio.wait({waiting}, timeout=max(remaining, 0.01))
            if done:
                if waiting.cancelled():  # by a pool's shutdown: the pool is gone
                    raise BrokenProcessPool("the worker pool was shut down")
                return waiting.result()

    def _kill(self, pool: ProcessPoolExecutor, slot: int) -> None:
        """Stop the pool whose worker is stuck on the page in `slot`: kill that worker (the
        pool then ends its other workers, and their pages are handed to the new pool)."""
        self.killed.add(pool)
        pid = self.slots.pids[slot] if self.slots.times[slot] else 0
        busy = [pid] if pid else [p.pid for p in (pool._processes or {}).values()]  # not started: any may be stuck
        for pid in busy:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._replace(pool)

    def _replace(self, pool: ProcessPoolExecutor) -> None:
        """Start a new pool in place of `pool`, once however many pages find it broken."""
        if self.pool is pool:
            # Not waiting: the broken pool fails its pages itself, and ends its workers.
            pool.shutdown(wait=False)
            self.pool = self._start_pool()
