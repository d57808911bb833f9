"""End-to-end crawl benchmark on a synthetic local site farm.

    python benchmarks/bench_crawl.py [--n 2000] [--workers 0] [--keep DIR] [--no-baseline] [--profile DIR]

1. `benchmarks/farm.py` writes N article pages (40-120 kB, English and Chinese, some
   GBK) on eight sites with listing pages, feeds and sitemaps into a temporary
   directory; `SiteFarm(distinct_hosts=True)` serves them on 127.0.0.x, port 0.
2. A child process runs the crawl (`loomwatch.crawler.run.crawl`, what `loomwatch crawl`
   calls) with no politeness delay. Meanwhile this process samples the resident memory
   of the child and all its descendants (the extraction workers) from /proc.
3. The crawl is repeated on the unchanged farm: only listing pages, feeds and sitemaps
   should be requested, conditionally (304).
4. Baseline: `trafilatura.extract` of the same pages, decoded and held in memory, one
   after another in this process: the floor a single-process crawler cannot beat. Half
   of the pages are timed before the crawls and half after, so that a drift in the
   machine's speed (±15 % within minutes on a shared VM) weighs on both sides.

Prints articles/s, CPU seconds per article by stage (workers: decode, extract,
language, tagging, dedup signature; crawl process: fetch = everything the crawl process
did except store and dedup lookups), the crawl/baseline ratio, the re-crawl's time and
requests, and peak RSS. Linux only (reads /proc). `--json FILE` also writes the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from farm import generate

from loomwatch.crawler.demo.sitefarm import SiteFarm

STAGES = ("fetch", "decode", "extract", "language", "tagging", "dedup", "stories", "store")


def _child(config_path: str, out: str, profile: str = "") -> int:
    """Run in the child process: one crawl, figures written as JSON."""
    from loomwatch.crawler.cli import setup_logging
    from loomwatch.crawler.config import load_config
    from loomwatch.crawler.run import crawl

    setup_logging(0, True)
    profiler = cProfile.Profile() if profile else None
    started_cpu, started = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    report = crawl(load_config(config_path))
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    wall = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the pool is joined at close: all its workers are counted
    Path(out).write_text(json.dumps({
        "wall": wall,
        "cpu": report.cpu,
        "process_cpu": time.process_time() - started_cpu,
        "workers_cpu": workers.ru_utime + workers.ru_stime,
        "own_maxrss_kb": own.ru_maxrss,
        "worker_maxrss_kb": workers.ru_maxrss,
        "requests": report.requests,
        "status": report.status,
        "new_articles": sum(r.new_articles for r in report.results),
        "duplicates": sum(r.duplicates for r in report.results),
        "errors": sum(r.errors for r in report.results),
    }))
    return 0


def _tree_rss_kb(root: int) -> int:
    """Summed VmRSS of a process and all its descendants (found through
    /proc/PID/task/TID/children: scanning all of /proc ten times a second cost the
    benchmark's own process 4 ms a sample, on the cores the crawl is measured on)."""
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page_kb
            for task in os.scandir(f"/proc/{pid}/task"):
                with open(f"{task.path}/children") as f:
                    todo += map(int, f.read().split())
        except OSError:
            continue  # the process ended meanwhile
    return total


def run_crawl(config: Path, workdir: Path, label: str, profile: Path | None = None) -> dict:
    out = workdir / f"{label}.json"
    cpu0 = time.process_time()
    started = time.perf_counter()
    log = (workdir / f"{label}.log").open("wb")  # Scrapy's start-up chatter; shown only if the crawl fails
    child = subprocess.Popen([sys.executable, __file__, "--child", str(config), str(out), str(profile or "")], cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    peak = 0
    while child.poll() is None:
        peak = max(peak, _tree_rss_kb(child.pid))
        time.sleep(0.1)
    log.close()
    result = json.loads(out.read_text()) if child.returncode == 0 and out.exists() else None
    if result is None:
        sys.stderr.write((workdir / f"{label}.log").read_text(errors="replace")[-4000:])
        raise SystemExit(f"the {label} crawl failed (exit {child.returncode}); its log is above")
    result["process_wall"] = time.perf_counter() - started
    result["peak_tree_rss_mb"] = peak / 1024
    result["farm_cpu"] = time.process_time() - cpu0  # this process: the farm's server threads (and the sampling)
    return result


def per_stage(result: dict) -> dict[str, float]:
    cpu = result["cpu"]
    in_crawl_process = cpu.get("store", 0) + cpu.get("dedup_lookup", 0) + cpu.get("story_lookup", 0)
    stages = {
        "fetch": result["process_cpu"] - in_crawl_process,
        "decode": cpu.get("decode", 0),
        "extract": cpu.get("extract", 0),
        "language": cpu.get("language", 0),
        "tagging": cpu.get("tagging", 0),
        "dedup": cpu.get("dedup", 0) + cpu.get("dedup_lookup", 0),
        "stories": cpu.get("facts", 0) + cpu.get("story_lookup", 0),
        "store": cpu.get("store", 0),
    }
    return {k: v / max(result["new_articles"], 1) for k, v in stages.items()}


def sample_pages(articles: list[tuple[Path, str]], limit: int) -> list[str]:
    """The decoded pages the baseline times (every page, or an even sample of `limit`)."""
    step = max(1, len(articles) // limit)
    return [f.read_bytes().decode("gb18030" if enc == "gbk" else "utf-8") for f, enc in articles[::step]]


def bare_seconds(pages: list[str], **options) -> float:
    """Bare trafilatura.extract over the pages in memory, one after another in this process."""
    import trafilatura

    trafilatura.extract(pages[0], **options)  # warm-up: imports and caches
    started = time.perf_counter()
    for html in pages:
        trafilatura.extract(html, **options)
    return time.perf_counter() - started


def baseline(pages: list[str], total: int, before: float) -> dict:
    """The baseline: half of the sample was timed before the crawls (`before` seconds), the
    other half is timed now, so that the machine's drift in speed weighs on both sides."""
    after = bare_seconds(pages[1::2])
    seconds = before + after
    # For comparison, not the baseline: trafilatura in the mode loomwatch uses (fast, no
    # fallback extractors; benchmarks/eval_extraction.py compares their quality).
    fast_seconds = bare_seconds(pages, fast=True)
    # Nor these: what each worker runs per page, on a few hundred pages.
    from loomwatch.pipelines.analyse import analyse_page
    from loomwatch.pipelines.extract import extract_article

    few = pages[:: max(1, len(pages) // 300)]
    t0 = time.perf_counter()
    for html in few:
        extract_article(html)
    t1 = time.perf_counter()
    for html in few:
        analyse_page({"url": "http://bench.invalid/a.html", "body": html.encode("utf-8")})
    t2 = time.perf_counter()
    return {"pages": len(pages), "seconds": seconds * total / len(pages), "ms_per_page": seconds * 1000 / len(pages),
            "ms_before": before * 1000 / len(pages[0::2]), "ms_after": after * 1000 / len(pages[1::2]),
            "fast_seconds": fast_seconds * total / len(pages), "fast_ms_per_page": fast_seconds * 1000 / len(pages),
            "extract_article_ms": (t1 - t0) * 1000 / len(few), "analyse_page_ms": (t2 - t1) * 1000 / len(few)}


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 5 and sys.argv[1] == "--child":
        return _child(*sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="article pages (default 2,000)")
    parser.add_argument("--workers", type=int, default=0, help="[crawl] workers (default 0: one per core)")
    parser.add_argument("--baseline-pages", type=int, default=2000, help="pages timed for the baseline (a sample when N is larger)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare-extraction baseline")
    parser.add_argument("--no-recrawl", action="store_true", help="skip the unchanged re-crawl")
    parser.add_argument("--keep", type=Path, help="write the farm and archive here and keep them (default: a temporary directory)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--profile", type=Path, help="write cProfile data of the crawl process (not the workers) to DIR/first.prof and DIR/again.prof")
    args = parser.parse_args(argv)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="loomwatch-bench-") as tmp:
        workdir = args.keep or Path(tmp)
        t0 = time.perf_counter()
        farm = generate(workdir / "sites", args.n)
        print(f"farm: {len(farm.articles):,} article pages, {farm.bytes_total / len(farm.articles) / 1000:.0f} kB on average, "
              f"written in {time.perf_counter() - t0:.1f} s")
        figures: dict = {"n": len(farm.articles), "cores": os.cpu_count()}
        pages = [] if args.no_baseline else sample_pages(farm.articles, args.baseline_pages)
        before = bare_seconds(pages[0::2]) if pages else 0.0
        with SiteFarm(farm.root, distinct_hosts=True) as server:
            config = workdir / "bench.toml"
            text = server.expand(farm.config)
            if args.workers:
                text = text.replace("[crawl]\n", f"[crawl]\nworkers = {args.workers}\n", 1)
            config.write_text(text, encoding="utf-8")

            first = run_crawl(config, workdir, "first", args.profile and args.profile / "first.prof")
            first_requests = sum(len(server.requests(s)) for s in server.sites)
            stages = per_stage(first)
            figures["first"] = {**first, "farm_requests": first_requests, "cpu_per_article": stages}
            n = first["new_articles"]
            print(f"crawl: {n:,} articles stored ({first['duplicates']} near-duplicates, {first['errors']} errors, status {first['status']}) "
                  f"in {first['wall']:.1f} s: {n / first['wall']:.1f} articles/s "
                  f"({first['process_wall']:.1f} s with process start-up); {first_requests:,} requests")
            print("CPU ms per article: " + ", ".join(f"{s} {stages[s] * 1000:.2f}" for s in STAGES)
                  + f"; total {sum(stages.values()) * 1000:.1f} (the farm's server: {first['farm_cpu'] * 1000 / max(n, 1):.2f})")
            print(f"peak RSS of the crawl process tree: {first['peak_tree_rss_mb']:.0f} MB "
                  f"(crawl process {first['own_maxrss_kb'] / 1024:.0f} MB, largest worker {first['worker_maxrss_kb'] / 1024:.0f} MB)")

            if not args.no_recrawl:
                server.reset_log()
                again = run_crawl(config, workdir, "again", args.profile and args.profile / "again.prof")
                log = [r for s in server.sites for r in server.requests(s)]
                statuses = Counter(r.status for r in log)
                conditional = sum(1 for r in log if "If-None-Match" in r.headers or "If-Modified-Since" in r.headers)
                figures["recrawl"] = {**again, "farm_requests": len(log), "statuses": dict(statuses), "conditional": conditional}
                print(f"re-crawl (unchanged): {again['wall']:.2f} s = {again['wall'] / first['wall']:.1%} of the first crawl; "
                      f"{len(log)} requests ({conditional} conditional; "
                      + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))) + f"); "
                      f"{again['new_articles']} new articles")

        if not args.no_baseline:
            base = baseline(pages, len(farm.articles), before)
            figures["baseline"] = base
            ratio = first["wall"] / base["seconds"]
            figures["ratio"] = ratio
            print(f"baseline: bare trafilatura.extract {base['ms_per_page']:.1f} ms per page in one process "
                  f"({base['pages']:,} pages timed, half before the crawls at {base['ms_before']:.1f} ms, half after at {base['ms_after']:.1f} ms) "
                  f"= {base['seconds']:.1f} s for all; crawl wall / baseline = {ratio:.2f}")
            figures["ratio_fast"] = first["wall"] / base["fast_seconds"]
            print(f"  for comparison: bare trafilatura.extract(fast=True), the mode loomwatch uses on non-Chinese pages, {base['fast_ms_per_page']:.1f} ms per page "
                  f"= {base['fast_seconds']:.1f} s; crawl wall / that = {figures['ratio_fast']:.2f}")
            print(f"  in one process: loomwatch's extract_article (density pass or trafilatura, with metadata) "
                  f"{base['extract_article_ms']:.1f} ms per page; the whole worker step analyse_page {base['analyse_page_ms']:.1f} ms")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
