"""Screenshot the analysts' archive in headless Chromium, so the pages are looked at, not only fetched.

    .venv/bin/python scripts/screenshot_archive.py --database loomwatch-demo/loomwatch-demo.db
    .venv/bin/python scripts/screenshot_archive.py              # crawls the offline demo first

Starts `loomwatch serve` on a free local port, then saves to --out (default
./screenshots): the dashboard (/-/dashboards/overview) on a desktop and on a phone-wide
window, an article page, the articles table page with its facets, and a Chinese search
(印染) in articles_view. The dashboard's charts are drawn by Vega with JavaScript. Chromium
may reach 127.0.0.1 only (every other host name resolves to nothing), and its network log
is checked for requests to any other host; the script exits 1 if there was one, or if a
chart did not draw. Needs Chromium (`apt-get install chromium`; fonts-noto-cjk for
Chinese); $CHROMIUM picks another binary. `--docs` writes the dashboard's two PNGs into
docs/ for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

DASHBOARD = "/-/dashboards/overview"
VEGA_CHARTS = 7  # the dashboard's Vega-Lite charts; each draws into a <canvas class="marks">
# name: (path, window width, window height, Vega charts the page draws)
PAGES: dict[str, tuple[str, int, int, int]] = {
    "dashboard": (DASHBOARD, 1400, 2700, VEGA_CHARTS),
    "dashboard-narrow": (DASHBOARD, 420, 5600, VEGA_CHARTS),
    "article": ("/loomwatch/articles/1", 1200, 1300, 0),
    "articles": ("/loomwatch/articles", 1400, 1500, 0),
    "search-yinran": ("/loomwatch/articles_view?_search=%E5%8D%B0%E6%9F%93", 1400, 1100, 0),
}
DOCS = ("dashboard", "dashboard-narrow")  # what --docs copies into docs/
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--virtual-time-budget=5000",
         # Nothing but the local server is reachable, whatever a page asks for.
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`loomwatch serve` exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url}: no answer after {timeout:.0f} s")


def start_server(database: Path, workdir: Path) -> tuple[subprocess.Popen, str]:
    """`loomwatch serve` on a free port, as a user would start it; returns the process and its base URL."""
    config = workdir / "serve.toml"
    config.write_text(f"[storage]\ndatabase = {json.dumps(str(database.resolve()))}\n", encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "loomwatch.crawler", "serve", "--config", str(config), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    wait_for_http(base + "/loomwatch.json", proc)
    return proc, base


def run_chromium(binary: str, workdir: Path, args: list[str], timeout: float = 90) -> tuple[str, list[str]]:
    """Run one headless Chromium command in a fresh profile; returns stdout and the hosts it requested."""
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=workdir))
    netlog = profile / "netlog.json"
    done = subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", f"--log-net-log={netlog}", *args],
                          capture_output=True, text=True, timeout=timeout)
    hosts = requested_hosts(netlog)
    shutil.rmtree(profile, ignore_errors=True)
    return done.stdout, hosts


def requested_hosts(netlog: Path) -> list[str]:
    """The hosts that pages asked for, from Chromium's network log.

    Chromium's own background requests (update checks, account lookups: initiator
    "not an origin") are left out; they are blocked by the resolver rules anyway."""
    text = netlog.read_text(encoding="utf-8", errors="replace")
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # Chromium may leave the log's closing brackets out when it exits at once
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    hosts = set()
    for event in log.get("events", []):
        params = event.get("params") or {}
        if event.get("type") == start_job and params.get("initiator") != "not an origin":
            hosts.add(urlsplit(params.get("url", "")).hostname or "")
    return sorted(hosts - {""})


def take_screenshots(database: Path, out: Path, binary: str) -> dict[str, dict]:
    """Screenshot every page in PAGES; returns per page the PNG, the outside hosts requested, the
    charts drawn (None on pages without charts) and the page's DOM after its scripts ran."""
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="lw-shots-") as tmp:
        workdir = Path(tmp)
        proc, base = start_server(database, workdir)
        try:
            for name, (path, width, height, charts) in PAGES.items():
                png = out / f"{name}.png"
                window = f"--window-size={width},{height}"
                _, hosts = run_chromium(binary, workdir, [window, f"--screenshot={png}", base + path])
                dom, more = run_chromium(binary, workdir, [window, "--dump-dom", base + path])
                # vega draws each chart into a <canvas class="marks">: their number after the scripts ran
                drawn = dom.count('class="marks"') if charts else None
                report[name] = {"png": png, "outside_hosts": sorted(set(hosts + more) - {"127.0.0.1"}),
                                "charts_drawn": drawn, "charts_expected": charts, "dom": dom}
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    return report


def demo_database(workdir: Path) -> Path:
    subprocess.run([sys.executable, "-m", "loomwatch.crawler", "-q", "demo", "--dir", str(workdir)], check=True, stdout=subprocess.DEVNULL)
    databases = list(workdir.glob("*.db"))
    if not databases:
        raise RuntimeError(f"`loomwatch demo` wrote no database into {workdir}")
    return databases[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", type=Path, help="archive to show (default: crawl the offline demo into a temporary directory)")
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="where the PNGs go [default: ./screenshots]")
    parser.add_argument("--docs", action="store_true", help="also copy the dashboard's screenshots into docs/ (for the README)")
    args = parser.parse_args()
    binary = chromium()
    if not binary:
        print("screenshot_archive: no Chromium found; install it (apt-get install chromium) or set $CHROMIUM", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lw-demo-") as tmp:
        database = args.database or demo_database(Path(tmp))
        report = take_screenshots(database, args.out, binary)
    failed = False
    for name, result in report.items():
        problems = []
        if result["outside_hosts"]:
            problems.append("requested outside hosts: " + ", ".join(result["outside_hosts"]))
        if result["charts_drawn"] is not None and result["charts_drawn"] < result["charts_expected"]:
            problems.append(f"{result['charts_drawn']} of {result['charts_expected']} charts drew")
        failed |= bool(problems)
        print(f"{result['png']}: {'; '.join(problems) or 'ok'}")
    if args.docs and not failed:
        docs = Path(__file__).resolve().parent.parent / "docs"
        for name in DOCS:
            shutil.copyfile(report[name]["png"], docs / f"{name}.png")
            print(f"copied {name}.png into {docs}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
