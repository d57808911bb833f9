"""Meta-refresh redirects: Scrapy's behaviour, with pages that cannot hold the tag left undecoded."""

from __future__ import annotations

import pytest
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from loomwatch.spiders.middlewares import QuickMetaRefreshMiddleware

HOME = "http://gov.example/"
REFRESH = '<meta http-equiv="Refresh" content="0; url=/col/col12/index.html">'


def page(before_tag: str, tag: str = REFRESH) -> str:
    return f'<html><head><meta charset="gb2312"><meta name="description" content="{before_tag}">{tag}</head><body><p>请稍候</p></body></html>'


def respond(response: HtmlResponse | bytes) -> Request | HtmlResponse:
    if isinstance(response, bytes):
        response = HtmlResponse(HOME, body=response, headers={"Content-Type": "text/html"})
    return QuickMetaRefreshMiddleware.from_crawler(get_crawler()).process_response(Request(HOME), response)


def test_a_refresh_is_followed_where_its_bytes_lie_beyond_4096_but_its_characters_do_not():
    body = page("纺织印染面料" * 500).encode("gbk")  # 3,000 characters, 6,000 bytes before the tag
    assert body.index(b"Refresh") > 4096
    result = respond(body)
    assert isinstance(result, Request) and result.url == "http://gov.example/col/col12/index.html"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
def test_a_refresh_is_followed_in_any_encoding(encoding):
    result = respond(page("纺织").replace('charset="gb2312"', f'charset="{encoding}"').encode(encoding))
    assert isinstance(result, Request) and result.url.endswith("/col/col12/index.html")


def test_a_page_without_a_refresh_is_passed_on_undecoded():
    response = HtmlResponse(HOME, body=page("纺织" * 100, tag="").encode("gbk"), headers={"Content-Type": "text/html"})
    assert respond(response) is response
    assert getattr(response, "_cached_ubody", None) is None  # Scrapy's decoded text was never built


def test_a_refresh_after_the_first_4096_characters_is_ignored_as_scrapy_does():
    body = page("纺织印染面料" * 700).encode("gbk")  # 4,200 characters before the tag
    assert isinstance(respond(body), HtmlResponse)
