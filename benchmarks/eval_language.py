"""loomwatch's language detection against plain langdetect, on every text at hand.

    .venv/bin/python benchmarks/eval_language.py [--shared ../shared] [--pages DIR ...]

Texts: the labelled tagging and near-duplicate sets (tests/data), the example sites
(tests/sites, the demo), the seed articles and the 181 real pages of the extraction
benchmark in the shared folder, plus any folders of HTML pages given with --pages (for
instance a farm written by `benchmarks/farm.py`). Pages are decoded and extracted as the
crawl does. The reference is langdetect's own `detect()` on the whole text (7 trials).
Prints how often loomwatch agrees, every disagreement, and the CPU per text of each.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from langdetect import DetectorFactory, LangDetectException, detect

from loomwatch.pipelines.extract import decode_html, extract_article
from loomwatch.pipelines.language import detect_language

ROOT = Path(__file__).resolve().parents[1]
DetectorFactory.seed = 0


def texts(shared: Path, pages: list[Path]) -> Iterator[tuple[str, str]]:
    for line in (ROOT / "tests/data/tagging.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        yield "tagging set", (row.get("title") or "") + "\n" + row["text"]
    for line in (ROOT / "tests/data/dedup.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        yield "dedup set", row["a"]
        yield "dedup set", row["b"]
    for path in sorted((shared / "seeds").glob("*.txt")):
        yield "seeds", path.read_text(encoding="utf-8")
    for path in sorted((shared / "eval/aeb/html").glob("*.html.gz")):
        yield from _extracted("extraction benchmark", gzip.decompress(path.read_bytes()))
    for folder in (ROOT / "tests/sites", ROOT / "crawler/demo/sites", *pages):
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".html", ".htm", ".shtml") and path.is_file():
                yield from _extracted(folder.name, path.read_bytes())


def _extracted(label: str, body: bytes) -> Iterator[tuple[str, str]]:
    html, _ = decode_html(body)
    found = extract_article(html)
    if found:
        yield label, found.text


def reference(text: str) -> str:
    try:
        return detect(text)
    except LangDetectException:
        return "und"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the shared folder (default ../shared)")
    parser.add_argument("--pages", type=Path, nargs="*", default=[], help="more folders of HTML pages")
    args = parser.parse_args()
    corpus = list(texts(args.shared, args.pages))
    agree: Counter[tuple[str, str]] = Counter()
    cpu = {"langdetect": 0.0, "loomwatch": 0.0}
    disagreements = []
    for label, text in corpus:
        started = time.process_time()
        expected = reference(text)
        middle = time.process_time()
        got = detect_language(text)
        cpu["langdetect"] += middle - started
        cpu["loomwatch"] += time.process_time() - middle
        agree[(expected, got)] += 1
        if expected != got:
            disagreements.append((label, expected, got, " ".join(text[:120].split())))
    same = sum(n for (a, b), n in agree.items() if a == b)
    print(f"{len(corpus)} texts; loomwatch agrees with langdetect on the whole text for {same} ({same / len(corpus):.1%})")
    print("CPU per text: " + ", ".join(f"{k} {v * 1000 / len(corpus):.2f} ms" for k, v in cpu.items()))
    print("answers (langdetect → loomwatch): " + ", ".join(f"{a}→{b} {n}" for (a, b), n in agree.most_common()))
    for label, expected, got, start in disagreements:
        print(f"  [{label}] langdetect {expected}, loomwatch {got}: {start}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
