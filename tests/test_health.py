"""Source health: a redesign, repeated failures and bot-check walls show up in `status`."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from loomwatch.crawler.cli import main
from loomwatch.crawler.config import HealthSettings
from loomwatch.crawler.demo.sitefarm import SiteFarm
from loomwatch.storage import open_database
from loomwatch.storage.articles import insert_article
from loomwatch.storage.health import source_status, unhealthy_sources
from loomwatch.storage.runs import SourceResult, finish_run, start_run

SETTINGS = HealthSettings(failed_runs=3, empty_runs=2, no_text_share=0.5)


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "archive.db")
    yield database
    database.close()


def run(db, *results: SourceResult, settings: HealthSettings = SETTINGS) -> int:
    run_id = start_run(db, [{"name": r.source, "start_urls": [f"https://{r.source}.example/"], "feeds": [], "sitemaps": []} for r in results])
    finish_run(db, run_id, results, health=settings)
    return run_id


def names(db, settings: HealthSettings = SETTINGS) -> list[str]:
    return [s["name"] for s in unhealthy_sources(db, settings)]


def test_redesign_is_unhealthy_after_empty_runs_and_recovers(db):
    run(db, SourceResult("keqiao-gov", pages_fetched=6, article_links=5, new_articles=5))
    run(db, SourceResult("keqiao-gov", pages_fetched=1, article_links=0))  # the listing stopped matching
    assert names(db) == []  # one empty run is a quiet day, not a redesign
    run(db, SourceResult("keqiao-gov", pages_fetched=1, article_links=0))
    (bad,) = unhealthy_sources(db, SETTINGS)
    assert bad["name"] == "keqiao-gov"
    assert "no article links in its last 2 runs" in bad["reason"] and "sources check --source keqiao-gov" in bad["reason"]
    assert bad["consecutive_failures"] == 0 and bad["last_success_at"] is not None
    assert set(bad) == {"name", "reason", "last_error", "last_success_at", "consecutive_failures"}
    run(db, SourceResult("keqiao-gov", pages_fetched=4, article_links=3, new_articles=3))  # patterns fixed
    assert names(db) == []


def test_a_source_that_never_found_links_is_not_a_redesign(db):
    for _ in range(4):
        run(db, SourceResult("quiet-portal", pages_fetched=1, article_links=0))
    assert names(db) == []


def test_repeated_failures_then_recovery(db):
    run(db, SourceResult("humen-news", pages_fetched=3, article_links=2, new_articles=2))
    for n in range(1, 4):
        run(db, SourceResult("humen-news", status="failed", errors=1, last_error=f"https://humen-news.example/: HTTP 503 (try {n})"))
        assert (names(db) == ["humen-news"]) == (n >= 3)
    (bad,) = unhealthy_sources(db, SETTINGS)
    assert bad["reason"] == "failed its last 3 runs"  # not also "no article links": one reason per cause
    assert bad["last_error"] == "https://humen-news.example/: HTTP 503 (try 3)"
    assert bad["consecutive_failures"] == 3
    run(db, SourceResult("humen-news", pages_fetched=2, article_links=2))
    assert names(db) == []


def test_n_is_configurable_and_applies_at_once(db):
    run(db, SourceResult("zhili-trade", status="failed", errors=1, last_error="timeout"))
    assert names(db) == []
    assert names(db, HealthSettings(failed_runs=1)) == ["zhili-trade"]


def test_bot_check_pages_answered_with_200(db):
    run(db, SourceResult("shengze-silk", pages_fetched=9, article_links=8, new_articles=1, no_text=7))
    (bad,) = unhealthy_sources(db, SETTINGS)
    assert bad["reason"].startswith("7 of 8 new pages in its latest run with new pages had no article text")
    # A later run without new pages does not clear it; one with real articles does.
    run(db, SourceResult("shengze-silk", pages_fetched=1, article_links=8))
    assert names(db) == ["shengze-silk"]
    run(db, SourceResult("shengze-silk", pages_fetched=5, article_links=9, new_articles=4))
    assert names(db) == []


def test_one_textless_page_is_not_a_wall(db):
    run(db, SourceResult("changshu-news", pages_fetched=2, article_links=1, no_text=1))
    assert names(db) == []


def test_finish_run_stores_the_verdict_for_datasette(db):
    run(db, SourceResult("good", pages_fetched=2, article_links=1, new_articles=1),
        SourceResult("bad", status="failed", errors=1, last_error="DNS lookup failed"),
        settings=HealthSettings(failed_runs=1))
    rows = {r["name"]: (r["health"], r["health_reason"]) for r in db.query("SELECT name, health, health_reason FROM sources")}
    assert rows == {"good": ("ok", None), "bad": ("unhealthy", "failed its last 1 runs")}


def test_names_leave_out_removed_sources_and_show_new_ones(db):
    run(db, SourceResult("removed", status="failed", last_error="gone"), settings=HealthSettings(failed_runs=1))
    assert unhealthy_sources(db, HealthSettings(failed_runs=1), names=["kept"]) == []
    (row,) = source_status(db, SETTINGS, names=["kept"])
    assert row["health"] == "never run" and row["articles_7d"] == 0


def test_articles_in_the_last_seven_days(db):
    run(db, SourceResult("nantong-en", pages_fetched=3, article_links=2, new_articles=2))
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
    with db.atomic():
        for i, seen in enumerate(["2026-11-20 08:00:00", "2026-11-13 12:00:00", "2026-11-13 11:59:59"]):
            insert_article(db, {"url": f"https://nantong-en.example/a{i}", "source": "nantong-en", "title": f"Story {i}",
                                "text": f"Home textile fair story number {i}.", "first_seen": seen})
    (row,) = source_status(db, SETTINGS, now=now)
    assert row["articles_7d"] == 2  # the one stored 7 days and 1 second ago is out


# --- loomwatch status -------------------------------------------------------------------------

CONFIG = """
timezone = "Asia/Shanghai"
[storage]
database = "archive.db"
[health]
failed_runs = 2
[[sources]]
name = "dieshiqiao-market"
start_urls = ["https://dieshiqiao.example/"]
[[sources]]
name = "keqiao-gov"
start_urls = ["https://keqiao.example/"]
"""


def write_config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "loomwatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_status_exit_codes_and_table(tmp_path):
    config = write_config(tmp_path)
    db = open_database(tmp_path / "archive.db")
    run(db, SourceResult("dieshiqiao-market", pages_fetched=3, article_links=2, new_articles=2),
        SourceResult("keqiao-gov", pages_fetched=2, article_links=1, new_articles=1))
    with db.atomic():
        for i in range(2):
            insert_article(db, {"url": f"https://dieshiqiao.example/{i}", "source": "dieshiqiao-market",
                                "title": f"Bedding fair {i}", "text": f"Bedding fair report {i}."})
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["source", "last", "success", "(Asia/Shanghai)", "failures", "7", "days", "health"]
    assert lines[1].split()[0] == "dieshiqiao-market" and lines[1].split()[-3:] == ["0", "2", "ok"]
    assert runner.invoke(main, ["-q", "status", "--config", str(config)]).output == ""  # cron: silent when well

    for _ in range(2):
        run(db, SourceResult("keqiao-gov", status="failed", errors=1, last_error="https://keqiao.example/: HTTP 502"))
    db.close()
    result = runner.invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 1
    assert "keqiao-gov" in result.output and "UNHEALTHY: failed its last 2 runs" in result.output
    assert "last error: https://keqiao.example/: HTTP 502" in result.output
    quiet = runner.invoke(main, ["-q", "status", "--config", str(config)])
    assert quiet.exit_code == 1 and "UNHEALTHY" in quiet.output
    rows = [json.loads(line) for line in runner.invoke(main, ["status", "--json", "--config", str(config)]).output.splitlines()]
    assert {r["name"]: r["health"] for r in rows} == {"dieshiqiao-market": "ok", "keqiao-gov": "unhealthy"}


def test_status_without_an_archive_creates_none(tmp_path):
    config = write_config(tmp_path)
    result = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 0
    assert "no archive yet" in result.output and result.output.count("never run") == 2
    assert not (tmp_path / "archive.db").exists()


# --- real crawls: a redesign, and `sources check` ---------------------------------------------

LISTING = """<html><body><h1>Textile market news</h1>
{links}
<p><a href="/about.html">About the market</a></p></body></html>"""
ARTICLE = """<html><head><title>{title}</title></head><body><article><h1>{title}</h1>
<p>{title}. Dealers at the home textile market in Dieshiqiao said that orders for bedding sets and
curtain fabric picked up after the autumn fair, and several weavers added night shifts.</p>
<p>Exporters reported steady demand from buyers in the Middle East, while freight prices for
containers to Europe eased compared with the summer months, according to the market office.</p>
<p>The office plans to publish the next price survey for duvet covers and towels at the end of the month.</p>
</article></body></html>"""


def make_site(root: Path, links: list[str]) -> None:
    site = root / "market"
    (site / "news").mkdir(parents=True, exist_ok=True)
    (site / "robots.txt").write_text("User-agent: *\nDisallow:\n")
    (site / "about.html").write_text("<html><body><p>About.</p></body></html>")
    anchors = "\n".join(f'<a href="{href}">{href}</a>' for href in links)
    (site / "index.html").write_text(LISTING.format(links=anchors))
    for i, title in enumerate(["Bedding orders rise", "Towel exporters busy", "Curtain fabric prices"], 1):
        (site / "news" / f"2026-11-2{i}-story{i}.html").write_text(ARTICLE.format(title=title))


def site_config(tmp_path: Path, farm: SiteFarm, extra: str = "") -> Path:
    return write_config(tmp_path, f"""
[storage]
database = "archive.db"
[crawl]
download_delay = 0
workers = 1
[health]
empty_runs = 2
{extra}
[[sources]]
name = "market"
start_urls = ["{farm.url('market', '/')}"]
article_urls = ['/news/\\d{{4}}-\\d\\d-\\d\\d-story\\d+\\.html$']
follow_urls = []
""")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loomwatch.crawler", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_a_real_redesign_shows_up_in_status(tmp_path):
    root = tmp_path / "sites"
    make_site(root, ["/news/2026-11-21-story1.html", "/news/2026-11-22-story2.html"])
    with SiteFarm(root) as farm:
        config = site_config(tmp_path, farm)
        first = cli("crawl", "--config", str(config))
        assert first.returncode == 0, first.stderr
        # The redesign: articles move to /a/<id>.html, which the configured pattern no longer matches.
        make_site(root, ["/a/1001.html", "/a/1002.html"])
        for _ in range(2):
            assert cli("crawl", "--config", str(config)).returncode == 0  # the crawl itself succeeds...
        status = cli("status", "--config", str(config))
    assert status.returncode == 1, status.stdout + status.stderr  # ...but the source is unhealthy
    assert "UNHEALTHY: found no article links in its last 2 runs" in status.stdout
    db = open_database(tmp_path / "archive.db")
    assert [r["article_links"] for r in db.query("SELECT article_links FROM source_runs ORDER BY run_id")] == [2, 0, 0]
    assert db.execute("SELECT health FROM sources WHERE name = 'market'").fetchone()[0] == "unhealthy"


def test_sources_check_counts_links_without_fetching_articles_or_writing(tmp_path):
    root = tmp_path / "sites"
    make_site(root, ["/news/2026-11-21-story1.html", "/news/2026-11-22-story2.html", "/news/2026-11-23-story3.html"])
    with SiteFarm(root) as farm:
        config = site_config(tmp_path, farm, extra=f"""
[[sources]]
name = "moved"
start_urls = ["{farm.url('market', '/old-index.html')}"]
""")
        result = cli("sources", "check", "--config", str(config))
        paths = [r.path for r in farm.requests("market")]
        only = cli("sources", "check", "--source", "market", "--config", str(config))
    assert result.returncode == 1  # "moved" cannot be read
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith(("market", "moved"))}
    assert lines["market"].split() == ["market", "read", "1/1", "article", "links", "3", "ok"]
    assert lines["moved"].split()[:3] == ["moved", "read", "0/1"] and "FAILED: nothing could be read" in lines["moved"]
    assert "last error: " + farm.url("market", "/old-index.html") + ": HTTP 404" in result.stdout
    assert "e.g. " + farm.url("market", "/news/2026-11-21-story1.html") in result.stdout
    assert sorted(paths) == ["/", "/old-index.html", "/robots.txt"]  # no article, no "about" page
    assert only.returncode == 0 and "moved" not in only.stdout
    assert not any(tmp_path.glob("archive.db*"))  # no archive, no lock, no HTTP cache
