"""Run every benchmark with sane defaults (what `make bench` does).

    python benchmarks/run_all.py            # about 15 minutes on 2 cores
    python benchmarks/run_all.py --big      # the sizes of the targets: a 20,000-page crawl,
                                            # a 1,000,000-article archive (an hour or more)
    python benchmarks/run_all.py --only crawl,archive

Each benchmark runs as its own process, one after another (they would compete for the
cores), and prints its own figures; this script prints a header per benchmark and exits
1 if any of them failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def plan(big: bool) -> dict[str, list[str]]:
    return {
        "crawl": ["bench_crawl.py", "--n", "20000", "--no-recrawl"] if big else ["bench_crawl.py", "--n", "2000"],
        "archive": ["bench_archive.py", "--n", "1000000" if big else "100000"],
        "dedup": ["bench_dedup.py", "--n", "1000000" if big else "100000"],
        "fleet": ["bench_fleet.py", "--n", "1000000" if big else "100000", "--results", "10000"],
        "schedule": ["bench_schedule_memory.py", "--crawls", "50"],
        "extraction": ["eval_extraction.py"],  # quality and CPU on ../shared/eval/aeb and daniel-zh
        "language": ["eval_language.py"],
        "tagging": ["eval_tagging.py"],  # quality on our set and ../shared/eval, by half and language
        "stories": ["bench_stories.py", "--n", "100000", "1000000"] if big else ["bench_stories.py", "--n", "100000"],
        "story-quality": ["eval_stories.py"],  # on ../shared/eval/syndication
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", action="store_true", help="the target sizes: 20,000 pages, 1,000,000 articles")
    parser.add_argument("--only", default="", help="comma-separated subset of: crawl, archive, dedup, fleet, schedule, extraction, language, tagging, stories, story-quality")
    args = parser.parse_args(argv)
    runs = plan(args.big)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(runs)
    unknown = [name for name in chosen if name not in runs]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(runs)}")
    print(f"machine: {os.cpu_count()} cores, {_memory_gib():.0f} GiB, Python {sys.version.split()[0]}", flush=True)
    failed = []
    for name in chosen:
        command = [sys.executable, str(HERE / runs[name][0]), *runs[name][1:]]
        print(f"\n== {name}: {' '.join(runs[name])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(command)
        print(f"== {name}: exit {code}, {time.perf_counter() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return 0.0


if __name__ == "__main__":
    sys.exit(main())
