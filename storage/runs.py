"""Crawl runs and per-source results: what `loomwatch status` and the digest footer read."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import sqlite_utils

from loomwatch.storage.articles import dumps
from loomwatch.storage.clock import utcnow
from loomwatch.storage.health import HealthSettings, update_health


@dataclass
class SourceResult:
    """What one run did for one source."""

    source: str
    status: str = "ok"  # ok, or failed: no start URL, feed or sitemap could be read
    pages_fetched: int = 0
    article_links: int = 0
    new_articles: int = 0
    duplicates: int = 0
    no_text: int = 0
    errors: int = 0
    last_error: str | None = None


def close_abandoned_runs(db: sqlite_utils.Database) -> int:
    """Mark runs left 'running' by a killed process.

    Only call while holding the crawl lock: then no other crawl can be running.
    """
    stale = [r["id"] for r in db.query("SELECT id FROM crawl_runs WHERE status = 'running'")]
    with db.atomic():
        for run_id in stale:
            db.conn.execute(
                "UPDATE crawl_runs SET status = 'killed', finished = coalesce(finished, ?), "
                "message = 'the crawl process ended without finishing (killed or crashed)' WHERE id = ?",
                [utcnow(), run_id],
            )
    return len(stale)


def start_run(db: sqlite_utils.Database, sources: Iterable[dict]) -> int:
    """Record the start of a crawl and register its sources; returns the run id."""
    sources = list(sources)
    now = utcnow()
    with db.atomic():
        cursor = db.execute(
            "INSERT INTO crawl_runs (started, status, pid, sources) VALUES (?, 'running', ?, ?)",
            [now, os.getpid(), dumps([s["name"] for s in sources])],
        )
        for source in sources:
            db.conn.execute(
                "INSERT INTO sources (name, start_urls, feeds, sitemaps, first_run_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET start_urls = excluded.start_urls, feeds = excluded.feeds, sitemaps = excluded.sitemaps",
                [source["name"], dumps(source["start_urls"]), dumps(source["feeds"]), dumps(source["sitemaps"]), now],
            )
    return cursor.lastrowid


def finish_run(db: sqlite_utils.Database, run_id: int, results: Iterable[SourceResult], message: str = "",
               health: Any = None, stopped: bool = False) -> str:
    """Store per-source results, update each source's running counters and health
    (`health`: the `[health]` settings, defaults when None); returns the run status
    (`failed` when the crawl was `stopped` because the archive could not be written)."""
    results = list(results)
    now = utcnow()
    failed = [r for r in results if r.status != "ok"]
    status = "ok" if not failed else ("failed" if len(failed) == len(results) else "partial")
    status = "failed" if stopped else status
    with db.atomic():
        for r in results:
            row = asdict(r)
            db.conn.execute(
                f"INSERT OR REPLACE INTO source_runs (run_id, {', '.join(row)}) VALUES (?, {', '.join('?' * len(row))})",
                [run_id, *row.values()],
            )
            ok = r.status == "ok"
            db.conn.execute(
                """
                UPDATE sources SET
                    last_run_id = ?, last_run_at = ?, last_status = ?,
                    last_success_at = CASE WHEN ? THEN ? ELSE last_success_at END,
                    last_error = CASE WHEN ? IS NOT NULL THEN ? ELSE last_error END,
                    consecutive_failures = CASE WHEN ? THEN 0 ELSE consecutive_failures + 1 END,
                    consecutive_empty = CASE WHEN ? > 0 THEN 0 ELSE consecutive_empty + 1 END,
                    ever_found_links = max(ever_found_links, ? > 0)
                WHERE name = ?
                """,
                [run_id, now, r.status, ok, now, r.last_error, r.last_error, ok, r.article_links, r.article_links, r.source],
            )
        # --- source health (issue 5): recompute sources.health / health_reason here ---
        update_health(db, health or HealthSettings(), [r.source for r in results])
        db.conn.execute(
            "UPDATE crawl_runs SET finished = ?, status = ?, pages_fetched = ?, new_articles = ?, errors = ?, message = ? WHERE id = ?",
            [now, status, sum(r.pages_fetched for r in results), sum(r.new_articles for r in results), sum(r.errors for r in results), message or None, run_id],
        )
    return status


def mark_run_failed(db: sqlite_utils.Database, run_id: int, message: str) -> None:
    """A run that could not finish its work whatever its sources did (a fleet run no worker
    took, or whose state Redis lost)."""
    with db.atomic():
        db.conn.execute("UPDATE crawl_runs SET status = 'failed', message = ? WHERE id = ?", [message, run_id])

