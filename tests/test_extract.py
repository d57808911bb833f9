"""Decoding and extraction of single pages, and `loomwatch extract`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from loomwatch.crawler.cli import main
from loomwatch.pipelines.analyse import is_html
from loomwatch.pipelines.extract import declared_charsets, decode_html, extract_article, url_date, visible_date
from loomwatch.pipelines.furniture import byline, clean_lines
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


@pytest.mark.parametrize("label", ["iso-8859-1", "latin1", "ISO_8859-1"])
def test_latin1_page_declared_in_header(label):
    body = "<html><body><p>Caf\u00e9 fabrics from Keqiao \u2014 prices up</p></body></html>".encode("cp1252")
    html, encoding = decode_html(body, f"text/html; charset={label}")
    assert "Café" in html and "\u2014" in html  # Latin-1 labels mean windows-1252, as browsers read them


# Python's own names for GB2312 and GBK (euc-cn, chinese, ms936, ...) lead to its strict
# codecs: they must reach GB18030 like "gb2312" and "gbk" do.
@pytest.mark.parametrize("label", ["euc-cn", "GB2312-80", "chinese", "iso-ir-58", "ms936", "936"])
def test_every_gb_label_decodes_as_gb18030(label):
    body = gbk_page(meta=f'<meta http-equiv="Content-Type" content="text/html; charset={label}">')
    html, encoding = decode_html(body)
    assert encoding == "gb18030" and "王镕堃" in html


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
    # The information line is metadata: its source is the record's credit, not text.
    assert record["credit"] == "区经信局" and "浏览次数" not in record["text"]


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


# --- golden pages: Chinese government and portal layouts (tests/golden/extract/) ----------

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("regen_extract_golden", ROOT / "scripts" / "regen_extract_golden.py")
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

# Furniture that none of the golden pages' texts may contain.
FURNITURE = ["当前位置", "您现在的位置", "您的位置", "来源：", "來源", "作者：", "記者：", "发布日期", "发布时间", "浏览次数", "阅读次数",
             "字号", "字体", "打印", "关闭", "列印", "分享", "上一篇", "下一篇", "上一条", "下一条", "相关阅读", "相关新闻", "延伸閱讀",
             "热点信息", "阅读排行", "熱門新聞", "责任编辑", "纠错", "主办单位", "ICP", "网站标识码", "版权所有", "版權所有", "Copyright",
             ".png", ".jpg", ".JPG", "扫一扫", "\ufffd"]


@pytest.mark.parametrize("name", sorted(golden.PAGES))
def test_golden_pages(name):
    expected = json.loads((golden.GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    assert golden.extract_record(name) == expected, f"run scripts/regen_extract_golden.py and review the diff of {name}.json"


@pytest.mark.parametrize("name", sorted(golden.PAGES))
def test_golden_pages_hold_no_furniture(name):
    record = golden.extract_record(name)
    text = "\n".join(record["text"])
    assert record["extractor"] == "density" and record["encoding"] in ("gb18030", "utf-8")
    assert [word for word in FURNITURE if word in text] == []
    assert len(record["text"]) >= 3 and record["published"] and record["published"].startswith("2026-11-")
    assert "_" not in record["title"] and "｜" not in record["title"] and " - " not in record["title"]


def test_golden_bylines_are_metadata():
    records = {name: golden.extract_record(name) for name in golden.PAGES}
    assert (records["gov-hanweb-gbk"]["author"], records["gov-hanweb-gbk"]["credit"]) == ("陆海燕", "区商务局")
    assert (records["portal-latemeta"]["author"], records["portal-latemeta"]["credit"]) == ("沈佳", "中国服饰报")
    assert records["gov-trs-nocharset"]["credit"] == "区工信局"
    assert records["portal-tw-utf8"]["author"] == "林雅婷"
    # A notice keeps its labelled items and its signature date.
    notice = records["gov-xml-notice"]["text"]
    assert "二、活动地点：柯桥区人力资源市场一楼大厅" in notice and notice[-1] == "2026年11月16日"


# --- decoding real pages' accidents -----------------------------------------------------

SHORT_TEXTS = ["南通家纺城十一月成交额同比增长，床上用品出口订单增加。", "吴江盛泽丝绸企业开展节能改造，印染废水排放减少三成。" * 3]


@pytest.mark.parametrize("stray", [b"\x80 ", b"\xa1\n", b"\xff", b"\xfe"])
@pytest.mark.parametrize("text", SHORT_TEXTS)
@pytest.mark.parametrize("where", [0.3, 0.6, 0.95])
def test_gbk_page_with_a_stray_byte_is_read_as_gbk(stray, text, where):
    # Charset detection took the short ones for Thai (cp874, iso8859-11) and lost the text.
    body = f"<html><head><title>纺织新闻</title></head><body><div><p>{text}</p></div></body></html>".encode("gbk")
    i = int(len(body) * where)
    while body[i] >= 0x80:  # insert between characters
        i += 1
    html, encoding = decode_html(body[:i] + stray + body[i:])
    assert encoding == "gb18030" and text[:12] in html


def test_utf8_page_with_a_stray_byte_stays_utf8():
    body = f"<html><body><p>{ZH_TEXT}</p><p>\xa9 2026</p></body></html>".encode("utf-8").replace(b"\xc2\xa9", b"\xa9")
    html, encoding = decode_html(body, "text/html; charset=gbk")
    assert encoding == "utf-8" and "王镕堃" in html



def test_english_utf8_page_with_a_stray_byte_stays_utf8():
    # Few non-ASCII characters, one byte of windows-1252 pasted in: detection guessed Mac Roman.
    text = "Weavers in Shengze said \u201corders are back\u201d \u2014 the first rise since spring. " * 3
    body = f"<html><body><p>{text}</p><p>Price list \u00a9 Loom Weekly</p></body></html>".encode("utf-8")
    html, encoding = decode_html(body.replace(b"spring", b"spring\x96", 1), "text/html; charset=utf-8")
    assert encoding == "utf-8" and "\u201corders are back\u201d" in html


def _titles_cut_in_the_middle(encoding: str, count: int) -> bytes:
    """A page whose list of other stories has `count` titles cut by bytes, mid-character."""
    text = "中国轻纺城面料成交额保持增长，全区印染企业技术改造稳步推进，王镕堃代表企业发言。" * 8
    title = "第{}届纺织品博览会在柯桥开幕企业踊跃参展"
    cut = b"".join(f"<li><a href='/n{i}.html'>".encode() + title.format(i).encode(encoding)[:24] + "展".encode(encoding)[:1]
                   + b"</a></li>" for i in range(count))
    declared = "utf-8" if encoding == "utf-8" else "gbk"
    return (f"<html><head><meta charset={declared}><title>纺织新闻</title></head><body><div class=article><p>{text}</p></div><ul>"
            .encode(encoding) + cut + b"</ul></body></html>")


@pytest.mark.parametrize("encoding, expected", [("utf-8", "utf-8"), ("gbk", "gb18030")])
def test_page_with_many_titles_cut_mid_character_keeps_its_encoding(encoding, expected):
    # More than a handful of stray bytes, each next to many good characters: UTF-8 pages
    # came out as GB18030 mojibake, GBK pages as Thai.
    html, found = decode_html(_titles_cut_in_the_middle(encoding, 30))
    assert found == expected and "王镕堃" in html


def test_page_with_more_stray_bytes_still_reads_as_it_declares():
    # Too many to be "nearly" valid GB18030, but the page says GBK, as a browser would read it.
    html, encoding = decode_html(_titles_cut_in_the_middle("gbk", 60))
    assert encoding == "gb18030" and "王镕堃" in html


def test_utf8_page_with_a_footer_included_in_gbk_stays_utf8():
    # A server-side include from an older GBK system: the footer is lost, not the article.
    footer = "<div>主办单位：某县纺织工业协会　联系电话：一二三四五六七</div>".encode("gbk")
    body = gbk_page(meta='<meta charset="utf-8">').decode("gbk").encode("utf-8").replace(b"</body>", footer + b"</body>")
    html, encoding = decode_html(body)
    assert encoding == "utf-8" and "王镕堃" in html

@pytest.mark.parametrize("label", ["utf-16", "UTF-16LE", "utf-16be"])
def test_utf16_in_meta_of_a_byte_page_is_ignored(label):
    # A <meta> readable as ASCII bytes proves the page is not UTF-16 (browsers read such a
    # declaration as UTF-8); decoding by it turns the page into pairs of bytes as Han-like noise.
    body = gbk_page(meta=f'<meta charset="{label}">')
    for page in (body, body + b" "):  # even and odd lengths
        html, encoding = decode_html(page)
        assert encoding == "gb18030" and "王镕堃" in html

def test_charset_declared_late_or_in_an_xml_header_is_found():
    script = "<script>" + "var slot = {width: 300, height: 250};" * 60 + "</script>"
    late = f'<html><head>{script}<meta http-equiv="Content-Type" content="text/html; charset=gb2312"></head><body>纺织</body></html>'
    assert declared_charsets(late.encode("gbk")) == ["gb18030"]
    xml = '<?xml version="1.0" encoding="gb2312"?>\n<html><head><title>通知</title></head><body>纺织</body></html>'
    assert declared_charsets(xml.encode("gbk")) == ["gb18030"]
    html, encoding = decode_html(late.encode("gbk") + "印染企业用工对接会".encode("gbk"))
    assert encoding == "gb18030" and "印染企业" in html


# --- metadata of Chinese pages ----------------------------------------------------------

@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://www.kq.example/art/2026/11/20/art_1229_567890.html", "2026-11-20"),
        ("http://www.wj.example/zwgk/202611/t20261118_4567.html", "2026-11-18"),
        ("http://www.cd.example/2026-11/19/c_123.htm", "2026-11-19"),
        ("http://www.rm.example/n1/2026/1117/c1004-123.html", "2026-11-17"),
        ("http://www.xw.example/news/20261116/123.shtml", "2026-11-16"),
        ("http://www.xw.example/news/123456789.shtml", None),
        ("http://www.xw.example/2026/13/45/a.html", None),
    ],
)
def test_dates_in_urls(url, expected):
    assert url_date(url) == expected


def _portal(title: str, heading: str, info: str = "") -> str:
    return (f"<html><head><title>{title}</title></head><body><div class='nav'><a href='/'>首页</a> <a href='/news'>新闻</a></div>"
            f"<div class='main'><h1>{heading}</h1><div class='info'>{info}</div><div class='content'><p>{ZH_TEXT}</p></div></div></body></html>")


@pytest.mark.parametrize(
    "title, heading, expected",
    [
        ("柯桥区召开印染行业提升推进会_柯桥区人民政府", "", "柯桥区召开印染行业提升推进会"),
        ("柯桥区召开印染行业提升推进会_部门动态_柯桥区人民政府", "柯桥区召开印染行业提升推进会", "柯桥区召开印染行业提升推进会"),
        ("印染企业净利1900万-2900万-证券频道", "", "印染企业净利1900万-2900万"),
        ("纺织网 - 行业动态 - 印染企业完成节水改造", "印染企业完成节水改造", "印染企业完成节水改造"),
        ("機能布料外銷回溫｜產業新聞｜經貿快報", "", "機能布料外銷回溫"),
        ("新闻中心", "柯桥区召开印染行业提升推进会", "柯桥区召开印染行业提升推进会"),
    ],
)
def test_chinese_headlines(title, heading, expected):
    found = extract_article(_portal(title, heading), "http://www.kq.example/art/2026/11/20/art_1_2.html")
    assert found is not None and found.title == expected


@pytest.mark.parametrize(
    "info, credit, author, published",
    [
        ("发布时间：2026年11月20日 09:30　来源：区经信局", "区经信局", None, "2026-11-20"),
        ("2026-11-19 08:15:00 来源：<a href='/'>柯桥日报</a> 作者：王明 责任编辑：张三", "柯桥日报", "王明", "2026-11-19"),
        ("【字号 大 中 小】 信息来源： 市经信委 | 发布日期：2026/11/18", "市经信委", None, "2026-11-18"),
    ],
)
def test_information_line_is_metadata_not_text(info, credit, author, published):
    found = extract_article(_portal("印染企业完成节水改造_纺织网", "", info), "http://www.kq.example/col/col12/index.html")
    assert (found.credit, found.author, found.published) == (credit, author, published)
    assert found.text.splitlines()[0].startswith("十一月二十日上午")


def test_byline_reads_labels_only_at_the_start_of_a_piece_of_text():
    assert byline("项目资金来源：财政拨款 记者：王明") == (None, "王明")
    assert byline("来源：新华社 作者：李明") == ("新华社", "李明")


def test_furniture_lines_are_dropped_and_sentences_kept():
    lines = ["当前位置：首页 > 新闻中心 > 正文", "2026年11月20日 09:30", "发布时间：2026-11-20 来源：区经信局 浏览次数：128",
             "字号：[大 中 小]", "记者：这次评级下调对纺织出口有影响吗？", "王明：影响有限，订单已经排到明年。",
             "图片5_副本.png", "如有疑问请联系我们，电话0575-80000000。", "(责任编辑：张三)", "【打印本页】【关闭窗口】",
             "分享到：微信 微博", "主办单位：柯桥区人民政府办公室 浙ICP备00000000号"]
    kept = ["记者：这次评级下调对纺织出口有影响吗？", "王明：影响有限，订单已经排到明年。", "如有疑问请联系我们，电话0575-80000000。"]
    assert clean_lines(lines) == kept
    # The neighbours' titles and whatever follows them end the article.
    assert clean_lines([*lines, "上一篇：区市场监管局开展冬季抽检", "区市场监管局开展冬季产品质量抽检，共抽查样品一百批次。"]) == kept


@pytest.mark.parametrize("site", ["Loom &amp; Yarn Daily", "Loom Weekly"])
def test_title_instead_of_site_name_has_its_entities_decoded(site):
    # og:title names the site, so the headline comes from <title>, which is raw HTML.
    paragraph = ("<p>Dyeing mills in the district finished moving into the new industrial park this month, "
                 "and weavers said the shared wastewater plant had cut their costs by a tenth.</p>")
    page = (f'<html><head><title>Dyeing mills &amp; weavers settle in the park &#8211; {site}</title>'
            f'<meta property="og:title" content="{site}"><meta property="og:site_name" content="{site}"></head>'
            f"<body><article>{paragraph * 3}</article></body></html>")
    found = extract_article(page)
    assert found is not None and found.title == "Dyeing mills & weavers settle in the park"

def test_article_past_255_unclosed_tags_is_read_to_its_end():
    # An editor that opens a <span> per line and never closes one nests the lines ever
    # deeper; libxml2 stopped parsing at depth 256 and the article's end was lost.
    lines = "".join(f"<span style='font-size:14px'>第{i}条：盛泽镇丝绸企业今年完成技术改造，产值同比增长。<br>" for i in range(300))
    found = extract_article(f"<html><head><title>纺织简讯</title></head><body><div class='content'>{lines}</div></body></html>")
    assert found is not None and "第299条：" in found.text

def test_english_pages_still_go_to_trafilatura():
    body = "<p>" + "Weavers in Shengze are buying new air-jet looms this autumn, the town's textile office said. " * 4 + "</p>"
    found = extract_article(f"<html><head><title>Looms - Textile News</title></head><body><article>{body}</article></body></html>")
    assert found.extractor == "trafilatura" and "air-jet looms" in found.text


def test_short_chinese_notice_is_an_article_and_a_column_page_is_not():
    notice = ("<html><head><title>关于调整纺织企业用电补贴申报时间的通知_海门区人民政府</title></head><body>"
              "<div class='nav'><a href='/'>首页</a> <a href='/tzgg/'>通知公告</a></div><div id='zoom'>"
              "<p>各有关企业：原定于十一月底截止的用电补贴申报，延长至十二月十五日，逾期不再受理。</p><p>联系电话：0513-80000001。</p><p>特此通知。</p></div></body></html>")
    found = extract_article(notice, "http://www.haimen.example/art/2026/11/20/art_13_567892.html")
    assert found is not None and found.extractor == "density" and found.text.startswith("各有关企业：")
    column = ("<html><head><title>通知公告_海门区人民政府</title></head><body><div class='nav'><a href='/'>首页</a></div><ul>"
              + "".join(f"<li><a href='/art/2026/11/{d}/art_13_{d}.html'>关于开展第{d}批纺织企业技术改造项目申报工作的通知</a><span>2026-11-{d}</span></li>"
                        for d in range(10, 28))
              + "</ul><div class='footer'>主办单位：海门区人民政府办公室　苏ICP备05000000号</div></body></html>")
    assert extract_article(column, "http://www.haimen.example/col/col13/index.html") is None
