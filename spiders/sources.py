"""The one spider: reads every configured source's listing pages, feeds and sitemaps and
yields the raw article pages it finds. Extraction and storage happen in the pipelines.

One spider for all sources (rather than one per source) means one downloader, so the
per-host concurrency and delay hold even when two sources share a host.

Items are plain dicts ("pages"):
    source, url (canonical final URL), urls (every URL it was reached under), body (bytes),
    content_type, status, feed (title/published from a feed, if any), failure (None, or
    {"reason": not_html | too_large | http_error, "detail": ...}).
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from lxml import etree
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.response import get_base_url
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from twisted.python.failure import Failure

from loomwatch.spiders.links import (
    DEFAULT_ARTICLE_URLS,
    DEFAULT_FOLLOW_URLS,
    NEXT_TEXTS,
    compile_patterns,
    matches,
    resolve_link,
)
from loomwatch.storage.urls import canonical_url, same_site, site_of

log = logging.getLogger(__name__)
# Listing pages, feeds and sitemaps are re-read every run, but conditionally: the HTTP
# cache revalidates with ETag/Last-Modified instead of trusting freshness.
REVALIDATE = {"Cache-Control": "max-age=0"}


class SourcePlan:
    """One source's patterns, sites and request budget for this run."""

    def __init__(self, source: Any):
        self.source = source
        self.name: str = source.name
        self.article_urls = compile_patterns(source.article_urls if source.article_urls is not None else DEFAULT_ARTICLE_URLS)
        self.follow_urls = compile_patterns(source.follow_urls if source.follow_urls is not None else DEFAULT_FOLLOW_URLS)
        self.sites = {site_of(u) for u in (*source.start_urls, *source.feeds, *source.sitemaps)}
        self.budget: int = source.max_requests
        self.article_links: set[str] = set()
        self.listing_links: set[str] = set()
        # Listing pages repeat their menus: each (base, href) is resolved and classified once
        # per run. The value is the canonical URL and whether it has an article's shape, or
        # None for a link off the site.
        self.resolved: dict[tuple[str, str], tuple[str, bool] | None] = {}

    def take(self) -> bool:
        if self.budget <= 0:
            return False
        self.budget -= 1
        return True


class SourcesSpider(scrapy.Spider):
    name = "loomwatch"

    def __init__(self, sources: Iterable[Any] = (), is_known: Callable[[str], bool] = lambda url: False,
                 check: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.plans = {s.name: SourcePlan(s) for s in sources}
        self.is_known = is_known
        # `loomwatch sources check`: read the entry points only and count their article
        # links; never request an article or follow pagination.
        self.check = check
        self.entries: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # source → [entry points read, entry points failed]

    # -- counters (read back by the crawl orchestrator from the stats) ------------------------

    def count(self, source: str, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(f"loomwatch/{source}/{key}", n)

    def sources_on(self, netloc: str) -> tuple[list[str], str]:
        """The sources with an entry point on host `netloc`, and the address of its robots.txt."""
        names, robots = [], f"//{netloc}/robots.txt"
        for plan in self.plans.values():
            src = plan.source
            for url in (*src.start_urls, *src.feeds, *src.sitemaps):
                parts = urlsplit(url)
                if parts.netloc == netloc:
                    names.append(plan.name)
                    robots = f"{parts.scheme}://{netloc}/robots.txt"
                    break
        return names, robots

    def error(self, source: str, message: str) -> None:
        self.count(source, "errors")
        self.crawler.stats.set_value(f"loomwatch/{source}/last_error", message[:500])
        log.warning("%s: %s", source, message)

    # -- start ----------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        for plan in self.plans.values():
            src = plan.source
            for url in src.start_urls:
                if plan.take():
                    yield self._request(url, plan, "listing", 0, self.parse_listing, entry=True)
            for url in src.feeds:
                if plan.take():
                    yield self._request(url, plan, "feed", 0, self.parse_feed, entry=True)
            for url in src.sitemaps:
                callback = self.parse_robots if url.rstrip("/").endswith("robots.txt") else self.parse_sitemap
                if plan.take():
                    yield self._request(url, plan, "sitemap", 0, callback, entry=True)

    def _request(self, url: str, plan: SourcePlan, kind: str, hops: int, callback: Callable, *, entry: bool = False, **meta: Any) -> scrapy.Request:
        article = kind == "article"
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.on_error,
            headers=None if article else REVALIDATE,
            meta={"source": plan.name, "kind": kind, "hops": hops, "entry": entry, "requested": url, "dont_cache": article, **meta},
            priority=1 if article else 0,  # finish articles before opening more listing pages
        )

    # -- callbacks ------------------------------------------------------------------------------

    def _entry_ok(self, response: Response) -> None:
        if response.meta.get("entry"):
            self.entries[response.meta["source"]][0] += 1

    def parse_listing(self, response: Response) -> Iterator[Any]:
        plan = self.plans[response.meta["source"]]
        self.count(plan.name, "pages_fetched")
        if not isinstance(response, TextResponse):
            self.error(plan.name, f"{response.url}: listing page is not HTML ({response.headers.get('Content-Type', b'?').decode()})")
            return
        self._entry_ok(response)
        hops = response.meta["hops"]
        base = get_base_url(response)
        parts = urlsplit(base)
        origin, folder = f"{parts.scheme}://{parts.netloc}", base[: base.rfind("/") + 1]
        canonical_origin = origin if canonical_url(origin) == origin + "/" else None
        for element in response.selector.root.iter("a", "link"):  # lxml, not a CSS query: listings carry hundreds of links
            href = (element.get("href") or "").strip()
            if not href or href.startswith(("javascript:", "mailto:", "tel:", "#")):
                continue
            if element.tag == "link" and (element.get("rel") or "").lower() != "next":
                continue
            key = (_resolved_against(href, base, origin, folder), href)
            if key not in plan.resolved:
                url = _joined(base, href, canonical_origin)
                on_site = url is not None and url.startswith(("http://", "https://")) and same_site(url, plan.sites)
                plan.resolved[key] = (url, matches(url, plan.article_urls)) if on_site else None
            found = plan.resolved[key]
            if found is None:
                continue
            url, is_article = found
            if is_article:
                yield from self._article(url, plan, hops + 1)
            elif (not self.check and hops < plan.source.max_depth and url not in plan.listing_links
                  and (matches(url, plan.follow_urls) or self._is_next(element))):
                plan.listing_links.add(url)  # requested once, and the request budget charged once
                if plan.take():
                    yield self._request(url, plan, "listing", hops + 1, self.parse_listing)

    @staticmethod
    def _is_next(element: Any) -> bool:
        if (element.get("rel") or "").lower() == "next":
            return True
        # Most anchors hold plain text: read it directly rather than through text_content(),
        # which costs an XPath evaluation for each of a listing's hundreds of menu links.
        raw = element.text_content() if len(element) else element.text or ""
        return " ".join(raw.split()).lower() in NEXT_TEXTS

    def _article(self, url: str, plan: SourcePlan, hops: int, **meta: Any) -> Iterator[scrapy.Request]:
        if url in plan.article_links:
            return
        plan.article_links.add(url)
        self.count(plan.name, "article_links")
        if self.check or self.is_known(url):
            return
        if plan.take():
            yield self._request(url, plan, "article", hops, self.parse_article, **meta)

    def parse_feed(self, response: Response) -> Iterator[Any]:
        plan = self.plans[response.meta["source"]]
        self.count(plan.name, "pages_fetched")
        try:
            root = etree.fromstring(response.body, parser=etree.XMLParser(recover=True, resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError:
            root = None
        if root is None:
            self.error(plan.name, f"{response.url}: not an RSS or Atom feed (unreadable XML)")
            return
        entries = list(_feed_entries(root))
        if not entries and root.tag.split("}")[-1] not in ("rss", "feed", "RDF"):
            self.error(plan.name, f"{response.url}: not an RSS or Atom feed (root element <{root.tag}>)")
            return
        self._entry_ok(response)
        for link, title, published in entries:
            url = _joined(response.url, link)
            if url is not None:
                yield from self._article(url, plan, response.meta["hops"] + 1, feed={"title": title, "published": published})

    def parse_robots(self, response: Response) -> Iterator[Any]:
        plan = self.plans[response.meta["source"]]
        self.count(plan.name, "pages_fetched")
        urls = list(sitemap_urls_from_robots(response.body, base_url=response.url)) if isinstance(response, TextResponse) else []
        if not urls:
            self.error(plan.name, f"{response.url}: robots.txt names no Sitemap; list the sitemap URL under `sitemaps` instead")
            return
        self._entry_ok(response)
        for url in urls:  # robots.txt only names the sitemaps: not a hop
            if plan.take():
                yield self._request(url, plan, "sitemap", response.meta["hops"], self.parse_sitemap)

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        plan = self.plans[response.meta["source"]]
        self.count(plan.name, "pages_fetched")
        body = response.body
        if body[:2] == b"\x1f\x8b":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):  # not gzip, cut off, corrupt
                body = b""
        try:
            sitemap = Sitemap(body)
        except Exception:  # lxml raises several kinds on garbage
            sitemap = None
        if sitemap is None or sitemap.type not in ("sitemapindex", "urlset"):
            self.error(plan.name, f"{response.url}: not a sitemap (expected <urlset> or <sitemapindex>)")
            return
        self._entry_ok(response)
        # Newest first, so that a request budget smaller than the sitemap takes the fresh news.
        entries = sorted(sitemap, key=lambda e: e.get("lastmod", ""), reverse=True)
        hops = response.meta["hops"]
        for entry in entries:
            url = _joined(response.url, entry["loc"])
            if url is None:
                continue
            if sitemap.type == "sitemapindex":
                if hops < plan.source.max_depth and plan.take():
                    yield self._request(url, plan, "sitemap", hops + 1, self.parse_sitemap)
                    if self.check:  # the newest child sitemap is enough to count links
                        return
            elif same_site(url, plan.sites) and matches(url, plan.article_urls):
                yield from self._article(url, plan, hops + 1)

    def parse_article(self, response: Response) -> Iterator[dict]:
        source = response.meta["source"]
        self.count(source, "pages_fetched")
        requested = response.meta["requested"]
        url = canonical_url(response.url)
        yield {
            "source": source,
            "url": url,
            "urls": sorted({requested, url, *(canonical_url(u) for u in response.meta.get("redirect_urls", []))}),
            "body": response.body,
            "content_type": response.headers.get("Content-Type", b"").decode("latin-1"),
            "status": response.status,
            "feed": response.meta.get("feed"),
            "failure": None,
        }

    # -- errors ---------------------------------------------------------------------------------

    def on_error(self, failure: Failure) -> Iterator[dict]:
        request = failure.request
        meta = request.meta
        source, kind = meta["source"], meta["kind"]
        if failure.check(IgnoreRequest) and not failure.check(HttpError):
            # robots.txt forbids it (or another middleware chose to skip it): not an error of the source
            log.info("%s: skipped %s (%s)", source, request.url, failure.getErrorMessage())
            return
        if failure.check(HttpError):
            reason, detail = "http_error", f"HTTP {failure.value.response.status}"
        elif failure.check(DownloadCancelledError):
            reason, detail = "too_large", failure.getErrorMessage()
        else:
            reason, detail = "fetch_error", f"{failure.type.__name__}: {failure.getErrorMessage()}"
        if meta.get("entry"):
            self.entries[source][1] += 1
        self.error(source, f"{request.url}: {detail}")
        if kind == "article":
            yield {"source": source, "url": canonical_url(request.url), "urls": [meta["requested"]], "failure": {"reason": reason, "detail": detail}}


def _joined(base: str, href: str, canonical_origin: str | None = None) -> str | None:
    """The link's canonical URL (`resolve_link`), or None for one that cannot be parsed
    (http://[broken, a port that is not a number): it costs only itself, not the page."""
    try:
        return resolve_link(base, href, canonical_origin)
    except ValueError:
        return None


def _resolved_against(href: str, base: str, origin: str, folder: str) -> str:
    """The part of the base URL that a link's target depends on."""
    if href.startswith("?"):
        return base
    if "://" in href[:8]:
        return ""
    if href.startswith("/") and not href.startswith("//"):
        return origin
    return folder


def _text(element: Any, path: str, ns: dict[str, str]) -> str | None:
    found = element.find(path, ns)
    return found.text.strip() if found is not None and found.text else None


def _feed_entries(root: Any) -> Iterator[tuple[str, str | None, str | None]]:
    atom = {"a": "http://www.w3.org/2005/Atom"}
    for item in root.iter("item", "{http://purl.org/rss/1.0/}item"):
        link = _text(item, "link", {}) or _text(item, "{http://purl.org/rss/1.0/}link", {}) or _text(item, "guid", {})
        if link:
            yield link, _text(item, "title", {}), _text(item, "pubDate", {}) or _text(item, "{http://purl.org/dc/elements/1.1/}date", {})
    for entry in root.iter("{http://www.w3.org/2005/Atom}entry"):
        href = None
        for link in entry.findall("a:link", atom):
            if link.get("rel", "alternate") == "alternate" and link.get("href"):
                href = link.get("href")
                break
        if href:
            yield href, _text(entry, "a:title", atom), _text(entry, "a:published", atom) or _text(entry, "a:updated", atom)
