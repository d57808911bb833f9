"""Opening the archive: WAL mode, the lock timeout, and the schema brought up to date
(loomwatch.storage.migrations) before anything else reads or writes."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from loomwatch.storage.archive import archive_error, check_archive
from loomwatch.storage.migrations import migrations

BUSY_TIMEOUT = 30.0  # seconds a command waits for another program's write lock ([storage] busy_timeout)


def open_database(path: str | os.PathLike, *, migrate: bool = True, busy_timeout: float = BUSY_TIMEOUT) -> sqlite_utils.Database:
    """Open (creating if needed) an archive in WAL mode with the current schema.

    Raises ArchiveError (storage.archive), having written nothing, when the file is not an
    archive this version can open, or cannot be written, or another program holds its
    write lock for longer than `busy_timeout` seconds; ArchiveFull when the disk is full."""
    path = Path(path)
    check_archive(path, known_migrations(), write=migrate, busy_timeout=busy_timeout)
    db = None
    try:
        if migrate and not path.exists():
            _create(path, busy_timeout)
        db = _connect(path, busy_timeout)
        if migrate:
            _migrate(db)
    except (sqlite3.Error, OSError) as exc:
        if db is not None:
            db.close()
        raise archive_error(path, exc, busy_timeout) from None
    return db


@contextlib.contextmanager
def writing(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """`db.atomic()` for a transaction that reads before it writes: it takes the write lock
    as it begins (BEGIN IMMEDIATE), waiting up to the busy timeout for another program's
    write. Begun by a read (`atomic`'s BEGIN), it could not take the lock at its first write
    once another program had committed since (SQLITE_BUSY_SNAPSHOT), busy timeout or not.
    Inside a transaction: a savepoint, as `atomic` makes."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:  # an error may have ended the transaction already
            db.conn.execute("ROLLBACK")
        raise


def check_database(path: str | os.PathLike, *, write: bool = True, busy_timeout: float = BUSY_TIMEOUT) -> None:
    """Raise the ArchiveError open_database would raise for `path` on what it can see without
    writing (for a command that makes lock files beside the archive before opening it, or
    one that only reads: `write=False`)."""
    check_archive(Path(path), known_migrations(), write=write, busy_timeout=busy_timeout)


def known_migrations() -> list[str]:
    """The names of the schema updates this version knows (all are pending on an empty database)."""
    return [m.name for m in migrations.pending(sqlite_utils.Database(memory=True))]


def _migrate(db: sqlite_utils.Database) -> None:
    """Apply the pending schema updates, one transaction each, which takes the write lock
    (waiting out, or reporting, a writer of another program) before it looks at what is
    pending: two programs opening an older archive at once (a crawl and a digest after an
    upgrade) would otherwise both apply an update, the second failing over the first's."""
    while True:
        with writing(db):
            pending = migrations.pending(db)
            if not pending:
                return
            migrations.apply(db, stop_before=[m.name for m in pending[1:]])


def _connect(path: Path, busy_timeout: float = BUSY_TIMEOUT) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    db.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")  # readers (Datasette, digest) and one writer share the file
    if db.journal_mode != "wal":
        db.enable_wal()
    db.conn.execute("PRAGMA synchronous = NORMAL")  # safe in WAL: a crash loses at most the last commits, never consistency
    db.conn.execute("PRAGMA foreign_keys = ON")
    return db


def _create(path: Path, busy_timeout: float = BUSY_TIMEOUT) -> None:
    """Build a new archive under a temporary name and link it into place whole, so that a
    reader opening the path (Datasette, `loomwatch status`, a test polling for runs) never
    finds the file without its tables. If another process created the archive meanwhile,
    its archive stands and this one is dropped."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
    # An empty file is a new database to SQLite; created with the umask's permissions, as
    # SQLite would create the archive (mkstemp's 0600 would lock out a Datasette running as
    # another user).
    os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        db = _connect(temporary, busy_timeout)
        try:
            migrations.apply(db)
        finally:
            db.close()  # the last connection: SQLite checkpoints the WAL into the file and removes it
        try:
            os.link(temporary, path)  # unlike a rename, fails rather than replace an archive that appeared meanwhile
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: rename, unless the archive appeared meanwhile
            if not path.exists():
                os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
