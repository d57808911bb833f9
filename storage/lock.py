"""One crawl per database: an advisory lock file beside the database.

`flock` locks die with their process, so a crawl killed with -9 leaves no stale lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


class LockedError(RuntimeError):
    """Another process holds the crawl lock of this database."""


class CrawlLock:
    def __init__(self, database: Path, wait: float = 2.0):
        self.path = Path(str(database) + ".lock")
        self.wait = wait
        self._fd: int | None = None

    def acquire(self) -> "CrawlLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
                    raise LockedError(
                        f"{self.path.with_suffix('')}: another loomwatch crawl is running on this database ({holder}); "
                        "wait for it to finish, or stop that process"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "CrawlLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
