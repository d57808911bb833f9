"""Advisory lock files beside the database: one crawl, and one digest mailer, at a time.

`flock` locks die with their process, so a crawl killed with -9 leaves no stale lock.
The file holds the holder's pid and start time, for the message a second process prints.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


class LockedError(RuntimeError):
    """Another process holds the lock."""


class FileLock:
    """An exclusive lock on `path`, waited for up to `wait` seconds.

    `busy` is the message of the LockedError raised when the wait runs out; `{holder}`
    in it is replaced by what the holding process wrote into the file.
    """

    def __init__(self, path: Path, wait: float, busy: str, error: type[LockedError] = LockedError):
        self.path = path
        self.wait = wait
        self.busy = busy
        self.error = error
        self._fd: int | None = None

    def acquire(self) -> "FileLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
                    os.close(fd)
                    raise self.error(self.busy.format(holder=holder)) from None
                time.sleep(0.1)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        except OSError:  # a full disk: the lock holds without its note, and the archive reports the disk
            pass
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def CrawlLock(database: Path, wait: float = 2.0) -> FileLock:  # noqa: N802 - used like a class
    """The lock every crawl of `database` takes (cron, the daemon, by hand)."""
    return FileLock(
        Path(f"{database}.lock"),
        wait,
        f"{database}: another loomwatch crawl is running on this database ({{holder}}); wait for it to finish, or stop that process",
    )
