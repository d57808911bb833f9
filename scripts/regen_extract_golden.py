"""Regenerate the extraction golden files from the saved pages beside them.

    .venv/bin/python scripts/regen_extract_golden.py   # rewrites tests/golden/extract/*.json
    git diff tests/golden/extract/                      # review what the archive would store differently

Each page in tests/golden/extract/ is our own writing in the layout of a kind of site
loomwatch reads, saved in the encoding such sites use. tests/test_extract.py decodes and
extracts every page as the crawl does and fails when the result differs from its .json
file, so every change to what is stored is a reviewed diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden" / "extract"

# page → (the URL it is served at, its Content-Type header, what it imitates)
PAGES: dict[str, tuple[str, str | None, str]] = {
    "gov-hanweb-gbk": ("http://www.haimen.example/art/2026/11/20/art_12_567890.html", "text/html",
                       "Hanweb district portal: table layout, GBK declared as gb2312 in <meta>, breadcrumb, information "
                       "line with 字号, image file name as caption, print/close buttons, 上一篇/下一篇, 相关阅读, ICP footer"),
    "gov-trs-nocharset": ("http://www.wujiang.example/zwgk/bmdt/202611/t20261118_4567.html", "text/html",
                          "TRS government site: GBK with no charset anywhere and one link text cut mid-character, "
                          "TRS_Editor body, 发布时间 in 年月日, 分享到, side list of hot items"),
    "gov-xml-notice": ("http://rsj.kq.example/tzgg/1235.html", None,
                       "a notice (通知) on an XHTML page whose only declaration is <?xml encoding=\"gb2312\"?>; "
                       "numbered items with labels, signature and date at the end, 上一条/下一条, 纠错/打印/关闭"),
    "portal-latemeta": ("http://www.fzsm.example/news/hydt/2026/1120/1002.html", None,
                        "trade-news portal in GBK whose <meta> charset comes after 2 kB of inline script; byline with "
                        "date, source, author and editor, 字号 T|T, camera file name caption, 责任编辑, related news "
                        "with summaries, reading ranking, copyright footer"),
    "portal-tw-utf8": ("https://news.example.tw/industry/20261120-5678", "text/html; charset=utf-8",
                       "Traditional-script news site in UTF-8: <article>, 記者 byline, share/print/A+ buttons, "
                       "figcaption with a file name, 延伸閱讀 list, aside of popular news"),
}


def extract_record(name: str) -> dict[str, Any]:
    """What the crawl would store from the page, as the golden file holds it."""
    from loomwatch.pipelines.extract import decode_html, extract_article

    url, content_type, _ = PAGES[name]
    html, encoding = decode_html((GOLDEN / f"{name}.html").read_bytes(), content_type)
    found = extract_article(html, url)
    if found is None:
        return {"url": url, "encoding": encoding, "article": None}
    return {"url": url, "encoding": encoding, "title": found.title, "published": found.published, "author": found.author,
            "credit": found.credit, "extractor": found.extractor, "text": found.text.splitlines()}


if __name__ == "__main__":
    for name in PAGES:
        path = GOLDEN / f"{name}.json"
        path.write_text(json.dumps(extract_record(name), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path}")
