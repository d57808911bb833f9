"""Does `loomwatch schedule` keep its own memory flat over many crawls?

Usage: .venv/bin/python benchmarks/bench_schedule_memory.py [--crawls 50] [--interval 1s]

Serves a tiny local site (port 0), starts `loomwatch schedule` with a short crawl interval,
and samples the daemon's resident memory (VmRSS, from /proc) when it starts its first crawl,
after that crawl, and after the last; then stops it with SIGTERM. Every crawl runs in its own child process, so the
daemon should end where it began: the script exits 1 if it grew by more than --max-growth MB.
Linux only (reads /proc). Takes about four seconds per crawl.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loomwatch.crawler.demo.sitefarm import SiteFarm

ARTICLE = """<html><head><title>{title}</title></head><body><article><h1>{title}</h1>
<p>{title}: printing and dyeing mills in the Keqiao district report steady orders for
polyester crepe, while traders at the fabric market expect firmer prices before the holidays.</p>
<p>The market office counts buyers from {n} countries this week and plans a sourcing fair.</p>
</article></body></html>"""


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def finished_crawls(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(database) as conn:
        try:
            return conn.execute("SELECT count(*) FROM crawl_runs WHERE finished IS NOT NULL AND status != 'skipped'").fetchone()[0]
        except sqlite3.OperationalError:  # the schema is being created
            return 0


def make_site(root: Path) -> None:
    site = root / "market"
    (site / "news").mkdir(parents=True)
    (site / "robots.txt").write_text("User-agent: *\nDisallow:\n")
    (site / "index.html").write_text("<html><body>" + "".join(
        f'<p><a href="/news/2026-11-{20 + i}.html">News {i}</a></p>' for i in range(3)) + "</body></html>")
    for i in range(3):
        (site / "news" / f"2026-11-{20 + i}.html").write_text(ARTICLE.format(title=f"Keqiao market note {i}", n=10 + i))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crawls", type=int, default=50)
    parser.add_argument("--interval", default="1s", help="the schedule.crawl interval")
    parser.add_argument("--max-growth", type=float, default=5.0, help="MB of RSS growth tolerated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loomwatch-bench-") as tmp:
        tmp_path = Path(tmp)
        make_site(tmp_path / "sites")
        with SiteFarm(tmp_path / "sites") as farm:
            config = tmp_path / "loomwatch.toml"
            config.write_text(f"""
[storage]
database = "archive.db"
[crawl]
download_delay = 0
workers = 1
[schedule]
crawl = "{args.interval}"
digest = ""
shutdown_grace = 60
[[sources]]
name = "market"
start_urls = ["{farm.url('market', '/')}"]
article_urls = ['/news/']
""")
            database = tmp_path / "archive.db"
            log = (tmp_path / "schedule.log").open("w")
            daemon = subprocess.Popen([sys.executable, "-m", "loomwatch.crawler", "schedule", "--config", str(config)],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
            clock = time.monotonic()
            try:
                # "At start": once the daemon has imported everything and started its first child.
                while "crawl: started" not in (tmp_path / "schedule.log").read_text() and daemon.poll() is None:
                    time.sleep(0.05)
                at_start = rss_kb(daemon.pid) if daemon.poll() is None else 0
                samples: list[tuple[int, int]] = []
                while (done := finished_crawls(database)) < args.crawls:
                    if daemon.poll() is not None:
                        print(f"the daemon exited with code {daemon.returncode}; see its log:\n"
                              + (tmp_path / "schedule.log").read_text()[-3000:], file=sys.stderr)
                        return 1
                    if done and (not samples or samples[-1][0] != done):
                        samples.append((done, rss_kb(daemon.pid)))
                        if done == 1 or done % 10 == 0:
                            print(f"after {done:>3} crawls: daemon RSS {samples[-1][1] / 1024:6.1f} MB", flush=True)
                    time.sleep(0.2)
                at_end = rss_kb(daemon.pid)
            finally:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=120)
                log.close()
            seconds = time.monotonic() - clock
    after_first = samples[0][1] if samples else at_start
    growth = (at_end - after_first) / 1024
    print(f"daemon RSS at start {at_start / 1024:.1f} MB, after the first crawl {after_first / 1024:.1f} MB, "
          f"after {args.crawls} crawls {at_end / 1024:.1f} MB (growth {growth:+.1f} MB) in {seconds:.0f} s; "
          f"exit code on SIGTERM {daemon.returncode}")
    return 0 if growth <= args.max_growth and daemon.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
