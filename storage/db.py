"""Opening the archive and its schema, changed only through named migrations.

Times are stored as UTC text, `YYYY-MM-DD HH:MM:SS` (what SQLite's datetime() gives),
publication dates as `YYYY-MM-DD` as printed by the source.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("loomwatch")


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def open_database(path: str | os.PathLike, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) an archive in WAL mode with the current schema."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(path)
    db.conn.execute("PRAGMA busy_timeout = 30000")  # readers (Datasette, digest) and one writer share the file
    if db.journal_mode != "wal":
        db.enable_wal()
    db.conn.execute("PRAGMA synchronous = NORMAL")  # safe in WAL: a crash loses at most the last commits, never consistency
    db.conn.execute("PRAGMA foreign_keys = ON")
    if migrate:
        migrations.apply(db)
    return db


@migrations(name="0001_initial")
def _initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            title TEXT,
            text TEXT NOT NULL,
            published TEXT,
            first_seen TEXT NOT NULL,
            lang TEXT,
            author TEXT,
            relevance REAL,
            relevant INTEGER,
            duplicate_of INTEGER REFERENCES articles(id),
            content_hash TEXT NOT NULL,
            run_id INTEGER
        );
        CREATE INDEX articles_source ON articles(source, first_seen);
        CREATE INDEX articles_first_seen ON articles(first_seen);
        CREATE INDEX articles_published ON articles(published);
        CREATE INDEX articles_content_hash ON articles(content_hash);
        CREATE INDEX articles_duplicate_of ON articles(duplicate_of);

        -- Every URL an article was reached under (as requested, after redirects, rel=canonical),
        -- so that none of them is requested again.
        CREATE TABLE article_urls (
            url TEXT PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id)
        ) WITHOUT ROWID;

        -- Article-shaped pages that gave no article: not HTML, too large, no text.
        CREATE TABLE skipped_pages (
            url TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1
        );

        CREATE TABLE clusters (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            name_zh TEXT,
            province TEXT,
            city TEXT,
            specialty TEXT,
            aliases TEXT,
            parent TEXT
        );

        CREATE TABLE article_clusters (
            article_id INTEGER NOT NULL REFERENCES articles(id),
            cluster_id TEXT NOT NULL,
            score REAL NOT NULL,
            PRIMARY KEY (article_id, cluster_id)
        );
        CREATE INDEX article_clusters_cluster ON article_clusters(cluster_id, article_id);

        CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            start_urls TEXT,
            feeds TEXT,
            sitemaps TEXT,
            first_run_at TEXT,
            last_run_id INTEGER,
            last_run_at TEXT,
            last_status TEXT,
            last_success_at TEXT,
            last_error TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            consecutive_empty INTEGER NOT NULL DEFAULT 0,
            ever_found_links INTEGER NOT NULL DEFAULT 0,
            health TEXT,
            health_reason TEXT
        );

        CREATE TABLE crawl_runs (
            id INTEGER PRIMARY KEY,
            started TEXT NOT NULL,
            finished TEXT,
            status TEXT NOT NULL,           -- running, ok, partial, failed, killed
            pid INTEGER,
            sources TEXT,                   -- JSON list of source names in this run
            pages_fetched INTEGER,
            new_articles INTEGER,
            errors INTEGER,
            message TEXT
        );

        CREATE TABLE source_runs (
            run_id INTEGER NOT NULL REFERENCES crawl_runs(id),
            source TEXT NOT NULL,
            status TEXT NOT NULL,           -- ok, failed (no start URL, feed or sitemap could be read)
            pages_fetched INTEGER NOT NULL DEFAULT 0,
            article_links INTEGER NOT NULL DEFAULT 0,
            new_articles INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            no_text INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            PRIMARY KEY (run_id, source)
        );

        CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            created TEXT NOT NULL,
            status TEXT NOT NULL,           -- rendered, sent, failed
            sent TEXT,
            recipients TEXT,
            article_ids TEXT,
            subject TEXT,
            message_id TEXT,
            error TEXT
        );

        -- Chinese is indexed as character bigrams: see loomwatch.storage.search.
        CREATE VIRTUAL TABLE articles_fts USING fts5(title, text, tokenize = 'unicode61 remove_diacritics 2');
        """
    )
