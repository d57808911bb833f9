"""Which links are articles and which are listing pages (a URL's canonical form: loomwatch.storage.urls).

The built-in shapes come from the CMSes that Chinese government portals and trade-news
sites run on (China Daily's regional CMS, Hanweb, TRS, WordPress, DedeCMS, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urljoin

from loomwatch.storage.urls import canonical_url

# Searched (not matched) against the whole URL.
DEFAULT_ARTICLE_URLS: tuple[str, ...] = (
    r"/\d{4}-\d{2}/\d{2}/c_\d+\.s?html?$",  # China Daily regional CMS: /2026-11/22/c_123.htm
    r"/art/\d{4}/\d{1,2}/\d{1,2}/art_\d+_\d+\.s?html?$",  # Hanweb: /art/2026/11/22/art_12_345.html
    r"/t\d{8}_\d+\.s?html?$",  # TRS: /202611/t20261122_123.html
    r"/content_\d+\.s?html?$",  # /content_123.htm
    r"/archives/\d+/?$",  # WordPress numeric permalinks
    r"[?&]p=\d+$",  # WordPress short links
    r"/\d{4}/\d{2}/\d{2}/[\w%-]{8,}/?$",  # WordPress date permalinks with a slug
    r"/show-\d+(-\d+)*\.s?html?$",  # DedeCMS/PHPCMS: show-123.html
    r"/(news|article|articles|detail|info|newsdetail)[/_-]\d+(\.s?html?)?$",
    r"/n\d?/\d{4}/\d{4}/c\d+-\d+\.html$",  # people.cn
    r"/a/\d{6}/\d{2}/WS[0-9a-f]{24}\.html$",  # chinadaily.com.cn
    r"/\d{4}(-|/)?\d{2}(-|/)?\d{2}/\d+\.s?html?$",  # /20261122/123.html, /2026-11-22/123.html
    r"/[a-z]+/[a-z]{2}/\d{5,}\.s?html?$",  # sjfzxm-style /global/en/572684.html
)
DEFAULT_FOLLOW_URLS: tuple[str, ...] = (
    r"/index_\d+\.s?html?$",  # TRS and China Daily pagination
    r"/(list|node)_\d+(_\d+)?\.s?html?$",
    r"/col/col\d+/index(_\d+)?\.s?html?",  # Hanweb column pages
    r"/page/\d+/?$",  # WordPress
    r"[?&](page|pageno|pageindex|pn|currentpage|paged)=\d+",
)
# Anchor texts that mean "the next page of this listing".
NEXT_TEXTS = frozenset({"下一页", "下页", "后页", "next", "next page", "next »", "»", "›", ">", "older posts", "more"})

def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    return [re.compile(p) for p in patterns]


def matches(url: str, patterns: Iterable[re.Pattern[str]]) -> bool:
    return any(p.search(url) for p in patterns)


# What urljoin or canonical_url would change in a root-relative link: a query, a fragment,
# a backslash, white space, a dot segment (or anything starting with a dot after a slash).
_NEEDS_PARSING = re.compile(r"[?#\\\s]|/\.")


def resolve_link(base: str, href: str, canonical_origin: str | None = None) -> str:
    """`canonical_url(urljoin(base, href))`. With the base's canonical origin
    (scheme://host[:port], as canonical_url writes it), root-relative links such as
    /col/col1229/index.html, most of a listing page's hundreds of menu links, are joined
    without parsing."""
    if canonical_origin is not None and href[:1] == "/" and href[1:2] != "/" and not _NEEDS_PARSING.search(href):
        return canonical_origin + href
    return canonical_url(urljoin(base, href))
