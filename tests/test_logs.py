"""Quiet, useful logs: at the default level a failure is one line naming the source, the URL
and the reason; Scrapy's records of it and tracebacks come with -v."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loomwatch.crawler.demo.sitefarm import SiteFarm

pytestmark = pytest.mark.slow


REPORT = ["The weaving mills of the township added forty water-jet looms this month for winter fabric orders.",
          "Buyers from the fabric market asked for recycled polyester grey cloth, traders said on Monday.",
          "Two dyeing plants finished connecting to the shared wastewater line ahead of the December deadline.",
          "Prices of combed cotton yarn held steady for a third week while spinning mills trimmed output.",
          "The township's trade office expects export orders to stay firm until the Spring Festival holiday."]


def make_site(root: Path) -> None:
    """A site whose robots.txt never answers in time (its pages do); one page answers 500."""
    site = root / "mill"
    (site / "news").mkdir(parents=True)
    (site / "index.html").write_text('<html><body><a href="/news/1.html">Mill report 1</a> <a href="/news/2.html">Mill report 2</a></body></html>')
    for i in (1, 2):
        (site / "news" / f"{i}.html").write_text(f"<html><head><title>Mill report {i}</title></head><body><article><h1>Mill report {i}</h1>"
                                                 + "".join(f"<p>{sentence}</p>" for sentence in REPORT)
                                                 + "</article></body></html>")
    (site / "robots.txt").write_text("User-agent: *\nDisallow:\n")
    (site / "_site.toml").write_text('[[rule]]\npath = "/robots.txt"\ndelay = 3\n[[rule]]\npath = "/news/2.html"\nstatus = 500\n')


def crawl(tmp_path: Path, farm: SiteFarm, *flags: str) -> subprocess.CompletedProcess:
    config = tmp_path / "loomwatch.toml"
    config.write_text(f"""[storage]\ndatabase = "archive.db"\n[crawl]\ndownload_delay = 0\nautothrottle = false\nworkers = 1
timeout = 1\nretries = 0\n[[sources]]\nname = "mill"\nstart_urls = ["{farm.url('mill', '/')}"]\narticle_urls = ['/news/']\n""")
    return subprocess.run([sys.executable, "-m", "loomwatch.crawler", *flags, "crawl", "--config", str(config)],
                          capture_output=True, text=True, timeout=120)


def test_a_robots_txt_that_cannot_be_fetched_is_one_line_and_its_traceback_comes_with_v(tmp_path: Path) -> None:
    make_site(tmp_path / "sites")
    with SiteFarm(tmp_path / "sites") as farm:
        robots = farm.url("mill", "/robots.txt")
        quiet = crawl(tmp_path, farm)
        assert quiet.returncode == 0, quiet.stderr  # the site is crawled as if robots.txt allowed everything
        assert quiet.stdout.startswith("mill                     ok     pages    2  links    2  new    1  duplicates   0  errors   1  last error: ")
        assert "Traceback" not in quiet.stderr and "scrapy" not in quiet.stderr
        lines = quiet.stderr.splitlines()
        assert [line.split(" ", 3)[3] for line in lines if "robots.txt" in line] == [
            f"loomwatch.spiders.middlewares: mill: {robots}: robots.txt could not be fetched "
            f"(DownloadTimeoutError: Getting {robots} took longer than 1.0 seconds.); the site is crawled as if it allowed everything"]
        assert [line.split(" ", 3)[3] for line in lines if "/news/2.html" in line] == [
            f"loomwatch.spiders.sources: mill: {farm.url('mill', '/news/2.html')}: HTTP 500"]
        assert len(lines) == 2, quiet.stderr  # one line per failure, nothing else at the default level

        verbose = crawl(tmp_path, farm, "-v")
        assert verbose.returncode == 0 and verbose.stdout.splitlines()[0].startswith("mill                     ok")
        assert "Traceback" in verbose.stderr and "scrapy.downloadermiddlewares.robotstxt" in verbose.stderr
