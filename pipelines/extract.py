"""Stage 1: bytes → decoded HTML → article (title, text, publication date, author).

Decoding is done here, from the raw bytes, for the crawl and for `loomwatch extract`
alike, so that a saved page reads exactly as the crawled one did.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from dataclasses import dataclass
from html import unescape

import charset_normalizer
import lxml.html
import trafilatura
from htmldate import find_date
from trafilatura.metadata import examine_meta, extract_title
from trafilatura.utils import is_dubious_html, repair_faulty_html

from loomwatch.pipelines import density, furniture
from loomwatch.pipelines.hanzi import HAN_BMP

# Labels Python does not know.
_LABELS = {"gb_2312-80": "gb2312", "x-gbk": "gbk"}
# Codecs read as their supersets, keyed by Python's codec name, which every label of one
# leads to (euc-cn, chinese → gb2312; cp936, ms936 → gbk; latin1 → iso8859-1). Chinese
# sites that say gb2312 or gbk mostly mean GBK, and GBK-only characters (镕, 堃) break a
# strict GB2312 decoder: GB18030 is a superset of both.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "hz": "gb18030", "big5": "big5hkscs", "iso8859-1": "cp1252", "ascii": "utf-8"}
_CHINESE_GUESSES = {"gb2312", "gbk", "gb18030", "big5", "big5hkscs", "cp949", "euc_kr", "euc_jis_2004", "hz", "cp932", "shift_jis"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# <?xml version="1.0" encoding="gb2312"?>, as XHTML pages of old CMSes begin.
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.I)
# Where declarations are looked for: pages with long inline scripts in <head> declare
# their charset well after the 1,024 bytes the HTML standard's prescan reads.
_DECLARATION_BYTES = 65536
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
MIN_TEXT_CHARS = 100  # fewer non-space characters than this is navigation or a stub, not an article
MIN_PARAGRAPH_CHARS = 40  # an article has at least one real paragraph; a link list has none
# A Han character carries about as much as a short English word: a Chinese notice of two
# sentences (公示, 通知) is an article at half those lengths.
MIN_TEXT_HAN = 50
MIN_PARAGRAPH_HAN = 20

_LABELLED_DATE = re.compile(
    r"(?:发布日期|发布时间|发表日期|发表时间|日期|时间|更新时间|Updated|Published|Date|Posted|Release date)\s*[:：]?\s*"
    r"(\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?"
    r"|(?:January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?\s+\d{1,2},?\s+\d{4})",
    re.I,
)
_BARE_DATE = re.compile(r"(?<!\d)(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})(?:\s*日|(?=[\sT]\d{1,2}:\d{2}))")
_MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}


def _codec(name: str) -> str | None:
    name = name.strip().lower()
    try:
        codec = codecs.lookup(_LABELS.get(name, name)).name
    except LookupError:
        return None
    return _SUPERSETS.get(codec, codec)


def declared_charsets(body: bytes, content_type: str | None = None) -> list[str]:
    """Charsets the HTTP header and the page's own <meta> tags declare, in that order."""
    found = []
    if content_type:
        m = _HTTP_CHARSET.search(content_type)
        if m:
            found.append(m.group(1))
    head = body[:_DECLARATION_BYTES]
    end = head.lower().find(b"</head>")
    head = head[:end] if end > 0 else head
    in_page = [m.group(1).decode("ascii", "replace") for m in (*_XML_ENCODING.finditer(head[:200]), *_META_CHARSET.finditer(head))]
    # A declaration read as ASCII bytes is not written in UTF-16 or UTF-32, nor is its page
    # (one with a byte-order mark is decoded before): left out, as browsers do (they read UTF-8).
    found += [label for label in in_page if not (_codec(label) or "").startswith(("utf-16", "utf-32"))]
    return [c for c in dict.fromkeys(filter(None, map(_codec, found)))]


# A page that is valid in an encoding except for stray bytes (a truncated character where
# a CMS cut a string, a byte of another encoding pasted in) is read in that encoding with
# the bad bytes replaced: charset detection on such a page can pick an absurd code page
# (Thai, Kazakh) and lose every character. What tells is the share of bad bytes, not their
# number: a list of twenty titles cut mid-character is twenty next to hundreds of good ones.
# A wrong guess is not "nearly" right: a cp1252 page read as GB18030 or UTF-8 has about
# one invalid sequence per accented letter, a GBK page read as UTF-8 one per character.
_GOOD_PER_BAD = 20  # valid non-ASCII characters for each replaced sequence, at least
# ... in UTF-8, whose multi-byte sequences other encodings rarely form by chance (a GBK page
# read as UTF-8 has 0.2-0.3 valid characters per invalid sequence, the test and demo sites'
# GBK pages), two: an English page has few non-ASCII characters to vouch for it.
_GOOD_PER_BAD_UTF8 = 2


def _nearly(body: bytes, name: str) -> str | None:
    """The page decoded as `name` when only a few stray bytes are invalid in it."""
    text = body.decode(name, errors="replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", errors="ignore")) - bad
    return text if good >= (_GOOD_PER_BAD_UTF8 if name == "utf-8" else _GOOD_PER_BAD) * bad else None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode a page to text; returns (text, codec name).

    Order: a byte-order mark; UTF-8 when the bytes are valid UTF-8 (a GBK decoder accepts
    most UTF-8 byte sequences and garbles them, while GBK text is almost never valid UTF-8);
    each declared charset (HTTP header, <?xml encoding>, <meta>) that decodes without error;
    then the same with a few stray invalid bytes replaced (UTF-8 first, then the declared
    charsets, then GB18030, what undeclared Chinese pages are written in); else the first
    declared charset with its invalid bytes replaced, as a browser shows the page; else
    detection, preferring GB18030 for anything that looks Chinese.
    """
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(name, errors="replace").lstrip("\ufeff"), name
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = [name for name in declared_charsets(body, content_type) if name != "utf-8"]
    for name in declared:
        try:
            return body.decode(name), name
        except UnicodeDecodeError:
            continue
    for name in dict.fromkeys(["utf-8", *declared, "gb18030"]):
        text = _nearly(body, name)
        if text is not None:
            return text, name
    # Detection is for pages that declare nothing: on a GBK page with many stray bytes it guessed Thai.
    if declared:
        return body.decode(declared[0], errors="replace"), declared[0]
    best = charset_normalizer.from_bytes(body[:65536]).best()
    guess = _codec(best.encoding) if best else None
    if guess is None or guess in _CHINESE_GUESSES:
        try:
            return body.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            pass
    name = guess or "gb18030"
    return body.decode(name, errors="replace"), name


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    published: str | None
    author: str | None
    canonical: str | None
    credit: str | None = None  # the outlet the page names as the story's source (来源：新华社)
    extractor: str = "trafilatura"  # which pass found the text: "density" or "trafilatura"


def visible_date(html_text: str) -> str | None:
    """A publication date printed on the page (发布日期：2026-11-20, Updated: November 2, 2020, 2019/11/29 18:41)."""
    m = _LABELLED_DATE.search(html_text)
    if m:
        found = _parse_date(m.group(1))
        if found:
            return found
    m = _BARE_DATE.search(html_text)
    return _parse_date(m.group(0)) if m else None


def _parse_date(value: str) -> str | None:
    numbers = re.findall(r"\d+", value)
    try:
        if len(numbers) >= 3 and len(numbers[0]) == 4:
            day = dt.date(int(numbers[0]), int(numbers[1]), int(numbers[2]))
        else:
            month = _MONTHS[re.match(r"[A-Za-z]{3}", value).group().lower()]  # type: ignore[union-attr]
            day = dt.date(int(numbers[-1]), month, int(numbers[0]))
    except (ValueError, KeyError, AttributeError):
        return None
    if not 1990 <= day.year <= dt.date.today().year + 1:
        return None
    return day.isoformat()


_VISIBLE_TEXT = lxml.etree.XPath("//text()[not(ancestor::script or ancestor::style)]")


def _page_text(tree: lxml.html.HtmlElement) -> str:
    # Pieces of text joined by a space: "作者：王明" in one element and the first paragraph
    # in the next are two words, not one.
    return " ".join(" ".join(_VISIBLE_TEXT(tree)).split())


_SITE_META = re.compile(r"""<meta[^>]+(?:name|property)=["']?(?:SiteName|og:site_name|application-name)["']?[^>]*>""", re.I)
_CONTENT = re.compile(r"""content=["']([^"']+)["']""", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_TITLE_SEPARATORS = re.compile(r"\s+[-|–—_]\s+|_|｜|\s*\|\s*")


def _title(title: str, html: str) -> str:
    """trafilatura sometimes takes the site's name for the title ("X - 某某区人民政府" → the
    name): when the title is what the page declares as its site name, use the rest of <title>.
    Both are read from the raw HTML, so their entities (&amp;, &#8211;) are decoded."""
    head = html[:16384]
    site_names = {unescape(c.group(1)).strip() for m in _SITE_META.finditer(head) if (c := _CONTENT.search(m.group(0)))}
    if title not in site_names:
        return title
    raw = _TITLE.search(head)
    parts = [p.strip() for p in _TITLE_SEPARATORS.split(unescape(raw.group(1)))] if raw else []
    rest = [p for p in parts if p and p not in site_names]
    return rest[0] if rest else title


# "headline_section_site name", "headline-site name", "headline｜section｜site name": a
# hyphen is a separator next to a Han character (not in "净利1900万-2900万").
_HEADLINE_SEPARATORS = re.compile(rf"\s+[-|–—_·]\s+|\s*[_|｜―]+\s*|(?<=\S)[-—]+(?=[{HAN_BMP}])|(?<=[{HAN_BMP}])[-—]+(?=[A-Za-z])|-+$")
_MIN_HEADLINE_CHARS = 6  # a shorter part of <title> is a site or section name


def _headline(tree: lxml.html.HtmlElement, fallback: str) -> str:
    """The headline of a Chinese page: the part of its <title> that a heading on the page
    repeats, else the first part long enough to be one (a site name is short and last)."""
    raw = " ".join((tree.findtext(".//title") or "").split())
    parts = [p.strip() for p in _HEADLINE_SEPARATORS.split(raw) if p.strip()]
    headings = [" ".join(h.text_content().split()) for h in tree.iter("h1", "h2", "h3")]
    squeezed = {"".join(h.split()) for h in headings}
    for part in parts:
        if "".join(part.split()) in squeezed:
            return part
    long_enough = [p for p in parts + headings[:1] if len(p) >= _MIN_HEADLINE_CHARS]
    return long_enough[0] if long_enough else fallback


# "Author: Zhou Yan", "作者：李明" printed on the page (bylines in meta tags come first).
_AUTHOR_LABELS = ("Author", "作者", "撰稿", "记者")
_AUTHOR = re.compile(r"(?:Author|作者|撰稿人?|记者)\s*[:：]\s*([A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,3}|[\u4e00-\u9fff·]{2,8})")


def _canonical(tree: lxml.html.HtmlElement) -> str | None:
    hrefs = tree.xpath("//link[translate(@rel, 'CANONIL', 'canonil')='canonical']/@href")
    return hrefs[0].strip() if hrefs and hrefs[0].strip() else None


# Dates in article URLs: /art/2026/11/20/art_1_2.html, /202611/t20261120_3.html,
# /2026-11/20/c_4.htm, /n1/2026/1120/c1-5.html, /20261120/6.shtml.
_URL_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})[-/_]?(\d{2})[-/_]?(\d{2})(?!\d)")


def url_date(url: str | None) -> str | None:
    """The date an article's URL carries, if any."""
    for m in _URL_DATE.finditer(url or ""):
        found = _parse_date("-".join(m.groups()))
        if found:
            return found
    return None


@dataclass(frozen=True)
class Metadata:
    title: str
    published: str | None
    author: str | None
    canonical: str | None
    credit: str | None


def _metadata(tree: lxml.html.HtmlElement, html: str, url: str | None, chinese: bool = False) -> Metadata:
    """Title, publication date, author, rel=canonical and credited source of a parsed page.

    trafilatura's own metadata pass (`with_metadata=True`) also searches the whole page for
    authors, licences, categories and tags, and costs more than extracting the text. These
    are the parts we use, from trafilatura's and htmldate's cheaper functions: meta tags,
    the title heuristics, htmldate's quick date search, then the URL and dates printed on
    the page. Chinese pages take their headline from <title> (`_headline`) and their author
    and source from the information line (作者：…, 来源：…).
    """
    meta = examine_meta(tree)
    title = _title((meta.title or extract_title(tree) or "").strip(), html)
    if chinese:
        title = _headline(tree, title)
    canonical = _canonical(tree)
    published = find_date(tree, url=url, extensive_search=False, original_date=True, outputformat="%Y-%m-%d") or url_date(url)
    author = (meta.author or "").strip() or None
    credit = None
    # Collecting the page's visible text costs about 1 ms: only for a missing date, a
    # Chinese page's information line, or a byline when a byline label occurs in the page.
    want_author = author is None and any(label in html for label in _AUTHOR_LABELS)
    if not published or want_author or chinese:
        page_text = _page_text(tree)
        published = published or visible_date(page_text)
        if chinese:
            credit, byline = furniture.byline(page_text)
            author = author or byline
        found = _AUTHOR.search(page_text) if want_author and not author else None
        author = author or (found.group(1) if found else None)
    return Metadata(title, published, author, canonical, credit)


# trafilatura's parser options, with two changes. lxml.html's own parser asks a Python
# function for the class of every element handed to Python (FormElement for <form>,
# InputElement for <input>, ...), about 2,500 times per page in trafilatura's passes and 8 %
# of the extraction's time. Nothing here uses those classes: this lookup makes every element
# a plain HtmlElement, decided in C. And huge_tree: without it libxml2 stops at a depth of
# 256, which a page reaches with an unclosed <span> or <font> per line, losing the rest.
_PARSER = lxml.html.HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True)
_PARSER.set_element_class_lookup(lxml.etree.ElementDefaultClassLookup(
    element=lxml.html.HtmlElement, comment=lxml.html.HtmlComment, pi=lxml.html.HtmlProcessingInstruction, entity=lxml.html.HtmlEntity))


def parse_html(html: str) -> lxml.html.HtmlElement | None:
    """The page's tree, parsed as `trafilatura.utils.load_html` parses a string (same
    repairs, same rejection of non-HTML), with the parser above."""
    beginning = html[:50].lower()
    html = repair_faulty_html(html, beginning)
    try:
        tree = lxml.html.fromstring(html, parser=_PARSER)
    except ValueError:  # a string with an XML encoding declaration: lxml wants bytes
        tree = None
    except lxml.etree.LxmlError:  # an empty document
        return None
    if tree is None or len(tree) < 1:
        try:
            tree = lxml.html.fromstring(html.encode("utf-8", "surrogatepass"), parser=_PARSER)
        except (ValueError, lxml.etree.LxmlError):
            return None
    if is_dubious_html(beginning) and len(tree) < 2:
        return None  # not HTML: a fragment or plain text
    return tree


# Pages in Chinese go to the density pass (pipelines/density.py); others, and Chinese
# pages where it finds no article, to trafilatura. On daniel-zh (401 Chinese news pages)
# the density pass scores F1 0.94-0.95 against trafilatura's 0.88-0.90, on the English
# AEB pages 0.91 against 0.96 (benchmarks/eval_extraction.py).
_HAN = re.compile(f"[{HAN_BMP}]")
MIN_HAN_CHARS = 20  # a page with fewer Han characters than this is not read as Chinese
MIN_HAN_SHARE = 0.3  # nor an article whose text is less than this share Han characters


# In UTF-8 the common Han characters (U+4000-U+9FFF) start with one of these bytes, which
# no other character's encoding contains: counting them (in C) rules out English pages
# without a regex pass, curly quotes and dashes included.
_HAN_LEAD_BYTES = [bytes([lead]) for lead in range(0xE4, 0xEA)]


def _may_be_chinese(html: str) -> bool:
    raw = html.encode("utf-8", "surrogatepass")
    return sum(raw.count(lead) for lead in _HAN_LEAD_BYTES) >= MIN_HAN_CHARS


def _is_chinese(lines: list[str]) -> bool:
    text = "".join("".join(lines).split())
    han = len(_HAN.findall(text))
    return han >= MIN_HAN_CHARS and han >= MIN_HAN_SHARE * len(text)


def _is_article(text: str, chinese: bool = False) -> bool:
    lengths = [len("".join(line.split())) for line in text.splitlines()]
    if chinese:
        return bool(lengths) and sum(lengths) >= MIN_TEXT_HAN and max(lengths) >= MIN_PARAGRAPH_HAN
    return bool(lengths) and sum(lengths) >= MIN_TEXT_CHARS and max(lengths) >= MIN_PARAGRAPH_CHARS


def article_text(tree: lxml.html.HtmlElement, html: str, url: str | None = None) -> tuple[str, str, bool]:
    """The article's text in a parsed page ("" when none was found), the pass that found
    it, and whether the page is Chinese."""
    chinese = False
    if _may_be_chinese(html):
        lines = density.article_lines(tree)
        chinese = _is_chinese(lines)
        if chinese:
            text = "\n".join(furniture.clean_lines(lines))
            if _is_article(text, chinese=True):
                return text, "density", True
    # fast: without trafilatura's fallback extractors (readability, jusText), which cost
    # 40 % of its time and, on the public extraction benchmark, gain nothing
    # (benchmarks/eval_extraction.py: F1 0.955 fast, 0.953 with them). On Chinese pages
    # the density pass found nothing in, favour precision: its recall mode takes in menus.
    doc = trafilatura.bare_extraction(tree, url=url, fast=True, with_metadata=False, include_comments=False,
                                      include_tables=True, favor_precision=chinese)
    if doc is None or not doc.text:
        return "", "trafilatura", chinese
    lines = doc.text.strip().splitlines()
    text = "\n".join(furniture.clean_lines(lines) if chinese else furniture.cut_tail(lines)).strip()
    return text, "trafilatura", chinese


def extract_article(html: str, url: str | None = None) -> Extracted | None:
    """The article in a decoded page, or None when the page holds no article text."""
    # One parse for the text and the metadata: trafilatura works on a copy of the tree.
    tree = parse_html(html)
    if tree is None:
        return None
    text, extractor, chinese = article_text(tree, html, url)
    if not _is_article(text, chinese=chinese):
        return None
    meta = _metadata(tree, html, url, chinese=chinese)
    return Extracted(title=meta.title, text=text, published=meta.published, author=meta.author, canonical=meta.canonical,
                     credit=meta.credit, extractor=extractor)
