"""The loomwatch archive: schema, migrations, writes and queries (SQLite through sqlite-utils).

Nothing here imports Scrapy; the crawl hands finished article dicts to these functions.
"""

from loomwatch.storage.archive import ArchiveError, ArchiveFull
from loomwatch.storage.clock import utcnow
from loomwatch.storage.db import open_database
from loomwatch.storage.lock import CrawlLock, LockedError

__all__ = ["open_database", "utcnow", "ArchiveError", "ArchiveFull", "CrawlLock", "LockedError"]
