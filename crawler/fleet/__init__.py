"""A fleet: many machines crawl through one Redis server into one archive.

`loomwatch crawl --fleet` (writer.py) runs on the archive's machine: it records the run,
puts the sources' entry points into Redis, stores what the workers send back (through the
same `StorePipeline` as a local crawl) and is the only process that opens the SQLite file.
`loomwatch worker` (worker.py) runs anywhere with the same configuration file: it takes
pages from Redis, fetches them with Scrapy and loomwatch's spider, extracts and tags them
in its process pool (`analyse_page`, as a local crawl), and hands the results and the
links it found back to Redis.

How the guarantees hold (protocol.py holds the keys and the Lua scripts):

- Politeness fleet-wide: the pages waiting for a host sit in that host's queue, and only
  the worker holding the host's lease takes from it, so Scrapy's own per-host limits
  (`concurrency_per_domain`, `download_delay`, robots.txt) are exact for the whole fleet.
  A worker gives a host back only when nothing of it is in flight, and then the host
  cools down for the download delay before anyone may take it.
- Nothing lost: a page taken from a queue stays recorded as in flight until the worker
  settles it, and settling is one Lua script: the page leaves "in flight", the links it
  found enter their queues (after the same per-source budget, link sets, known-URL and
  duplicate-request checks a local crawl makes) and its result enters the results stream,
  all or nothing. A worker renews its leases every few seconds; when one is killed, its
  leases expire and the next holder of each host puts the pages it had back in the queue.
- Exactly once: the writer stores results in stream order and records the last stored
  entry in the archive in the same transaction (`fleet_cursor`), so a writer killed at
  any moment resumes where its last commit ended; results of a run whose writer died are
  stored by the next `crawl --fleet` before it starts anything new.
- Known articles: the writer publishes the URLs the archive knows (`is_known_url`) to
  Redis at the start of every run, so workers request no stored article.
"""
