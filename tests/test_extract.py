"""Decoding and extraction of single pages, and `loomwatch extract`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from loomwatch.crawler.cli import main
from loomwatch.pipelines.analyse import is_html
from loomwatch.pipelines.extract import decode_html, extract_article, visible_date
from loomwatch.pipelines.language import detect_language

# Our own text. 镕 and 堃 are in GBK but not in GB2312.
ZH_TEXT = (
    "十一月二十日上午，柯桥区召开印染行业提升工作推进会，区经信局通报了今年以来全区印染企业技术改造情况。"
    "会议指出，全区印染企业已全部完成集聚入园，单位产品综合能耗比三年前下降百分之十二，"
    "中国轻纺城面料成交额保持增长。王镕堃代表企业发言，介绍了数码印花和无水染色的新做法。"
    "会议要求，各镇街要继续推进纺织产业数字化改造，帮助中小企业开拓国际市场，做强家纺和服装面料两条产业链。"
)


def gbk_page(meta: str = '<meta charset="gb2312">', text: str = ZH_TEXT) -> bytes:
    html = f"""<html><head>{meta}<title>柯桥区召开印染行业提升推进会_柯桥区人民政府</title></head>
<body><div class="nav">首页 | 政务公开 | 新闻中心</div>
<div class="article"><h1>柯桥区召开印染行业提升推进会</h1>
<div class="info">发布日期：2026-11-20　来源：区经信局　浏览次数：128　字号：[大 中 小]</div>
<p>{text}</p><p>{text}</p></div>
<div class="footer">主办单位：绍兴市柯桥区人民政府办公室　网站标识码3306030000　浙ICP备00000000号</div></body></html>"""
    return html.encode("gbk")


@pytest.mark.parametrize(
    "body, content_type",
    [
        (gbk_page(), None),  # charset only in <meta>
        (gbk_page(meta=""), None),  # no charset anywhere
        (gbk_page(), "text/html; charset=utf-8"),  # a wrong header
        (gbk_page(meta='<meta http-equiv="Content-Type" content="text/html; charset=gb2312">'), "text/html"),
    ],
)
def test_gbk_pages_decode_without_mojibake(body, content_type):
    html, encoding = decode_html(body, content_type)
    assert encoding == "gb18030"
    assert "王镕堃" in html and "印染" in html


def test_utf8_page_declared_as_gbk_is_still_utf8():
    body = gbk_page().decode("gbk").replace("gb2312", "gbk").encode("utf-8")
    html, encoding = decode_html(body, "text/html; charset=gbk")
    assert encoding == "utf-8" and "中国轻纺城" in html


def test_latin1_page_declared_in_header():
    body = "<html><body><p>Caf\u00e9 fabrics from Keqiao \u2014 prices up</p></body></html>".encode("cp1252")
    html, encoding = decode_html(body, "text/html; charset=iso-8859-1")
    assert "Café" in html


def test_chinese_article_extraction_and_visible_date():
    html, _ = decode_html(gbk_page())
    found = extract_article(html, "http://www.kq.example/art/2026/11/20/art_1229_567890.html")
    assert found is not None
    assert "印染" in found.title
    assert "王镕堃" in found.text
    assert "主办单位" not in found.text and "浙ICP备" not in found.text
    assert found.published == "2026-11-20"
    assert detect_language(found.text) == "zh-cn"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("发布日期：2026-11-20 来源：区政府", "2026-11-20"),
        ("发布时间：2026年11月2日 09:30", "2026-11-02"),
        ("en.nantong.gov.cn| Updated: November 2, 2020 L M S", "2020-11-02"),
        ("Home > 2019/11/29 18:41:00 0", "2019-11-29"),
        ("Date:2017-10-10 16:01:00", "2017-10-10"),
        ("no date here, only 2026 and 11", None),
    ],
)
def test_visible_dates(text, expected):
    assert visible_date(text) == expected


def test_navigation_page_has_no_article():
    html = "<html><body><ul>" + "".join(f"<li><a href='/a{i}'>Link {i}</a></li>" for i in range(30)) + "</ul></body></html>"
    assert extract_article(html, "http://x.example/") is None


def test_is_html():
    assert is_html("text/html; charset=gbk", b"<html>")
    assert is_html(None, b"<!doctype html>")
    assert not is_html("application/pdf", b"%PDF-1.4")
    assert not is_html("text/html", b"%PDF-1.4 mislabelled")


def test_extract_command_decodes_saved_files_like_the_crawl(tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(gbk_page(meta=""))
    result = CliRunner().invoke(main, ["extract", str(page), "--url", "http://www.kq.example/art/2026/11/20/art_1229_567890.html"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert record["encoding"] == "gb18030"
    assert "王镕堃" in record["text"]
    assert record["lang"] == "zh-cn" and record["published"] == "2026-11-20"


def test_related_reading_and_next_article_are_cut():
    from loomwatch.pipelines.furniture import cut_tail

    story = [f"Paragraph {i} of the Shengze story about silk bedding and the weaving mills of the town." for i in range(6)]
    tail = ["Related reading", "- Another story. Regional economy|2026/11/21", "Read the next article", "Changshu down jackets sell fast."]
    assert cut_tail(story + tail) == story
    chinese = ["柯桥区印染企业完成节水改造，单位产品用水量下降百分之十五。"] * 5
    assert cut_tail(chinese + ["相关阅读：", "中国轻纺城面料成交额增长"]) == chinese
    # A marker at the very top (a site menu) does not cut the article away.
    assert cut_tail(["Related stories", *story]) == ["Related stories", *story]


def test_author_from_meta_or_byline():
    body = "<p>" + "Weavers in Shengze are buying new air-jet looms this autumn, the town's textile office said. " * 4 + "</p>"
    with_meta = f'<html><head><meta name="author" content="Lu Ming"><title>Looms</title></head><body><article>{body}</article></body></html>'
    byline = f"<html><head><title>Looms</title></head><body><article>{body}</article><div class='meta'>Author: Zhou Yan</div></body></html>"
    assert extract_article(with_meta).author == "Lu Ming"
    assert extract_article(byline).author == "Zhou Yan"
