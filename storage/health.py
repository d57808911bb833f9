"""Source health: which sources have stopped working, and why.

A source is unhealthy when (N from `[health]`):

* it failed its last `failed_runs` runs (no start URL, feed or sitemap could be read);
* it found no article links in its last `empty_runs` runs although it used to: the usual
  sign of a site redesign that broke `article_urls` / `follow_urls` (failed runs do not
  count here; they count for the first rule);
* in its latest run that reached new article pages, more than `no_text_share` of them held
  no article text (and at least two did): a bot-check or login page answered with 200.

Health is computed from the running counters in `sources` and from `source_runs`, so a
changed `[health]` setting applies at once; `finish_run` also stores the verdict in
`sources.health` / `sources.health_reason` for Datasette.

The daemon's own records of runs it started (a crawl skipped because another crawl held
the lock, a crawl stopped at its time limit) are written here too: they feed `status`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from loomwatch.storage.clock import TIME_FORMAT, utcnow
from loomwatch.storage.settings import setting

OK = "ok"
UNHEALTHY = "unhealthy"
NEVER_RUN = "never run"
# One article page without text is a gallery or a PDF link; two or more, mostly empty, is a wall.
MIN_NO_TEXT_PAGES = 2


@dataclass(frozen=True)
class HealthSettings:
    failed_runs: int = setting(3, "A source is unhealthy after failing this many runs in a row.", minimum=1)
    empty_runs: int = setting(3, "A source that used to find article links is unhealthy after finding none in this many runs in a row.", minimum=1)
    no_text_share: float = setting(0.5, "A source is unhealthy when more than this share of its new pages in a run yield no article text.", minimum=0, maximum=1)


def _reasons(row: dict[str, Any], settings: HealthSettings, history: SourceHistory) -> list[str]:
    reasons = []
    failures = row["consecutive_failures"] or 0
    if failures >= settings.failed_runs:
        reasons.append(f"failed its last {failures} runs")
    if row["ever_found_links"] and history.empty_streak >= settings.empty_runs:
        reasons.append(f"found no article links in its last {history.empty_streak} runs, though it used to: "
                       f"the site may have changed; try `loomwatch sources check --source {row['name']}`")
    if history.last_pages:
        new, no_text = history.last_pages
        if no_text >= MIN_NO_TEXT_PAGES and no_text > settings.no_text_share * (new + no_text):
            reasons.append(f"{no_text} of {new + no_text} new pages in its latest run with new pages had no article text "
                           "(a bot-check or login page?)")
    return reasons


@dataclass
class SourceHistory:
    empty_streak: int  # runs in a row, newest first, that read the source but found no article links
    last_pages: tuple[int, int] | None  # (new articles, pages without text) of the latest run with new pages


def _history(db: sqlite_utils.Database, name: str) -> SourceHistory:
    # Failed runs are left out of the streak: they are counted by the failure rule, and a
    # passing network error should neither hide nor fake a redesign.
    streak = 0
    for (links,) in db.execute("SELECT article_links FROM source_runs WHERE source = ? AND status = 'ok' "
                               "ORDER BY run_id DESC LIMIT 500", [name]):
        if links:
            break
        streak += 1
    row = db.execute(
        "SELECT new_articles, no_text FROM source_runs WHERE source = ? AND new_articles + no_text > 0 "
        "ORDER BY run_id DESC LIMIT 1",
        [name],
    ).fetchone()
    return SourceHistory(streak, (row[0], row[1]) if row else None)


def _source_rows(db: sqlite_utils.Database, names: Iterable[str] | None) -> list[dict[str, Any]]:
    rows = {r["name"]: r for r in db.query("SELECT * FROM sources ORDER BY name")} if "sources" in db.table_names() else {}
    if names is None:
        return list(rows.values())
    return [rows.get(name) or {"name": name, "last_run_at": None} for name in names]


def assess(db: sqlite_utils.Database, settings: HealthSettings, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every source (or the named ones, in that order) with `health` (ok, unhealthy,
    never run) and `reason`, plus the columns of its `sources` row."""
    out = []
    for row in _source_rows(db, names):
        if row.get("last_run_at") is None:
            out.append({**row, "health": NEVER_RUN, "reason": ""})
            continue
        reasons = _reasons(row, settings, _history(db, row["name"]))
        out.append({**row, "health": UNHEALTHY if reasons else OK, "reason": "; ".join(reasons)})
    return out


def unhealthy_sources(db: sqlite_utils.Database, settings: HealthSettings, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The unhealthy sources, by name: dicts with name, reason, last_error, last_success_at
    (UTC text or None) and consecutive_failures. Pass `names` (the configured sources) to
    leave out sources that were removed from the configuration."""
    keys = ("name", "reason", "last_error", "last_success_at", "consecutive_failures")
    return [{k: s.get(k) for k in keys} for s in assess(db, settings, names) if s["health"] == UNHEALTHY]


def source_status(db: sqlite_utils.Database, settings: HealthSettings, names: Iterable[str] | None = None,
                  now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """What `loomwatch status` shows, one dict per source: name, health, reason,
    last_success_at, last_run_at, last_status, consecutive_failures, last_error and
    articles_7d (articles first stored in the 7 days before `now`)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    since = (now.astimezone(dt.timezone.utc) - dt.timedelta(days=7)).strftime(TIME_FORMAT)
    counts: dict[str, int] = {}
    if "articles" in db.table_names():
        counts = {r[0]: r[1] for r in db.execute("SELECT source, count(*) FROM articles WHERE first_seen >= ? GROUP BY source", [since])}
    keys = ("name", "health", "reason", "last_success_at", "last_run_at", "last_status", "consecutive_failures", "last_error")
    return [{**{k: s.get(k) for k in keys}, "consecutive_failures": s.get("consecutive_failures") or 0,
             "articles_7d": counts.get(s["name"], 0)} for s in assess(db, settings, names)]


def update_health(db: sqlite_utils.Database, settings: HealthSettings, names: Iterable[str]) -> None:
    """Store the current verdict in sources.health / health_reason (called by `finish_run`)."""
    for s in assess(db, settings, names):
        db.conn.execute("UPDATE sources SET health = ?, health_reason = ? WHERE name = ?",
                        [s["health"], s["reason"] or None, s["name"]])


# --- what the scheduler records about the runs it starts ---------------------------------------


def record_skipped_run(db: sqlite_utils.Database, message: str) -> int:
    """A scheduled crawl that did not start because another crawl held the lock."""
    now = utcnow()
    with db.atomic():
        cursor = db.execute("INSERT INTO crawl_runs (started, finished, status, message) VALUES (?, ?, 'skipped', ?)",
                            [now, now, message])
    return cursor.lastrowid


def mark_run_failed(db: sqlite_utils.Database, pid: int, since: str, message: str) -> int:
    """Record the runs of crawl process `pid` started at or after `since` as failed
    (a crawl stopped at its time limit). Returns how many runs were marked."""
    with db.atomic():
        cursor = db.execute(
            "UPDATE crawl_runs SET status = 'failed', finished = coalesce(finished, ?), "
            "message = ? || coalesce(' (' || message || ')', '') WHERE pid = ? AND started >= ?",
            [utcnow(), message, pid, since],
        )
    return cursor.rowcount


def last_crawl_started(db: sqlite_utils.Database) -> str | None:
    """UTC start of the latest crawl of any kind (cron, daemon, by hand, skipped)."""
    return db.execute("SELECT max(started) FROM crawl_runs").fetchone()[0]


def last_digest_run(db: sqlite_utils.Database) -> str | None:
    """UTC time the latest whole digest run finished: every daily and weekly subscription, none
    failed, whether or not it had anything to mail (one subscription mailed by hand and
    `--date` digests do not count). An archive from before such runs were noted: the latest
    digest of what is new that was mailed."""
    finished = db.execute("SELECT max(finished) FROM digest_runs").fetchone()[0]
    if finished is not None:
        return finished
    return db.execute("SELECT max(coalesce(sent, created)) FROM digests WHERE status = 'sent' AND kind = 'new'").fetchone()[0]
