"""Downloader middlewares: retries that back off (a site answering 503 or 429 is given
time before it is asked again), meta-refresh redirects without decoding every page, and
robots.txt failures reported in one line naming the source."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

log = logging.getLogger(__name__)
MAX_BACKOFF = 300.0


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry policy (codes, exceptions, RETRY_TIMES), with exponential backoff.

    The wait is `LOOMWATCH_RETRY_BACKOFF × 2^(attempt-1)` seconds, or the server's
    Retry-After (in seconds) when it sends one, capped at five minutes.
    """

    def __init__(self, settings: Any):
        super().__init__(settings)
        self.backoff = settings.getfloat("LOOMWATCH_RETRY_BACKOFF", 2.0)

    def _delay(self, retry: Request, response: Response | None) -> float:
        attempt = retry.meta.get("retry_times", 1)
        delay = self.backoff * 2 ** (attempt - 1)
        if response is not None:
            after = response.headers.get("Retry-After", b"").decode("latin-1").strip()
            if after.isdigit():
                delay = float(after)
        return min(delay, MAX_BACKOFF)

    async def process_response(self, request: Request, response: Response, spider: Any = None) -> Request | Response:  # type: ignore[override]
        result = super().process_response(request, response)
        if isinstance(result, Request):
            await asyncio.sleep(self._delay(result, response))
        return result

    async def process_exception(self, request: Request, exception: Exception, spider: Any = None) -> Request | Response | None:  # type: ignore[override]
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await asyncio.sleep(self._delay(result, None))
        return result


class QuickMetaRefreshMiddleware(MetaRefreshMiddleware):
    """Scrapy's meta-refresh redirects (old government CMSes send visitors from / to their
    real home page with `<meta http-equiv="refresh">`), without decoding every page.

    Scrapy decodes the whole response (detecting the charset of a GBK page) to search its
    first 4,096 characters for the tag, although article pages go to the workers as bytes.
    4,096 characters are at most 16,384 bytes in any encoding a web page uses except UTF-16:
    when those bytes hold no "refresh" and no NUL byte, there is no tag to find.
    """

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Request | Response:  # type: ignore[override]
        head = response.body[:16384]
        if b"\x00" not in head and b"refresh" not in head.lower():
            return response
        return super().process_response(request, response)


class QuietRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt rules. When a site's robots.txt cannot be fetched (a timeout, a
    refused connection), Scrapy crawls the site as if it allowed everything and logs the
    error with a traceback, under the URL of the page that asked for it; this reports it in
    one line naming the source and the robots.txt URL (Scrapy's record is shown with -v)."""

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        if not isinstance(exc, IgnoreRequest):
            names, robots = self.crawler.spider.sources_on(netloc)
            log.warning("%s: %s: robots.txt could not be fetched (%s: %s); the site is crawled as if it allowed everything",
                        ", ".join(names) or netloc, robots, type(exc).__name__, exc)
        super()._robots_error(exc, netloc)
