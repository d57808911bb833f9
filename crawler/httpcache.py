"""The HTTP cache of listing pages, feeds, sitemaps and robots.txt: where it lives, how long it keeps a page.

A local crawl keeps Scrapy's cache in a folder beside the database (`loomwatch.db.httpcache/`),
a fleet in Redis. The cache is for revalidation: each run asks for these pages again with
their ETag / Last-Modified, and a 304 writes the entry anew. An entry not written for
`CACHE_DAYS` is of a page no run asks for any more (a source removed, a dated listing, an
old sitemap): Redis lets it expire, and a local crawl removes it before it starts.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_DAYS = 90  # an entry not fetched or revalidated for this long is dropped


def cache_dir(database: Path) -> Path:
    return database.with_name(database.name + ".httpcache")


def prune_cache(directory: Path, days: float = CACHE_DAYS) -> int:
    """Remove the entries of Scrapy's FilesystemCacheStorage in `directory` that were last
    written more than `days` ago; returns how many. A cache that cannot be pruned is logged,
    never a reason to stop a crawl."""
    if not directory.is_dir():
        return 0
    # "Now" is the file system's clock, which wrote the entries' times: Python's clock may be
    # moved (a test's time machine) or differ from a network file system's.
    stamp = directory / ".pruned"
    try:
        stamp.touch()
        cutoff = stamp.stat().st_mtime - days * 86400
    except OSError as exc:
        log.warning("%s: the HTTP cache cannot be pruned (%s); fix its permissions", directory, exc)
        return 0
    removed = failed = 0
    # Scrapy's layout: <spider>/<first two hex digits>/<request fingerprint>/{pickled_meta, ...}
    for entry in directory.glob("*/*/*"):
        try:
            written = _written(entry)
            if written is not None and written < cutoff:
                shutil.rmtree(entry)
                removed += 1
        except OSError:
            failed += 1
    for prefix in directory.glob("*/*"):
        if prefix.is_dir():
            try:
                prefix.rmdir()  # only if now empty
            except OSError:
                pass
    if failed:
        log.warning("%s: %d old HTTP cache entries could not be removed; check the folder's permissions", directory, failed)
    if removed:
        log.info("%s: removed %d HTTP cache entries not used for %g days", directory, removed, days)
    return removed


def _written(entry: Path) -> float | None:
    """When Scrapy last wrote this entry (its `pickled_meta`, whose time Scrapy's own expiry
    reads); an entry cut short before that file: its newest file; not an entry: None."""
    if not entry.is_dir():
        return None
    try:
        return (entry / "pickled_meta").stat().st_mtime
    except FileNotFoundError:
        with os.scandir(entry) as files:
            return max((f.stat().st_mtime for f in files), default=entry.stat().st_mtime)
