"""Keeping the archive: consistent backups taken while it is in use, and its check-up.

`backup` copies the archive through SQLite's online backup API from a read-only
connection, in one step: the copy is the archive as one transaction saw it, while a crawl
goes on writing (WAL keeps the writer and this reader apart) and Datasette goes on
reading. It is written under a temporary name beside the destination and renamed into
place once complete, as a single file (rollback journal, no -wal to carry along).

`check` reads the archive (never writes, never migrates): PRAGMA integrity_check, the
schema updates applied, counts and the last crawl run.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sqlite3
import urllib.parse
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loomwatch.storage.archive import MIGRATION_SET, ArchiveError, archive_error
from loomwatch.storage.db import BUSY_TIMEOUT, check_database, known_migrations


def _read_only(path: Path, busy_timeout: float) -> sqlite3.Connection:
    # A reader of a WAL archive needs its -shm file, which SQLite cannot make in a folder this
    # user may not write; when there is none, nobody is writing, and the file alone is the archive.
    immutable = not os.access(path.parent, os.W_OK) and not path.with_name(path.name + "-shm").exists()
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout)
    conn.row_factory = sqlite3.Row
    return conn


def backup_path(archive: Path, destination: Path, now: dt.datetime | None = None) -> Path:
    """Where `backup` writes: `destination`, or in a folder a file named after the archive and the UTC time."""
    if not destination.is_dir():
        return destination
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return destination / f"{archive.stem}-{stamp}{archive.suffix or '.db'}"


def backup(archive: Path, destination: Path, *, replace: bool = False, busy_timeout: float = BUSY_TIMEOUT) -> Path:
    """Copy the archive to `destination` (a file, or an existing folder); returns the file written.
    Raises ArchiveError (ArchiveFull when the destination's disk fills up) and leaves no partial file."""
    check_database(archive, write=False, busy_timeout=busy_timeout)
    if not archive.exists():
        raise ArchiveError(f"{archive}: no archive there yet; nothing to back up (check [storage] database)")
    target = backup_path(archive, destination)
    if target.resolve() == archive.resolve():
        raise ArchiveError(f"{target}: is the archive itself; give a backup file or folder elsewhere (another disk is best)")
    if target.exists() and not replace:
        raise ArchiveError(f"{target}: already exists; pass --force to replace it, or give a folder to get a dated file name")
    if not target.parent.is_dir():
        raise ArchiveError(f"{target}: the folder {target.parent} does not exist; create it first")
    partial = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    copy = None
    try:
        copy = sqlite3.connect(partial)  # first: a copy that cannot be made there is the destination's fault
        with closing(copy), closing(_read_only(archive, busy_timeout)) as source:
            source.backup(copy)  # all pages in one step: one consistent snapshot
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file; opening it for a crawl turns WAL on again
        with open(partial, "rb") as file:
            os.fsync(file.fileno())
        os.replace(partial, target)
    except sqlite3.Error as exc:
        full = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == sqlite3.SQLITE_FULL  # only the copy is written
        raise archive_error(target if full or copy is None else archive, exc, busy_timeout) from None
    except OSError as exc:
        raise archive_error(target, exc, busy_timeout) from None
    finally:
        partial.unlink(missing_ok=True)
    return target


@dataclass
class CheckReport:
    """What `check` found."""

    path: Path
    size: int
    problems: list[str]  # empty when PRAGMA integrity_check says ok
    applied: list[str] = field(default_factory=list)  # schema updates, in the order applied
    pending: list[str] = field(default_factory=list)  # known to this version, not yet applied (the next crawl does)
    counts: dict[str, int] = field(default_factory=dict)
    last_run: dict[str, Any] | None = None
    last_digest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


COUNTS = {
    "articles": "SELECT count(*) FROM articles",
    "relevant": "SELECT count(*) FROM articles WHERE relevant = 1",
    "copies": "SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL",
    "sources": "SELECT count(*) FROM sources",
    "crawl_runs": "SELECT count(*) FROM crawl_runs",
    "digests_sent": "SELECT count(*) FROM digests WHERE status = 'sent'",
}


def check(archive: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> CheckReport:
    """Check the archive without writing to it. Raises ArchiveError when it cannot be read at all."""
    check_database(archive, write=False, busy_timeout=busy_timeout)
    if not archive.exists():
        raise ArchiveError(f"{archive}: no archive there yet; run `loomwatch crawl` first (or check [storage] database)")
    try:
        with closing(_read_only(archive, busy_timeout)) as conn:
            rows = [row[0] for row in conn.execute("PRAGMA integrity_check(20)")]
            report = CheckReport(archive, archive.stat().st_size, [] if rows == ["ok"] else rows)
            if report.problems:
                return report  # the counts may be unreadable too
            report.applied = [row[0] for row in conn.execute(
                "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY id", [MIGRATION_SET])]
            report.pending = [name for name in known_migrations() if name not in report.applied]
            report.counts = {name: conn.execute(sql).fetchone()[0] for name, sql in COUNTS.items()}
            run = conn.execute("SELECT id, started, finished, status, new_articles, message FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone()
            report.last_run = dict(run) if run else None
            sent = conn.execute("SELECT id, sent, last_article_id FROM digests WHERE status = 'sent' ORDER BY id DESC LIMIT 1").fetchone()
            report.last_digest = dict(sent) if sent else None
    except sqlite3.Error as exc:
        raise archive_error(archive, exc, busy_timeout) from None
    return report
