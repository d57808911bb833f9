"""Extraction quality and cost on real pages: AEB (English) and daniel-zh (Chinese), side by side.

    .venv/bin/python benchmarks/eval_extraction.py [--shared ../shared] [--only aeb|daniel-zh] [--pages FILE.tsv]

- `../shared/eval/aeb`: 181 news pages with hand-checked article bodies (Scrapinghub's
  article-extraction benchmark, MIT licence).
- `../shared/eval/daniel-zh`: 401 Chinese news pages (Simplified and Traditional) with
  hand-made article text (the DAnIEL corpus; see its README).

Both stay in the shared folder. One metric for both, the benchmark's: texts split into
tokens (a Han character is one token, any other run of \\w characters one), 4-token
shingles; per page the matched, extra and missing shingles as shares of their sum;
precision and recall from the shares summed over pages, F1 of the two.

Compared in the same run, on the same decoded pages, with CPU per page: bare
`trafilatura.extract`, trafilatura with `favor_precision`, readability-lxml, and
loomwatch's `extract_article` (what the crawl and `loomwatch extract` store). On
daniel-zh, also how often loomwatch's title is the gold text's first line (the headline).

daniel-zh is also reported in two fixed halves: loomwatch's rules and weights were chosen
on the "dev" half (pages whose id's SHA-1 begins with an even byte) and only checked on
the "held-out" half. `--pages FILE` writes every page's figures (for looking at errors).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import lxml.html
import trafilatura
from readability import Document

from loomwatch.pipelines.extract import decode_html, extract_article
from loomwatch.pipelines.hanzi import HAN_BMP

ROOT = Path(__file__).resolve().parents[1]
_TOKEN = re.compile(f"[{HAN_BMP}]|[^\\W{HAN_BMP}]+")

Page = tuple[str, str, str | None, str]  # id, decoded HTML, URL, expected text


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text)
    return Counter(tuple(tokens[i:i + n]) for i in range(max(len(tokens) - n + 1, 1)))


def shares(expected: str, got: str) -> tuple[float, float, float]:
    """(matched, extra, missing) shingles of one page, as shares of their sum."""
    want, have = shingles(expected), shingles(got)
    matched = sum((want & have).values())
    extra = sum((have - want).values())
    missing = sum((want - have).values())
    total = matched + extra + missing
    return (matched / total, extra / total, missing / total) if total else (0.0, 0.0, 0.0)


def summary(rows: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    matched, extra, missing = (sum(column) for column in zip(*rows)) if rows else (0.0, 0.0, 0.0)
    precision = matched / (matched + extra) if matched + extra else 0.0
    recall = matched / (matched + missing) if matched + missing else 0.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def dev_half(page_id: str) -> bool:
    """The fixed half of daniel-zh that rules and weights were chosen on."""
    return hashlib.sha1(page_id.encode("utf-8")).digest()[0] % 2 == 0


def _readability(html: str, url: str | None) -> str:
    article = lxml.html.fromstring(Document(html, url=url).summary(html_partial=True))
    for block in article.iter("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"):
        block.tail = "\n" + (block.tail or "")
    return "\n".join(line.strip() for line in article.text_content().splitlines() if line.strip())


def _loomwatch(html: str, url: str | None) -> str:
    found = extract_article(html, url)
    return found.text if found else ""


EXTRACTORS: dict[str, Callable[[str, str | None], str]] = {
    "trafilatura.extract (bare)": lambda html, url: trafilatura.extract(html, url=url) or "",
    "trafilatura favor_precision": lambda html, url: trafilatura.extract(html, url=url, favor_precision=True) or "",
    "readability-lxml": _readability,
    "loomwatch extract_article": _loomwatch,
}


def load_aeb(folder: Path) -> list[Page]:
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id, expected in sorted(truth.items()):
        html, _ = decode_html(gzip.decompress((folder / "html" / f"{page_id}.html.gz").read_bytes()))
        pages.append((page_id, html, expected["url"], expected["articleBody"]))
    return pages


def load_daniel(folder: Path) -> list[Page]:
    pages = []
    for line in (folder / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        page_id = line.split("\t")[0]
        html, _ = decode_html(gzip.decompress((folder / "html" / f"{page_id}.html.gz").read_bytes()))
        pages.append((page_id, html, None, (folder / "gold" / f"{page_id}.txt").read_text(encoding="utf-8")))
    return pages


def run(name: str, extractor: Callable[[str, str | None], str], pages: list[Page]) -> tuple[dict[str, tuple[float, float, float]], float]:
    """Per-page shares and CPU milliseconds per page."""
    per_page = {}
    cpu = 0.0
    for page_id, html, url, expected in pages:
        started = time.process_time()
        got = extractor(html, url)
        cpu += time.process_time() - started
        per_page[page_id] = shares(expected, got)
    return per_page, cpu * 1000 / len(pages)


def headlines(pages: list[Page]) -> tuple[float, float]:
    """Shares of daniel-zh pages (dev half, held-out half) whose extracted title is the
    gold text's first line, its headline (spaces ignored; a few gold files start otherwise)."""
    right = {True: 0, False: 0}
    for page_id, html, url, expected in pages:
        found = extract_article(html, url)
        if found and "".join(found.title.split()) == "".join(expected.splitlines()[0].split()):
            right[dev_half(page_id)] += 1
    halves = Counter(dev_half(page_id) for page_id, *_ in pages)
    return right[True] / halves[True], right[False] / halves[False]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the shared folder (holds eval/aeb and eval/daniel-zh)")
    parser.add_argument("--only", choices=["aeb", "daniel-zh"], help="one set only")
    parser.add_argument("--pages", type=Path, help="write each page's shares per extractor to this TSV file")
    args = parser.parse_args()
    sets = {"aeb": (args.shared / "eval" / "aeb", "ground-truth.json", load_aeb),
            "daniel-zh": (args.shared / "eval" / "daniel-zh", "manifest.tsv", load_daniel)}
    if args.only:
        sets = {args.only: sets[args.only]}
    for name, (folder, marker, _) in sets.items():
        if not (folder / marker).is_file():
            print(f"{folder}: not the {name} set (no {marker}); pass --shared PATH/shared", file=sys.stderr)
            return 2
    per_page_rows = []
    for set_name, (folder, _, load) in sets.items():
        pages = load(folder)
        for _, html, url, _ in pages[:5]:  # warm-up: imports and caches
            trafilatura.extract(html, url=url)
            extract_article(html, url)
        print(f"\n{set_name}: {len(pages)} pages")
        for name, extractor in EXTRACTORS.items():
            per_page, ms = run(name, extractor, pages)
            line = f"  {name:28s} P {{:.3f}}  R {{:.3f}}  F1 {{:.3f}}".format(*summary(list(per_page.values())))
            if set_name == "daniel-zh":
                dev = summary([row for page_id, row in per_page.items() if dev_half(page_id)])
                held = summary([row for page_id, row in per_page.items() if not dev_half(page_id)])
                line += f"  (dev half F1 {dev[2]:.3f}, held-out half F1 {held[2]:.3f})"
            print(f"{line}  {ms:5.1f} ms per page", flush=True)
            per_page_rows += [(set_name, page_id, name, *row) for page_id, row in per_page.items()]
        if set_name == "daniel-zh":
            dev, held = headlines(pages)
            print(f"  loomwatch's title is the gold headline on {dev:.0%} of the dev half, {held:.0%} of the held-out half")
    if args.pages:
        with args.pages.open("w", encoding="utf-8") as out:
            out.write("set\tpage\textractor\tmatched\textra\tmissing\n")
            out.writelines("\t".join(map(str, row)) + "\n" for row in per_page_rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
