"""Extraction quality and cost on the public article-extraction benchmark (../shared/eval/aeb).

    .venv/bin/python benchmarks/eval_extraction.py [--aeb ../shared/eval/aeb]

181 real news pages (Scrapinghub's benchmark, MIT licence; it stays in the shared folder)
with hand-checked article bodies. Its metric: texts split into \\w+ tokens, 4-token
shingles; per page the matched, extra and missing shingles as shares of their sum;
precision and recall from the shares summed over pages, F1 of the two. Compared:
bare `trafilatura.extract` (the crawl benchmark's baseline) and loomwatch's
`extract_article` (what the crawl stores), with the CPU per page of each.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import trafilatura

from loomwatch.pipelines.extract import decode_html, extract_article

ROOT = Path(__file__).resolve().parents[1]
_TOKEN = re.compile(r"\w+")


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


def score(extractor: Callable[[str, str], str], pages: list[tuple[str, str, str]]) -> dict[str, float]:
    matched = extra = missing = cpu = 0.0
    for html, url, expected in pages:
        started = time.process_time()
        got = extractor(html, url) or ""
        cpu += time.process_time() - started
        m, e, s = shares(expected, got)
        matched, extra, missing = matched + m, extra + e, missing + s
    precision = matched / (matched + extra) if matched + extra else 0.0
    recall = matched / (matched + missing) if matched + missing else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "ms_per_page": cpu * 1000 / len(pages)}


def loomwatch(html: str, url: str) -> str:
    found = extract_article(html, url)
    return found.text if found else ""


EXTRACTORS: dict[str, Callable[[str, str], str]] = {
    "trafilatura.extract (bare)": lambda html, url: trafilatura.extract(html, url=url) or "",
    "loomwatch extract_article": loomwatch,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aeb", type=Path, default=ROOT.parent / "shared" / "eval" / "aeb", help="the benchmark's folder")
    args = parser.parse_args()
    if not (args.aeb / "ground-truth.json").is_file():
        print(f"{args.aeb}: not the extraction benchmark (no ground-truth.json); pass --aeb PATH/shared/eval/aeb", file=sys.stderr)
        return 2
    truth = json.loads((args.aeb / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id, expected in sorted(truth.items()):
        html, _ = decode_html(gzip.decompress((args.aeb / "html" / f"{page_id}.html.gz").read_bytes()))
        pages.append((html, expected["url"], expected["articleBody"]))
    for html, url, _ in pages[:5]:  # warm-up: imports and caches
        trafilatura.extract(html, url=url)
    print(f"{len(pages)} pages")
    for name, extractor in EXTRACTORS.items():
        result = score(extractor, pages)
        print(f"{name:32s} precision {result['precision']:.3f}  recall {result['recall']:.3f}  F1 {result['f1']:.3f}  "
              f"{result['ms_per_page']:.1f} ms per page")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
