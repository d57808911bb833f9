"""Tagging and relevance on real articles kept outside the project (../shared/seeds/).

    .venv/bin/python benchmarks/eval_seeds.py [SEEDS_DIR]

The seed texts are real coverage from real sources; they stay in the shared folder and
are never copied into loomwatch. The labels below are ours, written the way the shared
tagging set's README labels its pages: the canonical English names of the clusters each
story is about, a town or market labelled with the county or city the labellers list
(Dieshiqiao and the Nantong home-textile park are "Nantong"), parent cities not added
(a Changshu story that names Suzhou is "Changshu"). Tags are named in those terms by
eval_tagging.labeller, as for the shared sets. Also the line that holds each headline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loomwatch.pipelines.clusters import default_tagger

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_tagging import SHARED_EVAL, labeller, load_shared  # noqa: E402

LABELS = {
    # file prefix: (headline line number, relevant, clusters)
    "000_": (3, True, {"Nantong"}),  # seminar on Nantong's home textiles and its new park (Dearshiqiao and Zhihao markets)
    "001_": (3, True, {"Nantong"}),  # one year of Nantong's home-textile park
    "002_": (7, True, {"Keqiao"}),  # Keqiao's textile cluster selected; mentions Shaoxing
    "003_": (1, True, {"Changshu", "Zhangjiagang"}),  # Suzhou party secretary in Changshu and Zhangjiagang
    "004_": (3, True, {"Wujiang", "Jiangyin", "Changshu", "Xiaoshan", "Keqiao", "Tongxiang", "Jinjiang"}),  # symposium; "Ningbo city hall" is an office
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "seeds")
    args = parser.parse_args()
    if not args.seeds.is_dir():
        print(f"{args.seeds}: no such folder; pass the path of shared/seeds", file=sys.stderr)
        return 2
    tagger = default_tagger()
    vocabulary = [c for label in LABELS.values() for c in label[2]]
    if (SHARED_EVAL / "tagging" / "pages.jsonl").is_file():
        vocabulary += [c for item in load_shared(SHARED_EVAL) for c in item["clusters"]]
    name = labeller(tagger.gazetteer, vocabulary)
    tp = fp = fn = right = total = 0
    for path in sorted(args.seeds.glob("*.txt")):
        label = next((v for k, v in LABELS.items() if path.name.startswith(k)), None)
        if label is None:
            continue
        line, relevant, gold = label
        text = path.read_text(encoding="utf-8")
        title = text.splitlines()[line - 1].strip()
        result = tagger.tag(title, text)
        got = {name(c.id) for c in result.clusters}
        tp += len(got & gold)
        fp += len(got - gold)
        fn += len(gold - got)
        right += result.relevant == relevant
        total += 1
        extra = f"  extra: {sorted(got - gold)}" if got - gold else ""
        missed = f"  missed: {sorted(gold - got)}" if gold - got else ""
        ids = ", ".join(c.id for c in result.clusters)
        print(f"{path.name[:20]:<20} relevance {result.relevance:.2f}  tags {ids}{extra}{missed}")
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"\n{total} real articles: cluster tags precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}; relevance accuracy {right / total:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
