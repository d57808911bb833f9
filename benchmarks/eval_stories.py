"""Story folding on real pages labelled by story: pairwise precision, recall and F1.

    python benchmarks/eval_stories.py [PAGES.jsonl] [--seed N] [--sweep] [-v]

PAGES defaults to ../shared/eval/syndication/pages.jsonl (its README describes it; the
pages carry no dates). The texts go through `loomwatch.crawler.restory.fold_texts`, the
code of `loomwatch stories`: the crawl's analysis and store step, in file order (or
shuffled with --seed). Two pages form a predicted pair when they land in one story, a
true pair when they share a `group`. Pairs are counted separately within one language
(Simplified and Traditional Chinese count as one) and across languages.

The rules were chosen on half A and are reported on both halves: groups are sorted by
name and dealt alternately into A and B within each kind (the group's first letter:
G/S same-language, X Chinese-English, M other languages, N hard negatives), and each half
is folded on its own. `--sweep` folds half A under a grid of [stories] thresholds and
prints, for each, the figures on A, then the figures on B of the setting that does best
on A (the most recall, same- and cross-language together, with precision at least 0.95
in both; of the settings that tie, the one nearest the middle of their range). `-v` lists the pairs that were missed or wrongly folded. Also
prints the CPU per article of the analysis (language, tagging, signature, facts) and of
the store step's story decision.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

from loomwatch.crawler.config import Config, StorySettings
from loomwatch.crawler.restory import fold_texts

DEFAULT_SET = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "syndication" / "pages.jsonl"


def halves(pages: list[dict]) -> dict[str, list[dict]]:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for group in sorted({p["group"] for p in pages}):
        by_kind[group[0]].append(group)
    half = {g: "AB"[i % 2] for groups in by_kind.values() for i, g in enumerate(groups)}
    return {name: [p for p in pages if half[p["group"]] == name] for name in "AB"}


def language(page: dict) -> str:
    return page["lang"].split("-")[0]


def fold(pages: list[dict], config: Config) -> tuple[list[object], dict[str, float]]:
    records = [{"id": i, "title": p.get("title") or "", "text": p["text"]} for i, p in enumerate(pages)]
    cpu: dict[str, float] = {}
    started = time.process_time()
    stories = [r["story"] for r in fold_texts(config, records, cpu=cpu)]
    cpu["total"] = time.process_time() - started
    return stories, cpu


def scores(pages: list[dict], stories: list[object]) -> dict[str, dict[str, float]]:
    counts = {kind: {"tp": 0, "fp": 0, "fn": 0} for kind in ("same", "cross")}
    for i, j in itertools.combinations(range(len(pages)), 2):
        kind = "same" if language(pages[i]) == language(pages[j]) else "cross"
        truth = pages[i]["group"] == pages[j]["group"]
        predicted = stories[i] is not None and stories[i] == stories[j]
        if predicted and truth:
            counts[kind]["tp"] += 1
        elif predicted:
            counts[kind]["fp"] += 1
        elif truth:
            counts[kind]["fn"] += 1
    for c in counts.values():
        c["precision"] = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
        c["recall"] = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
        p, r = c["precision"], c["recall"]
        c["f1"] = 2 * p * r / (p + r) if p + r else 0.0
    return counts


def errors(pages: list[dict], stories: list[object]) -> list[str]:
    out = []
    for i, j in itertools.combinations(range(len(pages)), 2):
        truth = pages[i]["group"] == pages[j]["group"]
        predicted = stories[i] is not None and stories[i] == stories[j]
        if truth != predicted:
            out.append(f"  {'missed' if truth else 'WRONG '} {pages[i]['group'][:3]} {pages[i]['lang']}:{pages[i]['site']}"
                       f"  ~  {pages[j]['group'][:3]} {pages[j]['lang']}:{pages[j]['site']}")
    return out


GRID = {
    "min_shared_facts": (2.0, 2.5, 3.0, 3.5, 4.0, 5.0),
    "min_fact_share": (0.25, 0.35, 0.5),
    "min_text_similarity": (0.1, 0.15, 0.2, 0.3),
}


def sweep(pages: list[dict]) -> None:
    parts = halves(pages)
    results = []
    for values in itertools.product(*GRID.values()):
        config = Config(stories=StorySettings(**dict(zip(GRID, values))))
        counts = scores(parts["A"], fold(parts["A"], config)[0])
        results.append((values, counts))
        print("  ".join(f"{k}={v}" for k, v in zip(GRID, values)) + "  A: "
              + "  ".join(f"{kind} P {c['precision']:.3f} R {c['recall']:.3f}" for kind, c in counts.items()))
    ok = [(v, c) for v, c in results if all(x["precision"] >= 0.95 for x in c.values())]
    figure = lambda c: (sum(x["tp"] for x in c.values()), -sum(x["fp"] for x in c.values()))  # noqa: E731
    top = max(figure(c) for _, c in ok)
    tied = [[grid.index(x) for grid, x in zip(GRID.values(), v)] for v, c in ok if figure(c) == top]
    # Many settings usually tie on A: take the one nearest the middle of the tied range.
    middle = [sorted(column)[len(column) // 2] for column in zip(*tied)]
    best = min(tied, key=lambda t: sum(abs(i - m) for i, m in zip(t, middle)))
    chosen = {k: grid[i] for (k, grid), i in zip(GRID.items(), best)}
    print(f"best on A: {chosen}; default: {dict((k, getattr(StorySettings(), k)) for k in GRID)}")
    config = Config(stories=StorySettings(**chosen))
    for name in "AB":
        for kind, c in scores(parts[name], fold(parts[name], config)[0]).items():
            print(f"{name} {kind:<6} precision {c['precision']:.3f} recall {c['recall']:.3f} F1 {c['f1']:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="?", default=str(DEFAULT_SET))
    parser.add_argument("--seed", type=int, default=None, help="Fold the pages in a shuffled order.")
    parser.add_argument("--sweep", action="store_true", help="Choose thresholds on half A, report them on B.")
    parser.add_argument("-v", "--verbose", action="store_true", help="List missed and wrong pairs.")
    args = parser.parse_args(argv)
    with open(args.pages, encoding="utf-8") as f:
        pages = [json.loads(line) for line in f if line.strip()]
    if args.seed is not None:
        random.Random(args.seed).shuffle(pages)
    if args.sweep:
        sweep(pages)
        return 0
    config = Config()
    print(f"{len(pages)} pages, {len({p['group'] for p in pages})} stories; order: {'seed ' + str(args.seed) if args.seed is not None else 'file'}")
    print(f"{'half':<6} {'pairs':<6} {'true':>5} {'found':>6} {'precision':>10} {'recall':>7} {'F1':>6}")
    for name, part in [*halves(pages).items(), ("all", pages)]:
        stories, cpu = fold(part, config)
        for kind, c in scores(part, stories).items():
            print(f"{name:<6} {kind:<6} {c['tp'] + c['fn']:>5} {c['tp'] + c['fp']:>6} {c['precision']:>10.3f} {c['recall']:>7.3f} {c['f1']:>6.3f}")
        if args.verbose:
            print("\n".join(errors(part, stories)))
        if name == "all":
            n = len(part)
            print(f"CPU per article: {cpu['total'] * 1000 / n:.1f} ms in all (analysis: language, tagging, signature, "
                  f"{cpu.get('facts', 0) * 1000 / n:.2f} of it facts; store step {cpu.get('store', 0) * 1000 / n:.2f}, "
                  f"of which the story decision {cpu.get('story_lookup', 0) * 1000 / n:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
