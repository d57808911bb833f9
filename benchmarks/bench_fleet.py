"""A fleet's writer: how many articles a second does `crawl --fleet` store from Redis?

    python benchmarks/bench_fleet.py --db PATH [--results 20000]   # PATH: an archive of bench_archive.py
    python benchmarks/bench_fleet.py --n 100000                     # builds a temporary archive first

1. A redis-server of its own (Debian's package, append-only file on, as README's fleet
   set-up has it) on a free local port.
2. `--results` analysed article pages, as workers stream them: texts made like
   bench_archive.py's (English and Chinese, 1-5 kB), each with what the worker computes
   (`dedup.signature`, `analyse.search_keys` and `analyse.lookup_keys`, 1-3 cluster tags,
   and for the relevant ones story facts), 8 % of them near-copies of earlier ones (so the near-duplicate check finds
   some), encoded by `protocol.encode_page` and added to the results stream before the clock
   starts. The facts are bench_stories.py's synthetic ones (shaped like `extract_facts`'s:
   the generated texts have no figures or dates to extract), dated on the archive's last
   day; 30 % of the relevant results report one of the archive's stories of its last days
   (most of its facts), a near-copy has its original's facts. An archive without story facts
   gets them first for its story members (`bench_stories.add_facts`: it is changed, once),
   so that the story decision finds candidates as in a real crawl. An archive whose
   `dedup_bands_recent` is empty first gets its latest articles' band rows moved there, as
   an archive in use has them (`recent_as_in_use`; changed once). `--no-facts`: results
   without facts, as before (the story decision then costs next to nothing).
3. The writer's own loop (`FleetRun._drain`: read a batch, have the next one decided by the
   deciding process meanwhile, `StorePipeline.write` with the stream position, trim) stores
   them all into the archive. Printed: articles per second over all, over the last 80 % (the
   first batches warm SQLite's page caches), CPU ms per article of the writer process (with
   its time in the kernel) and of its deciding process, with the story decisions' and
   near-duplicate lookups' shares of the latter (the store step's own CPU counters), and
   the redis-server's CPU over the same time.

The stored articles stay in the archive (a run id of their own): run it on a copy, or
accept an archive that grows by `--results` articles per run.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_archive import LAST_DAY, SOURCES, _pool, build, make_text  # noqa: E402
from bench_stories import Maker, add_facts  # noqa: E402

from loomwatch.crawler.config import Config, FleetSettings, StorageSettings  # noqa: E402
from loomwatch.crawler.fleet.protocol import Keys, encode_page  # noqa: E402
from loomwatch.crawler.fleet.writer import FleetRun  # noqa: E402
from loomwatch.crawler.run import begin_run  # noqa: E402
from loomwatch.pipelines import dedup  # noqa: E402
from loomwatch.pipelines.analyse import lookup_keys, search_keys  # noqa: E402
from loomwatch.pipelines.stories import article_day  # noqa: E402
from loomwatch.storage import open_database  # noqa: E402
from loomwatch.storage.runs import finish_run  # noqa: E402

THRESHOLD = Config().dedup.threshold
CLUSTERS = ["keqiao", "nantong", "shengze", "humen", "zhili", "changshu", "jiangyin", "xiaoshan"]


def start_redis(directory: Path) -> tuple[subprocess.Popen, int]:
    server = shutil.which("redis-server")
    if server is None:
        sys.exit("redis-server is not installed: apt-get install redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", "",
                             "--appendonly", "yes"], stdout=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.05)
    sys.exit("redis-server did not start")


def cpu_seconds(pid: int) -> float:
    """CPU seconds a process has used (Linux: /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def recent_as_in_use(db: Any) -> int:
    """Move the near-duplicate band rows of the latest articles (`dedup.RECENT_ROWS` of them)
    to dedup_bands_recent, where an archive in use keeps them (see `dedup.settle`): the writer
    then moves a key range every other batch or so, as in a long crawl, from the first batch
    on. Returns how many articles' rows were moved."""
    bands = db.execute("SELECT bands FROM dedup_params").fetchone()[0]
    last = db.execute("SELECT max(article_id) FROM dedup_signatures").fetchone()[0] or 0
    first = last - dedup.RECENT_ROWS // bands
    with db.atomic():
        db.execute("INSERT INTO dedup_bands_recent SELECT band_key, article_id FROM dedup_bands WHERE article_id > ?", [first])
        db.execute("DELETE FROM dedup_bands WHERE article_id > ?", [first])
    return last - first


def pages(n: int, seed: int, recent: list[set[str]] | None = None, day: int = 0) -> list[str]:
    """Analysed pages as workers stream them (protocol.encode_page); the relevant ones with
    facts of `day` when `recent` (facts of the archive's latest story members) is given."""
    rng = random.Random(seed)
    maker = Maker(seed)
    en, zh = _pool(rng, 5000)
    out, texts, facts_of = [], [], []
    for i in range(n):
        if texts and rng.random() < 0.08:  # a near-copy: an earlier text with its first paragraph cut
            j = rng.randrange(len(texts))
            text, facts = texts[j].split("\n\n", 1)[-1] + "\n\nReprinted.", facts_of[j]
            chinese = False
        else:
            chinese = rng.random() < 0.55
            text = make_text(rng, zh, rng.randint(400, 1800), "") if chinese else make_text(rng, en, rng.randint(1000, 5000), " ")
            facts = None
            if recent is not None:
                facts = maker.report_of(maker.rng.choice(recent), day) if maker.rng.random() < 0.3 else maker.facts(day)
        texts.append(text)
        facts_of.append(facts)
        title = text[: rng.randint(14, 30)] if chinese else text[: rng.randint(50, 110)].rsplit(" ", 1)[0]
        url = f"https://fleet-{seed}.example.invalid/{i // 1000}/t_{i}.html"
        clusters = [(c, round(rng.uniform(0.5, 5), 2)) for c in rng.sample(CLUSTERS, rng.choice((0, 1, 1, 2, 3)))]
        article = {"title": title, "text": text, "published": LAST_DAY.isoformat(), "author": None, "canonical": None,
                   "encoding": "utf-8", "lang": "zh-cn" if chinese else "en", "relevance": 0.7 if clusters else 0.1,
                   "relevant": int(bool(clusters)), "clusters": clusters, "signature": dedup.signature(text),
                   **search_keys(title, text)}
        if clusters and facts is not None:  # the worker computes facts for relevant articles only
            article["facts"] = sorted(facts)
        article.update(lookup_keys(article["signature"], article.get("facts") or [], THRESHOLD))
        out.append(encode_page({"source": rng.choice(SOURCES), "url": url, "urls": [url], "failure": None, "article": article}))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="an archive to store into (default: a temporary one of --n articles)")
    parser.add_argument("--n", type=int, default=100_000, help="articles of the temporary archive (default 100,000)")
    parser.add_argument("--results", type=int, default=20_000, help="results to store (default 20,000)")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="seed of the results' texts and URLs")
    parser.add_argument("--no-facts", action="store_true", help="results without story facts (the old measurement)")
    parser.add_argument("--profile", type=Path, help="write a cProfile (CPU time) of the writer's loop to this file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="loomwatch-fleet-") as tmp:
        workdir = Path(tmp)
        path = args.db or workdir / "archive.db"
        db = open_database(path)
        have = db.execute("SELECT count(*) FROM articles").fetchone()[0]
        if not have:
            print(f"building an archive of {args.n:,} articles ...", file=sys.stderr)
            build(db, args.n)
            have = args.n
        recent, last_day = None, 0
        if not args.no_facts:
            if not db.execute("SELECT 1 FROM story_facts LIMIT 1").fetchone():
                clock = time.perf_counter()
                added = add_facts(db)
                print(f"story facts recorded for {added:,} story members in {time.perf_counter() - clock:.0f} s")
            last_day = article_day(LAST_DAY.isoformat())  # the results' date
            recent = [set(json.loads(row[0])) for row in db.execute(
                "SELECT facts FROM story_facts WHERE day >= ? ORDER BY article_id DESC LIMIT 500", [last_day - 3])]
        if not db.execute("SELECT 1 FROM dedup_bands_recent LIMIT 1").fetchone():
            clock = time.perf_counter()
            moved = recent_as_in_use(db)
            print(f"band rows of the latest {moved:,} articles moved to dedup_bands_recent in {time.perf_counter() - clock:.0f} s")
        have_facts = db.execute("SELECT count(*) FROM story_facts").fetchone()[0]
        print(f"archive: {path}, {have:,} articles, {have_facts:,} with story facts; results {'without' if recent is None else 'with'} facts")
        proc, port = start_redis(workdir)
        try:
            import redis

            client = redis.Redis(port=port)
            config = dataclasses.replace(Config(), storage=StorageSettings(database=path),
                                         fleet=FleetSettings(redis_url=f"redis://127.0.0.1:{port}/0", prefix="bench"))
            started = time.perf_counter()
            encoded = pages(args.results, args.seed, recent, last_day)
            keys = Keys("bench")
            for first in range(0, len(encoded), 1000):
                pipe = client.pipeline(transaction=False)
                for page in encoded[first : first + 1000]:
                    pipe.xadd(keys.results, {"run": "0", "page": page})
                pipe.execute()
            print(f"{len(encoded):,} results queued in {time.perf_counter() - started:.0f} s "
                  f"({client.memory_usage(keys.results) / len(encoded) / 1000:.1f} kB each in Redis)")

            run_id = begin_run(db, config, [])
            run = FleetRun(config, client, db, run_id, [], "bench")
            run.open()  # as FleetRun.crawl does
            batches: list[tuple[int, float]] = []
            store = run._store_results

            def timed(block_ms: int | None = None) -> int:
                clock = time.perf_counter()
                n = store(block_ms)
                if n:
                    batches.append((n, time.perf_counter() - clock))
                return n

            run._store_results = timed  # type: ignore[method-assign]
            profile = cProfile.Profile(time.process_time) if args.profile else None
            redis_cpu = cpu_seconds(proc.pid)
            times, clock = os.times(), time.perf_counter()
            if profile:
                profile.enable()
            stored = run._drain()
            wall, ended = time.perf_counter() - clock, os.times()
            redis_cpu = cpu_seconds(proc.pid) - redis_cpu
            cpu, system = ended.user + ended.system - times.user - times.system, ended.system - times.system
            if profile:
                profile.disable()
                profile.dump_stats(args.profile)
            run.close()  # joins the deciding process: its CPU is in os.times() now
            after_close = os.times()
            deciding = after_close.children_user + after_close.children_system - times.children_user - times.children_system
            parts = {key: run.counters.get(f"loomwatch/cpu/{key}", 0.0) for key in ("story_lookup", "dedup_lookup")}  # thread CPU
            finish_run(db, run_id, [])
            db.close()
        finally:
            proc.terminate()
            proc.wait()
    warm = batches[len(batches) // 5 :]
    rates = [n / s for n, s in warm]
    print(f"stored {stored:,} articles in {wall:.1f} s: {stored / wall:,.0f} articles/s; after the first fifth "
          f"{sum(n for n, _ in warm) / sum(s for _, s in warm):,.0f} articles/s (batches of {max(n for n, _ in batches)}: median "
          f"{statistics.median(rates):,.0f}, slowest {min(rates):,.0f}); writer CPU {cpu * 1000 / stored:.2f} ms per article "
          f"(in the kernel {system * 1000 / stored:.2f}); deciding process {deciding * 1000 / stored:.2f} ms per article "
          f"(story decisions {parts['story_lookup'] * 1000 / stored:.2f}, near-duplicate lookups {parts['dedup_lookup'] * 1000 / stored:.2f}); "
          f"redis-server {redis_cpu * 1000 / stored:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
