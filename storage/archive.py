"""What can be wrong with the file at the archive's path, found before anything is written.

`open_database` calls `check_archive` before it connects for writing: a file that is not
SQLite, the SQLite file of another program, or an archive of a newer loomwatch is read
through a read-only connection only, so not one byte of it changes; a missing or
read-only folder, or a read-only file, is reported before SQLite would fail half-way.
What SQLite reports later (a lock held past the busy timeout, a full disk, an I/O error,
a damaged file) becomes the same kind of message through `archive_error`. Every message
names the file, what is wrong and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import urllib.parse
from collections.abc import Collection, Iterator
from pathlib import Path

MIGRATION_SET = "loomwatch"  # the sqlite-utils migration set of the archive's schema
RESTORE = "restore the last backup (docs/operations.md, \"Backups\")"


class ArchiveError(RuntimeError):
    """The archive cannot be used as it is: bad configuration or set-up (exit 2)."""


class ArchiveFull(ArchiveError):
    """The disk ran full while writing: what was stored stays; the next run completes (exit 1)."""


def check_archive(path: Path, known_migrations: Collection[str], *, write: bool = True, busy_timeout: float = 30.0) -> bool:
    """Raise ArchiveError unless `path` is a loomwatch archive this version can open (for
    writing, with `write`), or a place where a new one can be created. Writes nothing.
    Returns whether the archive exists already (an empty file counts as none)."""
    folder = path.parent
    if not folder.is_dir():
        raise ArchiveError(f"{path}: the folder {folder} does not exist (a disk not mounted, or a typing error?); "
                           f"create it (mkdir -p {folder}) or correct [storage] database")
    if path.is_dir():
        raise ArchiveError(f"{path}: is a folder, not an archive file; set [storage] database to a file name in it, e.g. {path / 'loomwatch.db'}")
    exists = path.exists() and path.stat().st_size > 0
    if exists:
        _check_contents(path, known_migrations, busy_timeout)
    if write:
        _check_writable(path, exists)
    return exists


def _check_contents(path: Path, known: Collection[str], busy_timeout: float) -> None:
    # Read through SQLite only, never with open() and close(): closing any descriptor of the
    # file drops every POSIX lock this process holds on it, those of its open connections too
    # (the crawl's pipeline opens the archive while the crawl holds it), and a connection
    # that has lost its lock lets another process checkpoint under it.
    if not os.access(path, os.R_OK):
        raise ArchiveError(f"{path}: cannot be read by this user (permission denied); run loomwatch as the archive's owner "
                           "or give this user read and write access to it")
    # The file alone (immutable: no locks taken, no -wal or -shm file made beside it); when it
    # has a -wal (a program is using it, or was killed), as SQLite sees it with its -wal.
    wal = path.with_name(path.name + "-wal").exists()
    tables, applied = _schema(path, busy_timeout, immutable=not wal)
    if tables and not applied:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise ArchiveError(f"{path}: an SQLite database of another program, not a loomwatch archive (its tables: {shown}); "
                           "loomwatch left it untouched. Correct [storage] database, or choose a new file for the archive")
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise ArchiveError(f"{path}: written by a newer loomwatch (schema updates {', '.join(unknown)} are unknown to this "
                           "version); loomwatch left it untouched. Upgrade loomwatch to the version that wrote it")


def _schema(path: Path, busy_timeout: float, immutable: bool) -> tuple[set[str], list[str]]:
    """The names of the tables and views, and of the loomwatch schema updates applied."""
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro" + ("&immutable=1" if immutable else "")
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
            applied = [row[0] for row in conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
                                                       [MIGRATION_SET])] if "_sqlite_migrations" in tables else []
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            raise ArchiveError(f"{path}: not an SQLite database, so not a loomwatch archive; loomwatch left it untouched. "
                               "Correct [storage] database, or move this file away to start a new archive there") from None
        raise archive_error(path, exc, busy_timeout) from None
    return tables, applied


def _check_writable(path: Path, exists: bool) -> None:
    folder = path.parent
    if _read_only_file_system(folder):
        raise ArchiveError(f"{path}: the file system of {folder} is mounted read-only (after disk errors the kernel does this); "
                           "check the disk (dmesg, fsck) and remount it read-write")
    # SQLite writes the archive's -wal and -shm files, and loomwatch its lock files, beside it.
    if not os.access(folder, os.W_OK | os.X_OK):
        what = "the archive cannot be written" if exists else "no archive can be created there"
        raise ArchiveError(f"{path}: the folder {folder} is not writable for this user, so {what}; "
                           "run loomwatch as the folder's owner, or give this user write access to it")
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and not os.access(file, os.W_OK):
            raise ArchiveError(f"{file}: is read-only for this user, so the archive cannot be written; "
                               "run loomwatch as its owner, or make it writable (chmod u+w)")


def _read_only_file_system(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def archive_error(path: Path, exc: BaseException, busy_timeout: float = 30.0) -> ArchiveError:
    """The ArchiveError (or ArchiveFull) that explains an SQLite or OS error met while using the archive."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if code is not None else None
    reason = str(exc)
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return ArchiveError(f"{path}: locked by another program for longer than {busy_timeout:g} s (an open sqlite3 shell or "
                            f"script in a transaction, a copying or backup tool); find it with `fuser {path}`, end it, "
                            "and run again")
    # SQLite cannot grow the archive's -shm file (IOERR_SHMSIZE) when no space is left for it.
    if primary == sqlite3.SQLITE_FULL or code == sqlite3.SQLITE_IOERR_SHMSIZE or getattr(exc, "errno", None) == errno.ENOSPC:
        return ArchiveFull(f"{path}: the disk is full{_free_space(path.parent)}; free space on it, or move the file to a "
                           "larger disk, and run again (nothing stored before is lost)")
    if primary == sqlite3.SQLITE_READONLY:
        return ArchiveError(f"{path}: cannot be written ({reason}); make the archive and its folder writable for this user")
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return ArchiveError(f"{path}: damaged ({reason}); keep a copy of it for diagnosis and {RESTORE}")
    if primary == sqlite3.SQLITE_IOERR:
        return ArchiveError(f"{path}: the disk reported an error ({reason}); check the disk (dmesg), then run `loomwatch check`")
    if primary == sqlite3.SQLITE_CANTOPEN:
        return ArchiveError(f"{path}: cannot be opened ({reason}); check that it and its folder exist and are writable")
    return ArchiveError(f"{path}: {reason}; run `loomwatch check` on it, and if it reports damage, {RESTORE}")


@contextlib.contextmanager
def archive_errors(path: Path, busy_timeout: float = 30.0) -> Iterator[None]:
    """Turn an SQLite or OS error met within (a full disk, a lock held past the busy timeout)
    into the ArchiveError `archive_error` makes of it: one line for the operator, no traceback."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise archive_error(Path(path), exc, busy_timeout) from None


def _free_space(folder: Path) -> str:
    try:
        stat = os.statvfs(folder)
    except OSError:
        return ""
    return f" ({stat.f_bavail * stat.f_frsize // 1024} kB free of {stat.f_blocks * stat.f_frsize // 1024} kB)"
