"""Render an HTML digest in headless Chromium to PNGs at a phone and a desktop width.

    .venv/bin/python scripts/screenshot_digest.py                      # the golden digest
    .venv/bin/python scripts/screenshot_digest.py digests/digest-2026-11-21-0730.html --out /tmp/shots

Writes <name>-phone.png (390 px wide, laid out as a phone does) and <name>-desktop.png
(1200 px wide), each as tall as the page, and prints each page's size; exits 1 when the page
is wider than the window (a reader would have to scroll sideways). Needs Chromium
(`apt-get install chromium`; fonts-noto-cjk for Chinese); set $CHROMIUM for another binary.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTHS = {"phone": 390, "desktop": 1200}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--remote-debugging-pipe"]


def chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (fd 3 in, fd 4 out).

    `--window-size` cannot go below 500 px in headless Chromium, and `--screenshot` then
    crops a 500 px layout; device-metrics emulation lays the page out at a true phone width
    (and applies its viewport meta tag, as a phone's mail app does)."""

    def __init__(self, binary: str, profile: Path, timeout: float = 60):
        self.timeout = timeout
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()

        def wire() -> None:  # in the child: the pipe ends where Chromium expects them
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"], pass_fds=(3, 4),
                                     preexec_fn=wire, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._events: list[dict] = []
        self._next_id = 0

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self._in, 1 << 20) if ready else b""
            if not chunk:
                raise RuntimeError("Chromium did not answer in time" if not ready else "Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"Chromium: {method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_for(self, event: str, session: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, message in enumerate(self._events):
                if message.get("method") == event and message.get("sessionId") == session:
                    del self._events[i]
                    return
            self._events.append(self._read(deadline))

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._in)
        os.close(self._out)


def shoot(browser: Browser, url: str, width: int, png: Path) -> tuple[int, int]:
    """Lay out `url` `width` CSS pixels wide, save a full-height PNG; returns the page's scroll width and height."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600}
    browser.send("Emulation.setDeviceMetricsOverride", metrics, session)
    browser.send("Page.enable", {}, session)
    browser.send("Page.navigate", {"url": url}, session)
    browser.wait_for("Page.loadEventFired", session)
    size = browser.send("Runtime.evaluate", {"expression": "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]",
                                              "returnByValue": True}, session)["result"]["value"]
    page_width, height = int(size[0]), int(size[1])
    browser.send("Emulation.setDeviceMetricsOverride", {**metrics, "height": height}, session)
    data = browser.send("Page.captureScreenshot", {"format": "png"}, session)["data"]
    png.write_bytes(base64.b64decode(data))
    browser.send("Target.closeTarget", {"targetId": target})
    return page_width, height


def screenshot(html: Path, out_dir: Path, binary: str | None = None) -> dict[str, tuple[Path, int, int]]:
    """PNG per width in WIDTHS: {name: (png, page width, page height)}."""
    binary = binary or chromium()
    if not binary:
        raise RuntimeError("Chromium not found: install it (apt-get install chromium) or set $CHROMIUM")
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = {}
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(binary, Path(profile))
        try:
            for name, width in WIDTHS.items():
                png = out_dir / f"{html.stem}-{name}.png"
                shots[name] = (png, *shoot(browser, html.resolve().as_uri(), width, png))
        finally:
            browser.close()
    return shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", nargs="?", type=Path, help="an HTML digest [default: the golden digest, rendered now]")
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="where the PNGs go [default: ./screenshots]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        html = args.html
        if html is None:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from regen_golden import render_golden

            html = Path(tmp) / "digest.html"
            html.write_text(render_golden(Path(tmp))[0], encoding="utf-8")
        shots = screenshot(html, args.out)
    status = 0
    for name, (png, page_width, height) in shots.items():
        print(f"{png}: {WIDTHS[name]} px window, page {page_width}×{height} px")
        if page_width > WIDTHS[name]:
            print(f"  the page is wider than the {name} window: readers would scroll sideways", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
