"""A site farm: small example web sites served by real local HTTP servers.

Each subdirectory of a root directory is one site, served by its own
`http.server.ThreadingHTTPServer` on 127.0.0.1, port 0, in a background thread.
The demo (`loomwatch demo`) serves the bundled snapshot in `DEMO_SITES` this way,
and the crawler's tests serve `tests/sites`.

Serving rules
-------------
* Files are sent as raw bytes, so a GBK page stays GBK. In text files (HTML, XML,
  feeds, robots.txt, ...) two ASCII placeholders are replaced at serve time:
  ``{{base}}`` by this site's base URL (no trailing slash) and ``{{site:NAME}}`` by
  the base URL of site NAME. Sitemaps, feeds and cross-site links need them.
* Content-Type comes from the file extension and, like many Chinese CMSes, carries
  no charset parameter unless the site asks for one. Files without an extension are
  HTML (WordPress-style ``/archives/8366``).
* A directory path serves its index file (``index.html``, ``index.htm``,
  ``index.xml``, ``index.rss``, ``index.atom``); a missing file gets a real 404
  page (the site's ``_404.html`` if it has one). Names starting with ``_`` are
  never served.
* Every file response carries ``ETag`` (hash of the served bytes) and
  ``Last-Modified`` (a fixed date); ``If-None-Match`` / ``If-Modified-Since`` get a
  304. A site or a rule can switch this off.

``_site.toml`` (optional, in a site's directory)
-------------------------------------------------
Top-level keys::

    conditional = true          # ETag / Last-Modified / 304 (default true)
    charset = ""                # e.g. "UTF-8": add "; charset=UTF-8" to text types
    last_modified = 2026-11-20T00:00:00Z   # the fixed Last-Modified date
    headers = { Server = "nginx" }         # extra headers on every response

    [[rule]]                    # the first rule that matches a request applies
    path = "/?p=8366"           # exact path; compared with path + query when it has "?"
    # match = '^/events/(\\d{4}-\\d{2}-\\d{2})\\.html$'   # or: regex searched in the path
    redirect = "/archives/8366" # Location (relative, absolute or with placeholders)
    status = 301                # redirect status (301 default), or the status of the
                                # response (e.g. 404, 410, 500; body = the file if any)
    headers = { "Content-Type" = "text/html; charset=utf-8" }   # override/add headers
    fail_first = 2              # the first N requests fail with fail_status ...
    fail_status = 503           # ... (default 503), then the file is served
    retry_after = 1             # Retry-After header on those failures (seconds)
    delay = 0.5                 # seconds to wait before answering
    generate = "oversize"       # a generated page: "oversize" (needs size) or
    size = 6000000              #   "calendar" (needs match with one date group)
    content_length = true       # false: no Content-Length, close-delimited body
    conditional = true          # per-rule switch for 304 handling
    last_modified = 2026-11-21T08:00:00Z

The calendar generator answers any path its ``match`` regex accepts; the regex's
first group is a ``YYYY-MM-DD`` date, and the page links to the same path with the
previous and the next day: an endless chain a crawler must not follow forever.

``_farm.toml`` (optional, in the root directory: the snapshot as a whole)
---------------------------------------------------------------------------
::

    snapshot = 2026-11-22        # the day the sites were written as if it were today
    timezone = "Asia/Shanghai"   # whose "today" the sites live in (default UTC)

A dated snapshot is served as if it had been written today: every full date in a
served text (a page, feed, sitemap, redirect or header) and in its URL paths moves
forward by the days from ``snapshot`` to the farm's today, so the newest story is
always as old as it was on the snapshot day, and a crawl, digest or status of the
snapshot looks the same whatever the date. The files keep their names and texts;
a request for a moved path is answered from the file with the snapshot's path, and
`SiteFarm.url` takes snapshot paths. The shift is fixed when the farm starts (a crawl
across midnight sees one site). The dates moved have a year, a month and a day:
``2026-11-20`` and ``2026/11/20`` (also in paths and in times such as
``2026-11-20T16:30:00+08:00``; ``2026/11/9``, as Hanweb writes it, stays unpadded),
``2026-11/20`` (China Daily paths), ``2026/202611/t20261120`` (TRS paths),
``November 2, 2026``, ``Sat, 21 Nov 2026`` and ``21 November 2026`` (the weekday
follows). A year or a month alone (``© 2026``, ``October 2026``) stays.

Instrumentation (thread-safe): `SiteFarm.requests` lists the requests a site
received, `SiteFarm.max_concurrent` is the largest number of requests in flight
at once as the server saw them (counted from arrival until the response was
written), and `SiteFarm.reset_log` forgets both, and the fail_first counts.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import http.server
import logging
import re
import socket
import threading
import time
import tomllib
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).parent
DEMO_SITES = DEMO_DIR / "sites"
DEMO_CONFIG = DEMO_DIR / "demo.toml"

SITE_FILE = "_site.toml"
FARM_FILE = "_farm.toml"
NOT_FOUND_FILE = "_404.html"
INDEX_FILES = ("index.html", "index.htm", "index.xml", "index.rss", "index.atom")
DEFAULT_LAST_MODIFIED = dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.timezone.utc)

CONTENT_TYPES = {
    "": "text/html",
    ".html": "text/html",
    ".htm": "text/html",
    ".shtml": "text/html",
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".txt": "text/plain",
    ".css": "text/css",
    ".js": "application/javascript",
    ".json": "application/json",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
# Placeholders are substituted in these; everything else is sent untouched.
TEXT_SUFFIXES = {"", ".html", ".htm", ".shtml", ".xml", ".rss", ".atom", ".txt", ".css", ".js", ".json", ".svg"}
PLACEHOLDER = re.compile(rb"\{\{(?:base|site:([A-Za-z0-9_.-]+))\}\}")

RULE_KEYS = {
    "path", "match", "redirect", "status", "headers", "fail_first", "fail_status", "retry_after",
    "delay", "generate", "size", "content_length", "conditional", "last_modified",
}
SITE_KEYS = {"conditional", "charset", "last_modified", "headers", "rule"}
GENERATORS = {"oversize", "calendar"}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}


class SiteFarmError(ValueError):
    """A site directory or its `_site.toml` is wrong; the message names the file and the fix."""


# --- dated snapshots: every full date moves by a number of days (see "_farm.toml" above) -----

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_YEAR = rb"((?:19|20)\d\d)"
_MONTH_NAME = "|".join(f"{m[:3]}(?:{m[3:]})?" for m in MONTHS).encode()


def _moved(year: bytes, month: bytes | int, day: bytes, days: int) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day)) + dt.timedelta(days=days)
    except ValueError:
        return None  # not a date after all (2026-13-40): left as it is


def _numeric(m: re.Match[bytes], days: int) -> str | None:  # 2026-11-20, 2026/11/9
    year, sep, month, day = m.groups()
    new = _moved(year, month, day, days)
    width = 1 if len(month) == 1 or len(day) == 1 else 2  # 2026/11/9: a CMS that never pads (Hanweb)
    return new and f"{new.year}{sep.decode()}{new.month:0{width}d}{sep.decode()}{new.day:0{width}d}"


def _china_daily(m: re.Match[bytes], days: int) -> str | None:  # 2026-11/20
    new = _moved(*m.groups(), days)
    return new and f"{new:%Y-%m/%d}"


def _trs(m: re.Match[bytes], days: int) -> str | None:  # 2026/202611/t20261120
    *_, year, month, day = m.groups()
    new = _moved(year, month, day, days)
    return new and (f"{new.year}/" if m.group(1) else "") + f"{new:%Y%m/t%Y%m%d}"


def _month_day_year(m: re.Match[bytes], days: int) -> str | None:  # November 2, 2026
    name, day, year = m.groups()
    new = _moved(year, MONTHS.index(name.decode()) + 1, day, days)
    return new and f"{MONTHS[new.month - 1]} {new.day:0{2 if day.startswith(b'0') else 1}d}, {new.year}"


def _day_month_year(m: re.Match[bytes], days: int) -> str | None:  # Sat, 21 Nov 2026; 21 November 2026
    weekday, day, name, year = m.groups()
    new = _moved(year, [n[:3] for n in MONTHS].index(name[:3].decode()) + 1, day, days)
    if new is None:
        return None
    month = MONTHS[new.month - 1]
    return (f"{WEEKDAYS[new.weekday()]}, " if weekday else "") + f"{new.day:0{len(day)}d} {month if len(name) > 3 else month[:3]} {new.year}"


DATE_FORMATS: tuple[tuple[re.Pattern[bytes], Callable[[re.Match[bytes], int], str | None]], ...] = (
    (re.compile(rb"(?<![\d.])" + _YEAR + rb"([-/])(\d{1,2})\2(\d{1,2})(?!\d)"), _numeric),
    (re.compile(rb"(?<!\d)" + _YEAR + rb"-(\d\d)/(\d\d)(?!\d)"), _china_daily),
    (re.compile(rb"(?<!\d)(" + _YEAR + rb"/)?" + _YEAR + rb"(\d\d)/t" + _YEAR + rb"(\d\d)(\d\d)(?!\d)"), _trs),
    (re.compile(rb"\b(" + "|".join(MONTHS).encode() + rb") (\d{1,2}), " + _YEAR + rb"(?!\d)"), _month_day_year),
    (re.compile(rb"(?:\b(" + "|".join(WEEKDAYS).encode() + rb"), )?(?<!\d)(\d{1,2}) (" + _MONTH_NAME + rb") " + _YEAR + rb"(?!\d)"),
     _day_month_year),
)


def move_dates(data: bytes, days: int) -> bytes:
    """`data` with every full date in it (formats: DATE_FORMATS) `days` later, written as before."""
    if not days:
        return data
    for pattern, render in DATE_FORMATS:
        data = pattern.sub(lambda m: (render(m, days) or m.group(0).decode("ascii")).encode("ascii"), data)
    return data


def move_path(path: str, days: int) -> str:
    return move_dates(path.encode("utf-8"), days).decode("utf-8")


@dataclass(frozen=True)
class FarmOptions:
    snapshot: dt.date | None = None
    timezone: str = "UTC"

    def days_since_snapshot(self, today: dt.date | None) -> int:
        if self.snapshot is None:
            return 0
        return ((today or dt.datetime.now(zoneinfo.ZoneInfo(self.timezone)).date()) - self.snapshot).days


def load_farm_options(root: Path) -> FarmOptions:
    """Read `root/_farm.toml`; no file: an undated farm."""
    path = root / FARM_FILE
    raw = _read_toml(path, {"snapshot", "timezone"})
    if raw is None:
        return FarmOptions()
    snapshot, timezone = raw.get("snapshot"), raw.get("timezone", "UTC")
    if snapshot is not None and (not isinstance(snapshot, dt.date) or isinstance(snapshot, dt.datetime)):
        raise SiteFarmError(f"{path}: snapshot must be a TOML date such as 2026-11-22, not {snapshot!r}")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise SiteFarmError(f"{path}: timezone {timezone!r} is not an IANA time zone such as \"Asia/Shanghai\"") from None
    return FarmOptions(snapshot, timezone)


@dataclass(frozen=True)
class Request:
    """One request as the server saw it. `path` includes the query string;
    header names are title-cased (`User-Agent`, `If-None-Match`)."""

    method: str
    path: str
    headers: dict[str, str]
    started: float
    finished: float | None
    status: int | None


@dataclass(frozen=True)
class Rule:
    path: str | None = None
    match: re.Pattern[str] | None = None
    redirect: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fail_first: int = 0
    fail_status: int = 503
    retry_after: int | None = None
    delay: float = 0.0
    generate: str | None = None
    size: int = 0
    content_length: bool = True
    conditional: bool | None = None
    last_modified: dt.datetime | None = None

    def matches(self, path: str, target: str) -> re.Match[str] | bool | None:
        if self.match is not None:
            return self.match.search(path)
        assert self.path is not None
        return self.path == (target if "?" in self.path else path)


NO_RULE = Rule(path="")  # what applies when no rule matches: serve the file


@dataclass(frozen=True)
class SiteOptions:
    conditional: bool = True
    charset: str = ""
    last_modified: dt.datetime = DEFAULT_LAST_MODIFIED
    headers: dict[str, str] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()


def _as_utc(value: Any, where: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    raise SiteFarmError(f"{where}: last_modified must be a TOML date-time such as 2026-11-20T00:00:00Z, not {value!r}")


def _headers(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise SiteFarmError(f'{where}: headers must be a table of strings, e.g. headers = {{ "Content-Type" = "text/html" }}')
    return dict(value)


def _parse_rule(raw: dict[str, Any], where: str) -> Rule:
    unknown = set(raw) - RULE_KEYS
    if unknown:
        raise SiteFarmError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(RULE_KEYS))}")
    if ("path" in raw) == ("match" in raw):
        raise SiteFarmError(f"{where}: give exactly one of path (exact) or match (regex)")
    kw: dict[str, Any] = {k: v for k, v in raw.items() if k not in {"match", "headers", "last_modified"}}
    if "match" in raw:
        try:
            kw["match"] = re.compile(raw["match"])
        except re.error as exc:
            raise SiteFarmError(f"{where}: match {raw['match']!r} is not a valid regex: {exc}") from None
    if "headers" in raw:
        kw["headers"] = _headers(raw["headers"], where)
    if "last_modified" in raw:
        kw["last_modified"] = _as_utc(raw["last_modified"], where)
    try:
        rule = Rule(**kw)
    except TypeError as exc:  # pragma: no cover - keys are checked above
        raise SiteFarmError(f"{where}: {exc}") from None
    if rule.generate is not None and rule.generate not in GENERATORS:
        raise SiteFarmError(f"{where}: generate = {rule.generate!r}; choose one of {', '.join(sorted(GENERATORS))}")
    if rule.generate == "oversize" and rule.size <= 0:
        raise SiteFarmError(f"{where}: generate = \"oversize\" needs size = <bytes>")
    if rule.generate == "calendar" and (rule.match is None or rule.match.groups < 1):
        raise SiteFarmError(f"{where}: generate = \"calendar\" needs a match regex whose first group is a YYYY-MM-DD date")
    if rule.redirect is not None and (rule.status or 301) not in REDIRECT_STATUSES:
        raise SiteFarmError(f"{where}: a redirect needs status 301, 302, 303, 307 or 308, not {rule.status}")
    return rule


def _read_toml(path: Path, known: set[str], hint: str = "") -> dict[str, Any] | None:
    """The table in `path`, checked for unknown keys; None when there is no such file."""
    if not path.exists():
        return None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SiteFarmError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(raw) - known
    if unknown:
        raise SiteFarmError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}{hint}")
    return raw


def load_site_options(site_dir: Path) -> SiteOptions:
    """Read `site_dir/_site.toml`; defaults when there is none."""
    path = site_dir / SITE_FILE
    raw = _read_toml(path, SITE_KEYS, " (rules go in [[rule]] tables)")
    if raw is None:
        return SiteOptions()
    rules = tuple(_parse_rule(r, f"{path} [[rule]] #{i + 1}") for i, r in enumerate(raw.get("rule", [])))
    return SiteOptions(
        conditional=bool(raw.get("conditional", True)),
        charset=str(raw.get("charset", "")),
        last_modified=_as_utc(raw["last_modified"], str(path)) if "last_modified" in raw else DEFAULT_LAST_MODIFIED,
        headers=_headers(raw["headers"], str(path)) if "headers" in raw else {},
        rules=rules,
    )


@dataclass
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes | Iterator[bytes] = b""
    length: int | None = None  # for streamed bodies; None with an iterator = close-delimited


class _Site:
    """One served site: its files, options, server thread and instrumentation."""

    def __init__(self, farm: SiteFarm, name: str, directory: Path, host: str) -> None:
        self.farm = farm
        self.name = name
        self.directory = directory.resolve()
        self.options = load_site_options(directory)
        self.host = host
        self.base_url = ""
        self.server: _Server | None = None
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.log: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak = 0
        self.fail_counts: dict[int, int] = {}
        self.snapshot_paths: dict[str, str] = {}  # served path → the snapshot's, in a dated farm

    def map_paths(self, days: int) -> None:
        """Remember the snapshot path of every file and folder under its moved path: a moved
        date cannot always be moved back as written (the unpadded day of /art/2026/11/9/)."""
        self.snapshot_paths = {}
        if days:
            for item in self.directory.rglob("*"):
                path = "/" + item.relative_to(self.directory).as_posix()
                self.snapshot_paths[move_path(path, days)] = path
                if item.is_dir():
                    self.snapshot_paths[move_path(path, days) + "/"] = path + "/"

    def snapshot_path(self, path: str) -> str:
        if not self.farm.days:
            return path
        return self.snapshot_paths.get(path) or move_path(path, -self.farm.days)

    # -- instrumentation -------------------------------------------------
    def arrive(self, method: str, target: str, headers: dict[str, str]) -> dict[str, Any]:
        entry = {"method": method, "path": target, "headers": headers, "started": time.monotonic(), "finished": None, "status": None}
        with self.lock:
            self.log.append(entry)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        with self.farm._lock:
            self.farm._in_flight += 1
            self.farm._peak = max(self.farm._peak, self.farm._in_flight)
        return entry

    def leave(self, entry: dict[str, Any]) -> None:
        with self.lock:
            entry["finished"] = time.monotonic()
            self.in_flight -= 1
        with self.farm._lock:
            self.farm._in_flight -= 1

    def reset(self) -> None:
        with self.lock:
            self.log = []
            self.peak = self.in_flight
            self.fail_counts = {}

    # -- serving -----------------------------------------------------------
    def substitute(self, data: bytes) -> bytes:
        return move_dates(self.farm._substitute(data, self.base_url), self.farm.days)

    def resolve(self, path: str) -> Path | None:
        """The file for a URL path, or None. Never leaves the site directory."""
        parts = [p for p in unquote(path).split("/") if p not in ("", ".")]
        if any(p == ".." or p.startswith("_") for p in parts):
            return None
        candidate = self.directory.joinpath(*parts)
        if candidate.is_dir():
            for index in INDEX_FILES:
                if (candidate / index).is_file():
                    return candidate / index
            return None
        return candidate if candidate.is_file() else None

    def find_rule(self, path: str, target: str) -> tuple[int, Rule, re.Match[str] | None] | None:
        for i, rule in enumerate(self.options.rules):
            m = rule.matches(path, target)
            if m:
                return i, rule, m if isinstance(m, re.Match) else None
        return None

    def content_type(self, suffix: str) -> str:
        ctype = CONTENT_TYPES.get(suffix, "application/octet-stream")
        if self.options.charset and suffix in TEXT_SUFFIXES:
            ctype += f"; charset={self.options.charset}"
        return ctype

    def respond(self, target: str, request_headers: dict[str, str]) -> _Response:
        parts = urlsplit(target)
        path = self.snapshot_path(parts.path or "/")  # rules and files are written in the snapshot's dates
        target = path + (f"?{parts.query}" if parts.query else "")
        index, rule, match = self.find_rule(path, target) or (-1, NO_RULE, None)
        headers = {k: self.substitute(v.encode()).decode() for k, v in {**self.options.headers, **rule.headers}.items()}

        if rule.delay:
            time.sleep(rule.delay)
        if rule.fail_first:
            with self.lock:
                seen = self.fail_counts.get(index, 0)
                self.fail_counts[index] = seen + 1
            if seen < rule.fail_first:
                extra = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
                return self.error(rule.fail_status, {**headers, **extra})
        if rule.redirect is not None:
            location = self.substitute(rule.redirect.encode()).decode()
            status = rule.status or 301
            body = f'<html><body><p>Moved: <a href="{location}">{location}</a></p></body></html>'.encode()
            return _Response(status, {"Content-Type": "text/html", **headers, "Location": location}, body)
        if rule.generate == "oversize":
            return self.oversize(rule, headers)

        last_modified = (rule.last_modified or self.options.last_modified) + dt.timedelta(days=self.farm.days)
        if rule.generate == "calendar":
            assert match is not None
            body = self.calendar(path, match)
            if body is None:
                return self.error(404, headers)
            body = self.substitute(body)
            response = _Response(rule.status or 200, {"Content-Type": self.content_type(".html"), **headers}, body)
        else:
            file = self.resolve(path)
            if file is None:
                return self.error(rule.status if rule.status and rule.status >= 400 else 404, headers)
            body = file.read_bytes()
            if file.suffix.lower() in TEXT_SUFFIXES:
                body = self.substitute(body)
            response = _Response(rule.status or 200, {"Content-Type": self.content_type(file.suffix.lower()), **headers}, body)
        if response.status != 200:
            return response

        conditional = self.options.conditional if rule.conditional is None else rule.conditional
        if conditional:
            assert isinstance(response.body, bytes)
            etag = '"' + hashlib.sha1(response.body).hexdigest()[:20] + '"'
            response.headers.setdefault("ETag", etag)
            response.headers.setdefault("Last-Modified", email.utils.format_datetime(last_modified, usegmt=True))
            if _not_modified(request_headers, response.headers["ETag"], last_modified):
                keep = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
                return _Response(304, keep)
        return response

    def error(self, status: int, headers: dict[str, str]) -> _Response:
        custom = self.directory / NOT_FOUND_FILE
        if status == 404 and custom.is_file():
            body = self.substitute(custom.read_bytes())
        else:
            try:
                phrase = http.HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            body = (f"<!DOCTYPE html><html><head><title>{status} {phrase}</title></head>"
                    f"<body><h1>{status} {phrase}</h1><p>The server could not deliver this page.</p><hr><address>nginx</address></body></html>").encode()
        return _Response(status, {"Content-Type": "text/html", **headers}, body)

    def oversize(self, rule: Rule, headers: dict[str, str]) -> _Response:
        head = (b"<!DOCTYPE html><html><head><title>Annual textile statistics, all tables</title></head>"
                b"<body><h1>Annual textile statistics, all tables</h1>\n")
        tail = b"</body></html>\n"
        chunk = (b"<p>Row of the statistical annex: fabric output, yarn output, dyeing capacity and export value by township, "
                 b"repeated here because the content system printed every table of the yearbook onto one page.</p>\n") * 64
        size = rule.size

        def body() -> Iterator[bytes]:
            yield head[:size]
            remaining = size - len(head) - len(tail)
            while remaining > 0:
                piece = chunk[:remaining]
                remaining -= len(piece)
                yield piece
            if size > len(head):
                yield tail[: size - len(head)]

        return _Response(rule.status or 200, {"Content-Type": self.content_type(".html"), **headers}, body(),
                         size if rule.content_length else None)

    def calendar(self, path: str, m: re.Match[str]) -> bytes | None:
        try:
            day = dt.date.fromisoformat(m.group(1))
        except ValueError:
            return None
        start, end = m.span(1)

        def link(d: dt.date) -> str:
            return path[:start] + d.isoformat() + path[end:]

        events = [
            "Sourcing meet-up for knitted fabric buyers, exhibition hall 2",
            "Workshop on digital printing and colour matching",
            "Open day at the pattern design incubator",
            "Seminar on export documents for market-procurement trade",
            "Livestream sellers' training, third floor",
            "Trade delegation visit and factory tour",
            "Night market for surplus fabric lots",
        ]
        k = day.toordinal()
        items = "".join(f"<li>{9 + i * 2:02d}:00 {events[(k + i * 3) % len(events)]}</li>" for i in range(3))
        title = f"Events calendar: {day:%A, %d %B %Y}"
        html = (
            f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>"
            f"<div class=\"nav\"><a href=\"/\">Home</a> &gt; <a href=\"{link(day)}\">Events</a></div>"
            f"<h1>{title}</h1><ul class=\"events\">{items}</ul>"
            f"<p class=\"pager\"><a href=\"{link(day - dt.timedelta(days=1))}\">&laquo; Previous day</a> | "
            f"<a href=\"{link(day + dt.timedelta(days=1))}\">Next day &raquo;</a></p>"
            "</body></html>"
        )
        return html.encode("utf-8")


def _not_modified(request_headers: dict[str, str], etag: str, last_modified: dt.datetime) -> bool:
    inm = request_headers.get("If-None-Match")
    if inm is not None:  # RFC 9110: If-None-Match wins over If-Modified-Since
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags
    ims = request_headers.get("If-Modified-Since")
    if ims:
        try:
            since = email.utils.parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.timezone.utc)
        return last_modified <= since
    return False


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 30  # idle keep-alive connections end after this
    server: _Server

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        site = self.server.site
        headers = {k.title(): v for k, v in self.headers.items()}
        entry = site.arrive(self.command, self.path, headers)
        try:
            try:
                response = site.respond(self.path, headers)
            except Exception:
                log.exception("site farm: %s failed on %s", site.name, self.path)
                response = site.error(500, {})
            entry["status"] = response.status
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if isinstance(response.body, bytes):
                if response.status != 304:
                    self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if not head and response.status != 304:
                    self.wfile.write(response.body)
            else:
                if response.length is None:
                    self.close_connection = True
                    self.send_header("Connection", "close")
                else:
                    self.send_header("Content-Length", str(response.length))
                self.end_headers()
                if not head:
                    for piece in response.body:
                        self.wfile.write(piece)
            self.wfile.flush()
        except (ConnectionError, TimeoutError, OSError) as exc:
            self.close_connection = True
            log.debug("site farm: %s: client went away during %s: %s", site.name, self.path, exc)
        finally:
            site.leave(entry)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("site farm %s: " + format, self.server.site.name, *args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: _Site) -> None:
        self.site = site
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__((site.host, 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_ = list(self.connections)
        for conn in open_:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("site farm %s: error while handling %s", self.site.name, client_address, exc_info=True)


class SiteFarm:
    """Serve each subdirectory of `root` as a site on its own local port.

    ``with SiteFarm(root) as farm: farm.url("nantong-portal", "/index.html")``.
    With ``distinct_hosts=True`` every site also gets its own loopback address
    (127.0.0.2, 127.0.0.3, ...; Linux only), for crawlers that tell sites apart
    by host name rather than by host and port.
    """

    def __init__(self, root: Path | str, *, distinct_hosts: bool = False, today: dt.date | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise SiteFarmError(f"{self.root}: no such directory of example sites")
        self.options = load_farm_options(self.root)
        self.today = today  # the day a dated snapshot is served as of; None: the clock's, when the farm starts
        self.days = 0  # how far a dated snapshot's dates move (set by start)
        names = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
        if not names:
            raise SiteFarmError(f"{self.root}: holds no site directories")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._peak = 0
        self._sites = {
            name: _Site(self, name, self.root / name, f"127.0.0.{i + 2}" if distinct_hosts else "127.0.0.1")
            for i, name in enumerate(names)
        }
        self._running = False

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> SiteFarm:
        if self._running:
            return self
        try:
            self.days = self.options.days_since_snapshot(self.today)
            for site in self._sites.values():
                site.map_paths(self.days)
                site.server = _Server(site)
                host, port = site.server.server_address[:2]
                site.base_url = f"http://{host}:{port}"
            self._check_placeholders()
            for site in self._sites.values():
                assert site.server is not None
                site.thread = threading.Thread(target=site.server.serve_forever, kwargs={"poll_interval": 0.1},
                                               name=f"sitefarm-{site.name}", daemon=True)
                site.thread.start()
        except BaseException:
            self._close_servers()
            raise
        self._running = True
        log.debug("site farm serving %s", ", ".join(f"{n} at {s}" for n, s in self.sites.items()))
        return self

    def stop(self) -> None:
        for site in self._sites.values():
            if site.server is not None and site.thread is not None:
                site.server.shutdown()
        self._close_servers()
        self._running = False

    def _close_servers(self) -> None:
        for site in self._sites.values():
            if site.server is not None:
                site.server.server_close()
                site.server.close_connections()
                site.server = None
            if site.thread is not None:
                site.thread.join(timeout=5)
                site.thread = None

    def __enter__(self) -> SiteFarm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------
    @property
    def sites(self) -> dict[str, str]:
        """Site name → base URL (no trailing slash); empty URLs before `start()`."""
        return {name: site.base_url for name, site in self._sites.items()}

    def url(self, site: str, path: str = "/") -> str:
        """The address of `path` (a path of the snapshot: its dates move in a dated farm)."""
        return self._site(site).base_url + move_path(path if path.startswith("/") else "/" + path, self.days)

    def expand(self, text: str) -> str:
        """Replace ``{{site:NAME}}`` placeholders in `text` (a config file, say) by base URLs.
        A NAME that is not a site of this farm raises `SiteFarmError`."""
        data = text.encode("utf-8")
        unknown = self._unknown_placeholder(data)
        if unknown:
            raise SiteFarmError(f"placeholder {unknown} names no site in {self.root}; sites: {', '.join(self._sites)}")
        return self._substitute(data, None).decode("utf-8")

    # -- instrumentation -----------------------------------------------------
    def requests(self, site: str) -> list[Request]:
        s = self._site(site)
        with s.lock:
            return [Request(**{**e, "headers": dict(e["headers"])}) for e in s.log]

    def max_concurrent(self, site: str | None = None) -> int:
        """Most requests in flight at once for `site` (or for the whole farm)."""
        if site is None:
            with self._lock:
                return self._peak
        s = self._site(site)
        with s.lock:
            return s.peak

    def reset_log(self) -> None:
        """Forget request logs, concurrency peaks and fail_first counts."""
        for site in self._sites.values():
            site.reset()
        with self._lock:
            self._peak = self._in_flight

    # -- internals -------------------------------------------------------------
    def _site(self, name: str) -> _Site:
        try:
            return self._sites[name]
        except KeyError:
            raise SiteFarmError(f"no site named {name!r} in {self.root}; sites: {', '.join(self._sites)}") from None

    def _substitute(self, data: bytes, base_url: str | None) -> bytes:
        if b"{{" not in data:
            return data

        def replace(m: re.Match[bytes]) -> bytes:
            name = m.group(1)
            if name is None:
                return base_url.encode("ascii") if base_url is not None else m.group(0)
            site = self._sites.get(name.decode("ascii"))
            return site.base_url.encode("ascii") if site is not None else m.group(0)

        return PLACEHOLDER.sub(replace, data)

    def _unknown_placeholder(self, data: bytes) -> str | None:
        """The first ``{{site:NAME}}`` in `data` whose NAME is not a site, or None."""
        for m in PLACEHOLDER.finditer(data):
            if m.group(1) is not None and m.group(1).decode("ascii") not in self._sites:
                return m.group(0).decode("ascii")
        return None

    def _check_placeholders(self) -> None:
        """Fail at start, not mid-crawl, when a page names a site that does not exist."""
        for site in self._sites.values():
            for file in site.directory.rglob("*"):
                if not file.is_file() or (file.suffix.lower() not in TEXT_SUFFIXES and file.name != SITE_FILE):
                    continue
                unknown = self._unknown_placeholder(file.read_bytes())
                if unknown:
                    raise SiteFarmError(f"{file}: placeholder {unknown} names no site in {self.root}; sites: {', '.join(self._sites)}")
