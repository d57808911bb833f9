"""`loomwatch worker`: fetch, extract and tag the pages of a fleet's runs.

One Scrapy process with loomwatch's spider and item pipeline, as a local crawl runs them,
with four parts exchanged for Redis-backed ones:

- `FleetScheduler` hands Scrapy the pages of the hosts this worker holds a lease on
  (`FleetWorker` takes, renews and gives back the leases in the background);
- `FleetSpider` settles every response with Redis in one script: the page is done, the
  links it found are queued fleet-wide, its counters are added;
- `FleetResultPipeline` (in place of the store stage) settles an article page once the
  process pool has analysed it, streaming the result to the writer;
- `RedisCacheStorage` keeps Scrapy's HTTP cache of listing pages in Redis, so whichever
  worker reads a listing next revalidates it with ETag/Last-Modified.

The worker never opens the archive: it may run on another machine.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import secrets
import signal
import socket
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.core.scheduler import BaseScheduler
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes

from loomwatch.crawler.config import Config
from loomwatch.crawler.fleet.protocol import (
    Keys,
    Scripts,
    candidate,
    check,
    config_fingerprint,
    connect,
    decode_request,
    display_url,
    encode_page,
    loomwatch_version,
    redis_failed,
)
from loomwatch.crawler.httpcache import CACHE_DAYS
from loomwatch.crawler.scrapy_settings import MIN_DELAY, scrapy_settings
from loomwatch.spiders.sources import SourcePlan, SourcesSpider

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

log = logging.getLogger(__name__)
HEARTBEATS_PER_LEASE = 3  # a lease is renewed this many times within its timeout


@dataclass
class Settlement:
    """What became of one page a worker took: settled with Redis in one script."""

    run: str  # the run the page was taken in
    ack: tuple[str, str]  # (host, page id) of the page taken
    requests: list[dict[str, Any]] = field(default_factory=list)  # protocol.candidate() of each link to queue
    counts: dict[str, int] = field(default_factory=dict)  # loomwatch/<source>/<key> increments
    texts: dict[str, str] = field(default_factory=dict)  # loomwatch/<source>/last_error


class FleetPlan(SourcePlan):
    def take(self) -> bool:
        return True  # the source's request budget is charged fleet-wide when a link is queued (protocol.COMMIT)


class FleetSpider(SourcesSpider):
    """loomwatch's spider, with the run's bookkeeping (request budgets, article and listing
    link sets, known URLs, counters) kept in Redis instead of in the process."""

    def __init__(self, sources: Iterable[Any] = (), worker: FleetWorker | None = None, **kwargs: Any):
        self.sources = list(sources)
        super().__init__(sources=self.sources, **kwargs)
        self.worker = worker
        self.settlement: Settlement | None = None  # the page being parsed, if any
        self.new_run()

    def new_run(self) -> None:
        self.plans = {s.name: FleetPlan(s) for s in self.sources}

    def seeds(self) -> list[Request]:
        """The run's entry points (start URLs, feeds, sitemaps), for the writer to queue."""

        async def collect() -> list[Request]:
            return [request async for request in SourcesSpider.start(self)]

        return asyncio.run(collect())

    async def start(self) -> Any:
        # A worker's pages come from Redis, through the scheduler.
        return
        yield  # noqa: unreachable - makes this an async generator, as Scrapy expects

    def _article(self, url: str, plan: SourcePlan, hops: int, **meta: Any) -> Any:
        # Whether it is new in this run, known to the archive and within the budget is
        # decided fleet-wide when it is queued (protocol.COMMIT), in this same order.
        yield self._request(url, plan, "article", hops, self.parse_article, **meta)

    def count(self, source: str, key: str, n: int = 1) -> None:
        if self.settlement is None:
            super().count(source, key, n)
            return
        name = f"loomwatch/{source}/{key}"
        self.settlement.counts[name] = self.settlement.counts.get(name, 0) + n

    def error(self, source: str, message: str) -> None:
        if self.settlement is None:
            super().error(source, message)
            return
        self.count(source, "errors")
        self.settlement.texts[f"loomwatch/{source}/last_error"] = message[:500]
        log.warning("%s: %s", source, message)

    # -- every page taken from Redis comes back through these two ---------------------------

    async def fleet_parse(self, response: Response) -> list[Any]:
        parse = getattr(self, response.meta["parse"])
        return await self._settle(response.request, lambda: parse(response))

    async def fleet_error(self, failure: Failure) -> list[Any]:
        return await self._settle(failure.request, lambda: self.on_error(failure))  # type: ignore[attr-defined]

    async def _settle(self, request: Request, parse: Callable[[], Any]) -> list[Any]:
        source = request.meta["source"]
        before = list(self.entries[source])
        host, page, run = request.meta["fleet"]
        self.settlement = settlement = Settlement(run, (host, page))
        try:
            outputs = list(parse() or ())
        except Exception as exc:  # a bug must not leave the page in flight forever
            log.exception("%s: %s could not be parsed", source, request.url)
            outputs = []
            self.error(source, f"{request.url}: {type(exc).__name__}: {exc}")
        finally:
            self.settlement = None
        read, failed = (now - then for now, then in zip(self.entries[source], before))
        for key, n in (("entries_read", read), ("entries_failed", failed)):
            if n:
                settlement.counts[f"loomwatch/{source}/{key}"] = n
        settlement.requests = [candidate(r, charge=True, link=_link_kind(r)) for r in outputs if isinstance(r, Request)]
        items = [o for o in outputs if not isinstance(o, Request)]
        if items:  # an article page: settled once the pool has analysed it (FleetResultPipeline)
            items[0]["_fleet"] = settlement
            return items[:1]  # a response yields at most one item (see SourcesSpider)
        assert self.worker is not None
        await self.worker.settle(settlement)
        return []


def _link_kind(request: Request) -> str | None:
    """Which per-source link set a request found on a page belongs to, as the local spider
    keeps them: article links, and listing links other than the entry points."""
    meta = request.meta
    if meta["kind"] == "article":
        return "article"
    return "listing" if meta["kind"] == "listing" and not meta.get("entry") else None


class FleetResultPipeline:
    """Stands where the store stage stands in a local crawl: streams the analysed page to the
    writer, in the same script that marks the page done."""

    def __init__(self, crawler: Crawler):
        self.worker: FleetWorker = crawler.spider.worker  # type: ignore[union-attr]
        crawler.signals.connect(self.item_failed, signal=signals.item_error)
        crawler.signals.connect(self.item_failed, signal=signals.item_dropped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FleetResultPipeline:
        return cls(crawler)

    async def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        settlement = item.pop("_fleet", None)
        if settlement is not None:
            await self.worker.settle(settlement, encode_page(item))
        return {"source": item["source"], "url": item["url"], "failure": item.get("failure")}

    def item_failed(self, item: Any, **kwargs: Any) -> None:
        # The analysis failed (its worker process died twice): settle without a result, so
        # the run can end; the page is fetched again by the next run.
        settlement = item.pop("_fleet", None) if isinstance(item, dict) else None
        if settlement is not None:
            asyncio.ensure_future(self.worker.settle(settlement))


class FleetScheduler(BaseScheduler):
    """Scrapy's scheduler interface over the worker's leased hosts."""

    def __init__(self, worker: FleetWorker):
        self.worker = worker

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FleetScheduler:
        return cls(crawler.spider.worker)  # type: ignore[union-attr]

    def has_pending_requests(self) -> bool:
        return any(host.buffer for host in self.worker.hosts.values())

    def enqueue_request(self, request: Request) -> bool:
        # Only downloader middlewares get here (a redirect's target, a retry): the new request
        # replaces the page it came from, in one script. Pages found by the spider are
        # queued when their page is settled.
        if "fleet" not in request.meta:  # not derived from a page taken from Redis: nothing to replace
            log.warning("%s: a request from outside the fleet's queue is not fetched", request.url)
            return False
        host, page, run = request.meta.pop("fleet")
        settlement = Settlement(run, (host, page), requests=[candidate(request, charge=False, link=None)])
        asyncio.ensure_future(self.worker.settle(settlement))
        return True

    def next_request(self) -> Request | None:
        return self.worker.next_request()


class RedisCacheStorage:
    """Scrapy's HTTP cache (`HTTPCACHE_STORAGE`) in Redis, shared by the fleet. Only listing
    pages, feeds, sitemaps and robots.txt are cached (article requests carry dont_cache)."""

    def __init__(self, settings: Any):
        self.redis: Any = None
        self.keys: Keys | None = None
        self.fingerprinter: Any = None

    def open_spider(self, spider: FleetSpider) -> None:
        assert spider.worker is not None
        self.redis, self.keys = spider.worker.sync, spider.worker.keys
        self.fingerprinter = spider.crawler.request_fingerprinter

    def close_spider(self, spider: Any) -> None:
        pass

    def _key(self, request: Request) -> str:
        assert self.keys is not None
        return self.keys.cache(self.fingerprinter.fingerprint(request).hex())

    def retrieve_response(self, spider: Any, request: Request) -> Response | None:
        from redis.exceptions import RedisError

        try:
            data = self.redis.get(self._key(request))
        except RedisError as exc:
            log.warning("HTTP cache in Redis unreadable (%s): %s is fetched in full", exc, request.url)
            return None
        if not data:
            return None
        head, body = data.split(b"\n", 1)
        meta = json.loads(head)
        body = zlib.decompress(body)
        headers = Headers({k: [v.encode("latin-1") for v in vs] for k, vs in meta["headers"].items()})
        request.meta["cache_timestamp"] = meta["time"]
        cls = responsetypes.from_args(headers=headers, url=meta["url"], body=body)
        return cls(url=meta["url"], status=meta["status"], headers=headers, body=body)

    def store_response(self, spider: Any, request: Request, response: Response) -> None:
        from redis.exceptions import RedisError

        head = {"url": response.url, "status": response.status, "time": time.time(),
                "headers": {k.decode("latin-1"): [v.decode("latin-1") for v in vs] for k, vs in response.headers.items()}}
        try:
            self.redis.set(self._key(request), json.dumps(head).encode() + b"\n" + zlib.compress(response.body, 1),
                           ex=CACHE_DAYS * 86400)
        except RedisError as exc:
            log.warning("HTTP cache in Redis not written (%s): %s", exc, request.url)


@dataclass
class Host:
    """A host this worker holds the lease of."""

    buffer: collections.deque = field(default_factory=collections.deque)  # taken, not yet handed to Scrapy
    out: int = 0  # handed to Scrapy, not yet settled


class FleetWorker:
    """The worker's side of the protocol: leases, heartbeats, settling pages, stopping."""

    def __init__(self, config: Config, until_idle: float | None = None):
        self.config = config
        fleet = config.fleet
        self.keys = Keys(fleet.prefix)
        self.sync = connect(fleet)
        check(self.sync, fleet)
        self.redis = connect(fleet, asynchronous=True)
        self.scripts = Scripts(self.redis)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.fingerprint = config_fingerprint(config)
        self.version = loomwatch_version()
        self.lease_ms = int(fleet.lease_timeout * 1000)
        # After a host is given back, nobody may take it before the longest download delay
        # (the delay is randomised up to 1.5 times) has passed since this worker's last request.
        self.cooldown_ms = max(1, int(max(config.crawl.download_delay, MIN_DELAY) * 1500))
        self.per_host = max(2, 2 * config.crawl.concurrency_per_domain)  # handed to Scrapy at once per host
        self.until_idle = until_idle
        self.run: str | None = None
        self.refused: str | None = None  # a run whose configuration differs from this worker's
        self.hosts: dict[str, Host] = {}
        self.stopping = False
        self.started = time.time()
        self.idle_since = time.monotonic()
        self.settled = 0
        self.last_renewal = 0.0
        self.redis_down = False
        self.crawler: Crawler | None = None
        self.spider: FleetSpider | None = None
        self.wake: asyncio.Event | None = None

    # -- Scrapy side ----------------------------------------------------------------------------

    def attach(self, crawler: Crawler) -> None:
        self.crawler = crawler
        crawler.signals.connect(self._opened, signal=signals.spider_opened)
        crawler.signals.connect(self._idle, signal=signals.spider_idle)

    def _opened(self, spider: FleetSpider) -> None:
        self.spider = spider
        self.wake = asyncio.Event()
        asyncio.ensure_future(self.keep())
        log.info("worker %s serving %s (prefix %s)", self.id, display_url(self.config.fleet.redis_url), self.keys.prefix)

    def _idle(self, spider: Any) -> None:
        if not self.stopping:
            raise DontCloseSpider

    def next_request(self) -> Request | None:
        if self.stopping:
            return None
        best: Host | None = None
        for host in self.hosts.values():
            if host.buffer and host.out < self.per_host and (best is None or host.out < best.out):
                best = host
        if best is None:
            return None
        best.out += 1
        if len(best.buffer) <= self.per_host and self.wake:
            self.wake.set()  # time to take more of this host's pages
        return best.buffer.popleft()

    def _poke_engine(self) -> None:
        # Scrapy asks the scheduler again after each download and every 5 s; pages taken in
        # between should not wait for that.
        slot = getattr(getattr(self.crawler, "engine", None), "_slot", None)
        if slot is not None:
            slot.nextcall.schedule()

    # -- settling pages --------------------------------------------------------------------------

    async def settle(self, settlement: Settlement, page: str | None = None) -> None:
        """Report a page's outcome; retried while Redis is unreachable, since until it is
        settled the page stays in flight and this worker's lease keeps others from it."""
        from redis.exceptions import RedisError

        payload = json.dumps({"ack": list(settlement.ack), "requests": settlement.requests, "results": [page] if page else [],
                              "counts": settlement.counts, "texts": settlement.texts}, ensure_ascii=False)
        run = settlement.run
        delay = 0.5
        try:
            while run == self.run:
                try:
                    outcome = await self.scripts.commit(args=[self.keys.prefix, run, self.id, payload])
                    if outcome == -2:
                        log.info("page %s went to another worker before it was settled", settlement.ack)
                    break
                except RedisError as exc:
                    self._down(exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        finally:
            host = self.hosts.get(settlement.ack[0]) if run == self.run else None
            if host is not None and host.out > 0:
                host.out -= 1
            self.settled += 1
            if self.wake:
                self.wake.set()
            self._poke_engine()  # the host may take another page now

    def _down(self, exc: Exception) -> None:
        from redis.exceptions import OutOfMemoryError

        if not self.redis_down:
            if isinstance(exc, OutOfMemoryError):  # reachable, but refusing writes: "unreachable" would send the operator astray
                log.warning("%s; retrying", redis_failed(self.config.fleet, exc))
            else:
                log.warning("Redis at %s unreachable (%s); retrying", display_url(self.config.fleet.redis_url), exc)
        self.redis_down = True

    # -- the background loop -----------------------------------------------------------------

    async def keep(self) -> None:
        from redis.exceptions import RedisError

        interval = min(1.0, self.config.fleet.lease_timeout / HEARTBEATS_PER_LEASE / 2)
        while not self.stopping:
            try:
                await self.tick()
                if self.redis_down:
                    log.warning("Redis reachable again")
                self.redis_down = False
            except RedisError as exc:
                self._down(exc)
            except Exception:
                log.exception("worker loop failed; carrying on")
            if self.until_idle is not None and not self.busy() and time.monotonic() - self.idle_since >= self.until_idle:
                log.info("no work for %g s: stopping", self.until_idle)
                await self.stop()
                return
            assert self.wake is not None
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()

    def busy(self) -> bool:
        busy = bool(self.hosts) or bool(self.crawler and self.crawler.engine and self.crawler.engine.downloader.active)
        if busy:
            self.idle_since = time.monotonic()
        return busy

    async def tick(self) -> None:
        run, fingerprint, version = await self.redis.hmget(self.keys.run, "id", "fingerprint", "version")
        run = run.decode() if run else None
        if run != self.run:
            await self._forget_run(run)
            if run and (fingerprint.decode(), version.decode()) != (self.fingerprint, self.version):
                self.refused = run
                log.error("run %s was started with another configuration or loomwatch version (%s, loomwatch %s) than "
                          "this worker's (%s: %s, loomwatch %s); this worker takes none of its work: give every machine "
                          "the same configuration file and loomwatch version", run, fingerprint.decode(), version.decode(),
                          self.config.path, self.fingerprint, self.version)
        now = time.monotonic()
        if now - self.last_renewal >= self.config.fleet.lease_timeout / HEARTBEATS_PER_LEASE:
            self.last_renewal = now
            lost = await self.scripts.renew(args=[self.keys.prefix, self.run or "", self.id, self.lease_ms,
                                                  self._heartbeat(), *self.hosts])
            for host in lost:
                log.warning("lost the lease of %s (this worker was unreachable for longer than fleet.lease_timeout)", host.decode())
                self.hosts.pop(host.decode(), None)
        if self.run is None or self.run == self.refused or self.stopping:
            return
        for name, host in list(self.hosts.items()):
            if not host.buffer and host.out == 0 and await self.scripts.release(args=[self.keys.prefix, self.id, self.cooldown_ms, name]):
                del self.hosts[name]
        if len(self.hosts) < self.config.fleet.hosts_per_worker:
            for name in await self.scripts.lease(args=[self.keys.prefix, self.run, self.id, self.lease_ms,
                                                       self.config.fleet.hosts_per_worker, len(self.hosts)]):
                self.hosts[name.decode()] = Host()
        wanted = [(name, 2 * self.per_host - len(host.buffer)) for name, host in self.hosts.items()]
        wanted = [(name, room) for name, room in wanted if room > 0]
        taken = 0
        if wanted:
            for name, *pages in await self.scripts.take(args=[self.keys.prefix, self.run, self.id, *(x for w in wanted for x in w)]):
                name = name.decode()
                host = self.hosts.get(name)
                if host is None:
                    continue
                if pages == [None]:  # the host is no longer this worker's
                    del self.hosts[name]
                    continue
                for i in range(0, len(pages), 2):
                    try:
                        request = decode_request(pages[i + 1], callback=self.spider.fleet_parse, errback=self.spider.fleet_error)  # type: ignore[union-attr]
                    except (KeyError, TypeError, ValueError) as exc:
                        # Not a request loomwatch queued: settled as done, else it would stay in flight,
                        # this worker's lease renewed for it, and the run never end.
                        log.error("page %s of %s in Redis is not a request: dropped (%s: %s)", pages[i].decode(), name,
                                  type(exc).__name__, exc)
                        await self.settle(Settlement(self.run, (name, pages[i].decode())))  # type: ignore[arg-type]
                        continue
                    request.meta["fleet"] = [name, pages[i].decode(), self.run]
                    host.buffer.append(request)
                    taken += 1
        if taken:
            self._poke_engine()
        self.busy()

    async def _forget_run(self, run: str | None) -> None:
        """A new run (or none): the pages of the old one are gone from Redis."""
        if self.hosts:
            await self.scripts.give_back(args=[self.keys.prefix, self.id, self.cooldown_ms, *self.hosts])
        self.hosts.clear()
        self.run = run
        if self.spider is not None:
            self.spider.new_run()

    def _heartbeat(self) -> str:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": self.started,
                           "run": self.run, "hosts": sorted(self.hosts), "settled": self.settled,
                           "refused": self.run is not None and self.run == self.refused})

    # -- stopping ---------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Put every page taken back in its queue, give the hosts back, and stop Scrapy."""
        from redis.exceptions import RedisError

        if self.stopping:
            return
        self.stopping = True
        try:
            back = await self.scripts.give_back(args=[self.keys.prefix, self.id, self.cooldown_ms, *self.hosts])
            if back:
                log.info("put %d unfinished pages back in the queue", back)
        except RedisError as exc:
            log.warning("could not give the work back (%s): other workers take it over after fleet.lease_timeout", exc)
        self.hosts.clear()
        self.run = None  # settlements still under way are dropped: the pages are back in the queue
        if self.crawler is not None:
            await self.crawler.stop_async()

    def request_stop(self, signum: int, frame: Any) -> None:
        from twisted.internet import reactor

        reactor.callFromThread(lambda: asyncio.ensure_future(self.stop()))  # type: ignore[attr-defined]


def run_worker(config: Config, until_idle: float | None = None) -> None:
    """Serve the fleet until SIGTERM (or `until_idle` seconds without work). Runs Twisted's
    reactor: once per process."""
    from loomwatch.crawler.run import _scrapy_process

    worker = FleetWorker(config, until_idle)
    settings = scrapy_settings(config)
    settings.update({
        "SCHEDULER": "loomwatch.crawler.fleet.worker.FleetScheduler",
        "HTTPCACHE_STORAGE": "loomwatch.crawler.fleet.worker.RedisCacheStorage",
        "ITEM_PIPELINES": {
            "loomwatch.pipelines.analyse.AnalysePipeline": 100,
            "loomwatch.crawler.fleet.worker.FleetResultPipeline": 500,
        },
        "CLOSESPIDER_TIMEOUT": 0,  # a worker serves run after run; each run's time limit is the writer's
    })
    process, crawler = _scrapy_process(settings, FleetSpider)
    worker.attach(crawler)
    process.crawl(crawler, sources=config.sources, worker=worker)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, worker.request_stop)
    process.start(install_signal_handlers=False)
