"""No time bombs: the demo looks the same whatever the date, and so does the suite.

The demo's sites are a dated snapshot the site farm serves as if written today
(crawler/demo/sites/_farm.toml). Here the demo and its digest run twice, with the clock
as it is and a year ahead: every process of the second run (the demo, its crawl's
extraction workers, the digest, status) has its clock moved by tests/clock/sitecustomize.py.
`make test-next-year` runs the whole suite a year ahead the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CLOCK = Path(__file__).parent / "clock"
DAYS_AHEAD = float(os.environ.get("LOOMWATCH_TEST_DAYS_AHEAD", 0))  # when the whole suite already runs ahead

pytestmark = pytest.mark.slow


def loomwatch(days_ahead: float, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(CLOCK), "LOOMWATCH_TEST_DAYS_AHEAD": str(days_ahead)}
    return subprocess.run([sys.executable, "-m", "loomwatch.crawler", *args], capture_output=True, text=True, timeout=300, env=env)


def run_demo(directory: Path, days_ahead: float) -> dict:
    """The demo, then its digest and status, with the clock `days_ahead` days ahead."""
    demo = loomwatch(days_ahead, "demo", "--dir", str(directory))
    assert demo.returncode == 0, demo.stderr
    config = str(directory / "loomwatch.toml")
    digest = loomwatch(days_ahead, "digest", "--config", config, "--out", str(directory / "digests"))
    assert digest.returncode == 0, digest.stderr
    status = loomwatch(days_ahead, "status", "--config", config, "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    # The demo configuration has subscriptions: one digest each, "digest NAME DATE: N stories in ...".
    summaries = re.findall(r"^digest (\S+) (\d{4}-\d\d-\d\d): (.+)$", digest.stdout, re.M)
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((directory / "digests").glob("*.txt")))
    return {
        "today": dt.date.fromisoformat(summaries[0][1]),
        "summary": [(name, summary) for name, _, summary in summaries],  # ("keqiao-buyer", "5 stories in 2 clusters from 3 sources")
        "stories": re.findall(r"^\* (.+)$", text, re.M),
        "dates": [dt.date.fromisoformat(d) for d in re.findall(r"^  \S+ · (\d{4}-\d\d-\d\d) · ", text, re.M)],
        "status": [{k: v for k, v in row.items() if k in ("name", "health", "articles_7d", "consecutive_failures")}
                   for row in map(json.loads, status.stdout.splitlines())],
    }


def test_the_demo_and_its_digest_look_the_same_a_year_later(tmp_path: Path) -> None:
    now = run_demo(tmp_path / "now", DAYS_AHEAD)
    later = run_demo(tmp_path / "later", DAYS_AHEAD + 365)
    assert (later["today"] - now["today"]).days in (365, 366)  # 366 if the demo ran across midnight in China
    assert now["summary"] == later["summary"] and now["stories"] and now["stories"] == later["stories"]
    assert len(now["summary"]) >= 2 and all(re.fullmatch(r"[1-9]\d* stor(y|ies) in \d+ clusters? from \d+ sources?", summary)
                                             for _, summary in now["summary"]), now["summary"]
    for run in (now, later):  # the stories are as old on either day: the newest from yesterday in China
        ages = [(run["today"] - day).days for day in run["dates"]]
        assert min(ages) in (1, 2) and max(ages) <= 7, ages
    assert now["status"] == later["status"] and all(row["health"] == "ok" for row in now["status"])
