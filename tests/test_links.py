"""Resolving a listing page's links: the quick path for plain root-relative links gives
exactly what joining and canonicalising gives."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from loomwatch.spiders.links import resolve_link
from loomwatch.storage.urls import canonical_url

BASE = "http://gov.example:8080/col/col12/index_2.html"
ORIGIN = "http://gov.example:8080"
HREFS = [
    "/col/col1229/index.html", "/art/2026/11/22/art_12_3401.html", "/", "/a/", "/a//b", "/新闻/1.html", "/a%20b.html",
    "/a.b/c.html", "/a..b", "/a/.hidden/x", "/a/../b.html", "/./x", "/.", "/..", "/a/.", "/a/b/..", "/a/./b",
    "/list.html?page=2", "/list.html?utm_source=wechat&id=7", "/a#comments", "//other.example/x", "/a b.html",
    "/a\tb", "/a\u3000b", "/a\\b.html", "page_3.html", "../index.html", "?page=2", "https://GOV.example:8080/x",
]


@pytest.mark.parametrize("href", HREFS)
def test_a_link_resolves_as_join_and_canonicalise_would(href):
    assert resolve_link(BASE, href, ORIGIN) == canonical_url(urljoin(BASE, href)) == resolve_link(BASE, href)


def test_the_quick_path_is_taken_for_plain_root_relative_links():
    # The origin is trusted as given: a wrong one shows that the quick path was used.
    assert resolve_link(BASE, "/col/col1229/index.html", "http://quick.example") == "http://quick.example/col/col1229/index.html"
    assert resolve_link(BASE, "/a/../b.html", "http://quick.example") == "http://gov.example:8080/b.html"


def test_a_query_part_without_an_equals_sign_is_requested_as_written():
    # Old ASP and PHP news systems address articles as show.asp?1234; "?1234=" is another page to them.
    assert canonical_url("http://gov.example/show.asp?1234") == "http://gov.example/show.asp?1234"
    assert canonical_url("http://gov.example/read.php?tid=7&print&utm_source=x") == "http://gov.example/read.php?tid=7&print"
    assert canonical_url("http://gov.example/s?q=a%20b&&empty=") == "http://gov.example/s?q=a+b&empty="
