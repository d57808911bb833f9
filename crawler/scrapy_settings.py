"""Scrapy settings built from a loomwatch `Config`: the one place crawl behaviour is set."""

from __future__ import annotations

from typing import Any

from loomwatch.crawler.config import Config
from loomwatch.crawler.httpcache import cache_dir

RETRY_HTTP_CODES = [500, 502, 503, 504, 520, 522, 524, 408, 429]
# Scrapy 2.19 lets 8-9 requests reach one host at once, whatever the per-domain limit,
# when DOWNLOAD_DELAY is 0 (measured on the server side); any positive delay restores the
# limit. So "no delay" means a delay too small to matter.
MIN_DELAY = 0.001


def _without(components: dict[str, int], *names: str) -> dict[str, int]:
    """A Scrapy component dictionary without the components whose paths end in `names`."""
    return {path: order for path, order in components.items() if not path.endswith(names)}


def scrapy_settings(config: Config, run_id: int | None = None) -> dict[str, Any]:
    from scrapy.settings import default_settings

    crawl = config.crawl
    delay = max(crawl.download_delay, MIN_DELAY)
    return {
        "BOT_NAME": "loomwatch",
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "ROBOTSTXT_USER_AGENT": crawl.user_agent,
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "DOWNLOAD_DELAY": delay,
        "DOWNLOAD_DELAY_JITTER": 0.5,  # 0.5–1.5 × the delay, so requests do not arrive like clockwork
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": delay,
        "AUTOTHROTTLE_MAX_DELAY": max(60.0, delay),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl.concurrency_per_domain),
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": crawl.retries,
        "RETRY_HTTP_CODES": RETRY_HTTP_CODES,
        "LOOMWATCH_RETRY_BACKOFF": crawl.retry_backoff,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "loomwatch.spiders.middlewares.BackoffRetryMiddleware": 550,
            "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
            "loomwatch.spiders.middlewares.QuickMetaRefreshMiddleware": 580,
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "loomwatch.spiders.middlewares.QuietRobotsTxtMiddleware": 100,
        },
        # Sources are http(s) (the config refuses anything else): no FTP or S3 handlers to load.
        "DOWNLOAD_HANDLERS": {"ftp": None, "s3": None},
        # Listing pages, feeds and sitemaps are revalidated with ETag/Last-Modified each run;
        # article requests carry dont_cache. Old entries: see loomwatch.crawler.httpcache.
        "HTTPCACHE_ENABLED": True,
        "HTTPCACHE_POLICY": "scrapy.extensions.httpcache.RFC2616Policy",
        "HTTPCACHE_STORAGE": "scrapy.extensions.httpcache.FilesystemCacheStorage",
        "HTTPCACHE_DIR": str(cache_dir(config.storage.database)),
        "HTTPCACHE_IGNORE_HTTP_CODES": [404, 410, 429, 500, 502, 503, 504],
        "HTTPERROR_ALLOWED_CODES": [],
        "REDIRECT_ENABLED": True,
        "METAREFRESH_ENABLED": True,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        # Scrapy 2.19's remote control runs Python sent to a local port, and leaves a job
        # file with its token behind whenever a crawl is killed: nothing an unattended
        # crawler should offer.
        "REMOTE_CONTROL_ENABLED": False,
        # Components that are switched off anyway are taken out of Scrapy's base lists, not
        # set to None: Scrapy imports every listed component, a disabled one too, and the
        # remote control's aiohttp and the cookie middleware's tldextract and requests took
        # 0.25 s of every run (a sixth of an unchanged re-crawl).
        "EXTENSIONS_BASE": _without(default_settings.EXTENSIONS_BASE, "telnet.TelnetConsole", "remote_control.RemoteControl"),
        "DOWNLOADER_MIDDLEWARES_BASE": _without(default_settings.DOWNLOADER_MIDDLEWARES_BASE, "cookies.CookiesMiddleware"),
        "CLOSESPIDER_TIMEOUT": crawl.max_duration,
        # Hops are counted per source by the spider (max_depth): Scrapy's depth bookkeeping,
        # and its check for spiders that copy response.meta (ours does not), would only cost
        # time on every request.
        "SPIDER_MIDDLEWARES": {
            "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
            "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
        },
        "ITEM_PIPELINES": {
            # extract → language → relevance and clusters (in worker processes) → deduplicate → store
            "loomwatch.pipelines.analyse.AnalysePipeline": 100,
            "loomwatch.pipelines.store.StorePipeline": 500,
        },
        # Scrapy starts this many tasks for every response to process its items in
        # parallel; a response of ours yields at most one item (an article page), so more
        # would only cost task churn (32 cost ~1 ms per page). Pages still run in parallel.
        "CONCURRENT_ITEMS": 1,
        "LOG_INSTALL_ROOT_HANDLER": False,  # loomwatch's CLI configures logging; Scrapy logs through it
        "LOOMWATCH_PIPELINES": config.pipelines,
        "LOOMWATCH_RUN_ID": run_id,
    }
