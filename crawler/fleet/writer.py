"""`loomwatch crawl --fleet`: a crawl whose pages the fleet's workers fetch, stored here.

The run is recorded in the archive as a local one is (`begin_run`, `finish_run`: the
same per-source results, health and exit codes), under the same lock. In between:

1. the run replaces whatever run Redis still held (the queues of a run whose writer was
   killed are dropped), and the results its workers had produced are stored first;
2. the URLs the archive knows are published to Redis, so no worker requests them;
3. the sources' entry points are queued, as the local spider's `start()` yields them;
4. results are stored as they arrive, through `StorePipeline.write` (dedup, tags, search
   index: exactly what a local crawl runs), each batch in one transaction with the
   stream position it reached;
5. when nothing is queued or in flight any more, the run's counters are read back and the
   run is finished; a run no worker takes within `[fleet] timeout`, or whose state Redis
   lost, ends with a problem (exit 1).

SIGTERM or SIGINT during steps 1-3 (minutes at a million articles) ends the run at the next
batch stored or known URLs published, before its work is queued: recorded as failed, exit 1.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loomwatch.crawler.config import Config
from loomwatch.crawler.fleet.protocol import (
    FleetError,
    Keys,
    Scripts,
    candidate,
    check,
    config_fingerprint,
    connect,
    decode_page,
    display_url,
    known_key,
    loomwatch_version,
    redis_failed,
)
from loomwatch.crawler.run import CrawlReport, begin_run, select_sources, source_result
from loomwatch.storage import CrawlLock, LockedError, open_database
from loomwatch.storage.articles import known_urls
from loomwatch.storage.clock import utcnow
from loomwatch.storage.db import check_database
from loomwatch.storage.fleet import record_stored, stored_up_to
from loomwatch.storage.runs import finish_run, mark_run_failed

if TYPE_CHECKING:
    from loomwatch.pipelines.store import WritingAhead

log = logging.getLogger(__name__)
READ_BATCH = 1000  # results stored per transaction at most
FIRST_BATCH = 100  # results read when nothing is read ahead
WRITER_LEASE_MS = 30_000
WRITER_CACHE_KIB = 512 * 1024  # SQLite page cache of the writer's connection, at most
KNOWN_BUCKETS = 1 << 16  # see protocol.known_key


def tune_writer(db: Any) -> None:
    """The writer's connection keeps the archive's hot index pages (URLs, content hashes,
    near-duplicate bands: about 0.6 GB at a million articles) in its own page cache, and
    the pages a savepoint must be able to roll back (a batch written again with one per
    article, see StorePipeline.write) in memory rather than in a temporary file."""
    db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
    db.execute("PRAGMA temp_store = MEMORY")


def crawl_fleet(config: Config, source_names: Sequence[str] = ()) -> CrawlReport:
    """Crawl the named sources (all when none are named) with the fleet's workers.
    Raises LockedError when another crawl holds the archive or the fleet, FleetError when
    Redis cannot be reached."""
    from redis.exceptions import RedisError

    sources = select_sources(config, source_names)
    client = connect(config.fleet)
    check(client, config.fleet)
    keys = Keys(config.fleet.prefix)
    check_database(config.storage.database, busy_timeout=config.storage.busy_timeout)  # before the lock file is made beside it
    with CrawlLock(config.storage.database):
        try:
            holder = _take_writer_lease(client, keys, config)
        except RedisError as exc:  # full (maxmemory), or gone since `check`
            raise FleetError(redis_failed(config.fleet, exc)) from None
        try:
            db = open_database(config.storage.database, busy_timeout=config.storage.busy_timeout)
            try:
                run_id = begin_run(db, config, sources)
                return FleetRun(config, client, db, run_id, sources, holder).crawl()
            finally:
                db.close()
        finally:
            with contextlib.suppress(RedisError):  # else it expires within WRITER_LEASE_MS
                client.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end", 1, keys.writer, holder)


def _take_writer_lease(client: Any, keys: Keys, config: Config) -> str:
    """One `crawl --fleet` per Redis prefix, wherever it runs. Call with the archive's lock
    held: a lease left by this machine's writer of this archive is then a dead writer's."""
    me = {"host": socket.gethostname(), "archive": str(config.storage.database)}
    holder = json.dumps({**me, "pid": os.getpid()})
    while not client.set(keys.writer, holder, nx=True, px=WRITER_LEASE_MS):
        found = client.get(keys.writer)
        if found is None:  # it expired meanwhile
            continue
        try:
            other = json.loads(found)
        except ValueError:
            other = {}
        if {k: other.get(k) for k in me} != me:
            raise LockedError(f"another `loomwatch crawl --fleet` is running with Redis at {display_url(config.fleet.redis_url)}, "
                              f"prefix {keys.prefix!r} (host {other.get('host')}, pid {other.get('pid')}, archive "
                              f"{other.get('archive')}); wait for it to finish, or give this archive its own 'fleet.prefix'")
        client.delete(keys.writer)  # this archive's previous writer was killed
    return holder


class Stopping(Exception):
    """SIGTERM/SIGINT came while the run was starting: it ends before its work is queued."""


@dataclass
class Batch:
    pages: list[dict[str, Any]]
    last: str  # the stream id of its last result
    read: int  # stream entries read, pages or not


@dataclass
class Outcome:
    reason: str = ""  # why the run stopped before its work was done, as Scrapy names it
    problem: str = ""  # why the run failed: exit 1
    worker_stats: dict[str, Any] = field(default_factory=dict)
    tried: bool = True  # False: stopped before its work was queued, no source's health changes


class FleetRun:
    def __init__(self, config: Config, client: Any, db: Any, run_id: int, sources: Sequence[Any], holder: str):
        from loomwatch.pipelines.store import Counters, StorePipeline

        self.config = config
        self.client = client
        self.keys = Keys(config.fleet.prefix)
        self.scripts = Scripts(client)
        self.db = db
        self.run_id = run_id
        self.run = str(run_id)
        self.sources = list(sources)
        self.holder = holder
        self.counters = Counters()  # the writer's side of the run's counters
        self.store = StorePipeline(config.pipelines, run_id, self.counters)
        self.cursor = stored_up_to(db, self.keys.prefix)  # the last result stored
        self.read_cursor = self.cursor  # the last result read (decided, maybe not stored yet)
        self.ahead: Batch | None = None  # the next batch, read and being decided
        self.writing: WritingAhead | None = None
        self.stored = 0
        self.published = 0  # known URLs sent to Redis
        self.stop_signal: int | None = None

    def crawl(self) -> CrawlReport:
        from redis.exceptions import RedisError

        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.open()
            outcome = self._run()
        except RedisError as exc:  # outside the main loop's retries (start, end): the run fails, recorded as such
            outcome = Outcome(problem=redis_failed(self.config.fleet, exc))
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            self.close()
        stats = {**outcome.worker_stats}
        for key, value in self.counters.items():
            stats[key] = stats.get(key, 0) + value if isinstance(value, (int, float)) else value
        results = [source_result(s.name, stats, (int(stats.get(f"loomwatch/{s.name}/entries_read", 0)),
                                                 int(stats.get(f"loomwatch/{s.name}/entries_failed", 0))))
                   for s in self.sources if outcome.tried]
        message = outcome.problem or (f"crawl stopped early: {outcome.reason}" if outcome.reason else "")
        status = finish_run(self.db, self.run_id, results, message, health=self.config.health)
        if outcome.problem:
            mark_run_failed(self.db, self.run_id, outcome.problem)
            status = "failed"
        cpu = {k.rsplit("/", 1)[1]: v for k, v in self.counters.items() if k.startswith("loomwatch/cpu/")}
        return CrawlReport(self.run_id, status, results, cpu, sum(r.pages_fetched for r in results), problem=outcome.problem)

    def open(self) -> None:
        """Open the archive for writing, and the connection that decides the batches ahead."""
        self.store.open_spider()
        tune_writer(self.store.db)
        self.writing = self.store.ahead()

    def close(self) -> None:
        if self.writing is not None:
            self.writing.close()
        self.store.close_spider()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stop_signal = signum

    def _stop_if_asked(self) -> None:
        """Between the steps of the run's start, which at a million articles take minutes."""
        if self.stop_signal is not None:
            raise Stopping

    # -- the run ----------------------------------------------------------------------------------

    def _run(self) -> Outcome:
        from redis.exceptions import RedisError

        fleet = self.config.fleet
        started = time.monotonic()
        budgets = {s.name: s.max_requests for s in self.sources}
        try:
            self._stop_if_asked()
            self.scripts.start(args=[self.keys.prefix, self.run, config_fingerprint(self.config), loomwatch_version(),
                                     json.dumps(list(budgets)), json.dumps(budgets), self.holder])
            if self._drain(stoppable=True):
                log.info("stored %d results a previous run's workers had produced", self.stored)
            self._publish_known()
            self._stop_if_asked()
        except Stopping:
            # Nothing is queued yet; the results not stored stay in Redis for the next run.
            self.scripts.end(args=[self.keys.prefix, self.run])
            return Outcome(tried=False, problem=f"stopped by {signal.Signals(self.stop_signal).name} while the run was starting (storing "
                                   "earlier results, publishing known URLs): nothing was fetched, what was stored stays; "
                                   "run `loomwatch crawl --fleet` again")
        self._queue_entry_points()
        outcome = Outcome()
        unreachable_since: float | None = None
        while True:
            try:
                self._store_results(block_ms=500)
                self.client.pexpire(self.keys.writer, WRITER_LEASE_MS)
                run, touched, taken = self.client.hmget(self.keys.run, "id", "touched", "taken")
                pending = int(self.client.get(self.keys.pending) or 0)
                seconds, micros = self.client.time()
                unreachable_since = None
            except RedisError as exc:
                if unreachable_since is None:
                    unreachable_since = time.monotonic()
                    log.warning("Redis unreachable (%s); retrying", exc)
                if time.monotonic() - unreachable_since >= fleet.timeout:
                    outcome.problem = (f"lost Redis at {display_url(fleet.redis_url)} for {fleet.timeout:g} s ('fleet.timeout') "
                                       f"({exc}); this run's work is not finished: run `loomwatch crawl --fleet` again")
                    return outcome
                if self.stop_signal is not None:  # stopping: no need to wait out fleet.timeout for Redis
                    outcome.problem = (f"stopped by {signal.Signals(self.stop_signal).name} while Redis at "
                                       f"{display_url(fleet.redis_url)} was unreachable ({exc}); this run's work is not "
                                       "finished: run `loomwatch crawl --fleet` again")
                    return outcome
                time.sleep(1.0)
                continue
            if run is None or run.decode() != self.run:
                outcome.problem = (f"Redis at {display_url(fleet.redis_url)} lost this run's work (restarted without "
                                   "'appendonly yes'?); what was stored stays, the next `loomwatch crawl --fleet` does the rest")
                self._drain()
                return outcome
            if pending == 0:
                break
            if self.stop_signal is not None:
                outcome.reason = "shutdown"
                break
            if self.config.crawl.max_duration and time.monotonic() - started >= self.config.crawl.max_duration:
                outcome.reason = "closespider_timeout"
                break
            idle = (seconds * 1000 + micros // 1000 - int(touched)) / 1000
            if idle >= fleet.timeout:
                refusing = self._refusing_workers()
                if not int(taken) and refusing:
                    outcome.problem = (f"no worker took this run's work within {fleet.timeout:g} s ('fleet.timeout'): the workers on "
                                       f"{', '.join(refusing)} refuse it, their configuration or loomwatch version differs "
                                       f"from this one's ({self.config.path}, loomwatch {loomwatch_version()}); give every "
                                       "machine the same configuration file and loomwatch version, then restart the workers")
                elif not int(taken):
                    outcome.problem = (f"no worker took this run's work within {fleet.timeout:g} s ('fleet.timeout'): start "
                                       f"`loomwatch worker` with this configuration on a machine that reaches "
                                       f"{display_url(fleet.redis_url)} (see `loomwatch fleet status`)")
                else:
                    outcome.problem = (f"the fleet stopped working on this run: no page was taken or settled for "
                                       f"{fleet.timeout:g} s ('fleet.timeout'); see `loomwatch fleet status` and the workers' logs")
                break
        # The run ends in Redis (queues dropped, late results refused) before its last results are stored.
        raw = self.scripts.end(args=[self.keys.prefix, self.run]) or []
        outcome.worker_stats = {raw[i].decode(): _number(raw[i + 1].decode()) for i in range(0, len(raw), 2)}
        self._drain()
        return outcome

    def _refusing_workers(self) -> list[str]:
        """The hosts of the workers that refuse this run (see worker.FleetWorker.tick)."""
        found = set()
        for record in self.client.hvals(self.keys.workers):
            with contextlib.suppress(ValueError, AttributeError):
                heartbeat = json.loads(record)
                if heartbeat.get("run") == self.run and heartbeat.get("refused"):
                    found.add(str(heartbeat.get("host")))
        return sorted(found)

    def _queue_entry_points(self) -> None:
        from loomwatch.crawler.fleet.worker import FleetSpider

        requests = [candidate(r, charge=True, link=None) for r in FleetSpider(self.sources).seeds()]
        settlement = {"requests": requests, "results": [], "counts": {}, "texts": {}}
        self.scripts.commit(args=[self.keys.prefix, self.run, "writer", json.dumps(settlement, ensure_ascii=False)])

    # -- storing ---------------------------------------------------------------------------------

    def _store_results(self, block_ms: int | None = None) -> int:
        """Store the next batch of streamed results; returns how many. The batch after it is
        read and decided meanwhile (see pipelines.store.AheadDecider)."""
        if self.ahead is None:  # a small first batch: the next one is decided while it is written
            self.ahead = self._read(block_ms, count=FIRST_BATCH)
            if self.ahead is None:
                return 0
        batch = self.ahead
        self.ahead = self._read()
        self._write(batch)
        return batch.read

    def _read(self, block_ms: int | None = None, count: int = READ_BATCH) -> Batch | None:
        """The next results after those read, their decisions begun."""
        found = self.client.xread({self.keys.results: self.read_cursor}, count=count, block=block_ms)
        entries = found[0][1] if found else []
        if not entries:
            return None
        pages = []
        for entry, fields in entries:
            try:
                pages.append(decode_page(fields[b"page"]))
            except (KeyError, ValueError, TypeError) as exc:
                # Not a worker's (a stray script, another program on this prefix): stopping at it
                # would stop every later run at the same entry.
                log.warning("result %s in %s is not a page a worker sent: skipped (%s: %s)", entry.decode(),
                            self.keys.results, type(exc).__name__, exc)
        self.read_cursor = entries[-1][0].decode()
        self.writing.submit(pages)
        return Batch(pages, self.read_cursor, len(entries))

    def _write(self, batch: Batch) -> None:
        self.writing.write(also=functools.partial(record_stored, prefix=self.keys.prefix, entry=batch.last))
        self.cursor = batch.last
        self.stored += len(batch.pages)
        milliseconds, sequence = batch.last.split("-")
        self.client.xtrim(self.keys.results, minid=f"{milliseconds}-{int(sequence) + 1}")  # stored: not needed any more

    def _drain(self, *, stoppable: bool = False) -> int:
        stored = 0
        while n := self._store_results():
            stored += n
            if stoppable:
                self._stop_if_asked()
        return stored

    def _publish_known(self) -> None:
        """Bring Redis's copy of the archive's known URLs up to date: the URLs added since the
        last publication, or all of them when Redis has none of this archive's."""
        archive = str(self.config.storage.database)
        mark = self.client.hgetall(self.keys.known_mark)
        after, since = 0, ""
        # The same file is not enough: a backup restored in its place lacks articles Redis holds
        # as known, and workers would never fetch them again. The archive is the one published
        # if its article at the mark is still there, under the same URL.
        if mark.get(b"archive", b"").decode() == archive and mark.get(b"last", b"").decode() == self._article_url(int(mark[b"article"])):
            after, since = int(mark[b"article"]), mark[b"time"].decode()
        else:
            for first in range(0, KNOWN_BUCKETS, 4096):
                self._stop_if_asked()
                self.client.unlink(*(self.keys.known(f"{b:04x}") for b in range(first, first + 4096)))
        top = self.db.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]
        now = utcnow()
        packed: list[str] = []
        for url in known_urls(self.db, after, since):
            packed.append("".join(known_key(url)))
            if len(packed) == 50_000:
                self._stop_if_asked()  # the mark is left as it was: the next run publishes these again
                self.scripts.publish_known(args=[self.keys.prefix, "".join(packed)])
                self.published += len(packed)
                packed.clear()
        if packed:
            self.scripts.publish_known(args=[self.keys.prefix, "".join(packed)])
            self.published += len(packed)
        self.client.hset(self.keys.known_mark, mapping={"archive": archive, "article": top, "last": self._article_url(top), "time": now})
        log.info("published %d known URLs to Redis", self.published)

    def _article_url(self, article: int) -> str:
        row = self.db.execute("SELECT url FROM articles WHERE id = ?", [article]).fetchone()
        return row[0] if row else ""


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


# -- fleet status ------------------------------------------------------------------------------


@dataclass
class FleetStatus:
    redis: str
    prefix: str
    run: dict[str, str]
    workers: list[dict[str, Any]]
    hosts: list[dict[str, Any]]  # host, queued, in_flight, holder
    pending: int
    results_waiting: int


def fleet_status(config: Config) -> FleetStatus:
    client = connect(config.fleet)
    check(client, config.fleet)
    keys = Keys(config.fleet.prefix)
    run = {k.decode(): v.decode() for k, v in client.hgetall(keys.run).items()}
    workers = []
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    seen = {k.decode(): int(v) for k, v in client.hgetall(keys.seen).items()}
    for worker, record in client.hgetall(keys.workers).items():
        worker = worker.decode()
        ago = (now_ms - seen.get(worker, 0)) / 1000
        if ago > 86400:  # gone for a day (killed): forget it
            client.hdel(keys.workers, worker)
            client.hdel(keys.seen, worker)
            continue
        workers.append({"id": worker, **json.loads(record), "seen": time.time() - ago, "seconds_ago": round(ago, 1)})
    hosts = []
    for host in sorted(h.decode() for h in client.smembers(keys.hosts)):
        holder = client.get(keys.lease(host))
        hosts.append({"host": host, "queued": client.zcard(keys.queue(host)), "in_flight": client.hlen(keys.inflight(host)),
                      "holder": holder.decode() if holder and holder != b"-" else ""})
    return FleetStatus(display_url(config.fleet.redis_url), keys.prefix, run, sorted(workers, key=lambda w: w["id"]),
                       hosts, int(client.get(keys.pending) or 0), client.xlen(keys.results))
