"""A fleet on loopback: a real redis-server, `loomwatch worker` processes and `loomwatch crawl
--fleet`, against the test sites (each on its own 127.0.0.x address, so that each is a host
of its own), with workers, the writer and Redis killed mid-run.

redis-server comes from Debian's package (`.ci/run` installs it); without it these tests skip.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loomwatch.crawler.demo.sitefarm import SiteFarm

sys.path.insert(0, str(Path(__file__).parent))
from test_crawl import SITES, rows, source_toml, write_config  # noqa: E402

REDIS_SERVER = shutil.which("redis-server")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (.ci/run installs it)")]
TEST_SITES = Path(__file__).parent / "sites"


class RedisServer:
    """A redis-server of our own on 127.0.0.1, in a directory of its own."""

    def __init__(self, directory: Path, *, appendonly: bool):
        self.directory = directory
        self.appendonly = appendonly
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory), "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """A clean shutdown (what `systemctl restart redis-server` does first)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def client(self):  # noqa: ANN201
        import redis

        return redis.Redis(port=self.port, socket_timeout=5)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendonly=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def farm() -> Iterator[SiteFarm]:
    """The test sites, each on its own loopback address: one host each."""
    with SiteFarm(TEST_SITES, distinct_hosts=True) as farm:
        yield farm


def fleet_config(tmp: Path, farm: SiteFarm, redis_url: str, sites: list[str], *, timeout: float = 30,
                 lease_timeout: float = 2, **crawl: object) -> Path:
    path = write_config(tmp, [source_toml(farm, s) for s in sites], **crawl)
    return with_fleet(path, redis_url, timeout=timeout, lease_timeout=lease_timeout)


def with_fleet(path: Path, redis_url: str, *, timeout: float = 30, lease_timeout: float = 2) -> Path:
    prefix = f"lw{random.randrange(1 << 30)}"  # tests share a server, never their keys
    path.write_text(path.read_text(encoding="utf-8") + f'\n\n[fleet]\nredis_url = "{redis_url}"\nprefix = "{prefix}"\n'
                    f"timeout = {timeout}\nlease_timeout = {lease_timeout}\n", encoding="utf-8")
    return path


def loomwatch(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loomwatch.crawler", *args], capture_output=True, text=True, timeout=timeout)


class Workers:
    """`loomwatch worker` processes, their output in files."""

    def __init__(self, config: Path, n: int, *args: str):
        self.procs = []
        for i in range(n):
            log = open(config.parent / f"worker{len(self.procs)}-{i}.log", "w")  # noqa: SIM115
            self.procs.append(subprocess.Popen([sys.executable, "-m", "loomwatch.crawler", "worker", "--config", str(config), *args],
                                               stdout=log, stderr=subprocess.STDOUT, text=True))
            log.close()
        self.config = config

    def wait_until_serving(self, timeout: float = 60) -> None:
        """Until every worker has reported to Redis (as long-running workers have when a run starts)."""
        deadline = time.monotonic() + timeout
        while len(fleet_state(self.config)["workers"]) < len(self.procs):
            assert time.monotonic() < deadline, self.logs()
            assert all(p.poll() is None for p in self.procs), self.logs()
            time.sleep(0.2)

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.config.parent.glob("worker*.log")))

    def stop(self) -> list[int | None]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return [proc.wait(timeout=60) for proc in self.procs]

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def fleet_state(config: Path) -> dict:
    result = loomwatch("fleet", "status", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def snapshot(db: Path) -> dict[str, object]:
    """An archive's content, independent of row ids and storage order."""
    url_of = dict(rows(db, "SELECT id, url FROM articles"))
    articles = {r[0]: (*r[1:-2], url_of.get(r[-2]), url_of.get(r[-1])) for r in rows(
        db, "SELECT url, source, title, text, published, lang, author, relevance, relevant, content_hash, duplicate_of, story_id "
            "FROM articles")}
    return {
        "articles": articles,  # with the URLs of its original and of its story's lead
        "stories": {(url_of[r[0]], *r[1:]) for r in rows(db, "SELECT lead_article_id, reports, languages, sources FROM stories")},
        "story_facts": {(url_of[r[0]], *r[1:]) for r in rows(db, "SELECT article_id, day, facts FROM story_facts")},
        "coverage": set(rows(db, "SELECT week, cluster_id, stories, articles, sources FROM coverage_weekly")),
        "urls": set(rows(db, "SELECT u.url, a.url FROM article_urls u JOIN articles a ON a.id = u.article_id")),
        "tags": set(rows(db, "SELECT a.url, t.cluster_id, t.score FROM article_clusters t JOIN articles a ON a.id = t.article_id")),
        "skipped": set(rows(db, "SELECT url, source, reason, detail, attempts FROM skipped_pages")),
        "runs": rows(db, "SELECT source, status, pages_fetched, article_links, new_articles, duplicates, no_text, errors "
                         "FROM source_runs WHERE run_id = (SELECT max(id) FROM crawl_runs) ORDER BY source"),
    }


def summary(stdout: str) -> list[str]:
    return [line.split("  last error:")[0] for line in stdout.splitlines()]


def assert_each_article_once(db: Path) -> None:
    assert rows(db, "SELECT count(*) - count(DISTINCT url) FROM articles") == [(0,)]
    assert rows(db, "SELECT count(*) FROM articles WHERE id NOT IN (SELECT rowid FROM articles_fts)") == [(0,)]


# -- three workers and a writer crawl every test site: the archive a local crawl makes ----------


@pytest.fixture(scope="module")
def fleet_crawl(tmp_path_factory, farm, redis_server):
    local_dir, fleet_dir = tmp_path_factory.mktemp("local"), tmp_path_factory.mktemp("fleet")
    local = loomwatch("crawl", "--config", str(write_config(local_dir, [source_toml(farm, s) for s in SITES])))
    assert local.returncode == 0, local.stderr
    config = fleet_config(fleet_dir, farm, redis_server.url, SITES)
    workers = Workers(config, 3)
    workers.wait_until_serving()
    farm.reset_log()
    result = loomwatch("crawl", "--fleet", "--config", str(config))
    state = {"local": local, "result": result, "config": config, "db": fleet_dir / "archive.db", "local_db": local_dir / "archive.db",
             "workers": workers, "requests": {s: farm.requests(s) for s in SITES}}
    yield state
    workers.kill()


def test_a_fleet_crawl_stores_what_a_local_crawl_stores(fleet_crawl):
    result = fleet_crawl["result"]
    assert result.returncode == 0, result.stderr + fleet_crawl["workers"].logs()
    # the same summary line per source (which error a source met last may differ: pages run in parallel)
    assert summary(result.stdout) == summary(fleet_crawl["local"].stdout)
    fleet, local = snapshot(fleet_crawl["db"]), snapshot(fleet_crawl["local_db"])
    assert len(fleet["articles"]) == 30
    assert sum(lead is not None for *_, lead in fleet["articles"].values()) >= 10  # the relevant ones lead stories
    for part in ("articles", "stories", "story_facts", "coverage", "urls", "tags", "skipped", "runs"):
        assert fleet[part] == local[part], part
    assert_each_article_once(fleet_crawl["db"])
    assert "ahead" not in result.stderr  # each batch was decided while the one before was written, as decided


def test_the_fleet_shared_the_work(fleet_crawl):
    # the pages of each host went to one worker at a time, and several workers did some
    logs = [p.read_text() for p in sorted(fleet_crawl["config"].parent.glob("worker*.log"))]
    assert len(logs) == 3
    state = fleet_state(fleet_crawl["config"])
    assert len(state["workers"]) == 3
    assert sum(w["settled"] > 0 for w in state["workers"]) >= 2
    assert state["pending"] == 0 and state["results_waiting"] == 0 and state["run"] == {}


def test_a_fleet_recrawl_fetches_no_stored_article_and_revalidates_listings(fleet_crawl, farm):
    farm.reset_log()
    again = loomwatch("crawl", "--fleet", "--config", str(fleet_crawl["config"]))
    assert again.returncode == 0, again.stderr
    assert rows(fleet_crawl["db"], "SELECT count(*) FROM articles") == [(30,)]
    portal = farm.requests("portal-en")
    assert [r.path for r in portal if "/c_" in r.path] == []
    listing = [r for r in portal if r.path == "/index.html"]
    assert listing and all("if-none-match" in {k.lower() for k in r.headers} for r in listing)
    traps = {r.path for r in farm.requests("traps")}
    assert not traps & {"/2026-11/20/c_2002.htm", "/2026-11/18/c_2008.htm", "/2026-11/20/c_2003.htm", "/2026-11/19/c_2006.htm"}
    assert {"/2026-11/19/c_2004.htm", "/2026-11/19/c_2005.htm"} <= traps  # no text (yet), server error: asked again


def test_workers_stop_cleanly_on_sigterm(fleet_crawl):
    assert fleet_crawl["workers"].stop() == [0, 0, 0]
    assert fleet_state(fleet_crawl["config"])["workers"] == []  # a worker that stops says so


# -- busy sites: many slow pages on a few hosts, for politeness and faults ----------------------

SUBJECTS = ["Weaving mills", "Dye houses", "Bedding wholesalers", "Knitwear workshops", "Yarn traders", "Curtain makers",
            "Denim finishers", "Silk reelers", "Embroidery studios", "Garment exporters"]
PLACES = ["Keqiao", "Nantong", "Shengze", "Humen", "Zhili", "Changshu", "Jiangyin", "Xiaoshan", "Puyuan", "Jinjiang"]
DOINGS = ["added night shifts", "postponed new looms", "raised wages for skilled hands", "cut delivery times",
          "moved orders to rail freight", "tested recycled fibres", "shared a wastewater plant", "opened showrooms",
          "signed spring contracts", "cleared autumn stock"]
REASONS = ["as buyers booked early", "because cotton prices eased", "after a slow summer", "ahead of the trade fair",
           "while power costs rose", "since export orders recovered", "as online sales grew", "after new rules on dyeing"]


def write_busy_sites(root: Path, names: list[str], pages: int, delay: float) -> None:
    """Sites of `pages` slow article pages each (invented text, different on every page)."""
    rng = random.Random(16)
    for n, name in enumerate(names, 1):
        site = root / name
        links = []
        for i in range(pages):
            path = f"/2026-11/{10 + i:02d}/c_{n}{i:03d}.htm"
            title = f"{rng.choice(PLACES)} {rng.choice(SUBJECTS).lower()} {rng.choice(DOINGS)}"
            text = "\n".join(
                "<p>" + " ".join(f"{rng.choice(SUBJECTS)} in {rng.choice(PLACES)} {rng.choice(DOINGS)} {rng.choice(REASONS)}, "
                                 f"said {rng.randint(2, 90)} members of the {rng.choice(PLACES)} textile association."
                                 for _ in range(3)) + "</p>" for _ in range(4))
            page = site / path.lstrip("/")
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
                            f"<div class='nav'><a href='/index.html'>Home</a></div><article><h1>{title}</h1>"
                            f"<div class='info'>Updated: November {10 + i}, 2026</div>{text}</article></body></html>", encoding="utf-8")
            links.append(f"<li><a href='{path}'>{title}</a></li>")
        links.append("<li><a href='/private/2026-11/10/c_9999.htm'>Members only</a></li>")
        (site / "index.html").write_text(f"<html><head><meta charset='utf-8'><title>{name}</title></head><body><ul>{''.join(links)}"
                                         "</ul></body></html>", encoding="utf-8")
        (site / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n", encoding="utf-8")
        (site / "_site.toml").write_text(f"[[rule]]\nmatch = '^/2026-11/'\ndelay = {delay}\n", encoding="utf-8")


BUSY = ["busy-a", "busy-b", "busy-c"]
BUSY_PAGES = 6


@pytest.fixture(scope="module")
def busy_farm(tmp_path_factory) -> Iterator[SiteFarm]:
    root = tmp_path_factory.mktemp("busy-sites")
    write_busy_sites(root, BUSY, BUSY_PAGES, delay=0.2)
    with SiteFarm(root, distinct_hosts=True) as farm:
        yield farm


def busy_config(tmp: Path, farm: SiteFarm, redis_url: str, *, timeout: float = 30, lease_timeout: float = 2,
                **crawl: object) -> Path:
    sources = [f'[[sources]]\nname = "{name}"\nstart_urls = ["{farm.url(name, "/index.html")}"]' for name in BUSY]
    path = write_config(tmp, sources, **{"download_delay": 0.05, "concurrency_per_domain": 2, **crawl})
    return with_fleet(path, redis_url, timeout=timeout, lease_timeout=lease_timeout)


@pytest.fixture
def workers_to_stop() -> Iterator[list[Workers]]:
    started: list[Workers] = []
    yield started
    for workers in started:
        workers.kill()


def start_workers(started: list[Workers], config: Path, n: int, *args: str) -> Workers:
    workers = Workers(config, n, *args)
    started.append(workers)
    workers.wait_until_serving()
    return workers


def start_crawl(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "loomwatch.crawler", "crawl", "--fleet", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_polite(farm: SiteFarm, limit: int, delay: float) -> None:
    for site in BUSY:
        assert 1 <= farm.max_concurrent(site) <= limit, site
        starts = sorted(r.started for r in farm.requests(site) if r.path.startswith("/2026-11/"))
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert min(gaps) >= 0.5 * delay - 0.01, (site, gaps)  # Scrapy spaces requests 0.5-1.5 × the delay
        assert not [r for r in farm.requests(site) if r.path.startswith("/private/")]  # robots.txt


def test_politeness_holds_for_the_whole_fleet(tmp_path, busy_farm, redis_server, workers_to_stop):
    busy_farm.reset_log()
    config = busy_config(tmp_path, busy_farm, redis_server.url, concurrency_per_domain=1, download_delay=0.2)
    start_workers(workers_to_stop, config, 3)
    result = loomwatch("crawl", "--fleet", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert rows(tmp_path / "archive.db", "SELECT count(*) FROM articles") == [(len(BUSY) * BUSY_PAGES,)]
    assert_polite(busy_farm, limit=1, delay=0.2)


def redis_of(config: Path):  # noqa: ANN201
    """A client and the key prefix of a test's configuration."""
    import redis

    from loomwatch.crawler.config import load_config

    fleet = load_config(config).fleet
    return redis.Redis.from_url(fleet.redis_url), fleet.prefix


def wait_for(condition, timeout: float = 60, what: str = "") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)


def holder_of_work(config: Path) -> tuple[str, int] | None:
    """A host with pages in flight, and the pid of the worker holding its lease."""
    client, prefix = redis_of(config)
    for host in client.smembers(f"{prefix}:hosts"):
        host = host.decode()
        lease = client.get(f"{prefix}:lease:{host}")
        if client.hlen(f"{prefix}:inflight:{host}") and lease and lease != b"-":
            return host, int(lease.decode().split(":")[1])
    return None


def test_pages_of_a_worker_killed_with_9_are_taken_over(tmp_path, busy_farm, redis_server, workers_to_stop):
    busy_farm.reset_log()
    config = busy_config(tmp_path, busy_farm, redis_server.url, concurrency_per_domain=1, download_delay=0.1, lease_timeout=2)
    workers = start_workers(workers_to_stop, config, 3)
    crawl = start_crawl(config)
    wait_for(lambda: holder_of_work(config) is not None and len(busy_farm.requests("busy-a")) > 3, what="pages in flight")
    host, pid = holder_of_work(config)  # type: ignore[misc]
    os.kill(pid, signal.SIGKILL)
    out, err = crawl.communicate(timeout=180)
    assert crawl.returncode == 0, err + workers.logs()
    db = tmp_path / "archive.db"
    assert rows(db, "SELECT count(*) FROM articles") == [(len(BUSY) * BUSY_PAGES,)]
    assert_each_article_once(db)
    assert_polite(busy_farm, limit=1, delay=0.1)  # the next holder waited for the lease to run out
    assert [p.poll() for p in workers.procs].count(-signal.SIGKILL) == 1


def test_the_next_writer_stores_what_the_fleet_produced_for_a_killed_writer(tmp_path, busy_farm, redis_server, workers_to_stop):
    busy_farm.reset_log()
    config = busy_config(tmp_path, busy_farm, redis_server.url)
    start_workers(workers_to_stop, config, 3)
    db = tmp_path / "archive.db"
    crawl = start_crawl(config)
    wait_for(lambda: db.exists() and rows(db, "SELECT count(*) FROM sqlite_master WHERE name = 'articles'") == [(1,)]
             and rows(db, "SELECT count(*) FROM articles")[0][0] >= 3, what="articles stored")
    crawl.kill()
    crawl.wait()
    client, prefix = redis_of(config)
    # the workers finish the run's pages; their results wait in Redis
    wait_for(lambda: int(client.get(f"{prefix}:pending") or 0) == 0, what="the fleet to finish")
    waiting = client.xlen(f"{prefix}:results")
    stored = rows(db, "SELECT count(*) FROM articles")[0][0]
    assert waiting > 0 and stored + waiting >= len(BUSY) * BUSY_PAGES
    busy_farm.reset_log()
    again = loomwatch("crawl", "--fleet", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert rows(db, "SELECT count(*) FROM articles") == [(len(BUSY) * BUSY_PAGES,)]
    assert_each_article_once(db)
    assert rows(db, "SELECT status FROM crawl_runs ORDER BY id") == [("killed",), ("ok",)]
    for site in BUSY:  # every article page had been fetched: none is fetched again
        assert not [r for r in busy_farm.requests(site) if r.path.startswith("/2026-11/")]


def crawl_through_a_redis_restart(tmp_path: Path, farm: SiteFarm, server: RedisServer, started: list[Workers]) -> tuple[Path, int, str]:
    """A fleet crawl during which Redis is shut down and started again (as a `systemctl
    restart redis-server` does); returns the configuration, the crawl's exit code and stderr."""
    farm.reset_log()
    config = busy_config(tmp_path, farm, server.url, download_delay=0.2)
    start_workers(started, config, 2)
    crawl = start_crawl(config)
    wait_for(lambda: holder_of_work(config) is not None, what="pages in flight")
    server.stop()
    server.start()
    _, err = crawl.communicate(timeout=180)
    return config, crawl.returncode, err


def test_a_redis_restart_with_appendonly_is_survived(tmp_path, busy_farm, redis_server, workers_to_stop):
    _, returncode, err = crawl_through_a_redis_restart(tmp_path, busy_farm, redis_server, workers_to_stop)
    assert returncode == 0, err
    db = tmp_path / "archive.db"
    assert rows(db, "SELECT count(*) FROM articles") == [(len(BUSY) * BUSY_PAGES,)]
    assert_each_article_once(db)


def test_without_appendonly_a_redis_restart_fails_the_run_clearly_and_the_next_completes(tmp_path, busy_farm, workers_to_stop):
    server = RedisServer(tmp_path / "redis", appendonly=False).start()
    try:
        config, returncode, err = crawl_through_a_redis_restart(tmp_path, busy_farm, server, workers_to_stop)
        assert returncode == 1
        assert "lost this run's work (restarted without 'appendonly yes'?)" in err
        db = tmp_path / "archive.db"
        assert rows(db, "SELECT status FROM crawl_runs") == [("failed",)]
        again = loomwatch("crawl", "--fleet", "--config", str(config))
        assert again.returncode == 0, again.stderr
        assert rows(db, "SELECT count(*) FROM articles") == [(len(BUSY) * BUSY_PAGES,)]
        assert_each_article_once(db)
    finally:
        server.stop()


def test_a_worker_stopped_with_sigterm_puts_its_pages_back(tmp_path, busy_farm, redis_server, workers_to_stop):
    busy_farm.reset_log()
    config = busy_config(tmp_path, busy_farm, redis_server.url, concurrency_per_domain=1, download_delay=0.3)
    first = start_workers(workers_to_stop, config, 1)
    crawl = start_crawl(config)
    wait_for(lambda: holder_of_work(config) is not None, what="pages in flight")
    first.procs[0].send_signal(signal.SIGTERM)
    assert first.procs[0].wait(timeout=30) == 0
    client, prefix = redis_of(config)
    hosts = [h.decode() for h in client.smembers(f"{prefix}:hosts")]
    assert hosts and all(client.hlen(f"{prefix}:inflight:{h}") == 0 for h in hosts)  # nothing held by the stopped worker
    start_workers(workers_to_stop, config, 1)
    out, err = crawl.communicate(timeout=180)
    assert crawl.returncode == 0, err
    assert rows(tmp_path / "archive.db", "SELECT count(*) FROM articles") == [(len(BUSY) * BUSY_PAGES,)]


def test_a_run_no_worker_takes_fails_clearly(tmp_path, busy_farm, redis_server):
    config = busy_config(tmp_path, busy_farm, redis_server.url, timeout=2)
    started = time.monotonic()
    result = loomwatch("crawl", "--fleet", "--config", str(config))
    assert result.returncode == 1
    assert "no worker took this run's work within 2 s ('fleet.timeout'): start `loomwatch worker`" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30
    assert rows(tmp_path / "archive.db", "SELECT status, message LIKE 'no worker took%' FROM crawl_runs") == [("failed", 1)]


def test_a_worker_with_until_idle_exits_0_when_there_is_no_work(tmp_path, busy_farm, redis_server):
    config = busy_config(tmp_path, busy_farm, redis_server.url)
    started = time.monotonic()
    result = loomwatch("worker", "--until-idle", "1", "--config", str(config), timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30


def test_overlapping_fleet_crawls_are_refused(tmp_path, busy_farm, redis_server, workers_to_stop):
    (tmp_path / "one").mkdir()
    config = busy_config(tmp_path / "one", busy_farm, redis_server.url, download_delay=2, concurrency_per_domain=1)
    start_workers(workers_to_stop, config, 1)
    first = start_crawl(config)
    wait_for(lambda: holder_of_work(config) is not None, what="pages in flight")
    same_archive = loomwatch("crawl", "--fleet", "--config", str(config))
    assert same_archive.returncode == 3 and "another loomwatch crawl is running on this database" in same_archive.stderr
    local = loomwatch("crawl", "--config", str(config))
    assert local.returncode == 3
    other = tmp_path / "two" / "loomwatch.toml"  # another archive, the same Redis keys
    other.parent.mkdir()
    other.write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    second = loomwatch("crawl", "--fleet", "--config", str(other))
    assert second.returncode == 3
    assert "another `loomwatch crawl --fleet` is running with Redis at" in second.stderr and f"pid {first.pid}" in second.stderr
    first.communicate(timeout=180)
    assert first.returncode == 0


@pytest.mark.parametrize("fleet, message", [
    ('redis_url = "redis://:secret@127.0.0.1:6379/0"', "key 'fleet.redis_url' holds a password"),
    ('redis_url = "http://127.0.0.1:6379/0"', "key 'fleet.redis_url': 'http://127.0.0.1:6379/0' is not a Redis URL"),
    ('redis_url = "redis://127.0.0.1:1/0"\npassword_env = "LOOMWATCH_TEST_UNSET"', "environment variable LOOMWATCH_TEST_UNSET"),
    ('redis_url = ""', "key 'fleet.redis_url' is empty"),
    ('redis_url = "redis://127.0.0.1:63790x/0"', "key 'fleet.redis_url': 'redis://127.0.0.1:63790x/0' is not a usable Redis URL"),
])
def test_fleet_configuration_errors_are_one_clear_line(tmp_path, fleet, message):
    config = tmp_path / "loomwatch.toml"
    config.write_text(f'[fleet]\n{fleet}\n\n[[sources]]\nname = "a"\nstart_urls = ["http://127.0.0.1:9/"]\n', encoding="utf-8")
    for command in (["crawl", "--fleet"], ["worker"]):
        result = loomwatch(*command, "--config", str(config), timeout=60)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_redis_is_named(tmp_path):
    config = tmp_path / "loomwatch.toml"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config.write_text(f'[fleet]\nredis_url = "redis://127.0.0.1:{port}/0"\n\n[[sources]]\nname = "a"\nstart_urls = ["http://127.0.0.1:9/"]\n',
                      encoding="utf-8")
    for command in (["crawl", "--fleet"], ["worker"], ["fleet", "status"]):
        result = loomwatch(*command, "--config", str(config), timeout=60)
        assert result.returncode == 1
        assert f"cannot reach Redis at redis://127.0.0.1:{port}/0" in result.stderr and "Traceback" not in result.stderr


def test_the_scheduler_runs_fleet_crawls(tmp_path, busy_farm, redis_server, workers_to_stop):
    from loomwatch.crawler.config import load_config
    from loomwatch.crawler.scheduler import Daemon

    config = busy_config(tmp_path, busy_farm, redis_server.url)
    config.write_text(config.read_text(encoding="utf-8") + "scheduled = true\n", encoding="utf-8")
    start_workers(workers_to_stop, config, 1)
    outcome = Daemon(load_config(config)).crawl_job()
    assert (outcome.outcome, outcome.returncode) == ("ok", 0)
    assert rows(tmp_path / "archive.db", "SELECT count(*) FROM articles") == [(len(BUSY) * BUSY_PAGES,)]
    # The worker fetched them: it publishes its count with its next heartbeat (at most a second later).
    deadline = time.monotonic() + 15
    while (settled := fleet_state(config)["workers"][0]["settled"]) < len(BUSY) * BUSY_PAGES and time.monotonic() < deadline:
        time.sleep(0.5)
    assert settled >= len(BUSY) * BUSY_PAGES


def test_a_result_that_is_not_a_page_is_skipped_not_fatal(tmp_path, busy_farm, redis_server, workers_to_stop):
    # Something else writing under the prefix (a stray script, an old loomwatch) must not stop every later run at that entry.
    config = busy_config(tmp_path, busy_farm, redis_server.url)
    client, prefix = redis_of(config)
    client.xadd(f"{prefix}:results", {"run": "1", "page": "{not json"})
    client.xadd(f"{prefix}:results", {"run": "1", "other": "x"})
    client.xadd(f"{prefix}:results", {"run": "1", "page": "[1, 2]"})
    client.xadd(f"{prefix}:results", {"run": "1", "page": '{"source": "a", "url": "http://x/", "article": 3}'})
    start_workers(workers_to_stop, config, 1)
    result = loomwatch("crawl", "--fleet", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("is not a page a worker sent: skipped") == 4
    assert rows(tmp_path / "archive.db", "SELECT count(*) FROM articles") == [(len(BUSY) * BUSY_PAGES,)]
    assert client.xlen(f"{prefix}:results") == 0


def test_a_full_redis_is_named_not_a_traceback(tmp_path, busy_farm):
    server = RedisServer(tmp_path / "redis", appendonly=False).start()
    try:
        config = busy_config(tmp_path, busy_farm, server.url)
        client = server.client()
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", client.info("memory")["used_memory"] // 2)
        result = loomwatch("crawl", "--fleet", "--config", str(config), timeout=60)
        assert result.returncode == 1, result.stderr
        assert f"loomwatch: Redis at {server.url} is full (" in result.stderr and "raise its maxmemory" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        server.stop()


def test_redis_refusing_the_runs_scripts_fails_the_run_in_one_line(tmp_path, busy_farm, redis_server, monkeypatch):
    # An ACL that lets this user read and write keys but not run scripts: the run starts, then fails.
    user = f"lw{random.randrange(1 << 30)}"
    redis_server.client().acl_setuser(user, enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-evalsha", "-eval"])
    config = busy_config(tmp_path, busy_farm, redis_server.url.replace("redis://", f"redis://{user}@"))
    config.write_text(config.read_text(encoding="utf-8") + 'password_env = "LOOMWATCH_TEST_PW"\n', encoding="utf-8")
    monkeypatch.setenv("LOOMWATCH_TEST_PW", "pw")
    result = loomwatch("crawl", "--fleet", "--config", str(config), timeout=60)
    assert result.returncode == 1, result.stderr
    assert f"loomwatch: Redis at {redis_server.url} failed (NoPermissionError:" in result.stderr
    assert "Traceback" not in result.stderr
    assert rows(tmp_path / "archive.db", "SELECT status, message LIKE 'Redis at % failed%' FROM crawl_runs") == [("failed", 1)]


def test_a_queued_page_that_is_not_a_request_does_not_hold_the_run_open(tmp_path, busy_farm, redis_server, workers_to_stop):
    config = busy_config(tmp_path, busy_farm, redis_server.url, download_delay=0.3, concurrency_per_domain=1)
    start_workers(workers_to_stop, config, 1)
    client, prefix = redis_of(config)
    crawl = start_crawl(config)
    wait_for(lambda: client.hget(f"{prefix}:run", "id") is not None and client.exists(f"{prefix}:pending"), what="the run")
    for blob in ("{not json", json.dumps({"url": "no scheme"})):  # written by something that is not loomwatch
        page = client.incr(f"{prefix}:seq")
        client.hset(f"{prefix}:reqs", page, blob)
        client.zadd(f"{prefix}:q:odd.invalid", {page: -page})
        client.sadd(f"{prefix}:hosts", "odd.invalid")
        client.incr(f"{prefix}:pending")
    try:
        out, err = crawl.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        crawl.kill()
        raise
    assert crawl.returncode == 0, err
    assert rows(tmp_path / "archive.db", "SELECT count(*) FROM articles") == [(len(BUSY) * BUSY_PAGES,)]
    assert "is not a request: dropped" in workers_to_stop[0].logs()


def test_sigterm_stops_a_writer_waiting_for_a_lost_redis_at_once(tmp_path, busy_farm):
    # `loomwatch schedule` and systemd give a stopping crawl a minute or so before SIGKILL.
    server = RedisServer(tmp_path / "redis", appendonly=False).start()
    config = busy_config(tmp_path, busy_farm, server.url, timeout=120)
    crawl = start_crawl(config)  # no worker: the run waits
    try:
        wait_for(lambda: server.client().scard(f"{redis_of(config)[1]}:hosts") > 0, what="the entry points queued")
        server.stop()
        time.sleep(2)  # the writer finds Redis gone
        crawl.send_signal(signal.SIGTERM)
        out, err = crawl.communicate(timeout=30)
    finally:
        crawl.kill()
        server.stop()
    assert crawl.returncode == 1, err
    assert f"loomwatch: stopped by SIGTERM while Redis at {server.url} was unreachable" in err
    assert rows(tmp_path / "archive.db", "SELECT status FROM crawl_runs") == [("failed",)]


def test_sigterm_while_the_writer_publishes_known_urls_stops_it_at_once(tmp_path, busy_farm, redis_server, monkeypatch):
    # At a million articles the start of a run takes minutes; a stop (systemd, `loomwatch schedule`)
    # must not wait for it, nor leave work queued that no writer will store.
    from loomwatch.crawler.config import load_config
    from loomwatch.crawler.fleet import writer

    config = busy_config(tmp_path, busy_farm, redis_server.url)
    given = 0

    def a_large_archive(db, after_article, seen_since):  # noqa: ANN001, ANN202
        nonlocal given
        for i in range(1_000_000):
            if i == 1000:
                os.kill(os.getpid(), signal.SIGTERM)
            given += 1
            yield f"http://mill.example/news/{i}.htm"

    monkeypatch.setattr(writer, "known_urls", a_large_archive)
    report = writer.crawl_fleet(load_config(config))
    assert given <= 50_000  # stopped before the first batch of URLs was sent
    assert report.status == "failed" and report.problem.startswith("stopped by SIGTERM while the run was starting")
    assert report.results == []  # no source was tried: none counts as failed
    client, prefix = redis_of(config)
    assert not client.exists(f"{prefix}:run") and not client.exists(f"{prefix}:pending")
    assert rows(tmp_path / "archive.db", "SELECT status, finished IS NOT NULL, message LIKE 'stopped by SIGTERM%' FROM crawl_runs") == [
        ("failed", 1, 1)]
    assert rows(tmp_path / "archive.db", "SELECT count(*) FROM source_runs") == [(0,)]


def test_sigterm_while_the_writer_stores_an_earlier_runs_results_stops_it_and_keeps_the_rest(tmp_path, busy_farm, redis_server,
                                                                                           monkeypatch):
    from loomwatch.crawler.config import load_config
    from loomwatch.crawler.fleet import writer

    config = busy_config(tmp_path, busy_farm, redis_server.url)
    client, prefix = redis_of(config)
    with client.pipeline() as pipe:  # results a killed writer left (not pages: each is skipped, as quickly as possible)
        for i in range(5000):
            pipe.xadd(f"{prefix}:results", {"run": "1", "other": str(i)})
        pipe.execute()
    write = writer.FleetRun._write

    def written_then_stopped(self, batch):  # noqa: ANN001, ANN202
        write(self, batch)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(writer.FleetRun, "_write", written_then_stopped)
    report = writer.crawl_fleet(load_config(config))
    assert report.problem.startswith("stopped by SIGTERM while the run was starting")
    assert 0 < client.xlen(f"{prefix}:results") < 5000  # what was not stored waits for the next run
    assert not client.exists(f"{prefix}:pending")


def test_a_restored_backup_gets_again_what_was_stored_after_it(tmp_path, busy_farm, redis_server, workers_to_stop):
    # docs/operations.md: after a restore, "the next crawl fetches again what was published since the backup".
    config = busy_config(tmp_path, busy_farm, redis_server.url)
    db = tmp_path / "archive.db"
    start_workers(workers_to_stop, config, 1)
    assert loomwatch("crawl", "--fleet", "--source", BUSY[0], "--config", str(config)).returncode == 0
    assert loomwatch("backup", str(tmp_path / "backup.db"), "--config", str(config)).returncode == 0
    result = loomwatch("crawl", "--fleet", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert rows(db, "SELECT count(*) FROM articles") == [(len(BUSY) * BUSY_PAGES,)]
    assert loomwatch("crawl", "--fleet", "--config", str(config)).returncode == 0  # publishes them as known to Redis
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", db)
    assert rows(db, "SELECT count(*) FROM articles") == [(BUSY_PAGES,)]
    result = loomwatch("crawl", "--fleet", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert rows(db, "SELECT count(*) FROM articles") == [(len(BUSY) * BUSY_PAGES,)]
    assert_each_article_once(db)


def test_a_run_every_worker_refuses_says_why(tmp_path, busy_farm, redis_server, workers_to_stop):
    # The archive machine's configuration was edited, the workers' not: "start a worker" would send the operator astray.
    config = busy_config(tmp_path, busy_farm, redis_server.url, timeout=3)
    start_workers(workers_to_stop, config, 1)
    config.write_text(config.read_text(encoding="utf-8").replace("download_delay = 0.05", "download_delay = 0.1"), encoding="utf-8")
    result = loomwatch("crawl", "--fleet", "--config", str(config))
    assert result.returncode == 1
    assert (f"no worker took this run's work within 3 s ('fleet.timeout'): the workers on {socket.gethostname()} refuse it, "
            "their configuration or loomwatch version differs") in result.stderr


def test_a_worker_names_a_full_redis_as_full(tmp_path, busy_farm):
    server = RedisServer(tmp_path / "redis", appendonly=False).start()
    config = busy_config(tmp_path, busy_farm, server.url)
    workers = Workers(config, 1)
    try:
        workers.wait_until_serving()
        client = server.client()
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", client.info("memory")["used_memory"] // 2)
        wait_for(lambda: "Redis at" in workers.logs() and "retrying" in workers.logs(), timeout=30, what="the worker's warning")
        assert f"Redis at {server.url} is full (" in workers.logs() and "unreachable" not in workers.logs()
    finally:
        workers.kill()
        server.stop()
