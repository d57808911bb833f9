"""Tagging and relevance on real articles kept outside the project (../shared/seeds/).

    .venv/bin/python benchmarks/eval_seeds.py [SEEDS_DIR]

The seed texts are real coverage from real sources; they stay in the shared folder and
are never copied into loomwatch. The labels below are ours: the clusters each story is
about (with the tagger's rule that a story is tagged with the most specific cluster, not
also with its enclosing city), and the line that holds its headline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loomwatch.pipelines.clusters import tag_article

LABELS = {
    # file prefix: (headline line number, relevant, clusters)
    "000_": (3, True, {"nantong-home-textile-park", "dieshiqiao", "tongzhou"}),  # Nantong home-textile seminar; the park spans the Dieshiqiao and Tongzhou markets
    "001_": (3, True, {"nantong-home-textile-park"}),  # the park's first anniversary
    "002_": (7, True, {"keqiao"}),  # Keqiao's textile cluster selected; mentions Shaoxing
    "003_": (1, True, {"changshu", "zhangjiagang"}),  # Suzhou party secretary in Changshu and Zhangjiagang
    "004_": (3, True, {"wujiang", "jiangyin", "changshu", "xiaoshan", "keqiao", "tongxiang", "jinjiang"}),  # cluster symposium listing seven
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "seeds")
    args = parser.parse_args()
    if not args.seeds.is_dir():
        print(f"{args.seeds}: no such folder; pass the path of shared/seeds", file=sys.stderr)
        return 2
    tp = fp = fn = right = total = 0
    for path in sorted(args.seeds.glob("*.txt")):
        label = next((v for k, v in LABELS.items() if path.name.startswith(k)), None)
        if label is None:
            continue
        line, relevant, gold = label
        text = path.read_text(encoding="utf-8")
        title = text.splitlines()[line - 1].strip()
        result = tag_article(title, text)
        got = {c.id for c in result.clusters}
        tp += len(got & gold)
        fp += len(got - gold)
        fn += len(gold - got)
        right += result.relevant == relevant
        total += 1
        extra = f"  extra: {sorted(got - gold)}" if got - gold else ""
        missed = f"  missed: {sorted(gold - got)}" if gold - got else ""
        print(f"{path.name[:20]:<20} relevance {result.relevance:.2f}  tags {len(got)}{extra}{missed}")
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"\n{total} real articles: cluster tags precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}; relevance accuracy {right / total:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
