"""Evaluate relevance and cluster tagging on our labelled set and on the shared real sets.

Usage: .venv/bin/python benchmarks/eval_tagging.py [PATH] [-v] [--threshold 0.5] [--shared DIR] [--half A|B]

PATH is our own JSON-lines file (default tests/data/tagging.jsonl), one article per line:
{"title", "text", "lang", "relevant": bool, "clusters": [ids], "note", "hints": [ids]?}.
Beside it the script scores the real pages of ../shared/eval/tagging and
../shared/eval/syndication (used from there, never copied into the project), labelled
with `textile_relevant` and the canonical English names of the clusters each page is
about. Cluster tags are scored per (article, cluster) pair, micro-averaged: a tag on an
off-topic article is a false positive, a missed tag a false negative. Relevance is scored
as a yes/no decision at the threshold. -v lists every mistake (--half A lists those of
half A only).

Labels and tags meet in the labels' terms: a tag is named by the first of the cluster
itself, the place its name is qualified with ("Shaxi (Zhongshan)"), its ancestors and its
prefecture (`city`) whose name occurs among the shared labels, or else by its own name.
So a Shengze tag counts as "Wujiang" and a Zhongda Fabric Market tag as "Guangzhou",
because the sets label towns and markets with the county or city the labellers list; the
five equivalences the tagging README states (Shaoxing is labelled Keqiao, Shengze
Wujiang, Puyuan Tongxiang, Zengcheng Xintang, Shaxi Zhongshan) are applied first. A label
like "Others: Jiapu (Changxing)" is the name before the bracket.

Halves: each shared page falls in half A or B by the SHA-1 of its story (the syndication
`group`, so that reposts of one story stay together; a page of the tagging set that is
also in the syndication set takes its group; any other page its URL): A when the first
hex digit is 0-7. Rules and thresholds are chosen on half A; both halves are reported.
The five pages that are in both sets count once in the "both sets" lines.

Last, the labels' convention for a parent and its town: on how many pages of half A the
labels name a county city or prefecture beside its town (Jinjiang beside Chendai). The
tagger keeps the most specific place, which the count tells whether to keep.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from loomwatch.pipelines.clusters import Tagger
from loomwatch.pipelines.gazetteer import Gazetteer, fold, load_gazetteer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "tests" / "data" / "tagging.jsonl"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
SHARED_SETS = ("tagging", "syndication")
# The tagging README: "Shaoxing is labelled Keqiao, Shengze Wujiang, Puyuan Tongxiang,
# Zengcheng Xintang, Shaxi Zhongshan".
LABELLED_AS = {"shaoxing": "Keqiao", "shengze": "Wujiang", "puyuan": "Tongxiang", "zengcheng": "Xintang", "shaxi": "Zhongshan"}
LANGUAGES = {"en": "en", "zh": "zh", "zh-Hant": "zh"}  # everything else is "other"


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
    def pages(self) -> int:
        return self.rel_tp + self.rel_fp + self.rel_fn + self.rel_tn

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
        return self._ratio(self.rel_tp + self.rel_tn, self.pages)

    @property
    def rel_precision(self) -> float:
        return self._ratio(self.rel_tp, self.rel_tp + self.rel_fp)

    @property
    def rel_recall(self) -> float:
        return self._ratio(self.rel_tp, self.rel_tp + self.rel_fn)

    def line(self) -> str:
        return (
            f"{self.pages:>4} pages  tags P {self.precision:.3f} R {self.recall:.3f} F1 {self.f1:.3f}"
            f" (tp {self.tag_tp}, fp {self.tag_fp}, fn {self.tag_fn})  relevance acc {self.accuracy:.3f}"
            f" (P {self.rel_precision:.3f} R {self.rel_recall:.3f})"
        )


def load_items(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def label_name(label: str) -> str:
    """"Others: Jiapu (Changxing)" -> "Jiapu"; "Keqiao" -> "Keqiao"."""
    return re.sub(r"\s*\(.*\)$", "", label.removeprefix("Others:").strip())


def load_shared(folder: Path) -> list[dict]:
    """Pages of both shared sets in our item shape, each with its `set`, `half` and `key`."""
    sets = {name: load_items(folder / name / "pages.jsonl") for name in SHARED_SETS}
    group_of_url = {page["url"]: page["group"] for page in sets["syndication"]}
    items = []
    for name, pages in sets.items():
        for number, page in enumerate(pages, start=1):
            key = page.get("group") or group_of_url.get(page["url"]) or page["url"]
            items.append({
                "title": page.get("title") or "",
                "text": page["text"],
                "lang": page["lang"],
                "relevant": bool(page["textile_relevant"]),
                "clusters": sorted({label_name(c) for c in page["clusters"]}),
                "note": page.get("note") or page.get("evidence") or "",
                "set": name,
                "id": f"{name}#{number}",
                "url": page["url"],
                "half": "A" if hashlib.sha1(key.encode("utf-8")).hexdigest()[0] in "01234567" else "B",
            })
    return items


def labeller(gazetteer: Gazetteer, vocabulary: Iterable[str]) -> Callable[[str], str]:
    """A function naming a cluster id in the labels' terms (see the module docstring)."""
    known = {fold(v): v for v in vocabulary}
    by_name = {fold(label_name(c.name)): c.id for c in gazetteer}

    def name(cluster_id: str) -> str:
        cluster = gazetteer[cluster_id]
        if cluster_id in LABELLED_AS:
            return LABELLED_AS[cluster_id]
        qualifier = re.search(r"\((.*)\)$", cluster.name)
        chain = [cluster.name, *([qualifier.group(1)] if qualifier else [])]
        chain += [gazetteer[a].name for a in gazetteer.ancestors(cluster_id)] + [cluster.city]
        for candidate in chain:
            short = fold(label_name(candidate))
            if by_name.get(short) in LABELLED_AS:
                return LABELLED_AS[by_name[short]]
            if short in known:
                return known[short]
        return label_name(cluster.name)

    return name


def parents_beside_towns(gazetteer: Gazetteer, items: list[dict]) -> tuple[int, int]:
    """(pages labelled with a cluster and its parent, pages labelled with a cluster that has
    one): the labels' convention for a county city or prefecture beside its town."""
    by_name = {fold(label_name(c.name)): c.id for c in gazetteer}
    both = with_parent = 0
    for item in items:
        labelled = {by_name[key] for key in (fold(label_name(label)) for label in item["clusters"]) if key in by_name}
        parents = {
            c: {*gazetteer.ancestors(c), *([by_name[fold(gazetteer[c].city)]] if fold(gazetteer[c].city) in by_name else [])} - {c}
            for c in labelled
        }
        with_parent += any(parents.values())
        both += any(parents[c] & labelled for c in labelled)
    return both, with_parent


def evaluate(tagger: Tagger, items: list[dict], name: Callable[[str], str] = str) -> Report:
    """Score `items`; `name` turns a tagged cluster id into the labels' terms."""
    report = Report()
    for number, item in enumerate(items, start=1):
        tagging = tagger.tag(item["title"], item["text"], item.get("hints", ()))
        expected, got = set(item["clusters"]), {name(c.id) for c in tagging.clusters}
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
            where = f"{item['id']} ({item['half']}, {item['lang']})" if "id" in item else f"#{number}"
            title = (item["title"] or item["text"])[:60].replace("\n", " ")
            report.mistakes.append(f"{where} {title!r}: {'; '.join(problems)} [{scores}] -- {item.get('note', '')[:150]}")
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


def shared_report(tagger: Tagger, items: list[dict], verbose_half: str | None) -> list[str]:
    """Lines of figures per set, half and language; the mistakes of `verbose_half` last."""
    name = labeller(tagger.gazetteer, (c for i in items for c in i["clusters"]))
    unique = list({i["url"]: i for i in reversed(items)}.values())[::-1]  # the tagging set's copy wins
    lines = []
    rows: list[tuple[str, list[dict]]] = []
    for set_name in SHARED_SETS:
        rows += [(f"{set_name} {half}", [i for i in items if i["set"] == set_name and i["half"] == half]) for half in "AB"]
    rows += [(f"both sets {half}", [i for i in unique if i["half"] == half]) for half in "AB"]
    rows.append(("both sets A+B", unique))
    for lang in ("en", "zh", "other"):
        rows += [
            (f"  {lang:<5} {half}", [i for i in unique if LANGUAGES.get(i["lang"], "other") == lang and i["half"] in half])
            for half in ("A", "B", "AB")
        ]
    for label, chosen in rows:
        lines.append(f"{label:<16}{evaluate(tagger, chosen, name).line()}")
    both, with_parent = parents_beside_towns(tagger.gazetteer, [i for i in unique if i["half"] == "A"])
    lines.append(f"labels of half A: a parent beside its town on {both} of the {with_parent} pages labelled with a town or county that has one")
    if verbose_half:
        chosen = [i for i in unique if verbose_half in ("AB", i["half"])]
        lines += ["  " + m for m in evaluate(tagger, chosen, name).mistakes]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("-v", "--verbose", action="store_true", help="list every mistake")
    parser.add_argument("--half", choices=("A", "B"), help="with -v: list the shared sets' mistakes of this half only")
    parser.add_argument("--threshold", type=float, default=0.5, help="relevance threshold (default 0.5)")
    parser.add_argument("--shared", type=Path, default=SHARED_EVAL, help=f"the shared eval folder (default {SHARED_EVAL})")
    args = parser.parse_args(argv)

    items = load_items(args.path)
    tagger = Tagger(load_gazetteer(), args.threshold)
    report = evaluate(tagger, items)
    print(f"our labelled set: {len(items)} items ({sum(i['relevant'] for i in items)} relevant) from {args.path}")
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

    if not (args.shared / "tagging" / "pages.jsonl").is_file():
        print(f"\n{args.shared}: no shared eval sets there; pass --shared with the path of shared/eval", file=sys.stderr)
        return 2
    shared = load_shared(args.shared)
    print(f"\nshared real sets ({args.shared}; rules chosen on half A):")
    for line in shared_report(tagger, shared, (args.half or "AB") if args.verbose else None):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
