"""What the writer and the workers keep in Redis, and the Lua scripts that change it.

Every key starts with `[fleet] prefix` (P below). One run at a time per prefix.

    P:run                 hash: id, fingerprint, version, sources, writer, started, touched (ms), taken
    P:writer              the running `crawl --fleet` (a lease renewed while it runs)
    P:hosts               set: hosts with pages queued or in flight
    P:q:<host>            sorted set: page ids waiting for the host, best first
    P:inflight:<host>     hash: page id -> "<worker>|<score>" for pages a worker has taken
    P:reqs                hash: page id -> the request (JSON, see `encode_request`)
    P:lease:<host>        the worker that crawls the host now, or "-" while it cools down
    P:pending             pages queued or in flight; the run's work is done at 0
    P:results             stream: one entry per fetched article page (JSON, see `encode_page`)
    P:run:stats           hash: the workers' `loomwatch/<source>/<key>` counters of this run
    P:run:budget          hash: source -> requests left (`max_requests`)
    P:run:links:<source>, P:run:listings:<source>, P:run:seen
                          sets: article links and listing links seen per source, request
                          fingerprints (Scrapy's duplicate filter, fleet-wide)
    P:known:<bucket>      hashes: the URLs the archive knows (`known_key`), kept by the writer
    P:known:mark          which archive they come from, and up to which article (and its URL) and time
    P:workers             hash: worker id -> what it last reported (JSON)
    P:seen                hash: worker id -> when it last reported (ms, Redis's clock)
    P:cache:<fingerprint> Scrapy's HTTP cache of listing pages, feeds and sitemaps

Scripts run atomically in Redis, so a page's settlement (done, its links queued, its
result streamed, its counters added) is all or nothing, whoever is killed when.
A single Redis server is assumed (not Redis Cluster: scripts touch keys of many hosts).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from loomwatch.crawler.config import ConfigError, FleetSettings

if TYPE_CHECKING:
    from scrapy import Request

    from loomwatch.crawler.config import Config


class FleetError(RuntimeError):
    """The fleet cannot do its work (Redis unreachable, no worker, state lost): exit 1."""


def display_url(url: str) -> str:
    """The Redis URL without a user name, for messages."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def connect(settings: FleetSettings, *, asynchronous: bool = False) -> Any:
    """A Redis client for `[fleet] redis_url` (not yet connected; `check` connects)."""
    if not settings.redis_url:
        raise ConfigError("key 'fleet.redis_url' is empty; set it to the fleet's Redis server, e.g. \"redis://host:6379/0\"")
    password = None
    if settings.password_env:
        password = os.environ.get(settings.password_env)
        if password is None:
            raise ConfigError(f"environment variable {settings.password_env} (named by 'fleet.password_env') is not set; "
                              "export it with the Redis password before starting loomwatch")
    try:
        return _client(settings, password, asynchronous)
    except ValueError as exc:  # redis-py's reading of the URL: a port or db that is not a number
        raise ConfigError(f"key 'fleet.redis_url': {display_url(settings.redis_url)!r} is not a usable Redis URL ({exc}); "
                          "write it as \"redis://host:6379/0\"") from None


def _client(settings: FleetSettings, password: str | None, asynchronous: bool) -> Any:
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError
    from redis.retry import Retry

    if asynchronous:
        from redis.asyncio import Redis as AsyncRedis
        from redis.asyncio.retry import Retry as AsyncRetry

        return AsyncRedis.from_url(settings.redis_url, password=password, socket_timeout=15, socket_connect_timeout=5,
                                   retry=AsyncRetry(ExponentialBackoff(cap=2.0, base=0.1), 3),
                                   retry_on_error=[ConnectionError, TimeoutError])
    import redis

    return redis.Redis.from_url(settings.redis_url, password=password, socket_timeout=15, socket_connect_timeout=5,
                                retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 3), retry_on_error=[ConnectionError, TimeoutError])


def check(client: Any, settings: FleetSettings) -> None:
    """Raise FleetError, naming the server, when Redis does not answer."""
    from redis.exceptions import AuthenticationError, RedisError

    try:
        client.ping()
    except AuthenticationError as exc:
        raise FleetError(f"Redis at {display_url(settings.redis_url)} refused the password ({exc}); "
                         f"check the variable named by 'fleet.password_env'") from None
    except RedisError as exc:
        raise FleetError(f"cannot reach Redis at {display_url(settings.redis_url)} ({exc}); start redis-server there "
                         "or fix 'fleet.redis_url'") from None


def redis_failed(settings: FleetSettings, exc: Exception) -> str:
    """What to tell the operator when Redis refused or dropped a command mid-way."""
    from redis.exceptions import OutOfMemoryError

    if isinstance(exc, OutOfMemoryError):
        return (f"Redis at {display_url(settings.redis_url)} is full ({exc}); raise its maxmemory or free memory there, "
                "then run the command again")
    return (f"Redis at {display_url(settings.redis_url)} failed ({type(exc).__name__}: {exc}); check redis-server there, "
            "then run the command again")


def loomwatch_version() -> str:
    try:
        return version("loomwatch")
    except PackageNotFoundError:
        return "unknown"


def config_fingerprint(config: Config) -> str:
    """What writer and workers must agree on to crawl alike: sources, fetching and tagging
    settings, clusters. Not the archive's path, the worker pool's size or the run's time limit."""
    crawl = dataclasses.asdict(config.crawl)
    for machine_local in ("workers", "max_duration"):
        crawl.pop(machine_local)
    data = {"crawl": crawl, "tagging": dataclasses.asdict(config.tagging), "timezone": config.timezone,
            "sources": [dataclasses.asdict(s) for s in config.sources], "clusters": list(config.clusters)}
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def known_key(url: str) -> tuple[str, str]:
    """Where the known-URL hashes keep a URL: 65,536 small hashes (compact listpacks in
    Redis) of 80-bit digests rather than one set of whole URLs (about 6 times smaller)."""
    digest = hashlib.blake2b(url.encode("utf-8"), digest_size=10).hexdigest()
    return digest[:4], digest[4:]


# -- requests and pages on the wire ----------------------------------------------------------
# JSON, never pickle: whoever can write to Redis must not be able to run code on the writer
# or the workers.

DROPPED_META = ("fleet", "download_slot", "download_latency", "cache_timestamp")


def encode_request(request: Request) -> str:
    meta = {}
    for key, value in request.meta.items():
        if key in DROPPED_META or key.startswith("_"):
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue  # a middleware's private object: not needed to fetch the page again
        meta[key] = value
    callback = getattr(request.callback, "__name__", None)
    meta.setdefault("parse", callback)  # the spider method the response goes to
    return json.dumps({
        "url": request.url,
        "method": request.method,
        "headers": {k.decode("latin-1"): [v.decode("latin-1") for v in vs] for k, vs in request.headers.items()},
        "body": base64.b64encode(request.body).decode("ascii") if request.body else "",
        "priority": request.priority,
        "dont_filter": request.dont_filter,
        "meta": meta,
    }, ensure_ascii=False)


def decode_request(blob: bytes | str, **kwargs: Any) -> Request:
    from scrapy import Request

    data = json.loads(blob)
    return Request(data["url"], method=data["method"], headers=data["headers"], body=base64.b64decode(data["body"]),
                   priority=data["priority"], dont_filter=data["dont_filter"], meta=data["meta"], **kwargs)


def host_of(request: Request) -> str:
    """The host a request goes to, as Scrapy's downloader keys its per-host slots."""
    from scrapy.utils.httpobj import urlparse_cached

    return urlparse_cached(request).hostname or ""


def candidate(request: Request, *, charge: bool, link: str | None) -> dict[str, Any]:
    """A request for the commit script. `charge`: it costs its source one request of
    `max_requests`; `link`: "article" or "listing", checked against the run's link set."""
    from scrapy.utils.request import fingerprint

    meta = request.meta
    found: dict[str, Any] = {"host": host_of(request), "priority": request.priority, "source": meta.get("source", ""),
                             "blob": encode_request(request)}
    if charge:
        found["charge"] = True
    if link:
        found["link"] = link
        found["url"] = meta.get("requested", request.url)
        if link == "article":
            found["bucket"], found["field"] = known_key(found["url"])
    if not request.dont_filter:
        found["fp"] = fingerprint(request).hex()
    return found


def encode_page(item: dict[str, Any]) -> str:
    """An analysed page as the workers stream it to the writer (what StorePipeline reads)."""
    page = {key: item.get(key) for key in ("source", "url", "urls", "failure")}
    article = item.get("article")
    if article is not None:
        signature = article.get("signature")
        page["article"] = {**article, "signature": base64.b64encode(signature).decode("ascii") if signature else None}
    return json.dumps(page, ensure_ascii=False)


def decode_page(blob: bytes | str) -> dict[str, Any]:
    page = json.loads(blob)
    if (not isinstance(page, dict) or not isinstance(page.get("source"), str) or not isinstance(page.get("url"), str)
            or not isinstance(page.get("article") or {}, dict)):
        raise ValueError("not a JSON object with a source and a URL")
    article = page.get("article")
    if article is not None and article.get("signature"):
        article["signature"] = base64.b64decode(article["signature"])
    return page


# -- the scripts ---------------------------------------------------------------------------

_NOW = "local function now() local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000) end\n"

_CLEAR = """
local function clear(p)
  local sources = redis.call('HGET', p .. ':run', 'sources')
  if sources then
    for _, s in ipairs(cjson.decode(sources)) do
      redis.call('UNLINK', p .. ':run:links:' .. s, p .. ':run:listings:' .. s)
    end
  end
  for _, host in ipairs(redis.call('SMEMBERS', p .. ':hosts')) do
    redis.call('UNLINK', p .. ':q:' .. host, p .. ':inflight:' .. host)
  end
  redis.call('UNLINK', p .. ':hosts', p .. ':reqs', p .. ':pending', p .. ':run:seen', p .. ':run:budget',
             p .. ':run:stats', p .. ':run')
end
"""

# ARGV: prefix, run, fingerprint, version, sources (JSON list), budgets (JSON object), writer
START = _NOW + _CLEAR + """
local p = ARGV[1]
clear(p)
local t = now()
redis.call('HSET', p .. ':run', 'id', ARGV[2], 'fingerprint', ARGV[3], 'version', ARGV[4], 'sources', ARGV[5],
           'writer', ARGV[7], 'started', t, 'touched', t, 'taken', 0)
for source, n in pairs(cjson.decode(ARGV[6])) do redis.call('HSET', p .. ':run:budget', source, n) end
redis.call('SET', p .. ':pending', 0)
return 1
"""

# ARGV: prefix, run. Returns the run's counters and forgets the run (its queues included).
END = _CLEAR + """
local p = ARGV[1]
if redis.call('HGET', p .. ':run', 'id') ~= ARGV[2] then return false end
local stats = redis.call('HGETALL', p .. ':run:stats')
clear(p)
return stats
"""

# ARGV: prefix, run, worker, settlement (JSON: ack = [host, id] or absent, requests, results, counts, texts)
# Returns the number of requests queued, -1 when the run is over, -2 when the page is no
# longer this worker's (its lease ran out and another worker has it).
COMMIT = _NOW + """
local p, run, worker = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', p .. ':run', 'id') ~= run then return -1 end
local w = cjson.decode(ARGV[4])
if w.ack then
  local host, id = w.ack[1], w.ack[2]
  local inflight = p .. ':inflight:' .. host
  local owner = redis.call('HGET', inflight, id)
  if not owner or string.sub(owner, 1, #worker + 1) ~= worker .. '|' then return -2 end
  redis.call('HDEL', inflight, id)
  redis.call('HDEL', p .. ':reqs', id)
  redis.call('DECR', p .. ':pending')
  if redis.call('HLEN', inflight) == 0 and redis.call('ZCARD', p .. ':q:' .. host) == 0 then
    redis.call('SREM', p .. ':hosts', host)
  end
end
local queued = 0
for _, r in ipairs(w.requests) do
  local ok = true
  if r.link == 'article' then
    ok = redis.call('SADD', p .. ':run:links:' .. r.source, r.url) == 1
    if ok then
      redis.call('HINCRBY', p .. ':run:stats', 'loomwatch/' .. r.source .. '/article_links', 1)
      ok = redis.call('HEXISTS', p .. ':known:' .. r.bucket, r.field) == 0
    end
  elseif r.link == 'listing' then
    ok = redis.call('SADD', p .. ':run:listings:' .. r.source, r.url) == 1
  end
  if ok and r.charge then ok = redis.call('HINCRBY', p .. ':run:budget', r.source, -1) >= 0 end
  if ok and r.fp then ok = redis.call('SADD', p .. ':run:seen', r.fp) == 1 end
  if ok then
    local id = redis.call('INCR', p .. ':seq')
    redis.call('HSET', p .. ':reqs', id, r.blob)
    -- best first: higher priority, then the newest (Scrapy's own order is LIFO)
    redis.call('ZADD', p .. ':q:' .. r.host, -r.priority * 1e12 - id, id)
    redis.call('SADD', p .. ':hosts', r.host)
    redis.call('INCR', p .. ':pending')
    queued = queued + 1
  end
end
for _, page in ipairs(w.results) do
  redis.call('XADD', p .. ':results', '*', 'run', run, 'page', page)
end
for key, n in pairs(w.counts) do redis.call('HINCRBY', p .. ':run:stats', key, n) end
for key, text in pairs(w.texts) do redis.call('HSET', p .. ':run:stats', key, text) end
redis.call('HSET', p .. ':run', 'touched', now())
return queued
"""

# ARGV: prefix, run, worker, lease ms, hosts per worker at most, hosts held. Leases hosts
# with work up to this worker's fair share (hosts with work / live workers); returns them.
LEASE = _NOW + """
local p, run, worker = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', p .. ':run', 'id') ~= run then return {} end
local t, live = now(), 0
local seen = redis.call('HGETALL', p .. ':seen')
for i = 2, #seen, 2 do
  if t - tonumber(seen[i]) < tonumber(ARGV[4]) then live = live + 1 end
end
local share = math.ceil(redis.call('SCARD', p .. ':hosts') / math.max(live, 1))
local want = math.min(tonumber(ARGV[5]), share) - tonumber(ARGV[6])
local got = {}
for _, host in ipairs(redis.call('SRANDMEMBER', p .. ':hosts', 64)) do
  if #got >= want then break end
  if redis.call('SET', p .. ':lease:' .. host, worker, 'NX', 'PX', ARGV[4]) then
    -- pages a worker that lost the host (killed, cut off) had taken go back to the queue
    local inflight = p .. ':inflight:' .. host
    local held = redis.call('HGETALL', inflight)
    for i = 1, #held, 2 do
      redis.call('ZADD', p .. ':q:' .. host, tonumber(string.match(held[i + 1], '|(.*)$')), held[i])
    end
    redis.call('UNLINK', inflight)
    table.insert(got, host)
  end
end
if #got > 0 then redis.call('HSET', p .. ':run', 'touched', t) end
return got
"""

# ARGV: prefix, run, worker, then pairs of host and count. Returns, per host, {host, id,
# request, id, request, ...}, or {host, false} when the host is no longer this worker's.
TAKE = _NOW + """
local p, run, worker = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', p .. ':run', 'id') ~= run then return {} end
local out, taken = {}, 0
for i = 4, #ARGV, 2 do
  local host = ARGV[i]
  local got = {host}
  if redis.call('GET', p .. ':lease:' .. host) ~= worker then
    table.insert(got, false)
  else
    local popped = redis.call('ZPOPMIN', p .. ':q:' .. host, tonumber(ARGV[i + 1]))
    for j = 1, #popped, 2 do
      redis.call('HSET', p .. ':inflight:' .. host, popped[j], worker .. '|' .. popped[j + 1])
      table.insert(got, popped[j])
      table.insert(got, redis.call('HGET', p .. ':reqs', popped[j]))
      taken = taken + 1
    end
  end
  table.insert(out, got)
end
if taken > 0 then
  redis.call('HSET', p .. ':run', 'touched', now())
  redis.call('HINCRBY', p .. ':run', 'taken', taken)
end
return out
"""

# ARGV: prefix, run, worker, lease ms, heartbeat (JSON), hosts... Renews the worker's
# leases and records its heartbeat; returns the hosts it no longer holds.
RENEW = _NOW + """
local p, run, worker = ARGV[1], ARGV[2], ARGV[3]
redis.call('HSET', p .. ':workers', worker, ARGV[5])
redis.call('HSET', p .. ':seen', worker, now())
local lost = {}
local held = 0
for i = 6, #ARGV do
  local lease = p .. ':lease:' .. ARGV[i]
  if redis.call('GET', lease) == worker then
    redis.call('PEXPIRE', lease, ARGV[4])
    held = held + 1
  else
    table.insert(lost, ARGV[i])
  end
end
if held > 0 and redis.call('HGET', p .. ':run', 'id') == run then redis.call('HSET', p .. ':run', 'touched', now()) end
return lost
"""

# ARGV: prefix, worker, cooldown ms, host. Gives a host back once nothing of it is queued
# or in flight; it cools down for the download delay before any worker may take it.
RELEASE = """
local p, worker, host = ARGV[1], ARGV[2], ARGV[4]
local lease = p .. ':lease:' .. host
if redis.call('GET', lease) ~= worker then return 1 end
if redis.call('ZCARD', p .. ':q:' .. host) > 0 or redis.call('HLEN', p .. ':inflight:' .. host) > 0 then return 0 end
redis.call('SET', lease, '-', 'PX', ARGV[3])
return 1
"""

# ARGV: prefix, worker, cooldown ms, hosts... A stopping worker puts the pages it took
# back in their queues and gives its hosts back. Returns the number of pages put back.
GIVE_BACK = """
local p, worker = ARGV[1], ARGV[2]
local back = 0
for i = 4, #ARGV do
  local host = ARGV[i]
  local lease = p .. ':lease:' .. host
  if redis.call('GET', lease) == worker then
    local inflight = p .. ':inflight:' .. host
    local held = redis.call('HGETALL', inflight)
    for j = 1, #held, 2 do
      if string.sub(held[j + 1], 1, #worker + 1) == worker .. '|' then
        redis.call('ZADD', p .. ':q:' .. host, tonumber(string.match(held[j + 1], '|(.*)$')), held[j])
        redis.call('HDEL', inflight, held[j])
        back = back + 1
      end
    end
    redis.call('SET', lease, '-', 'PX', ARGV[3])
  end
end
redis.call('HDEL', p .. ':workers', worker)
redis.call('HDEL', p .. ':seen', worker)
return back
"""


# ARGV: prefix, then known_key() pairs written out one after another (4 + 16 hex digits
# each): one argument for many URLs, which redis-py packs many times faster than commands.
PUBLISH_KNOWN = """
local p, packed = ARGV[1], ARGV[2]
for i = 1, #packed, 20 do
  redis.call('HSET', p .. ':known:' .. string.sub(packed, i, i + 3), string.sub(packed, i + 4, i + 19), 1)
end
return #packed / 20
"""


class Keys:
    """Key names under one prefix."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.run = f"{prefix}:run"
        self.writer = f"{prefix}:writer"
        self.hosts = f"{prefix}:hosts"
        self.pending = f"{prefix}:pending"
        self.results = f"{prefix}:results"
        self.workers = f"{prefix}:workers"
        self.seen = f"{prefix}:seen"
        self.known_mark = f"{prefix}:known:mark"

    def queue(self, host: str) -> str:
        return f"{self.prefix}:q:{host}"

    def inflight(self, host: str) -> str:
        return f"{self.prefix}:inflight:{host}"

    def lease(self, host: str) -> str:
        return f"{self.prefix}:lease:{host}"

    def known(self, bucket: str) -> str:
        return f"{self.prefix}:known:{bucket}"

    def cache(self, fingerprint: str) -> str:
        return f"{self.prefix}:cache:{fingerprint}"


class Scripts:
    """The scripts above, registered with one client (sync or asyncio)."""

    def __init__(self, client: Any):
        for name in ("START", "END", "COMMIT", "LEASE", "TAKE", "RENEW", "RELEASE", "GIVE_BACK", "PUBLISH_KNOWN"):
            setattr(self, name.lower(), client.register_script(globals()[name]))
