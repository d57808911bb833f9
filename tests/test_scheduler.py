"""`loomwatch schedule`: triggers on a frozen clock, catch-up, child processes, and the daemon itself."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import zoneinfo
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from loomwatch.crawler.config import ConfigError, load_config
from loomwatch.crawler.scheduler import Daemon, parse_trigger, plan_job, plan_jobs
from loomwatch.crawler.demo.sitefarm import SiteFarm
from loomwatch.storage import CrawlLock, open_database
from loomwatch.storage.articles import insert_article

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc


def at(text: str, tz: dt.tzinfo = SHANGHAI) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz)


# --- triggers, frozen clock ---------------------------------------------------------------------


def test_cron_fires_in_the_configured_time_zone():
    trigger = parse_trigger("0 */4 * * *", "Asia/Shanghai")
    now = at("2026-11-20 09:30")
    first = trigger.get_next_fire_time(None, now)
    assert first == at("2026-11-20 12:00")
    assert trigger.get_next_fire_time(first, first) == at("2026-11-20 16:00")
    digest = parse_trigger("30 7 * * *", "Asia/Shanghai")
    # 07:30 in Shanghai is 23:30 UTC the day before, whatever the clock's own zone.
    assert digest.get_next_fire_time(None, at("2026-11-20 00:00", UTC)) == at("2026-11-20 23:30", UTC)
    weekdays = parse_trigger("0 8 * * mon-fri", "Asia/Shanghai")
    assert weekdays.get_next_fire_time(None, at("2026-11-21 09:00")) == at("2026-11-23 08:00")  # Saturday → Monday


def test_cron_across_a_daylight_saving_change():
    trigger = parse_trigger("30 7 * * *", "Europe/Berlin")
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    fire = trigger.get_next_fire_time(None, at("2026-10-24 08:00", berlin))
    assert fire == at("2026-10-25 07:30", berlin) and fire.utcoffset() == dt.timedelta(hours=1)  # CET after the change
    assert trigger.get_next_fire_time(None, at("2026-10-24 00:00", berlin)).utcoffset() == dt.timedelta(hours=2)


@pytest.mark.parametrize("spec, step", [("20s", dt.timedelta(seconds=20)), ("15m", dt.timedelta(minutes=15)),
                                        ("4h", dt.timedelta(hours=4)), ("1d", dt.timedelta(days=1)), (" 90 m ", dt.timedelta(minutes=90))])
def test_intervals(spec, step):
    start = at("2026-11-20 09:30")
    trigger = parse_trigger(spec, "Asia/Shanghai", start=start)
    assert trigger.get_next_fire_time(None, start) == start
    assert trigger.get_next_fire_time(start, start) == start + step
    assert trigger.get_next_fire_time(None, start + step * 2.5) == start + step * 3


def test_empty_spec_switches_a_job_off():
    assert parse_trigger("", "Asia/Shanghai") is None
    assert parse_trigger("   ", "Asia/Shanghai") is None


@pytest.mark.parametrize("spec, hint", [
    ("every 4h", "neither an interval nor a 5-field cron expression"),
    ("0 */4 * *", "Wrong number of fields"),
    ("0 0 * * * *", "Wrong number of fields"),
    ("61 * * * *", "neither an interval"),
    ("4 hours", "neither an interval"),
    ("0s", "zero interval"),
    ("9999999d", "longer than a year"),
    ("99999999999999999999s", "longer than a year"),
    ("0 0 30 2 *", "never fires"),
])
def test_bad_specs_name_the_file_key_and_fix(spec, hint):
    with pytest.raises(ConfigError) as err:
        plan_job("digest", spec, "Asia/Shanghai", None, at("2026-11-20 09:30"), run_if_never=False, where="/srv/lw.toml")
    message = str(err.value)
    assert message.startswith("/srv/lw.toml: key 'schedule.digest': ") and hint in message
    assert spec.strip() in message


def test_a_bad_schedule_in_the_file_exits_2(tmp_path):
    config = tmp_path / "loomwatch.toml"
    config.write_text('[schedule]\ncrawl = "every 4 hours"\n[[sources]]\nname = "a"\nstart_urls = ["https://a.example/"]\n')
    result = subprocess.run([sys.executable, "-m", "loomwatch.crawler", "schedule", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{config.resolve()}: key 'schedule.crawl': 'every 4 hours' is neither" in result.stderr


# --- catch-up and first runs ----------------------------------------------------------------------


def test_a_digest_missed_while_down_is_sent_once_at_start_up():
    now = at("2026-11-20 09:00")
    plan = plan_job("digest", "30 7 * * *", "Asia/Shanghai", at("2026-11-19 07:30:04"), now, run_if_never=False)
    assert plan.catch_up and plan.first_run == now
    assert plan.trigger.get_next_fire_time(now, now) == at("2026-11-21 07:30")  # then back on schedule


def test_a_digest_already_sent_today_is_not_sent_again():
    now = at("2026-11-20 09:00")
    plan = plan_job("digest", "30 7 * * *", "Asia/Shanghai", at("2026-11-20 07:30:02"), now, run_if_never=False)
    assert not plan.catch_up and plan.first_run == at("2026-11-21 07:30")


def test_a_never_sent_digest_waits_for_its_time_but_a_never_run_crawl_starts_now():
    now = at("2026-11-20 09:00")
    digest = plan_job("digest", "30 7 * * *", "Asia/Shanghai", None, now, run_if_never=False)
    assert digest.first_run == at("2026-11-21 07:30") and not digest.catch_up
    crawl = plan_job("crawl", "0 */4 * * *", "Asia/Shanghai", None, now, run_if_never=True)
    assert crawl.first_run == now


def test_intervals_keep_counting_from_the_last_crawl_across_restarts():
    now = at("2026-11-20 09:00")
    recent = plan_job("crawl", "15m", "Asia/Shanghai", at("2026-11-20 08:50"), now, run_if_never=True)
    assert recent.first_run == at("2026-11-20 09:05") and not recent.catch_up
    assert recent.trigger.get_next_fire_time(recent.first_run, recent.first_run) == at("2026-11-20 09:20")
    stale = plan_job("crawl", "15m", "Asia/Shanghai", at("2026-11-20 06:00"), now, run_if_never=True)
    assert stale.catch_up and stale.first_run == now
    assert stale.trigger.get_next_fire_time(now, now) == at("2026-11-20 09:15")


def test_a_crawl_stamped_ahead_of_a_clock_set_back_does_not_hold_off_the_crawls():
    now = at("2026-11-20 09:00")  # the clock ran three days fast at the last crawl, then was corrected
    plan = plan_job("crawl", "4h", "Asia/Shanghai", at("2026-11-23 10:00"), now, run_if_never=True)
    assert plan.first_run == at("2026-11-20 13:00") and not plan.catch_up


def write_config(tmp_path: Path, schedule: str, sources: str = "", extra: str = "") -> Path:
    sources = sources or '[[sources]]\nname = "nowhere"\nstart_urls = ["http://127.0.0.1:9/"]\n'
    path = tmp_path / "loomwatch.toml"
    path.write_text(f'[storage]\ndatabase = "archive.db"\n[schedule]\n{schedule}\n{extra}\n{sources}', encoding="utf-8")
    return path


def test_plan_jobs_reads_the_last_crawl_and_digest_from_the_archive(tmp_path):
    config = load_config(write_config(tmp_path, 'crawl = "0 */4 * * *"\ndigest = "30 7 * * *"'))
    db = open_database(config.storage.database)
    db.execute("INSERT INTO crawl_runs (started, finished, status) VALUES ('2026-11-20 00:00:03', '2026-11-20 00:09:00', 'ok')")
    # A digest of one calendar day (--date) is not the daily mail; the failed one was not mailed.
    db.execute("INSERT INTO digests (window_start, window_end, created, status, sent, kind) VALUES "
               "('2026-11-17 23:30:00', '2026-11-18 23:30:00', '2026-11-18 23:30:01', 'sent', '2026-11-18 23:30:05', 'new'), "
               "('2026-11-18 16:00:00', '2026-11-19 16:00:00', '2026-11-19 23:31:00', 'sent', '2026-11-19 23:31:00', 'day'), "
               "('2026-11-18 23:30:00', '2026-11-19 23:30:00', '2026-11-19 23:30:01', 'failed', NULL, 'new')")
    db.conn.commit()
    db.close()
    crawl, digest = plan_jobs(config, now=at("2026-11-20 09:00"))  # 01:00 UTC
    assert not crawl.catch_up and crawl.first_run == at("2026-11-20 12:00")  # the 08:00 crawl ran
    assert digest.catch_up and digest.first_run == at("2026-11-20 09:00")  # the 07:30 digest of the 20th did not go out


def test_nothing_to_schedule_is_a_config_error(tmp_path):
    config = load_config(write_config(tmp_path, 'crawl = ""\ndigest = ""'))
    with pytest.raises(ConfigError, match="nothing to schedule"):
        plan_jobs(config)


# --- one job: a real child process ------------------------------------------------------------------

HANGING_CRAWL = """
import os, signal, subprocess, sys, time
from loomwatch.storage import open_database
from loomwatch.storage.runs import start_run
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a crawl hung so badly that it ignores SIGTERM
db = open_database(sys.argv[1])
start_run(db, [{"name": "nowhere", "start_urls": [], "feeds": [], "sitemaps": []}])
db.close()
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[2], "w").write(str(worker.pid))
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_crawl_past_its_time_limit_is_killed_with_its_workers_and_recorded_failed(tmp_path):
    config = load_config(write_config(tmp_path, 'crawl = "4h"\ndigest = ""\ncrawl_timeout = 2'))
    daemon = Daemon(config)
    daemon.term_wait = 1
    script = tmp_path / "hang.py"
    script.write_text(HANGING_CRAWL)
    clock = time.monotonic()
    outcome = daemon.run_child("crawl", [sys.executable, str(script), str(config.storage.database), str(tmp_path / "worker")],
                               config.schedule.crawl_timeout)
    assert outcome.outcome == "timed out" and 2 <= time.monotonic() - clock < 10
    assert outcome.returncode == -signal.SIGKILL  # SIGTERM was ignored
    worker = int((tmp_path / "worker").read_text())
    deadline = time.monotonic() + 5
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker)
    db = open_database(config.storage.database)
    (row,) = db.query("SELECT status, finished, pid, message FROM crawl_runs")
    assert row["status"] == "failed" and row["finished"] and row["pid"] == outcome.pid
    assert row["message"] == "stopped by loomwatch schedule after 2 s (schedule.crawl_timeout)"


def test_a_crawl_that_finds_the_lock_held_is_skipped_not_failed(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    config = load_config(write_config(tmp_path, 'crawl = "4h"\ndigest = ""'))
    daemon = Daemon(config)
    with CrawlLock(config.storage.database):  # a crawl started from cron, say
        outcome = daemon.crawl_job()  # the real `loomwatch crawl`, which waits briefly and gives up
    assert (outcome.outcome, outcome.returncode) == ("skipped", 3)
    db = open_database(config.storage.database)
    (row,) = db.query("SELECT status, message FROM crawl_runs")
    assert row == {"status": "skipped", "message": "scheduled crawl skipped: another crawl held the database lock"}
    assert "crawl: skipped: another crawl holds the database lock" in caplog.text
    # The child's own message reaches the daemon's log, at the child's level.
    assert any(r.levelname == "INFO" and "another loomwatch crawl is running" in r.getMessage() for r in caplog.records)


CHATTY_CHILD = """
import sys, time
print("2026-11-20 09:00:00 ERROR loomwatch.x: it broke\\n  detail line", file=sys.stderr, flush=True)
time.sleep(0.3)
print("mill   failed   pages 1", flush=True)  # the command's report, on stdout
sys.exit(1)
"""


def test_child_output_keeps_its_level(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    config = load_config(write_config(tmp_path, 'crawl = "4h"\ndigest = ""'))
    daemon = Daemon(config)
    outcome = daemon.run_child("crawl", [sys.executable, "-c", CHATTY_CHILD], 30)
    assert outcome.outcome == "sources failed"
    tag = f"crawl[{outcome.pid}] "
    relayed = [(r.levelname, r.getMessage()) for r in caplog.records if r.getMessage().startswith(tag)]
    assert relayed == [("ERROR", tag + "loomwatch.x: it broke"), ("ERROR", tag + "  detail line"), ("INFO", tag + "mill   failed   pages 1")]
    assert [r.levelname for r in caplog.records if "finished in" in r.getMessage()] == ["WARNING"]


def test_a_fleet_crawl_that_cannot_reach_redis_is_logged_as_that_not_as_sources_failed(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis_url = f"redis://127.0.0.1:{port}/0"
    config = load_config(write_config(tmp_path, 'crawl = "4h"\ndigest = ""', extra=f'[fleet]\nredis_url = "{redis_url}"\nscheduled = true'))
    outcome = Daemon(config).crawl_job()  # the real `loomwatch crawl --fleet`
    assert (outcome.outcome, outcome.returncode) == ("failed", 1)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors[0].startswith(f"crawl: failed: cannot reach Redis at {redis_url} (")
    assert errors[0].endswith("start redis-server there or fix 'fleet.redis_url'")
    assert not [m for m in errors + [r.getMessage() for r in caplog.records] if "sources failed" in m]


@pytest.mark.parametrize("message", ["", "loomwatch: alert weekly-buyers not sent: SMTP server refused the login"])
def test_a_crawl_whose_sources_or_alert_failed_is_still_logged_as_sources_failed(tmp_path, caplog, message):
    caplog.set_level(logging.INFO)
    config = load_config(write_config(tmp_path, 'crawl = "4h"\ndigest = ""'))
    child = f"import sys; print('mill   failed   pages 0'); print({message!r}, file=sys.stderr); sys.exit(1)"
    outcome = Daemon(config).run_child("crawl", [sys.executable, "-c", child], 30)
    assert outcome.outcome == "sources failed"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


# --- the daemon, as operators run it -------------------------------------------------------------------

LISTING = "<html><body><h1>Weaving news</h1>{links}</body></html>"
ARTICLE = """<html><head><title>{title}</title></head><body><article><h1>{title}</h1>
<p>{title}. Mills in the Shengze silk district said that orders for lining fabric and chiffon rose in
November, and several weaving workshops along the canal added water-jet looms to keep up.</p>
<p>Buyers from garment makers in Humen visited the market twice this month, and traders expect prices
for polyester filament to stay firm until the spring festival holidays, a market official said.</p>
</article></body></html>"""


def make_site(root: Path, count: int, listing_delay: float = 0.0, article_delay: float = 0.0) -> None:
    site = root / "mill"
    (site / "news").mkdir(parents=True, exist_ok=True)
    (site / "robots.txt").write_text("User-agent: *\nDisallow:\n")
    links = "".join(f'<p><a href="/news/2026-11-20-{i}.html">Story {i}</a></p>' for i in range(count))
    (site / "index.html").write_text(LISTING.format(links=links))
    for i in range(count):
        (site / "news" / f"2026-11-20-{i}.html").write_text(ARTICLE.format(title=f"Silk story number {i}"))
    rules = []
    if listing_delay:
        rules.append(f'[[rule]]\npath = "/"\ndelay = {listing_delay}\n')
    if article_delay:
        rules.append(f'[[rule]]\nmatch = "^/news/"\ndelay = {article_delay}\n')
    (site / "_site.toml").write_text("\n".join(rules))


def site_config(tmp_path: Path, farm: SiteFarm, schedule: str, crawl: str = "") -> Path:
    return write_config(tmp_path, schedule, extra=f"[crawl]\ndownload_delay = 0\nworkers = 1\n{crawl}\n", sources=f"""
[[sources]]
name = "mill"
start_urls = ["{farm.url('mill', '/')}"]
article_urls = ['/news/']
""")


def start_daemon(config: Path, *flags: str) -> subprocess.Popen:
    # stderr to a file: a pipe nobody reads until the end would fill up and block the daemon
    stderr = (config.parent / f"daemon-{time.monotonic_ns()}.err").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "loomwatch.crawler", *flags, "schedule", "--config", str(config)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    proc.stderr_file = Path(stderr.name)  # type: ignore[attr-defined]
    stderr.close()
    return proc


def stop_daemon(proc: subprocess.Popen, timeout: float) -> tuple[float, str]:
    """SIGTERM the daemon; (seconds it took to exit, its stderr)."""
    clock = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"loomwatch schedule did not exit within {timeout} s of SIGTERM:\n{proc.stderr_file.read_text()[-3000:]}")
    return time.monotonic() - clock, proc.stderr_file.read_text()


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def runs(database: Path) -> list[tuple]:
    if not database.exists():
        return []
    with sqlite3.connect(database) as conn:  # an archive appears with its tables (storage.db._create)
        return conn.execute("SELECT id, started, finished, status FROM crawl_runs ORDER BY id").fetchall()


@pytest.mark.slow
def test_schedule_crawls_on_time_without_overlap_and_stops_cleanly(tmp_path):
    root = tmp_path / "sites"
    make_site(root, 2, listing_delay=1.0)  # each crawl takes longer than the 1 s interval
    with SiteFarm(root) as farm:
        config = site_config(tmp_path, farm, 'crawl = "1s"\ndigest = ""\nshutdown_grace = 30\nlog_file = "logs/schedule.log"')
        database = tmp_path / "archive.db"
        lock = CrawlLock(database).acquire()  # a cron crawl holds the lock when the daemon starts
        daemon = start_daemon(config)
        try:
            wait_for(lambda: any(r[3] == "skipped" for r in runs(database)), 30, "the first crawl to be skipped")
            lock.release()
            wait_for(lambda: sum(r[3] == "ok" for r in runs(database)) >= 3, 90, "three crawls")
        finally:
            lock.release()
            seconds, err = stop_daemon(daemon, timeout=45)
        listing_requests = [r for r in farm.requests("mill") if r.path == "/"]
    assert daemon.returncode == 0, err[-3000:]
    assert seconds < 30  # a running crawl finished within the grace period
    rows = runs(database)
    crawls = [r for r in rows if r[3] != "skipped"]
    assert all(r[3] == "ok" and r[2] for r in crawls), rows  # none left running or killed
    for earlier, later in zip(crawls, crawls[1:]):
        assert earlier[2] <= later[1], f"crawl runs overlap: {earlier} and {later}"
    assert len(listing_requests) >= len(crawls) >= 3
    log_text = (tmp_path / "logs" / "schedule.log").read_text()
    assert "crawl: skipped: another crawl holds the database lock" in log_text
    assert log_text.count("crawl: started (pid") >= 4 and "crawl: finished in" in log_text and ": ok (exit code 0)" in log_text
    assert "received SIGTERM: scheduling stopped" in err and err.rstrip().endswith("loomwatch schedule stopped")


@pytest.mark.slow
def test_sigterm_stops_a_crawl_that_outlasts_the_grace_period(tmp_path):
    root = tmp_path / "sites"
    make_site(root, 3, article_delay=4.0)
    with SiteFarm(root) as farm:
        config = site_config(tmp_path, farm, 'crawl = "4h"\ndigest = ""\nshutdown_grace = 1', crawl="timeout = 10")
        daemon = start_daemon(config)
        try:
            wait_for(lambda: any(r.path.startswith("/news/") for r in farm.requests("mill")), 60, "the crawl to fetch articles")
        finally:
            seconds, err = stop_daemon(daemon, timeout=60)
    assert daemon.returncode == 0, err[-3000:]
    assert seconds < 1 + 20 + 5  # grace, then the crawl's own clean stop (bounded by SIGKILL after 20 s)
    assert "crawl: still running at shutdown: stopping it" in err
    assert "crawl: finished in" in err and ": stopped (exit code" in err
    ((_, _, finished, status),) = runs(tmp_path / "archive.db")
    # Scrapy stopped cleanly on SIGTERM and recorded the run itself; killed outright it would
    # stay `running` until the next crawl marks it `killed`.
    assert finished and status in ("ok", "partial"), status


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        self.messages.append(envelope.content)
        return "250 OK"


class _PortZeroController(Controller):
    """aiosmtpd's Controller on a port picked by the system."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp():
    inbox = _Inbox()
    controller = _PortZeroController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.mark.slow
def test_a_missed_digest_is_sent_once_at_start_up_and_not_again_after_a_restart(tmp_path, smtp):
    controller, inbox = smtp
    config = write_config(tmp_path, 'crawl = ""\ndigest = "30 7 * * *"\nshutdown_grace = 5', extra=textwrap.dedent(f"""
        [email]
        smtp_host = "127.0.0.1"
        smtp_port = {controller.port}
        recipients = ["desk@example.org"]
        """))
    db = open_database(tmp_path / "archive.db")
    two_days_ago = (dt.datetime.now(UTC) - dt.timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    with db.atomic():
        db.execute("INSERT INTO digests (kind, window_start, window_end, created, status, sent, last_article_id) "
                   "VALUES ('new', ?, ?, ?, 'sent', ?, 0)", [two_days_ago, two_days_ago, two_days_ago, two_days_ago])
        insert_article(db, {"url": "https://mill.example/news/1", "source": "nowhere", "title": "Shengze silk orders rise",
                            "text": "Weaving mills in Shengze report more orders for silk lining fabric.",
                            "published": dt.date.today().isoformat(), "relevance": 0.9, "relevant": 1})
    db.close()

    first = start_daemon(config)
    try:
        wait_for(lambda: len(inbox.messages) == 1, 60, "the caught-up digest")
        wait_for(lambda: _sent(tmp_path), 30, "the digest to be recorded as sent")
    finally:
        _, err = stop_daemon(first, timeout=30)
    assert first.returncode == 0, err[-3000:]
    assert "catching up a run missed while loomwatch schedule was not running" in err
    assert b"Shengze silk orders rise" in inbox.messages[0]

    second = start_daemon(config)  # a restart (say, after a deploy) the same morning
    time.sleep(4)
    _, err = stop_daemon(second, timeout=30)
    assert second.returncode == 0, err[-3000:]
    assert "catching up" not in err and "digest: started" not in err
    assert len(inbox.messages) == 1


def _sent(tmp_path: Path) -> bool:
    with sqlite3.connect(tmp_path / "archive.db") as conn:
        return conn.execute("SELECT count(*) FROM digests WHERE status = 'sent'").fetchone()[0] == 2


def test_second_signal_stops_the_running_job_at_once(tmp_path):
    config = load_config(write_config(tmp_path, 'crawl = "4h"\ndigest = ""\nshutdown_grace = 60'))
    daemon = Daemon(config)
    daemon.term_wait = 1
    outcomes = []
    job = threading.Thread(target=lambda: outcomes.append(
        daemon.run_child("crawl", [sys.executable, "-c", "import time; time.sleep(60)"], 120)))
    job.start()
    wait_for(lambda: "crawl" in daemon.children, 10, "the child")
    daemon.stop()
    stopper = threading.Thread(target=daemon.finish_running_jobs, args=(60,))
    clock = time.monotonic()
    stopper.start()
    time.sleep(0.5)
    assert stopper.is_alive()  # waiting out the grace period ...
    daemon.stop()  # ... until a second signal
    stopper.join(10)
    job.join(10)
    assert not stopper.is_alive() and time.monotonic() - clock < 5
    assert outcomes[0].outcome == "stopped" and outcomes[0].returncode == -signal.SIGTERM
    assert daemon.run_child("crawl", [sys.executable, "-c", "pass"], 10).outcome == "not started: shutting down"


def test_operations_guide_covers_every_setting_command_and_exit_code():
    import dataclasses

    from loomwatch.crawler.config import HealthSettings, ScheduleSettings

    guide = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    for cls, section in ((ScheduleSettings, "schedule"), (HealthSettings, "health")):
        for f in dataclasses.fields(cls):
            assert f.name in guide, f"docs/operations.md does not mention [{section}] {f.name}"
    for command in ("loomwatch schedule", "loomwatch status", "loomwatch sources check", "-q crawl", "digest --send",
                    "KillMode=mixed", "TimeoutStopSec", "loomwatch.db.lock"):
        assert command in guide, f"docs/operations.md does not mention {command}"
    assert "| 3 | another crawl holds the lock" in guide
