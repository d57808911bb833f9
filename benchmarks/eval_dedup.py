"""Precision, recall and F1 of near-duplicate detection on a labelled set of text pairs.

    python benchmarks/eval_dedup.py [PAIRS.jsonl] [--threshold 0.7] [--sweep] [-v]

Each line of the set is {"a": text, "b": text, "duplicate": bool, "note": ...}
(default: tests/data/dedup.jsonl). Every pair goes through the path a crawl takes:
`a` is stored and indexed in a fresh archive, then `b` is looked up with
`find_near_duplicate`; the pair counts as detected when the lookup returns `a`.
Exact copies (same normalised text) are left to the content hash, as in the crawl.
`--sweep` prints the figures for a range of thresholds; `-v` lists every pair with its
estimated similarity. The threshold defaults to `[dedup] threshold`'s default.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import sqlite_utils

from loomwatch.crawler.config import DedupSettings
from loomwatch.pipelines import dedup
from loomwatch.storage.articles import insert_article
from loomwatch.storage.db import migrations

DEFAULT_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "dedup.jsonl"


def load_pairs(path: str | Path = DEFAULT_SET) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def detected(pair: dict, threshold: float) -> bool:
    """Store `a` in an empty archive and ask whether `b` is its near-duplicate."""
    db = sqlite_utils.Database(memory=True)
    migrations.apply(db)
    with db.atomic():
        article_id = insert_article(db, {"url": "https://a.example/1", "source": "a", "text": pair["a"]})
        dedup.index(db, article_id, dedup.signature(pair["a"]))
        found = dedup.find_near_duplicate(db, dedup.signature(pair["b"]), threshold)
    db.close()
    return found == article_id


def scores(pairs: list[dict], threshold: float) -> dict[str, float]:
    predicted = [detected(p, threshold) for p in pairs]
    tp = sum(p and pair["duplicate"] for p, pair in zip(predicted, pairs))
    fp = sum(p and not pair["duplicate"] for p, pair in zip(predicted, pairs))
    fn = sum(not p and pair["duplicate"] for p, pair in zip(predicted, pairs))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", nargs="?", default=str(DEFAULT_SET), help="labelled pairs, JSON lines")
    parser.add_argument("--threshold", type=float, default=DedupSettings().threshold)
    parser.add_argument("--sweep", action="store_true", help="also print the figures for thresholds 0.4 to 0.9")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every pair with its estimated similarity")
    args = parser.parse_args(argv)
    try:
        pairs = load_pairs(args.pairs)
    except (OSError, ValueError) as exc:
        print(f"cannot read labelled pairs from {args.pairs}: {exc}", file=sys.stderr)
        return 2
    positives = sum(bool(p["duplicate"]) for p in pairs)
    print(f"{len(pairs)} pairs ({positives} duplicates, {len(pairs) - positives} near-misses) from {args.pairs}")
    if args.verbose:
        for pair in pairs:
            a, b = dedup.signature(pair["a"]), dedup.signature(pair["b"])
            estimate = dedup.similarity(a, b) if a and b else float("nan")
            hit = detected(pair, args.threshold)
            mark = "ok  " if hit == bool(pair["duplicate"]) else "MISS" if pair["duplicate"] else "FALSE"
            print(f"  {mark:5} {'dup ' if pair['duplicate'] else 'diff'} {pair.get('lang', '  ')} {estimate:.3f}  {pair.get('note', '')[:80]}")
    thresholds = sorted({args.threshold, *([0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9] if args.sweep else [])})
    for threshold in thresholds:
        s = scores(pairs, threshold)
        print(
            f"threshold {threshold:.2f}: precision {s['precision']:.3f}  recall {s['recall']:.3f}  F1 {s['f1']:.3f}"
            f"  (tp {s['tp']}, fp {s['fp']}, fn {s['fn']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
