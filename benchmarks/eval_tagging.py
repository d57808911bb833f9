"""Evaluate relevance and cluster tagging on a labelled set.

Usage: .venv/bin/python benchmarks/eval_tagging.py [PATH] [-v] [--threshold 0.5]

PATH is a JSON-lines file (default tests/data/tagging.jsonl), one article per line:
{"title", "text", "lang", "relevant": bool, "clusters": [ids], "note", "hints": [ids]?}.
Cluster tags are scored per (article, cluster) pair, micro-averaged: a tag on an
off-topic article is a false positive, a missed tag a false negative. Relevance is
scored as a yes/no decision at the threshold. -v lists every mistake.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from loomwatch.crawler.gazetteer import load_gazetteer
from loomwatch.pipelines.clusters import Tagger

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "tests" / "data" / "tagging.jsonl"


@dataclass
class Report:
    tag_tp: int = 0
    tag_fp: int = 0
    tag_fn: int = 0
    rel_tp: int = 0
    rel_fp: int = 0
    rel_fn: int = 0
    rel_tn: int = 0
    mistakes: list[str] = field(default_factory=list)

    @staticmethod
    def _ratio(a: int, b: int) -> float:
        return a / b if b else 1.0

    @property
    def precision(self) -> float:
        return self._ratio(self.tag_tp, self.tag_tp + self.tag_fp)

    @property
    def recall(self) -> float:
        return self._ratio(self.tag_tp, self.tag_tp + self.tag_fn)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        total = self.rel_tp + self.rel_fp + self.rel_fn + self.rel_tn
        return self._ratio(self.rel_tp + self.rel_tn, total)

    @property
    def rel_precision(self) -> float:
        return self._ratio(self.rel_tp, self.rel_tp + self.rel_fp)

    @property
    def rel_recall(self) -> float:
        return self._ratio(self.rel_tp, self.rel_tp + self.rel_fn)


def load_items(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def evaluate(tagger: Tagger, items: list[dict]) -> Report:
    report = Report()
    for number, item in enumerate(items, start=1):
        tagging = tagger.tag(item["title"], item["text"], item.get("hints", ()))
        expected, got = set(item["clusters"]), {c.id for c in tagging.clusters}
        report.tag_tp += len(expected & got)
        report.tag_fp += len(got - expected)
        report.tag_fn += len(expected - got)
        if item["relevant"]:
            report.rel_tp += tagging.relevant
            report.rel_fn += not tagging.relevant
        else:
            report.rel_fp += tagging.relevant
            report.rel_tn += not tagging.relevant
        problems = []
        if tagging.relevant != item["relevant"]:
            problems.append(f"relevant={tagging.relevant} (relevance {tagging.relevance}), expected {item['relevant']}")
        if got - expected:
            problems.append(f"extra {sorted(got - expected)}")
        if expected - got:
            problems.append(f"missing {sorted(expected - got)}")
        if problems:
            scores = ", ".join(f"{c.id} {c.score}" for c in tagging.clusters) or "no tags"
            report.mistakes.append(f"#{number} {item['title'][:60]!r}: {'; '.join(problems)} [{scores}] -- {item.get('note', '')}")
    return report


def time_per_text(tagger: Tagger, items: list[dict], lang: str, size: int = 5000, rounds: int = 300) -> tuple[float, float]:
    """Median and best seconds to tag a relevant text of `size` UTF-8 bytes in language `lang`.

    The texts are the labelled articles run together, denser in cluster names than
    real pages. The best time shows the code's cost on a shared, busy machine.
    """
    body = "\n".join(i["text"] for i in items if i["relevant"] and i["lang"] == lang).encode("utf-8")
    if not body:
        return 0.0, 0.0
    body = body * (1 + size // len(body))
    texts = [body[offset : offset + size].decode("utf-8", "ignore") for offset in range(0, 10 * 331, 331)]
    times = []
    for n in range(rounds):
        start = time.perf_counter()
        tagger.tag("Textile clusters report", texts[n % len(texts)])
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("-v", "--verbose", action="store_true", help="list every mistake")
    parser.add_argument("--threshold", type=float, default=0.5, help="relevance threshold (default 0.5)")
    args = parser.parse_args(argv)

    items = load_items(args.path)
    tagger = Tagger(load_gazetteer(), args.threshold)
    report = evaluate(tagger, items)
    print(f"items: {len(items)} ({sum(i['relevant'] for i in items)} relevant) from {args.path}")
    print(f"cluster tags: precision {report.precision:.3f}  recall {report.recall:.3f}  F1 {report.f1:.3f}"
          f"  (tp {report.tag_tp}, fp {report.tag_fp}, fn {report.tag_fn})")
    print(f"relevance:    accuracy {report.accuracy:.3f}  precision {report.rel_precision:.3f}  recall {report.rel_recall:.3f}"
          f"  (threshold {args.threshold})")
    speed = []
    for lang in ("en", "zh"):
        median, best = time_per_text(tagger, items, lang)
        speed.append(f"{lang} {median * 1e6:.0f} µs (best {best * 1e6:.0f} µs)")
    print(f"speed:        per 5 kB text, median: {', '.join(speed)}")
    if args.verbose:
        for mistake in report.mistakes:
            print("  " + mistake)
    elif report.mistakes:
        print(f"{len(report.mistakes)} items with mistakes; -v lists them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
