"""The crawl, end to end: `loomwatch crawl` in a subprocess against the local test sites.

What each site holds, and what a crawl must make of it, is in tests/sites/README.md.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomwatch.crawler.demo.sitefarm import SiteFarm

pytestmark = pytest.mark.slow

SITES = ["portal-en", "traps", "gbk-gov", "feeds", "sitemap", "shapes"]


def source_toml(farm: SiteFarm, name: str, **extra: object) -> str:
    starts = {
        "portal-en": {"start_urls": [farm.url("portal-en", "/index.html")]},
        "traps": {"start_urls": [farm.url("traps", "/index.html")]},
        "gbk-gov": {"start_urls": [farm.url("gbk-gov", "/")]},  # a meta refresh to /col/col12/index.html
        "feeds": {"feeds": [farm.url("feeds", "/feed/"), farm.url("feeds", "/atom.xml")]},
        "sitemap": {"sitemaps": [farm.url("sitemap", "/robots.txt")]},
        "shapes": {"start_urls": [farm.url("shapes", "/index.html")]},
        "slow": {"start_urls": [farm.url("slow", "/index.html")]},
    }[name]
    lines = ['[[sources]]', f'name = "{name}"']
    for key, value in {**starts, **extra}.items():
        if isinstance(value, list):
            value = "[" + ", ".join(f"'{v}'" for v in value) + "]"
        elif isinstance(value, str):
            value = f'"{value}"'
        lines.append(f"{key} = {value}")
    return "\n".join(lines)


FAST = {"download_delay": 0.01, "autothrottle": False, "timeout": 10, "retries": 2, "retry_backoff": 0.1, "workers": 1}


def write_config(tmp: Path, sources: list[str], **crawl: object) -> Path:
    """A config for the test sites: fast and impolite unless a test says otherwise."""
    settings = "\n".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in {**FAST, **crawl}.items())
    path = tmp / "loomwatch.toml"
    path.write_text(f'[storage]\ndatabase = "archive.db"\n[crawl]\n{settings}\n\n' + "\n\n".join(sources), encoding="utf-8")
    return path


def loomwatch(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loomwatch.crawler", *args], capture_output=True, text=True, timeout=timeout)


def start_loomwatch(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "loomwatch.crawler", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def paths(farm: SiteFarm, site: str) -> list[str]:
    return [r.path for r in farm.requests(site)]


# -- one crawl of every test site, many assertions ---------------------------------------------


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, site_farm_session):
    farm = site_farm_session
    farm.reset_log()
    tmp = tmp_path_factory.mktemp("crawl")
    config = write_config(tmp, [source_toml(farm, s) for s in SITES])
    result = loomwatch("crawl", "--config", str(config))
    requests = {site: paths(farm, site) for site in [*SITES, "elsewhere"]}
    log = {site: farm.requests(site) for site in SITES}
    return {"result": result, "db": tmp / "archive.db", "requests": requests, "log": log, "farm": farm, "config": config}


def stored(crawled, site: str) -> dict[str, dict]:
    """The site's stored articles by path: {path: {title, text, lang, published, relevant}}."""
    base = crawled["farm"].url(site, "").rstrip("/")
    keys = ("title", "text", "lang", "published", "relevant")
    found = rows(crawled["db"], f"SELECT url, {', '.join(keys)} FROM articles WHERE source = ?", (site,))
    return {url.removeprefix(base): dict(zip(keys, values)) for url, *values in found}


def test_crawl_exits_0_with_a_summary_line_per_source(crawled):
    result = crawled["result"]
    assert result.returncode == 0, result.stderr
    for site in SITES:
        assert any(line.startswith(site) and " ok " in line for line in result.stdout.splitlines()), result.stdout


def test_portal_urls_are_canonical_and_each_story_stored_once(crawled):
    urls = set(stored(crawled, "portal-en"))
    assert urls == {
        "/2026-11/20/c_1001.htm", "/2026-11/19/c_1002.htm", "/2026-11/17/c_1003.htm", "/2026-11/18/c_1005.htm",
        "/2026-11/15/c_1006.htm", "/2026-11/14/c_1007.htm", "/2026-11/10/c_1008.htm",
    }
    requested = crawled["requests"]["portal-en"]
    assert sum(p.startswith("/2026-11/19/c_1002.htm") for p in requested) == 1  # tracking parameters and fragments dropped
    assert not any("utm_" in p for p in requested)


def test_redirects_are_followed_and_remembered(crawled):
    base = crawled["farm"].url("portal-en", "").rstrip("/")
    aliases = {r[0] for r in rows(crawled["db"], "SELECT u.url FROM article_urls u JOIN articles a ON a.id = u.article_id WHERE a.url = ?", (base + "/2026-11/18/c_1005.htm",))}
    assert base + "/old/2026-11/18/c_1005.htm" in aliases


def test_rel_canonical_is_honoured(crawled):
    base = crawled["farm"].url("portal-en", "").rstrip("/")
    aliases = {r[0] for r in rows(crawled["db"], "SELECT u.url FROM article_urls u JOIN articles a ON a.id = u.article_id WHERE a.url = ?", (base + "/2026-11/17/c_1003.htm",))}
    assert base + "/mobile/2026-11/17/c_1003.htm" in aliases


def test_robots_txt_and_site_boundaries_are_respected(crawled):
    requests = crawled["requests"]
    assert not any(p.startswith("/private/") for p in requests["portal-en"])
    assert not any(p.startswith("/drafts/") for p in requests["sitemap"])
    assert requests["elsewhere"] == []


def test_off_topic_article_is_stored_but_not_relevant(crawled):
    assert stored(crawled, "portal-en")["/2026-11/14/c_1007.htm"]["relevant"] == 0
    tags = rows(crawled["db"], "SELECT count(*) FROM article_clusters c JOIN articles a ON a.id = c.article_id WHERE a.url LIKE '%c_1007.htm'")
    assert tags == [(0,)]


def test_relevant_english_articles_are_tagged(crawled):
    tagged = rows(crawled["db"], "SELECT count(DISTINCT a.id) FROM articles a JOIN article_clusters c ON c.article_id = a.id WHERE a.source = 'portal-en'")
    assert tagged[0][0] >= 5
    langs = {a["lang"] for a in stored(crawled, "portal-en").values()}
    assert langs == {"en"}


def test_every_relevant_article_is_in_a_story_with_its_facts(crawled):
    relevant = rows(crawled["db"], "SELECT count(*), count(story_id) FROM articles WHERE relevant = 1")[0]
    assert relevant[0] >= 5 and relevant[0] == relevant[1]
    without_facts = rows(crawled["db"], "SELECT count(*) FROM articles WHERE story_id IS NOT NULL "
                                        "AND id NOT IN (SELECT article_id FROM story_facts)")
    assert without_facts == [(0,)]
    assert rows(crawled["db"], "SELECT count(*) FROM story_keys")[0][0] > 0


def test_gbk_pages_are_stored_without_mojibake(crawled):
    articles = stored(crawled, "gbk-gov")
    assert len(articles) == 4
    texts = {url: (a["title"], a["text"]) for url, a in articles.items()}
    assert "柯桥区印染企业开展节水改造" in texts["/art/2026/11/22/art_12_3401.html"][0]
    assert "中国轻纺城秋冬面料交易进入旺季" in texts["/art/2026/11/21/art_12_3402.html"][0]
    assert all(s in texts["/art/2026/11/20/art_12_3403.html"][1] for s in ("王镕", "李喆", "陈堃"))
    assert "尼日利亚" in texts["/art/2026/11/19/art_12_3404.html"][1]
    for title, text in texts.values():
        assert "\ufffd" not in title + text
        assert not any("\u00c0" <= ch <= "\u00ff" for ch in title + text)  # no Latin-1 mojibake
    assert {a["lang"] for a in articles.values()} == {"zh-cn"}
    assert {a["published"] for a in articles.values()} >= {"2026-11-22", "2026-11-21"}


def test_feeds_rss_and_atom(crawled):
    assert set(stored(crawled, "feeds")) == {"/archives/301", "/archives/302", "/archives/303", "/archives/304"}
    assert sum(p.startswith("/archives/303") for p in crawled["requests"]["feeds"]) == 1


def test_sitemap_index_from_robots(crawled):
    assert set(stored(crawled, "sitemap")) == {
        "/news/202611/t20261121_501.htm", "/news/202611/t20261118_502.htm", "/news/202611/t20261112_503.htm",
        "/news/202610/t20261028_504.htm", "/news/202610/t20261015_505.htm",
    }


def test_default_url_shapes_find_every_article(crawled):
    assert set(stored(crawled, "shapes")) == {
        "/2026-11/22/c_123.htm", "/art/2026/11/22/art_12_345.html", "/news/202611/t20261122_123.html",
        "/content/2026-11/22/content_123.htm", "/archives/123", "/show-123.html", "/show-124.html", "/archives/124",
    }
    assert not any(p in ("/about.html", "/contact.html") for p in crawled["requests"]["shapes"])


def test_traps_are_not_stored_and_are_counted(crawled):
    assert set(stored(crawled, "traps")) == {"/2026-11/20/c_2001.htm", "/2026-11/18/c_2007.htm"}
    requested = crawled["requests"]["traps"]
    assert requested.count("/2026-11/20/c_2001.htm") == 3  # 503, 503, then the page
    assert requested.count("/2026-11/19/c_2005.htm") == 3  # 1 + retries, then given up
    # Retries back off: retry_backoff (0.1 s) before the first, twice that before the second.
    starts = [r.started for r in crawled["log"]["traps"] if r.path == "/2026-11/20/c_2001.htm"]
    assert starts[1] - starts[0] >= 0.1 and starts[2] - starts[1] >= 0.2
    base = crawled["farm"].url("traps", "").rstrip("/")
    skipped = dict(rows(crawled["db"], "SELECT replace(url, ?, ''), reason FROM skipped_pages WHERE source = 'traps'", (base,)))
    assert skipped == {
        "/2026-11/20/c_2002.htm": "too_large",
        "/2026-11/18/c_2008.htm": "too_large",
        "/2026-11/20/c_2003.htm": "not_html",
        "/2026-11/19/c_2004.htm": "no_text",
        "/2026-11/19/c_2005.htm": "http_error",
        "/2026-11/19/c_2006.htm": "http_error",
    }
    run = rows(crawled["db"], "SELECT errors, last_error FROM source_runs WHERE source = 'traps'")
    assert run[0][0] == 6 and run[0][1]


def test_run_is_recorded(crawled):
    runs = rows(crawled["db"], "SELECT status, finished IS NOT NULL, new_articles FROM crawl_runs")
    assert runs == [("ok", 1, 30)]
    per_source = dict(rows(crawled["db"], "SELECT source, new_articles FROM source_runs"))
    assert per_source == {"portal-en": 7, "traps": 2, "gbk-gov": 4, "feeds": 4, "sitemap": 5, "shapes": 8}


def test_full_text_search_finds_english_and_two_character_chinese(crawled):
    from loomwatch.storage.search import fts_query

    def search(q: str) -> int:
        return rows(crawled["db"], "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?", (fts_query(q),))[0][0]

    assert search("印染") >= 1
    assert search("轻纺城") >= 1
    assert search("中国轻纺城秋冬面料") == 1
    assert search("fabric") >= 1
    assert search("zzzunfindable") == 0


def test_second_run_requests_no_known_article_and_revalidates_listings(crawled):
    farm = crawled["farm"]
    farm.reset_log()
    result = loomwatch("crawl", "--config", str(crawled["config"]))
    assert result.returncode == 0, result.stderr
    assert rows(crawled["db"], "SELECT count(*) FROM articles")[0][0] == 30
    portal = farm.requests("portal-en")
    article_requests = [r.path for r in portal if "/c_" in r.path and not r.path.startswith("/private/")]
    assert article_requests == []
    listing = [r for r in portal if r.path == "/index.html"]
    assert listing and all("If-None-Match" in r.headers or "if-none-match" in {k.lower() for k in r.headers} for r in listing)
    new = rows(crawled["db"], "SELECT new_articles FROM crawl_runs ORDER BY id DESC LIMIT 1")[0][0]
    assert new == 0
    # Pages that cannot become articles are not asked for again; failures that may pass are.
    traps = {r.path for r in farm.requests("traps")}
    assert not traps & {"/2026-11/20/c_2002.htm", "/2026-11/18/c_2008.htm", "/2026-11/20/c_2003.htm", "/2026-11/19/c_2006.htm"}
    assert {"/2026-11/19/c_2004.htm", "/2026-11/19/c_2005.htm"} <= traps  # no text (yet), server error


# -- separate crawls ------------------------------------------------------------------------


def test_endless_calendar_is_bounded_by_depth_and_budget(tmp_path, site_farm):
    config = write_config(tmp_path, [source_toml(site_farm, "traps", follow_urls=["/events/"], article_urls=["/nothing-matches-this/"], max_depth=4)])
    assert loomwatch("crawl", "--config", str(config)).returncode == 0
    events = [p for p in paths(site_farm, "traps") if p.startswith("/events/")]
    assert 1 <= len(events) <= 2 * 4  # each hop adds the next and the previous day, at most
    site_farm.reset_log()
    config = write_config(tmp_path, [source_toml(site_farm, "traps", follow_urls=["/events/"], article_urls=["/nothing-matches-this/"], max_depth=10000, max_requests=15)])
    assert loomwatch("crawl", "--config", str(config)).returncode == 0
    assert len([p for p in paths(site_farm, "traps") if p != "/robots.txt"]) <= 15


def test_a_listing_linked_several_times_is_requested_and_charged_once(tmp_path, site_farm):
    # portal-en's pager links page 2 as "2" and ">" and page 3 from both pages: the twelve
    # requests the site needs (3 listings, 9 article links) must be enough.
    config = write_config(tmp_path, [source_toml(site_farm, "portal-en", max_requests=12)])
    assert loomwatch("crawl", "--config", str(config)).returncode == 0
    requested = paths(site_farm, "portal-en")
    assert requested.count("/index_1.htm") == requested.count("/index_2.htm") == 1
    assert len(rows(tmp_path / "archive.db", "SELECT id FROM articles")) == 7


@pytest.mark.parametrize("limit", [1, 2])
def test_per_host_concurrency_holds_on_the_server_side(tmp_path, site_farm, limit):
    config = write_config(tmp_path, [source_toml(site_farm, "slow")], concurrency_per_domain=limit, download_delay=0)
    result = loomwatch("crawl", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert rows(tmp_path / "archive.db", "SELECT count(*) FROM articles")[0][0] == 4
    assert 1 <= site_farm.max_concurrent("slow") <= limit
    agents = {r.headers.get("User-Agent") for r in site_farm.requests("slow")}
    assert agents == {"loomwatch/0.1 (+https://example.org/contact)"}


def test_a_second_crawl_on_the_same_database_exits_at_once(tmp_path, site_farm):
    config = write_config(tmp_path, [source_toml(site_farm, "slow")], download_delay=1.0, concurrency_per_domain=1)
    first = start_loomwatch("crawl", "--config", str(config))
    try:
        deadline = time.monotonic() + 30
        while not site_farm.requests("slow") and time.monotonic() < deadline:
            time.sleep(0.1)
        started = time.monotonic()
        second = loomwatch("crawl", "--config", str(config), timeout=30)
        assert time.monotonic() - started < 10
        assert second.returncode == 3
        assert "another loomwatch crawl is running on this database" in second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        first.wait(timeout=120)
    assert first.returncode == 0


@pytest.mark.parametrize("kill_after", [0, 1])
def test_kill_9_leaves_a_consistent_database_and_the_next_run_finishes(tmp_path, site_farm, kill_after):
    """Kill the crawl right after the first request, or once articles are being stored."""
    config = write_config(tmp_path, [source_toml(site_farm, "slow"), source_toml(site_farm, "gbk-gov")], download_delay=0.3, concurrency_per_domain=1)
    db = tmp_path / "archive.db"
    crawl = start_loomwatch("crawl", "--config", str(config))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        count = rows(db, "SELECT count(*) FROM articles")[0][0] if db.exists() and _has_articles_table(db) else 0
        if (kill_after == 0 and site_farm.requests("slow")) or (kill_after and count >= kill_after):
            break
        time.sleep(0.05)
    workers = _children(crawl.pid)
    os.kill(crawl.pid, signal.SIGKILL)
    crawl.wait()
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    _assert_no_half_written_article(db)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "extraction workers outlived the killed crawl"

    again = loomwatch("crawl", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    _assert_no_half_written_article(db)
    assert rows(db, "SELECT count(*), count(DISTINCT url) FROM articles") == [(8, 8)]
    assert rows(db, "SELECT status FROM crawl_runs ORDER BY id") == [("killed",), ("ok",)]


def _children(pid: int) -> list[int]:
    """The process's children (its extraction workers), from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found += [int(c) for c in (task / "children").read_text().split()] if (task / "children").exists() else []
    return found


def _has_articles_table(db: Path) -> bool:
    try:
        return bool(rows(db, "SELECT 1 FROM sqlite_master WHERE name = 'articles'"))
    except sqlite3.OperationalError:
        return False


def _assert_no_half_written_article(db: Path) -> None:
    """Every stored article has its URL alias and its search entry; no orphan rows."""
    assert rows(db, "SELECT count(*) FROM articles WHERE id NOT IN (SELECT article_id FROM article_urls)") == [(0,)]
    assert rows(db, "SELECT count(*) FROM articles WHERE id NOT IN (SELECT rowid FROM articles_fts)") == [(0,)]
    assert rows(db, "SELECT count(*) FROM articles_fts WHERE rowid NOT IN (SELECT id FROM articles)") == [(0,)]
    assert rows(db, "SELECT count(*) FROM article_clusters WHERE article_id NOT IN (SELECT id FROM articles)") == [(0,)]


def test_a_source_that_cannot_be_read_exits_1(tmp_path, site_farm):
    dead = '[[sources]]\nname = "dead"\nstart_urls = ["http://127.0.0.1:9/index.html"]'
    config = write_config(tmp_path, [dead, source_toml(site_farm, "shapes")], retries=0)
    result = loomwatch("crawl", "--config", str(config))
    assert result.returncode == 1
    assert "dead" in result.stdout and "failed" in result.stdout
    assert rows(tmp_path / "archive.db", "SELECT source, status FROM source_runs ORDER BY source") == [("dead", "failed"), ("shapes", "ok")]


def test_only_named_sources_are_crawled(tmp_path, site_farm):
    config = write_config(tmp_path, [source_toml(site_farm, "shapes"), source_toml(site_farm, "feeds")])
    result = loomwatch("crawl", "--config", str(config), "--source", "feeds")
    assert result.returncode == 0, result.stderr
    assert site_farm.requests("shapes") == []
    assert rows(tmp_path / "archive.db", "SELECT DISTINCT source FROM articles") == [("feeds",)]
    unknown = loomwatch("crawl", "--config", str(config), "--source", "nope")
    assert unknown.returncode == 2 and "no source named 'nope'" in unknown.stderr


LIBRARY_CRAWL = """
import json, sys
from loomwatch.crawler.config import load_config
from loomwatch.crawler.run import crawl

report = crawl(load_config(sys.argv[1]))
print(json.dumps({"status": report.status, "results": [[r.source, r.status, r.new_articles] for r in report.results], "cpu": report.cpu}))
"""


def test_library_crawl_returns_a_report(tmp_path, site_farm):
    """The library entry point, in a fresh process (a reactor runs once per process)."""
    config = write_config(tmp_path, [source_toml(site_farm, "feeds")])
    state = tmp_path / "state"  # where Scrapy's remote-control server would leave its job file and token
    result = subprocess.run([sys.executable, "-c", LIBRARY_CRAWL, str(config)], capture_output=True, text=True, timeout=240,
                            env={**os.environ, "XDG_STATE_HOME": str(state)})
    assert result.returncode == 0, result.stderr
    assert not state.exists(), "a crawl must not open Scrapy's code-execution server"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == "ok"
    assert report["results"] == [["feeds", "ok", 4]]
    assert report["cpu"].keys() >= {"decode", "extract", "language", "tagging"}


def test_demo_runs_offline(tmp_path):
    result = loomwatch("demo", "--dir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    db = tmp_path / "demo" / "loomwatch-demo.db"
    assert f"The archive is {db}" in result.stdout
    langs = dict(rows(db, "SELECT lang, count(*) FROM articles GROUP BY lang"))
    assert langs.get("en", 0) >= 10 and langs.get("zh-cn", 0) >= 4
    assert rows(db, "SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL")[0][0] >= 1
    assert rows(db, "SELECT count(*) FROM source_runs WHERE status != 'ok'") == [(0,)]
    first = rows(db, "SELECT count(*) FROM articles")
    assert loomwatch("demo", "--dir", str(tmp_path / "demo")).returncode == 0
    assert rows(db, "SELECT count(*) FROM articles") == first  # every demo starts from an empty archive


def test_a_truncated_gzip_sitemap_is_one_line_error_naming_it(tmp_path):
    import gzip

    site = tmp_path / "sites" / "cut"
    site.mkdir(parents=True)
    xml = "<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>" + "<url><loc>/a/1.html</loc></url>" * 50 + "</urlset>"
    (site / "sitemap.xml.gz").write_bytes(gzip.compress(xml.encode())[:60])  # cut off mid-stream
    with SiteFarm(tmp_path / "sites") as farm:
        url = farm.url("cut", "/sitemap.xml.gz")
        config = write_config(tmp_path, [f'[[sources]]\nname = "cut"\nsitemaps = ["{url}"]'], retries=0)
        result = loomwatch("crawl", "--config", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert rows(tmp_path / "archive.db", "SELECT last_error FROM source_runs") == [(f"{url}: not a sitemap (expected <urlset> or <sitemapindex>)",)]


def _article_page(title: str, canonical: str = "") -> str:
    body = "".join(f"<p>{title}: paragraph {i} about the dyeing mills of the county, their orders and their exports this autumn.</p>"
                   for i in range(8))
    return f"<html><head><title>{title}</title>{canonical}</head><body><article><h1>{title}</h1>{body}</article></body></html>"


def _crawl_site(tmp_path: Path, pages: dict[str, str], **crawl: object) -> tuple[subprocess.CompletedProcess, str]:
    """Crawl a one-site source made of `pages` ({path: html}, starting at /index.html; `crawl`:
    [crawl] settings); returns the result and the site's base URL."""
    for path, html in pages.items():
        (tmp_path / "sites" / "one" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "sites" / "one" / path).write_text(html, encoding="utf-8")
    with SiteFarm(tmp_path / "sites") as farm:
        config = write_config(tmp_path, [f'[[sources]]\nname = "one"\nstart_urls = ["{farm.url("one", "/index.html")}"]'], **crawl)
        return loomwatch("crawl", "--config", str(config)), farm.url("one", "")


def test_an_unparsable_link_costs_only_itself(tmp_path):
    result, base = _crawl_site(tmp_path, {
        "index.html": '<a href="http://[broken/x">a</a><a href="http://one.example:80:80/y">b</a>'
                      '<a href="/news/1.html">one</a><a href="/news/2.html">two</a>',
        "news/1.html": _article_page("Weavers"), "news/2.html": _article_page("Spinners")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert rows(tmp_path / "archive.db", "SELECT url FROM articles ORDER BY url") == [(base + "news/1.html",), (base + "news/2.html",)]


def test_an_unparsable_rel_canonical_leaves_the_page_under_its_own_url(tmp_path):
    bad = '<link rel="canonical" href="http://one.example:8o/news/1.html">'
    result, base = _crawl_site(tmp_path, {
        "index.html": '<a href="/news/1.html">one</a><a href="/news/2.html">two</a>',
        "news/1.html": _article_page("Weavers", bad), "news/2.html": _article_page("Spinners")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert rows(tmp_path / "archive.db", "SELECT url FROM articles ORDER BY url") == [(base + "news/1.html",), (base + "news/2.html",)]


def test_a_page_that_runs_past_the_analysis_time_limit_is_a_failure_and_the_crawl_goes_on(tmp_path):
    # Extraction's cost grows with the square of a page's paragraphs: these 100 000 (10 MB)
    # take a worker 20 s or more; the limit is 1 s. The worker is stopped at the limit, so the
    # crawl takes a few seconds, whatever the page would have cost.
    sentence = "The dyeing mills of the county raised their orders for printed fabric again this autumn."
    huge = f"<html><head><title>Ledger</title></head><body><article><h1>Ledger</h1>{f'<p>{sentence}</p>' * 100_000}</article></body></html>"
    result, base = _crawl_site(tmp_path, {
        "index.html": '<a href="/news/1.html">one</a><a href="/news/2.html">two</a><a href="/news/3.html">three</a>',
        "news/1.html": _article_page("Weavers"), "news/2.html": huge, "news/3.html": _article_page("Spinners")},
        analysis_timeout=1, max_page_bytes=20_000_000)
    assert result.returncode == 0, result.stdout + result.stderr
    db = tmp_path / "archive.db"
    assert rows(db, "SELECT url FROM articles ORDER BY url") == [(base + "news/1.html",), (base + "news/3.html",)]
    assert rows(db, "SELECT url, reason, detail FROM skipped_pages") == [
        (base + "news/2.html", "too_slow", "analysis took longer than 1 s (crawl.analysis_timeout)")]
    assert rows(db, "SELECT errors, last_error FROM source_runs") == [
        (1, base + "news/2.html: analysis took longer than 1 s (crawl.analysis_timeout)")]


def test_a_worker_that_dies_under_several_pages_is_replaced_by_one_pool():
    """Every page in flight finds the pool broken; one new pool takes them all (and the pages
    are analysed there), not a pool each."""
    import asyncio
    from types import SimpleNamespace

    from loomwatch.pipelines.analyse import AnalysePipeline
    from loomwatch.pipelines.settings import PipelineSettings

    pipeline = AnalysePipeline(SimpleNamespace(settings={"LOOMWATCH_PIPELINES": PipelineSettings(workers=2)}))
    pools = []
    start_pool = pipeline._start_pool
    pipeline._start_pool = lambda: pools.append(start_pool()) or pools[-1]  # type: ignore[method-assign]
    pipeline.open_spider()
    # 20 000 paragraphs: the better part of a second each, so all four pages are in flight at the kill.
    body = f"<html><body><article>{'<p>The mills raised their orders for printed fabric.</p>' * 20_000}</article></body></html>".encode()

    async def crawl() -> list[dict]:
        pages = [pipeline._run({"url": f"http://one.example/news/{i}.html", "body": body}, (), "") for i in range(4)]
        tasks = [asyncio.ensure_future(page) for page in pages]
        started: list[int] = []
        while len(started) < 2 and not all(t.done() for t in tasks):  # both workers busy, two pages waiting
            await asyncio.sleep(0.01)
            started = [slot for slot in range(len(pipeline.slots.times)) if pipeline.slots.times[slot]]
        os.kill(pipeline.slots.pids[started[0]], signal.SIGKILL)
        return await asyncio.gather(*tasks)

    try:
        results = asyncio.run(crawl())
    finally:
        pipeline.close_spider()
    assert len(pools) == 2
    assert all("cpu" in result for result in results)


def test_http_cache_entries_unused_for_90_days_are_removed_by_the_next_crawl(tmp_path, site_farm):
    import pickle

    config = write_config(tmp_path, [source_toml(site_farm, "shapes"), source_toml(site_farm, "feeds")])
    assert loomwatch("crawl", "--config", str(config)).returncode == 0
    cache = tmp_path / "archive.db.httpcache"

    def entries() -> dict[str, Path]:
        return {pickle.loads(meta.read_bytes())["url"]: meta.parent for meta in cache.glob("*/*/*/pickled_meta")}

    def age(entry: Path, days: float) -> None:  # back from its own time: a test's clock may be moved
        for path in [*entry.iterdir(), entry]:
            st = path.stat()
            os.utime(path, (st.st_atime, st.st_mtime - days * 86400))

    first = entries()
    shapes = sorted(url for url in first if url.startswith(site_farm.url("shapes", "")))
    feeds = {url for url in first if url.startswith(site_farm.url("feeds", ""))}
    assert len(shapes) >= 2 and feeds, first
    kept, *aged = shapes
    age(first[kept], 89)
    for url in aged:
        age(first[url], 91)
    # The shapes source is not crawled again: its listing pages are asked for by no run now.
    result = loomwatch("crawl", "--config", str(config), "--source", "feeds")
    assert result.returncode == 0, result.stderr
    after = entries()
    assert kept in after and not set(aged) & set(after)
    assert feeds <= set(after)
    assert not [d for d in cache.glob("*/*") if d.is_dir() and not any(d.iterdir())]  # no empty folders left
