"""Story decision cost per new article against archives of 100,000 and 1,000,000 articles.

    python benchmarks/bench_stories.py [--n 100000 1000000] [--lookups 2000] [--db-dir DIR]

For each size N, an archive is generated in bulk with what the decision reads (the real
schema through `open_database`; article rows without texts, as in bench_dedup): N
articles over two years (about N/730 a day), the relevant 40 % with story facts and their
blocking keys, and MinHash signatures. The facts are synthetic but shaped like real ones
(`pipelines/facts.py`): 2-4 dates near the article's day and its year, 1-3 clusters (a
dozen popular ones take 70 %), 3-6 organisations and places from a skewed pool, 0-2
people, 4-10 figures; 15 % of the relevant articles report an earlier story of the last
week (they take 70 % of its facts), so stories have several members to check.

Then `--lookups` new articles dated on the last day (the same mix) go through what the
store step runs for each: `pipelines.stories.story_for` and `stories.record`, in
transactions of 50 like the store pipeline. Prints the median and 95th percentile per
article, and how many joined a story. The target: under 5 ms, flat as the archive grows.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from loomwatch.crawler.config import StorySettings
from loomwatch.pipelines import stories as decision
from loomwatch.pipelines.facts import blocking_keys
from loomwatch.storage import open_database
from loomwatch.storage.stories import fact_key

DAYS = 730
CLUSTERS = [f"c:cluster-{i}" for i in range(200)]
ENTITIES = [f"e:entity-{i}" for i in range(300)]


class Maker:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def facts(self, day: int) -> set[str]:
        rng = self.rng
        year = 2025 + day // 365
        found = {f"y:{year}"}
        for _ in range(rng.randint(2, 4)):
            d = day + rng.randint(-3, 3)
            found.add(f"md:{(d // 30) % 12 + 1:02d}-{d % 30 + 1:02d}")
        for _ in range(rng.choice((1, 1, 2, 3))):
            found.add(rng.choice(CLUSTERS[:12]) if rng.random() < 0.7 else rng.choice(CLUSTERS))
        for _ in range(rng.randint(3, 6)):
            found.add(ENTITIES[min(int(rng.paretovariate(1.0)) - 1, len(ENTITIES) - 1)])
        for _ in range(rng.choice((0, 0, 1, 2))):
            found.add(f"p:person {rng.randrange(5000)}")
        for _ in range(rng.randint(4, 10)):
            kind = rng.choice(("pct", "cny", "n", "n", "usd"))
            if kind == "pct":
                found.add(f"pct:{rng.randrange(1, 1000) / 10:g}")
            elif kind == "n" and rng.random() < 0.5:
                found.add(f"n:{rng.choice((3, 5, 10, 20, 50, 100, 1000))}")
            else:
                found.add(f"{kind}:{rng.randrange(100, 100000) * 10 ** rng.randrange(0, 6):.6g}")
        return found

    def report_of(self, facts: set[str], day: int) -> set[str]:
        # In sorted order: a set's order changes from one process to the next (str hashes).
        kept = {f for f in sorted(facts) if self.rng.random() < 0.7}
        return kept | {f for f in sorted(self.facts(day)) if self.rng.random() < 0.2}


def build(path: Path, n: int, seed: int = 5, batch: int = 50_000) -> float:
    started = time.perf_counter()
    db = open_database(path)
    db.execute("PRAGMA synchronous = OFF")
    maker = Maker(seed)
    rng = maker.rng
    recent: list[tuple[int, int, set[str], int]] = []  # (id, day, facts, story) of the last relevant articles
    for lo in range(1, n + 1, batch):
        articles, facts_rows, keys, sigs = [], [], [], []
        for i in range(lo, min(lo + batch, n + 1)):
            day = 20000 + (i - 1) * DAYS // n
            relevant = rng.random() < 0.4
            story = None
            if relevant:
                if recent and rng.random() < 0.15:
                    j, jday, jfacts, story = rng.choice(recent[-max(1, n // DAYS * 3):])
                    facts = maker.report_of(jfacts, day)
                else:
                    facts, story = maker.facts(day), i
                recent.append((i, day, facts, story))
                recent = recent[-5000:]
                ordered = sorted(facts)
                facts_rows.append((i, day, decision.stories.json.dumps(ordered)))
                keys += [(fact_key(k), day, i) for k in blocking_keys(ordered, decision.MAX_KEYS)]
                sigs.append((i, rng.randbytes(256)))
            articles.append((i, f"https://s.example/{i}", "s", "", "2025-01-01 00:00:00", int(relevant), story, ""))
        with db.atomic():
            db.conn.executemany("INSERT INTO articles (id, url, source, text, first_seen, relevant, story_id, content_hash) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", articles)
            db.conn.executemany("INSERT INTO story_facts (article_id, day, facts) VALUES (?, ?, ?)", facts_rows)
            keys.sort()
            db.conn.executemany("INSERT OR IGNORE INTO story_keys (key, day, article_id) VALUES (?, ?, ?)", keys)
            db.conn.executemany("INSERT INTO dedup_signatures (article_id, signature) VALUES (?, ?)", sigs)
        print(f"  {min(lo + batch - 1, n):,} articles ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    with db.atomic():
        decision.stories.rebuild(db)
    db.execute("ANALYZE")
    db.execute("PRAGMA synchronous = NORMAL")
    db.close()
    return time.perf_counter() - started


def add_facts(db, seed: int = 5, batch: int = 50_000) -> int:
    """Record story facts (Maker's) for the story members of an archive that has none (one of
    bench_archive.py): each on its article's day, a copy with most of its original's facts.
    Returns how many articles got facts."""
    maker = Maker(seed)
    recent: dict[int, set[str]] = {}  # facts of the last articles given some: copies follow their original within 3,000
    rows = db.execute("SELECT id, published, first_seen, duplicate_of FROM articles WHERE story_id IS NOT NULL "
                      "AND id NOT IN (SELECT article_id FROM story_facts) ORDER BY id").fetchall()
    for lo in range(0, len(rows), batch):
        facts_rows, keys = [], []
        for article_id, published, first_seen, duplicate_of in rows[lo : lo + batch]:
            day = decision.article_day(published, first_seen)
            original = recent.get(duplicate_of)
            facts = maker.report_of(original, day) if original else maker.facts(day)
            recent[article_id] = facts
            ordered = sorted(facts)
            facts_rows.append((article_id, day, decision.stories.json.dumps(ordered)))
            keys += [(fact_key(k), day, article_id) for k in blocking_keys(ordered, decision.MAX_KEYS)]
        recent = {k: v for k, v in recent.items() if k > rows[min(lo + batch, len(rows)) - 1][0] - 5000}
        with db.atomic():
            db.conn.executemany("INSERT INTO story_facts (article_id, day, facts) VALUES (?, ?, ?)", facts_rows)
            keys.sort()
            db.conn.executemany("INSERT OR IGNORE INTO story_keys (key, day, article_id) VALUES (?, ?, ?)", keys)
        print(f"  facts of {min(lo + batch, len(rows)):,} articles", file=sys.stderr, flush=True)
    db.execute("ANALYZE story_keys")
    return len(rows)


def measure(path: Path, lookups: int, seed: int = 9) -> dict[str, float]:
    db = open_database(path)
    n, last_day = db.execute("SELECT max(id), max(day) FROM story_facts JOIN articles ON id = article_id").fetchone()
    maker = Maker(seed)
    rules = StorySettings()
    recent = [(row[0], set(decision.stories.json.loads(row[1]))) for row in
              db.execute("SELECT article_id, facts FROM story_facts WHERE day >= ? ORDER BY article_id DESC LIMIT 500", [last_day - 3])]
    times, joined = [], 0
    next_id = db.execute("SELECT max(id) FROM articles").fetchone()[0] + 1
    for lo in range(0, lookups, 50):
        with db.atomic():
            for k in range(lo, min(lo + 50, lookups)):
                facts = maker.report_of(maker.rng.choice(recent)[1], last_day) if maker.rng.random() < 0.3 else maker.facts(last_day)
                article = {"facts": sorted(facts), "signature": maker.rng.randbytes(256), "relevant": 1}
                started = time.perf_counter()
                newcomer = decision.Newcomer(article)
                story = decision.story_for(db, article, None, last_day, rules, newcomer=newcomer)
                db.conn.execute("INSERT INTO articles (id, url, source, text, first_seen, relevant, story_id, content_hash) "
                                "VALUES (?, ?, 's', '', '2027-01-01 00:00:00', 1, ?, '')",
                                [next_id, f"https://new.example/{next_id}", next_id if story == decision.stories.NEW_STORY else story])
                decision.record(db, next_id, newcomer, last_day)
                times.append((time.perf_counter() - started) * 1000)
                joined += story != decision.stories.NEW_STORY
                next_id += 1
    db.conn.rollback() if db.conn.in_transaction else None
    db.execute("DELETE FROM story_keys WHERE article_id > ?", [n])  # leave the archive as built
    db.execute("DELETE FROM story_facts WHERE article_id > ?", [n])
    db.execute("DELETE FROM articles WHERE id > ?", [n])
    db.conn.commit()
    db.close()
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * len(times))], "joined": joined / lookups}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000], help="archive sizes")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--db-dir", type=Path, help="keep the archives here (reused when present)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="loomwatch-stories-") as tmp:
        folder = args.db_dir or Path(tmp)
        for n in args.n:
            path = folder / f"stories-{n}.db"
            if not path.exists():
                seconds = build(path, n)
                print(f"archive of {n:,} articles built in {seconds:.0f} s ({path.stat().st_size / 1e6:.0f} MB)")
            result = measure(path, args.lookups)
            print(f"{n:>9,} articles: story decision + record median {result['median_ms']:.2f} ms, "
                  f"p95 {result['p95_ms']:.2f} ms per new article; {result['joined']:.0%} joined a story")
    return 0


if __name__ == "__main__":
    sys.exit(main())
