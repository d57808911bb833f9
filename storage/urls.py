"""An article's identity in the archive: its canonical URL; and which site a URL is on.

The crawl, the store step and the fleet all key pages by `canonical_url`, so the same
page reached through a tracking link or an upper-case host is stored once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote_plus, unquote_plus, urlsplit, urlunsplit

TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|spm|fbclid|gclid|yclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|share|share_token|"
    r"isappinstalled|scene|srcid|from|noamp|amp;utm_\w+|wt\.mc_id|ref|ref_src)$",
    re.I,
)


def canonical_url(url: str) -> str:
    """Drop the fragment and tracking parameters, lower-case scheme and host, drop default ports."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", _query(parts.query), ""))


def _query(query: str) -> str:
    """The query without tracking parameters, each part re-encoded alike. A part without "="
    (show.asp?123) stays without one: the site reads the query as it wrote it."""
    kept = []
    for part in query.split("&"):
        key, equals, value = part.partition("=")
        key = unquote_plus(key)
        if part and not TRACKING_PARAMS.match(key):
            kept.append(quote_plus(key) + (f"={quote_plus(unquote_plus(value))}" if equals else ""))
    return "&".join(kept)


def site_of(url: str) -> tuple[str, int | None]:
    """A site is a host without a leading www., plus an explicit port if any."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return (host[4:] if host.startswith("www.") else host, parts.port)


def same_site(url: str, sites: Iterable[tuple[str, int | None]]) -> bool:
    """On one of the sites, or a subdomain of one (sjfzxm.com serves from numbered subdomains)."""
    host, port = site_of(url)
    for site_host, site_port in sites:
        if port == site_port and (host == site_host or host.endswith("." + site_host)):
            return True
    return False
