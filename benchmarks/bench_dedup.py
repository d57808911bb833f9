"""Cost of near-duplicate detection as the archive grows.

    python benchmarks/bench_dedup.py [--n 100000] [--lookups 2000] [--threshold 0.7] [--db PATH]

1. Signing: milliseconds per 5 kB of English and of Chinese text (`dedup.signature`).
2. An archive of N articles is built quickly, not through the crawl: the `articles`
   rows carry no text (an empty text and a made-up hash: we measure the dedup tables,
   not the FTS index), their signatures are synthetic and inserted in bulk, and the band
   table is built by `dedup.rebuild`, the same code that runs when the threshold
   changes. The signatures mimic an archive: most articles unrelated, 10 % near-copies
   of an earlier article (15 % of values changed, Jaccard about 0.85) and 5 % in
   template series (weekly reports: about 0.45 similar to each other, so they meet in
   bands and must be verified and rejected).
3. New articles are then stored as the store pipeline does, in transactions of 50:
   for each, `find_near_duplicate` and `index` are timed together (median and p95 per
   article); half are unrelated, 40 % near-copies of an archived article, 10 % new
   members of a template series.
4. Bytes per article: the file, and the dedup tables alone (SQLite's dbstat).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from loomwatch.pipelines import dedup
from loomwatch.storage import open_database

LABELLED = Path(__file__).resolve().parent.parent / "tests" / "data" / "dedup.jsonl"
BATCH = 50  # articles per transaction, as in loomwatch.pipelines.store


def text_of_bytes(texts: list[str], size: int) -> str:
    out, total = [], 0
    for text in texts:
        out.append(text)
        total += len(text.encode()) + 2
        if total >= size:
            break
    return "\n\n".join(out).encode()[:size].decode(errors="ignore")


def bench_signature(repeat: int = 200) -> dict[str, float]:
    pairs = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    results = {}
    for lang in ("en", "zh"):
        text = text_of_bytes([p["a"] for p in pairs if p["lang"] == lang], 5000)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            dedup.signature(text)
            times.append(time.perf_counter() - start)
        results[lang] = statistics.median(times) * 1000
    return results


class Signatures:
    """Synthetic signatures with near-copies and template series."""

    def __init__(self, seed: int = 7):
        self.rng = np.random.default_rng(seed)
        self.series = self.random(200)  # 200 template series

    def random(self, n: int) -> np.ndarray:
        return self.rng.integers(0, 1 << 16, size=(n, dedup.NUM_PERM), dtype=np.uint16)

    def perturb(self, base: np.ndarray, fraction: float) -> np.ndarray:
        out = base.copy()
        mask = self.rng.random(out.shape) < fraction
        out[mask] = self.rng.integers(0, 1 << 16, size=int(mask.sum()), dtype=np.uint16)
        return out

    def archive(self, n: int) -> np.ndarray:
        sigs = self.random(n)
        kind = self.rng.random(n)
        copies = np.flatnonzero((kind < 0.10) & (np.arange(n) > 0))
        originals = (self.rng.random(len(copies)) * copies).astype(np.int64)  # an earlier article
        sigs[copies] = self.perturb(sigs[originals], 0.15)
        members = np.flatnonzero((kind >= 0.10) & (kind < 0.15))
        sigs[members] = self.perturb(self.series[self.rng.integers(0, len(self.series), len(members))], 0.55)
        return sigs

    def new(self, archive: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """New signatures, and for each the archive row it copies (or -1)."""
        sigs = self.random(m)
        source = np.full(m, -1)
        kind = self.rng.random(m)
        copies = np.flatnonzero(kind < 0.4)
        source[copies] = self.rng.integers(0, len(archive), len(copies))
        sigs[copies] = self.perturb(archive[source[copies]], 0.15)
        members = np.flatnonzero((kind >= 0.4) & (kind < 0.5))
        sigs[members] = self.perturb(self.series[self.rng.integers(0, len(self.series), len(members))], 0.55)
        return sigs, source


def build_archive(db, sigs: np.ndarray, threshold: float) -> dict[str, float]:
    n = len(sigs)
    started = time.perf_counter()
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO articles (id, url, source, text, first_seen, content_hash) VALUES (?, ?, 'bench', '', '2026-01-01 00:00:00', ?)",
            ((i + 1, f"https://bench.invalid/{i + 1}", f"{i + 1:040x}") for i in range(n)),
        )
        db.conn.executemany(
            "INSERT INTO dedup_signatures (article_id, signature) VALUES (?, ?)",
            ((i + 1, sigs[i].astype("<u2").tobytes()) for i in range(n)),
        )
    inserted = time.perf_counter()
    dedup.rebuild(db, threshold)
    rebuilt = time.perf_counter()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"insert_s": inserted - started, "rebuild_s": rebuilt - inserted}


def measure(db, archive: np.ndarray, new: np.ndarray, source: np.ndarray, threshold: float) -> dict[str, float]:
    n = len(archive)
    times, commits, found, copies = [], [], 0, 0
    for start in range(0, len(new), BATCH):
        db.conn.execute("BEGIN")
        for j in range(start, min(start + BATCH, len(new))):
            article_id = n + 1 + j
            sig = new[j].astype("<u2").tobytes()
            db.conn.execute(
                "INSERT INTO articles (id, url, source, text, first_seen, content_hash) VALUES (?, ?, 'bench', '', '2026-01-02 00:00:00', ?)",
                [article_id, f"https://bench.invalid/new/{j}", f"{article_id:040x}"],
            )
            t0 = time.perf_counter()
            duplicate_of = dedup.find_near_duplicate(db, sig, threshold)
            dedup.index(db, article_id, sig)
            times.append(time.perf_counter() - t0)
            if source[j] >= 0:
                copies += 1
                found += duplicate_of is not None
        t0 = time.perf_counter()
        db.conn.execute("COMMIT")
        commits.append(time.perf_counter() - t0)
    times_ms = sorted(t * 1000 for t in times)
    return {
        "median_ms": statistics.median(times_ms),
        "p95_ms": times_ms[int(0.95 * (len(times_ms) - 1))],
        "max_ms": times_ms[-1],
        "commit_ms_per_article": statistics.median(commits) * 1000 / BATCH,
        "copies_found": found / copies if copies else 1.0,
    }


def sizes(db, path: Path, n: int) -> dict[str, float]:
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tables = dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    dedup_bytes = sum(v for k, v in tables.items() if k.startswith("dedup_"))
    return {
        "file_bytes_per_article": path.stat().st_size / n,
        "dedup_bytes_per_article": dedup_bytes / n,
        "signatures_bytes_per_article": tables.get("dedup_signatures", 0) / n,
        "bands_bytes_per_article": tables.get("dedup_bands", 0) / n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="archived articles (default 100,000)")
    parser.add_argument("--lookups", type=int, default=2000, help="new articles to time (default 2,000)")
    parser.add_argument("--threshold", type=float, default=dedup.DEFAULT_THRESHOLD)
    parser.add_argument("--db", type=Path, help="archive file to build (default: a temporary file, removed afterwards)")
    args = parser.parse_args(argv)

    sig_ms = bench_signature()
    print(f"signature: {sig_ms['en']:.2f} ms per 5 kB of English, {sig_ms['zh']:.2f} ms per 5 kB of Chinese (median)")

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        if path.exists():
            print(f"{path} exists: give a new file to --db", file=sys.stderr)
            return 2
        db = open_database(path)
        maker = Signatures()
        archive = maker.archive(args.n)
        built = build_archive(db, archive, args.threshold)
        stats = dedup.stats(db)
        print(
            f"archive: {args.n:,} articles, {stats['band_rows']:,} band rows ({stats['bands']} bands of {stats['rows']} rows); "
            f"bulk insert {built['insert_s']:.1f} s, rebuild {built['rebuild_s']:.1f} s"
        )
        new, source = maker.new(archive, args.lookups)
        result = measure(db, archive, new, source, args.threshold)
        print(
            f"find_near_duplicate + index: median {result['median_ms']:.3f} ms, p95 {result['p95_ms']:.3f} ms, "
            f"max {result['max_ms']:.3f} ms per article ({args.lookups:,} articles at {args.n:,}); "
            f"commit {result['commit_ms_per_article']:.3f} ms per article in batches of {BATCH}; "
            f"near-copies found: {result['copies_found']:.1%}"
        )
        size = sizes(db, path, args.n + args.lookups)
        print(
            f"size: {size['dedup_bytes_per_article']:.0f} bytes per article in the dedup tables "
            f"(signatures {size['signatures_bytes_per_article']:.0f}, bands {size['bands_bytes_per_article']:.0f}); "
            f"file {size['file_bytes_per_article']:.0f} bytes per article (articles here carry no text)"
        )
        db.close()
        if args.db is None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
