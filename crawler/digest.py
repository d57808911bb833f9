"""The daily digest: what is new in the archive, grouped by cluster, rendered and mailed once.

`run_digest` is the whole job (the CLI is a thin shell over it):

1. choose the window — by default everything stored after the subscription's last *sent*
   digest (the last 24 hours when none was ever sent, 7 days for a weekly one); with `day=` one calendar day in the configured
   time zone, an archive view that does not move the "what is new" cursor;
2. build the model (`build_digest`): relevant originals published within
   `[digest] max_age_days`, each under its strongest cluster and cross-referenced under its
   others, syndicated copies folded in as "also reported by", and the sources' health;
3. render HTML and text (jinja2 templates in `templates/`), write .html/.txt/.eml;
4. with `send=True`, mail it: the row in `digests` is `sending` during the SMTP
   transaction and becomes `sent` only once the server accepted the message for every
   recipient, else `failed` — and the next run covers the same window again.

`run_digests` does this for every daily and weekly subscription (crawler/subscriptions.py),
each with its own window, rows (`digests.subscription`) and retries: one that fails does not
stop or repeat the others. A weekly subscription is mailed at the first run on or after its
weekday. Without `[[subscriptions]]` the one subscription is `[email]`'s, named "".
`select_stories` applies a subscription's filters to a window (also for the alerts of
crawler/alerts.py); `run_digests` then rewrites the Atom feeds (crawler/feeds.py).

A file lock beside the database keeps two digest processes from mailing one window twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import smtplib
import socket
import ssl
import string
import textwrap
import zoneinfo
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid, parseaddr
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import sqlite_utils

from loomwatch.crawler.config import (
    Config,
    ConfigError,
    EmailSettings,
    HealthSettings,
    Subscription,
)
from loomwatch.crawler.subscriptions import (
    Match,
    Matcher,
    first_span,
    gazetteer_of,
    headline_language,
    subscriptions_of,
    week_start,
)
from loomwatch.crawler.subscriptions import describe as describe_filters
from loomwatch.storage import digests as store
from loomwatch.storage import open_database
from loomwatch.storage.clock import db_time, parse_db_time
from loomwatch.storage.lock import FileLock, LockedError

log = logging.getLogger(__name__)

UTC = dt.timezone.utc
OTHER = "Other textile news"
LANGUAGES = {"en": "English", "zh-cn": "Chinese", "zh": "Chinese", "zh-tw": "Chinese (traditional)", "ja": "Japanese", "ko": "Korean"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EXCERPT_WIDTH = 320  # display columns (a Han character is two): about three English or two Chinese sentences


class DigestError(Exception):
    """The digest could not be made or mailed; the message says why and what to do."""


class SendError(DigestError):
    """The SMTP server could not be reached or did not accept the message. Nothing was marked sent."""


class DigestBusy(DigestError, LockedError):
    """Another digest process holds this database's digest lock."""


# --- the model -----------------------------------------------------------------------------


@dataclass
class Copy:
    """Another report of the story: a copy, a rewrite or a translation at another outlet or in another language."""

    source: str
    url: str
    language: str = ""


@dataclass
class Story:
    id: int  # the story's id (loomwatch.storage.stories)
    lead_id: int  # its first-seen report
    title: str  # the headline report's title, url, source, ...: see headline_report
    url: str
    source: str
    published: str | None
    first_seen: str
    language: str
    excerpt: str
    copies: list[Copy] = field(default_factory=list)
    also_about: list[str] = field(default_factory=list)  # display names of its other clusters

    @property
    def date(self) -> str:
        return self.published or f"undated, stored {self.first_seen[:10]}"


@dataclass
class CrossRef:
    story: Story
    under: str  # the section the story is printed in


@dataclass
class Section:
    id: str | None  # None for "Other textile news"
    name: str
    name_zh: str = ""
    place: str = ""
    specialty: str = ""
    stories: list[Story] = field(default_factory=list)
    cross_refs: list[CrossRef] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.name} {self.name_zh}".strip()

    @property
    def count(self) -> int:
        return len(self.stories) + len(self.cross_refs)

    @property
    def tally(self) -> str:
        """What the contents line says of the section: its story count, or that it only points elsewhere."""
        return str(len(self.stories)) if self.stories else "see also"


@dataclass
class SourceTrouble:
    name: str
    reason: str
    last_error: str = ""
    last_success: str = ""  # local time, or "never"


@dataclass
class Digest:
    kind: str  # new | day
    timezone: str
    now: dt.datetime  # aware, UTC
    window_start: dt.datetime  # aware, UTC
    window_end: dt.datetime
    day: dt.date | None
    after_article_id: int | None
    last_article_id: int
    sections: list[Section]
    troubles: list[SourceTrouble]
    runs: dict[str, int]  # crawl runs in the window by status
    previous_sent: str | None = None  # when the digest this one follows was sent (None: there was none)
    max_age_days: int = 7
    subscription: str = ""  # its subscription's name ("": the implicit one, everything)
    filters: str = ""  # what the subscription asks for, in a line
    first_span: dt.timedelta = dt.timedelta(days=1)  # how far back a first digest looks

    @property
    def stories(self) -> list[Story]:
        return [s for section in self.sections for s in section.stories]

    @property
    def article_ids(self) -> list[int]:
        """The stories' leads (what the digests table records)."""
        return sorted(s.lead_id for s in self.stories)

    @property
    def cluster_sections(self) -> list[Section]:
        return [s for s in self.sections if s.id is not None]

    @property
    def sources(self) -> list[str]:
        return sorted({s.source for s in self.stories})

    @property
    def counts(self) -> dict[str, int]:
        return {"stories": len(self.stories), "clusters": len(self.cluster_sections), "sources": len(self.sources)}

    @property
    def local_end(self) -> dt.datetime:
        return self.window_end.astimezone(zoneinfo.ZoneInfo(self.timezone))

    @property
    def date(self) -> dt.date:
        return self.day or self.local_end.date()

    @property
    def heading(self) -> str:
        return long_date(self.date)

    @property
    def window_label(self) -> str:
        tz = zoneinfo.ZoneInfo(self.timezone)
        if self.kind == "day":
            return f"Archive view: stories first stored on {long_date(self.date)} ({self.timezone})"
        start, end = self.window_start.astimezone(tz), self.window_end.astimezone(tz)
        if self.previous_sent:
            since = "New since the previous digest"
        elif end - start == self.first_span:
            since = "New in the last 24 hours" if self.first_span == dt.timedelta(days=1) else f"New in the last {self.first_span.days} days"
        else:
            since = "New since the first digest that could not be mailed"
        return f"{since}: {short_time(start)} – {short_time(end)} ({self.timezone})"

    @property
    def since_label(self) -> str:
        if self.previous_sent:
            return "the previous digest"
        return "the last 24 hours" if self.first_span == dt.timedelta(days=1) else f"the last {self.first_span.days} days"

    @property
    def runs_label(self) -> str:
        total = sum(self.runs.values())
        if not total:
            return "No crawl ran in this window: check the crawl schedule (loomwatch schedule or cron)."
        parts = ", ".join(f"{n} {status}" for status, n in sorted(self.runs.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"{total} crawl{'s' if total != 1 else ''} in this window: {parts}."

    @property
    def slug(self) -> str:
        """The file name stem of this digest's .html/.txt/.eml."""
        stem = f"digest-{self.subscription}" if self.subscription else "digest"
        if self.kind == "day":
            return f"{stem}-{self.date.isoformat()}"
        return f"{stem}-{self.local_end:%Y-%m-%d-%H%M}"


def long_date(day: dt.date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def short_time(moment: dt.datetime) -> str:
    # Month names of our own: strftime's %b follows the process locale.
    return f"{DAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1][:3]} {moment:%H:%M}"


def as_utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(UTC).replace(microsecond=0)
    return (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC)


# --- choosing the window and building the model --------------------------------------------


@dataclass
class Window:
    """Which stories a digest (or an alert) of one subscription may hold: leads with
    after < id <= upto (after None: stored since `since`), and until `until` for a day."""

    kind: str  # new | day | alert
    start: dt.datetime
    end: dt.datetime
    after: int | None
    upto: int
    since: str | None
    until: str | None
    reference: dt.datetime  # the age limit counts back from here
    previous_sent: str | None = None


def choose_window(db: sqlite_utils.Database, sub: Subscription, now: dt.datetime, tz: zoneinfo.ZoneInfo, *,
                  kind: str = "new", day: dt.date | None = None, force: bool = False) -> Window:
    """The window of `sub`'s next digest (kind new or alert: since its last one that was sent)
    or of one calendar `day`. With `force`, the last sent window again, plus anything newer."""
    upto = store.max_article_id(db)
    if day is not None:
        start = dt.datetime.combine(day, dt.time(), tz).astimezone(UTC)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(UTC)
        return Window("day", start, end, None, upto, db_time(start), db_time(end), end)
    last = store.last_sent(db, sub.name, kind)
    if last and force:
        after, start = last["after_article_id"], parse_db_time(last["window_start"])
        return Window(kind, start, now, after, upto, last["window_start"] if after is None else None, None, now, last["sent"])
    if last:
        return Window(kind, parse_db_time(last["window_end"]), now, last["last_article_id"], upto, None, None, now, last["sent"])
    # Never sent: the last day (a week for a weekly subscription), or from the first failed
    # attempt, so that a retry after a failure covers that attempt's whole window even later.
    start = now - first_span(sub)
    failed = store.first_failed(db, sub.name, kind)
    if failed:
        start = min(start, parse_db_time(failed["window_start"]))
    return Window(kind, start, now, None, upto, db_time(start), None, now)


@dataclass
class Selection:
    """The stories of a window that a subscription takes, with what was read to decide."""

    rows: list[dict[str, Any]]  # one per story: its lead, newest first
    reports: dict[int, list[dict[str, Any]]]  # by story id
    tags: dict[int, list[dict[str, Any]]]  # by article id
    matches: dict[int, Match]  # by story id


def select_stories(db: sqlite_utils.Database, window: Window, matcher: Matcher, max_age_days: int, tz: zoneinfo.ZoneInfo, *,
                   context: bool = False) -> Selection:
    """The stories of `window` that match the subscription: those whose first report is in
    the window, and — for a subscription that narrows — those that only began to match
    through a report stored in the window (and were never mailed to it). With `context`,
    each match quotes its keyword in its sentence (for alerts)."""
    oldest = window.reference - dt.timedelta(days=max_age_days)
    age = {"min_published": oldest.astimezone(tz).date().isoformat(), "min_first_seen": db_time(oldest)}
    rows = store.window_stories(db, after_id=window.after, upto_id=window.upto, since=window.since, until=window.until, **age)
    later = []
    if matcher.narrows and window.kind != "day":
        later = store.stories_reported_in(db, after_id=window.after, upto_id=window.upto, since=window.since, **age)
    reports = store.story_reports(db, [r["story_id"] for r in rows + later], window.upto, full_text=matcher.needs_text)
    tags = store.cluster_tags(db, [report["id"] for found in reports.values() for report in found])
    matches: dict[int, Match] = {}
    for row in rows:
        found = matcher.match(reports.get(row["story_id"]) or [row], tags, context=context)
        if found:
            matches[row["story_id"]] = found
    before_window = (lambda r: r["id"] <= window.after) if window.after is not None else (lambda r: r["first_seen"] < (window.since or ""))
    newly = []
    for row in later:
        members = reports.get(row["story_id"]) or [row]
        found = matcher.match(members, tags, context=context)
        if found and not matcher.match([r for r in members if before_window(r)] or [row], tags):
            matches[row["story_id"]] = found
            newly.append(row)
    if newly:
        mailed = store.already_mailed(db, matcher.sub.name, window.kind, [r["id"] for r in newly])
        newly = [r for r in newly if r["id"] not in mailed]
    chosen = [r for r in rows if r["story_id"] in matches] + newly
    chosen.sort(key=lambda r: (r["published"] or r["first_seen"][:10], r["id"]), reverse=True)
    return Selection(chosen, reports, tags, matches)


def build_digest(db: sqlite_utils.Database, config: Config, *, now: dt.datetime | None = None,
                 day: dt.date | None = None, force: bool = False, subscription: Subscription | None = None) -> Digest:
    """The digest of what is new for a subscription (default: the first, or the implicit
    one) since its last sent digest, or of one calendar `day`.

    With `force`, a digest of what is new covers again the window of the last sent digest
    (plus anything newer), so that it can be mailed a second time."""
    now = as_utc(now)
    tz = zoneinfo.ZoneInfo(config.timezone)
    sub = subscription or subscriptions_of(config)[0]
    matcher = Matcher(sub, gazetteer_of(config))
    window = choose_window(db, sub, now, tz, day=day, force=force)
    chosen = select_stories(db, window, matcher, config.digest.max_age_days, tz)
    sections = group_by_cluster(db, chosen.rows, window.upto, headline_language(sub, config), reports=chosen.reports,
                                tags=chosen.tags, places=matcher.places)
    span = (db_time(window.start), db_time(window.end))
    return Digest(
        kind=window.kind, timezone=config.timezone, now=now, window_start=window.start, window_end=window.end, day=day,
        after_article_id=window.after, last_article_id=window.upto, sections=sections,
        troubles=source_troubles(db, config.health, *span, tz, [s.name for s in config.sources] or None),
        runs=store.crawl_runs_between(db, *span), previous_sent=window.previous_sent, max_age_days=config.digest.max_age_days,
        subscription=sub.name, filters=describe_filters(sub), first_span=first_span(sub),
    )


def group_by_cluster(db: sqlite_utils.Database, rows: list[dict[str, Any]], upto: int, language: str = "en", *,
                     reports: dict[int, list[dict[str, Any]]] | None = None, tags: dict[int, list[dict[str, Any]]] | None = None,
                     places: frozenset[str] | None = None) -> list[Section]:
    """One section per cluster, most stories first; then "Other textile news".

    A story about several clusters (those of any of its reports) is printed under its
    strongest one (ties: cluster id) and cross-referenced under the others. With `places`
    (a subscription's clusters), only those clusters get sections."""
    if reports is None:
        reports = store.story_reports(db, [r["story_id"] for r in rows], upto)
    if tags is None:
        tags = store.cluster_tags(db, [report["id"] for found in reports.values() for report in found])
    sections: dict[str, Section] = {}
    other = Section(None, OTHER)

    def section_for(tag: dict[str, Any]) -> Section:
        if tag["cluster_id"] not in sections:
            place = ", ".join(p for p in dict.fromkeys([tag["city"], tag["province"]]) if p and p != tag["name"])
            sections[tag["cluster_id"]] = Section(tag["cluster_id"], tag["name"] or tag["cluster_id"], tag["name_zh"] or "",
                                                  place, tag["specialty"] or "")
        return sections[tag["cluster_id"]]

    for row in rows:
        members = reports.get(row["story_id"]) or [row]
        story = make_story(row, members, language)
        found = story_tags([tag for member in members for tag in tags.get(member["id"], [])
                            if places is None or tag["cluster_id"] in places])
        if not found:
            other.stories.append(story)
            continue
        home = section_for(found[0])
        home.stories.append(story)
        for tag in found[1:]:
            section = section_for(tag)
            section.cross_refs.append(CrossRef(story, home.name))
            story.also_about.append(section.name)
    ordered = sorted(sections.values(), key=lambda s: (-len(s.stories), -s.count, s.name.casefold()))
    return ordered + ([other] if other.stories else [])


def story_tags(tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A story's clusters from its reports' tags: each cluster once, at its best score, strongest first."""
    best: dict[str, dict[str, Any]] = {}
    for tag in tags:
        if tag["cluster_id"] not in best or tag["score"] > best[tag["cluster_id"]]["score"]:
            best[tag["cluster_id"]] = tag
    return sorted(best.values(), key=lambda t: (-t["score"], t["cluster_id"]))


def headline_report(reports: list[dict[str, Any]], language: str) -> dict[str, Any]:
    """The report a story is shown under: the first in `language` (exactly, else the same
    language family: "zh" for zh-cn and zh-tw), else the first-seen one."""
    language = language.lower()
    family = language.split("-")[0]
    for matches in (lambda lang: lang == language, lambda lang: lang.split("-")[0] == family):
        for report in reports:
            if matches((report["lang"] or "").lower()):
                return report
    return reports[0]


def make_story(lead: dict[str, Any], reports: list[dict[str, Any]], language: str = "en") -> Story:
    """A story as the digest shows it: under its headline report, with the others as "also reported by"."""
    shown = headline_report(reports, language)
    title = " ".join((shown["title"] or "").split())
    text = shown["text"] or ""
    if not title:
        title = shorten(" ".join(text.split()), 80) or shown["url"]
    others: dict[tuple[str, str], Copy] = {}
    for report in reports:
        key = (report["source"], report["lang"] or "")
        if report["id"] != shown["id"] and key != (shown["source"], shown["lang"] or ""):
            others.setdefault(key, Copy(report["source"], report["url"], language_name(report["lang"])))
    return Story(
        id=lead["story_id"], lead_id=lead["id"], title=title, url=shown["url"], source=shown["source"],
        published=shown["published"], first_seen=shown["first_seen"], language=language_name(shown["lang"]),
        excerpt=excerpt(text, title), copies=list(others.values()),
    )


def language_name(code: str | None) -> str:
    return LANGUAGES.get((code or "").lower(), code or "unknown language")


def source_troubles(db: sqlite_utils.Database, settings: HealthSettings, start: str, end: str, tz: zoneinfo.ZoneInfo,
                    names: list[str] | None = None) -> list[SourceTrouble]:
    """Sources that failed within the window, and those (of the configured `names`) the health check calls unhealthy."""

    def local(text: str | None) -> str:
        return parse_db_time(text).astimezone(tz).strftime("%Y-%m-%d %H:%M") if text else "never"

    troubles: dict[str, SourceTrouble] = {}
    for row in unhealthy(db, settings, names):
        troubles[row["name"]] = SourceTrouble(row["name"], row.get("reason") or "unhealthy", row.get("last_error") or "",
                                              local(row.get("last_success_at")))
    last_success = {r["name"]: r["last_success_at"] for r in db.query("SELECT name, last_success_at FROM sources")}
    for row in store.failed_sources(db, start, end):
        runs = row["failed_runs"]
        reason = f"failed in {runs} crawl{'s' if runs != 1 else ''} of this window"
        if row["name"] in troubles:
            known = troubles[row["name"]]
            known.reason = f"{known.reason}; {reason}"
            known.last_error = known.last_error or row["last_error"] or ""
        else:
            troubles[row["name"]] = SourceTrouble(row["name"], reason, row["last_error"] or "", local(last_success.get(row["name"])))
    return sorted(troubles.values(), key=lambda t: t.name)


def unhealthy(db: sqlite_utils.Database, settings: HealthSettings, names: list[str] | None) -> list[dict[str, Any]]:
    # The health rules live in one place (issue 5); an archive made before they existed has none.
    try:
        from loomwatch.storage.health import unhealthy_sources
    except ImportError:
        log.debug("loomwatch.storage.health is not available; the digest footer lists only failures in the window")
        return []
    return list(unhealthy_sources(db, settings, names))


# --- excerpts ------------------------------------------------------------------------------

_HAN = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_SENTENCE = re.compile(
    r".+?(?:[。！？]+[”’」』）]*|[.!?]+[\"'”’)]*(?=\s+[\"“‘(\[A-Z0-9\u4e00-\u9fff])|$)", re.S)
_ABBREVIATION = re.compile(r"(?:^|\s)(?:Mr|Mrs|Ms|Dr|Prof|No|Nos|Co|Corp|Inc|Ltd|St|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
                           r"|approx|est|vs|e\.g|i\.e|[A-Z](?:\.[A-Z])+)\.$")
# A photo caption describes the picture, not the story: "[Photo/Nantong Daily]", "（摄影：王伟）", "图为…".
_CAPTION = re.compile(r"\[(?:Photo|Image|Pic|Video)\b[^\]]*\]|\((?:Photo|Image)\b[^)]*\)|（(?:摄影|图片|图)[^）]*）|^图为|摄\s*$", re.I)
_META_LINE = re.compile(r"^\s*(?:发布日期|发布时间|发表时间|日期|来源|作者|编辑|责任编辑|字号|浏览次数|Source|By|Posted|Published|Updated|Date|Editor)\s*[:：]", re.I)


def width(text: str) -> int:
    return len(text) + len(_HAN.findall(text))


def shorten(text: str, limit: int) -> str:
    """Cut to `limit` display columns, at a word boundary for spaced scripts, with an ellipsis."""
    if width(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        used += 2 if _HAN.match(ch) else 1
        if used > limit - 1:
            break
        out.append(ch)
    cut = "".join(out)
    if " " in cut[-30:] and not _HAN.match(cut[-1]):
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:，、；：") + "…"


def excerpt(text: str, title: str = "") -> str:
    """Two or three sentences from the start of the article, without the title, dateline or bylines."""
    folded_title = "".join(title.split()).casefold()
    sentences: list[str] = []
    for line in text.splitlines():
        line = " ".join(line.split())
        squeezed = "".join(line.split()).casefold()
        if not line or _META_LINE.match(line) or _CAPTION.search(line) or (folded_title and squeezed in (folded_title, folded_title + "。")):
            continue
        if len(sentences) == 0 and width(line) < 24 and not re.search(r"[。！？.!?]$", line):
            continue  # a heading, a dateline or a photo credit: no sentence yet
        for match in _SENTENCE.finditer(line):
            sentence = match.group().strip()
            if not sentence or (not sentences and "".join(sentence.split()).casefold().rstrip(".。!！") == folded_title):
                continue
            if sentences and _ABBREVIATION.search(sentences[-1]):  # "Mr. Li" is one sentence
                sentences[-1] = f"{sentences[-1]}{'' if _HAN.match(sentence[0]) else ' '}{sentence}"
            else:
                sentences.append(sentence)
        if len(sentences) >= 3:
            break
    chosen: list[str] = []
    for sentence in sentences[:3]:
        if chosen and (len(chosen) >= 2 and width(" ".join(chosen + [sentence])) > EXCERPT_WIDTH
                       or width(" ".join(chosen + [sentence])) > EXCERPT_WIDTH * 1.25):
            break
        chosen.append(sentence)
    joined = ""
    for sentence in chosen:  # no space between Chinese sentences, one between others
        joined += sentence if not joined or _HAN.match(joined[-1]) else " " + sentence
    return shorten(joined, int(EXCERPT_WIDTH * 1.25))


# --- rendering -----------------------------------------------------------------------------


def _template(name: str) -> tuple[str, str, Any]:
    text = files("loomwatch.crawler").joinpath("templates", name).read_text(encoding="utf-8")
    return text, name, lambda: True


_ENV = jinja2.Environment(
    loader=jinja2.FunctionLoader(_template),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)
# "Fri 20 Nov 07:30" should not break across lines in HTML.
_ENV.filters["nowrap_times"] = lambda text: markupsafe.Markup(re.sub(
    r"\b((?:%s) \d{1,2} \w{3}) (\d\d:\d\d)" % "|".join(DAYS),
    lambda m: m.group(1).replace(" ", "&nbsp;") + "&nbsp;" + m.group(2), str(markupsafe.escape(text))))
_ENV.filters["wrap"] = lambda text, indent="": textwrap.fill(
    text, 76, initial_indent=indent, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def render(digest: Digest) -> tuple[str, str]:
    """The HTML and plain-text bodies."""
    context = {"d": digest, "generated": short_time(digest.now.astimezone(zoneinfo.ZoneInfo(digest.timezone)))}
    return render_template("digest.html", **context), render_template("digest.txt", **context)


def render_template(name: str, **context: Any) -> str:
    """One of the templates in `templates/` (digest.html, digest.txt, alert.txt)."""
    return _ENV.get_template(name).render(context)


def subject_for(digest: Digest, template: str, key: str = "key 'email.subject'") -> str:
    values = {"date": digest.date.isoformat(), **digest.counts}
    if digest.subscription:
        values["subscription"] = digest.subscription
    return fill_subject(template, key, values)


def fill_subject(template: str, key: str, values: dict[str, Any]) -> str:
    """A subject from its template; ConfigError (naming `key`) for a field not in `values`."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"{key}: {template!r} is not a valid template ({exc}); write fields as {{date}}, and a literal brace as {{{{") from None
    unknown = names - set(values)
    if unknown:
        raise ConfigError(f"{key}: unknown field {{{sorted(unknown)[0]}}}; the fields are " + ", ".join(f"{{{f}}}" for f in values))
    return " ".join(template.format(**values).split())  # no line breaks in a header


def subject_template(sub: Subscription, config: Config) -> tuple[str, str]:
    """A subscription's subject template, and how to name it in an error."""
    if not sub.name:
        return config.email.subject, "key 'email.subject'"
    if sub.subject:
        return sub.subject, f"[[subscriptions]] {sub.name} key 'subject'"
    return "[{subscription}] " + config.email.subject, "key 'email.subject'"


def compose(digest: Digest, settings: EmailSettings, html: str, text: str, *, subject: str | None = None,
            recipients: tuple[str, ...] | None = None) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML preferred by clients that show it."""
    msg = machine_mail(settings, subject or subject_for(digest, settings.subject), settings.recipients if recipients is None else recipients,
                       digest.now, digest.timezone, f"digest.{digest.slug}")
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def machine_mail(settings: EmailSettings, subject: str, recipients: tuple[str, ...], now: dt.datetime, timezone: str,
                 id_left: str) -> EmailMessage:
    """A message's headers: Subject, From, To, Date, Message-ID, and those that keep auto-replies away."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.sender
    msg["To"] = ", ".join(recipients) if recipients else "undisclosed-recipients:;"
    msg["Date"] = format_datetime(now.astimezone(zoneinfo.ZoneInfo(timezone)))
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "loomwatch.localhost"
    msg["Message-ID"] = make_msgid(id_left, domain=domain)
    # Machine mail: vacation responders should not answer it (RFC 3834; Outlook's header).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    return msg


def write_files(directory: Path, digest: Digest, html: str, text: str, msg: EmailMessage) -> list[Path]:
    """Write <slug>.html, .txt and .eml, each replaced whole (a reader never sees half a file)."""
    return write_whole(directory, digest.slug, {"html": html.encode(), "txt": text.encode(),
                                                "eml": msg.as_bytes(policy=SMTP_POLICY)}, "digest")


def write_whole(directory: Path, stem: str, parts: dict[str, bytes], what: str) -> list[Path]:
    """Write <stem>.<suffix> for each part, each replaced whole; ConfigError naming the folder when it cannot."""
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for suffix, data in parts.items():
            path = directory / f"{stem}.{suffix}"
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            written.append(path)
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot write the {what} files ({exc.strerror or exc}); "
                          "check 'digest.output_dir' or --out") from None
    return written


# --- sending -------------------------------------------------------------------------------


def smtp_password(settings: EmailSettings) -> str | None:
    """The SMTP password from the environment variable named by `password_env`; None when no login is configured."""
    if not settings.username:
        return None
    if not settings.password_env:
        raise ConfigError("key 'email.username' is set but 'email.password_env' is empty; set password_env to the name "
                          "of an environment variable (e.g. \"LOOMWATCH_SMTP_PASSWORD\") and put the password there")
    password = os.environ.get(settings.password_env)
    if password is None:
        raise ConfigError(f"environment variable {settings.password_env} (named by 'email.password_env') is not set; "
                          f"export it where loomwatch runs (for cron, in the crontab or a wrapper script)")
    return password


def deliver(msg: EmailMessage, settings: EmailSettings, password: str | None, recipients: tuple[str, ...] | None = None,
            recipients_key: str = "'email.recipients'") -> None:
    """Hand the message to the SMTP server for every recipient (default: [email]
    recipients), or for none (then raise SendError).

    Recipients are offered one by one before the message: if the server refuses any of
    them, the transaction is reset and nobody gets the mail, so that the retry after
    fixing `recipients` does not mail the others twice."""
    server = f"SMTP server {settings.smtp_host}:{settings.smtp_port}"
    sender = parseaddr(settings.sender)[1]
    recipients = [parseaddr(r)[1] or r for r in (settings.recipients if recipients is None else recipients)]
    context = ssl.create_default_context()
    try:
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout)
    except ssl.SSLError as exc:
        raise SendError(_tls_problem(exc, server)) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"could not connect to {server}: {_reason(exc)}; check 'email.smtp_host', 'email.smtp_port' and "
                        f"'email.security', and that the server is running") from None
    try:
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, password or "")
        code, reply = smtp.mail(sender)
        if code != 250:
            raise SendError(f"{server} refused the sender {sender!r} ({code} {_text(reply)}); check 'email.sender'")
        refused = {}
        for recipient in recipients:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = f"{code} {_text(reply)}"
        if refused:
            smtp.rset()
            listed = "; ".join(f"{r} ({why})" for r, why in refused.items())
            raise SendError(f"{server} refused recipient{'s' if len(refused) > 1 else ''} {listed}; fix {recipients_key}. "
                            "Nobody was mailed; the next run sends this digest again")
        smtp.data(msg.as_bytes(policy=SMTP_POLICY))
    except SendError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError(f"{server} refused the login of user {settings.username!r} ({exc.smtp_code} {_text(exc.smtp_error)}); "
                        f"check 'email.username' and the password in ${settings.password_env}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise SendError(f"{server}: {exc}; if the server has no STARTTLS or AUTH, check 'email.security' "
                        "(ssl for port 465, starttls for 587) and 'email.username'") from None
    except smtplib.SMTPResponseException as exc:
        raise SendError(f"{server} rejected the message ({exc.smtp_code} {_text(exc.smtp_error)})") from None
    except ssl.SSLError as exc:
        raise SendError(_tls_problem(exc, server)) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"{server} dropped the connection: {_reason(exc)}") from None
    finally:
        # Once DATA was accepted the mail is on its way: a failed QUIT must not make it look unsent.
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _tls_problem(exc: ssl.SSLError, server: str) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the TLS certificate of {server} could not be verified ({exc.verify_message}); the server needs a certificate "
                "for this host name from an authority this machine trusts (check 'email.smtp_host': use the name on the certificate)")
    return f"TLS with {server} failed ({exc.reason or exc}); check 'email.security' (ssl for port 465, starttls for 587, none for a plain server)"


def _text(reply: bytes | str) -> str:
    return (reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)).replace("\n", " ").strip()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"host name not found ({exc.strerror})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def DigestLock(database: Path, wait: float) -> FileLock:  # noqa: N802 - used like a class
    """One digest mailer per database: a flock on `<database>.digest.lock`, released when its process dies."""
    return FileLock(
        Path(f"{database}.digest.lock"),
        wait,
        f"{database}.digest.lock: another `loomwatch digest --send` is mailing from this archive ({{holder}}); "
        "it was still busy after waiting, so this run sent nothing; run again later",
        error=DigestBusy,
    )


# --- the job -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the digest job did for one subscription. status: sent, rendered (files only),
    nothing_new, already_sent, not_due (weekly), feed_only (no recipients), failed."""

    status: str
    digest: Digest
    files: list[Path] = field(default_factory=list)
    subject: str = ""
    message_id: str = ""
    recipients: tuple[str, ...] = ()
    digest_id: int | None = None
    note: str = ""


def run_digest(config: Config, *, send: bool = False, out: Path | None = None, day: dt.date | None = None,
               force: bool = False, now: dt.datetime | None = None, subscription: str | None = None) -> Outcome:
    """The digest of one subscription (by name; default: the only one) — see `run_digests`.

    Raises ConfigError (bad settings), SendError (the mail did not go out; recorded as
    failed) and DigestBusy (another process is mailing)."""
    outcomes = run_digests(config, send=send, out=out, day=day, force=force, now=now,
                           names=None if subscription is None else (subscription,), feeds=False)
    if len(outcomes) != 1:
        raise ConfigError(f"{config.path}: {len(outcomes)} subscriptions have digests; name one of them")
    if outcomes[0].status == "failed":
        raise SendError(outcomes[0].note)
    return outcomes[0]


def run_digests(config: Config, *, send: bool = False, out: Path | None = None, day: dt.date | None = None,
                force: bool = False, now: dt.datetime | None = None, names: tuple[str, ...] | None = None,
                feeds: bool = True) -> list[Outcome]:
    """Build the digest of every daily and weekly subscription (or of those `names`), write
    its files, and with `send` mail each that is due exactly once (see the module docstring),
    each on its own: one that fails is recorded `failed` and retried by the next run, and
    the others go out all the same. Then, with `feeds`, rewrite the Atom feeds.

    Raises ConfigError (bad settings) and DigestBusy (another process is mailing)."""
    database = config.storage.database
    if not Path(database).exists():
        raise ConfigError(f"{database}: no archive here yet; run `loomwatch crawl` first, or check 'storage.database'")
    now = as_utc(now)
    subs = chosen_subscriptions(config, names, ("daily", "weekly"))
    password = None
    try:
        if send:
            if not config.subscriptions and not config.email.recipients:
                raise ConfigError("key 'email.recipients' is empty; list the addresses to mail, e.g. recipients = [\"team@example.org\"]")
            password = smtp_password(config.email) if any(sub.recipients for sub in subs) else None
        for sub in subs:  # a bad template fails before anything is written
            subject_for(_empty_digest(config, now, sub), *subject_template(sub, config))
    except ConfigError as exc:
        raise ConfigError(f"{config.path or 'configuration'}: {exc}") from None
    db = open_database(database, busy_timeout=config.storage.busy_timeout)
    try:
        if not send:
            outcomes = [_render_only(db, config, sub, out, day, force, now) for sub in subs]
        else:
            with DigestLock(database, wait=config.email.timeout):
                for row in store.close_interrupted(db, db_time(now)):
                    log.warning("%s #%s (window %s – %s) was interrupted while being mailed; it may have arrived. Sending it again",
                                "alert" if row["kind"] == "alert" else "digest", row["id"], row["window_start"], row["window_end"])
                outcomes = [_send(db, config, sub, out, day, force, now, password) for sub in subs]
        if feeds and config.digest.feeds:
            from loomwatch.crawler.feeds import write_feeds

            write_feeds(db, config, (out or config.digest.output_dir) / "feeds", now=now)
    finally:
        db.close()
    return outcomes


def chosen_subscriptions(config: Config, names: tuple[str, ...] | None, schedules: tuple[str, ...]) -> list[Subscription]:
    """The subscriptions with one of these schedules, or those named (ConfigError for an unknown name)."""
    subs = subscriptions_of(config)
    if not names:
        return [sub for sub in subs if sub.schedule in schedules]
    known = {sub.name: sub for sub in subs}
    for name in names:
        if name not in known:
            listed = ", ".join(s.name for s in subs if s.name) or "none: there is no [[subscriptions]] table"
            raise ConfigError(f"{config.path or 'configuration'}: no subscription named {name!r}; the subscriptions are {listed}")
    return [known[name] for name in names]


def _empty_digest(config: Config, now: dt.datetime, sub: Subscription | None = None) -> Digest:
    return Digest("new", config.timezone, now, now, now, None, None, 0, [], [], {}, subscription=sub.name if sub else "")


def _render_only(db: sqlite_utils.Database, config: Config, sub: Subscription, out: Path | None, day: dt.date | None,
                 force: bool, now: dt.datetime) -> Outcome:
    digest = build_digest(db, config, now=now, day=day, force=force, subscription=sub)
    html, text = render(digest)
    msg = compose(digest, config.email, html, text, subject=subject_for(digest, *subject_template(sub, config)), recipients=sub.recipients)
    files = write_files(out or config.digest.output_dir, digest, html, text, msg)
    digest_id = store.record_digest(db, _row(digest, "rendered", msg, files, sub.recipients))
    return Outcome("rendered", digest, files, msg["Subject"], msg["Message-ID"], sub.recipients, digest_id)


def _send(db: sqlite_utils.Database, config: Config, sub: Subscription, out: Path | None, day: dt.date | None, force: bool,
          now: dt.datetime, password: str | None) -> Outcome:
    digest = build_digest(db, config, now=now, day=day, force=force, subscription=sub)
    if not sub.recipients:
        return Outcome("feed_only", digest, note=f"[[subscriptions]] {sub.name} has no recipients: a feed only, not mailed")
    if day is not None and not force:
        sent = store.day_sent(db, db_time(digest.window_start), sub.name)
        if sent:
            return Outcome("already_sent", digest, note=f"the digest of {day.isoformat()} was mailed already "
                                                        f"(digest #{sent['id']}, {sent['sent']} UTC); pass --force to mail it again")
    if day is None and not force and sub.schedule == "weekly":
        note = _not_due(db, config, sub, now)
        if note:
            return Outcome("not_due", digest, note=note)
    if not digest.stories and not force:
        note = _why_not_empty(db, config, sub, digest)
        if note:
            return Outcome("nothing_new", digest, note=note)
    html, text = render(digest)
    msg = compose(digest, config.email, html, text, subject=subject_for(digest, *subject_template(sub, config)), recipients=sub.recipients)
    files = write_files(out or config.digest.output_dir, digest, html, text, msg)
    digest_id = store.record_digest(db, _row(digest, "sending", msg, files, sub.recipients))
    key = f"[[subscriptions]] {sub.name} key 'recipients'" if sub.name else "'email.recipients'"
    try:
        deliver(msg, config.email, password, sub.recipients, key)
    except SendError as exc:
        store.update_digest(db, digest_id, status="failed", error=str(exc))
        log.error("digest #%s%s not sent: %s", digest_id, f" ({sub.name})" if sub.name else "", exc)
        return Outcome("failed", digest, files, msg["Subject"], msg["Message-ID"], sub.recipients, digest_id, note=str(exc))
    store.update_digest(db, digest_id, status="sent", sent=db_time(now), error=None)
    log.info("digest #%s mailed to %s", digest_id, ", ".join(sub.recipients))
    return Outcome("sent", digest, files, msg["Subject"], msg["Message-ID"], sub.recipients, digest_id)


def _not_due(db: sqlite_utils.Database, config: Config, sub: Subscription, now: dt.datetime) -> str:
    """Why a weekly digest is not due ('' = due): it went out already this week (weeks start on its weekday)."""
    tz = zoneinfo.ZoneInfo(config.timezone)
    begins = week_start(sub, now.astimezone(tz).date())
    last = store.last_sent(db, sub.name)
    if last and last["sent"] and parse_db_time(last["sent"]) >= dt.datetime.combine(begins, dt.time(), tz):
        following = begins + dt.timedelta(days=7)
        return (f"not due: weekly on {sub.weekday.capitalize()}, and digest #{last['id']} went out "
                f"{parse_db_time(last['sent']).astimezone(tz):%Y-%m-%d %H:%M}; the next is due on {following.isoformat()}")
    return ""


def _why_not_empty(db: sqlite_utils.Database, config: Config, sub: Subscription, digest: Digest) -> str:
    """Why an empty digest is not mailed ('' = mail it): send_empty is off, or one went out today already."""
    if not sub.send_empty:
        since = "the last digest" if digest.previous_sent else digest.since_label
        key = f"[[subscriptions]] {sub.name} key 'send_empty'" if sub.name else "'email.send_empty'"
        return f"nothing new since {since}; no mail sent ({key} is off)"
    last = store.last_sent(db, sub.name)
    if last and last["sent"]:
        tz = zoneinfo.ZoneInfo(config.timezone)
        if parse_db_time(last["sent"]).astimezone(tz).date() == digest.local_end.date():
            return f"nothing new, and digest #{last['id']} was mailed today already; no mail sent"
    return ""


def _row(digest: Digest, status: str, msg: EmailMessage, files: list[Path], recipients: tuple[str, ...]) -> dict[str, Any]:
    return {
        "kind": digest.kind, "window_start": db_time(digest.window_start), "window_end": db_time(digest.window_end),
        "created": db_time(digest.now), "status": status, "recipients": list(recipients),
        "article_ids": digest.article_ids, "after_article_id": digest.after_article_id,
        "last_article_id": digest.last_article_id, "subject": msg["Subject"], "message_id": msg["Message-ID"],
        "files": [str(f) for f in files], "subscription": digest.subscription,
    }


def describe(outcome: Outcome) -> str:
    """Two lines for the terminal: what the digest holds, and its window."""
    d = outcome.digest
    c = d.counts
    name = f" {d.subscription}" if d.subscription else ""
    return (f"digest{name} {d.date.isoformat()}: {c['stories']} stor{'ies' if c['stories'] != 1 else 'y'} in {c['clusters']} "
            f"cluster{'s' if c['clusters'] != 1 else ''} from {c['sources']} source{'s' if c['sources'] != 1 else ''}\n"
            f"{d.window_label}")


def overview(config: Config, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Each subscription with its schedule, recipients, filters, the stories it matched among
    those stored in the last 7 days, when it was last mailed, and its feed's file."""
    from loomwatch.crawler.subscriptions import describe, schedule_label

    now = as_utc(now)
    tz = zoneinfo.ZoneInfo(config.timezone)
    database = config.storage.database
    # Reading must not create an archive: a missing one has matched nothing yet.
    db = open_database(database, busy_timeout=config.storage.busy_timeout) if Path(database).exists() else None
    gaz = gazetteer_of(config)
    rows = []
    try:
        for sub in subscriptions_of(config):
            matched, last = 0, None
            if db is not None:
                start = now - dt.timedelta(days=7)
                window = Window("new", start, now, None, store.max_article_id(db), db_time(start), None, now)
                matched = len(select_stories(db, window, Matcher(sub, gaz), config.digest.max_age_days, tz).rows)
                last = store.last_mailed(db, sub.name)
            feed = config.digest.output_dir / "feeds" / (f"subscription-{sub.name}.xml" if sub.name else "all.xml")
            rows.append({"name": sub.name, "schedule": schedule_label(sub), "recipients": list(sub.recipients),
                         "filters": describe(sub), "last_week": matched, "last_mailed": last, "feed": str(feed)})
    finally:
        if db is not None:
            db.close()
    return rows


__all__ = ["Digest", "DigestBusy", "DigestError", "Outcome", "SendError", "build_digest", "compose", "deliver",
           "describe", "render", "run_digest", "run_digests", "write_files"]
