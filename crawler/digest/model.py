"""What a digest holds and how it is chosen: the window, the stories a subscription's
filters select from it (`select_stories`, also for the alerts), grouped under their clusters
with their other reports and the sources' health (`build_digest`)."""

from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from loomwatch.crawler.config import (
    Config,
    HealthSettings,
    Subscription,
)
from loomwatch.crawler.digest.subscriptions import (
    Match,
    Matcher,
    first_span,
    headline_language,
    subscriptions_of,
)
from loomwatch.crawler.digest.subscriptions import describe as describe_filters
from loomwatch.storage import digests as store
from loomwatch.storage.clock import db_time, parse_db_time

log = logging.getLogger(__name__)
UTC = dt.timezone.utc
OTHER = "Other textile news"
LANGUAGES = {"en": "English", "zh-cn": "Chinese", "zh": "Chinese", "zh-tw": "Chinese (traditional)", "ja": "Japanese", "ko": "Korean"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EXCERPT_WIDTH = 320  # display columns (a Han character is two): about three English or two Chinese sentences


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
    # Ages count back from when the digest was due, not from a late run (a weekly one caught
    # up on Tuesday, a retry after days of SMTP failures): a late run must not drop the
    # stories of its window's first days as too old.
    def due(start: dt.datetime) -> dt.datetime:
        return min(now, start + first_span(sub))

    if last and force:
        after, start = last["after_article_id"], parse_db_time(last["window_start"])
        return Window(kind, start, now, after, upto, last["window_start"] if after is None else None, None, due(start), last["sent"])
    if last:
        start = parse_db_time(last["window_end"])
        return Window(kind, start, now, last["last_article_id"], upto, None, None, due(start), last["sent"])
    # Never sent: the last day (a week for a weekly subscription), or from the first failed
    # attempt, so that a retry after a failure covers that attempt's whole window even later.
    start = now - first_span(sub)
    failed = store.first_failed(db, sub.name, kind)
    if failed:
        start = min(start, parse_db_time(failed["window_start"]))
    return Window(kind, start, now, None, upto, db_time(start), None, due(start))


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
    matcher = Matcher(sub, config.gazetteer())
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

# Characters that take two columns on a terminal (Han, Hangul, full-width forms).
WIDE_CHARS = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_HAN = re.compile(f"[{WIDE_CHARS}]")
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
