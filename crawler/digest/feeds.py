"""Atom feeds: the latest stories of everything, of each cluster and of each subscription.

`loomwatch digest` writes them to `<output folder>/feeds/` (`all.xml`, `cluster-<id>.xml`,
`subscription-<name>.xml`), a crawl that stored something refreshes them, and `loomwatch
serve` serves that folder at `/-/feeds/`, so readers can follow loomwatch in a feed reader.

A feed holds the latest `ENTRIES` stories stored within `DAYS` days, newest first
(by publication date, as the digest orders them), each once, under its headline report, with
its other reports as "also reported by". A cluster's feed includes the clusters inside it.
An entry's id is its story's first report's URL, so it stays the same in every feed and
every rewrite of the file; `updated` moves when the story gains a report.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sqlite3
import zoneinfo
from pathlib import Path
from typing import Any
from xml.sax import saxutils

import sqlite_utils

from loomwatch.crawler.config import Config
from loomwatch.crawler.digest.model import Story, as_utc, make_story, story_tags
from loomwatch.crawler.digest.subscriptions import (
    Matcher,
    describe,
    headline_language,
    subscriptions_of,
)
from loomwatch.storage import digests as store
from loomwatch.storage.clock import db_time

log = logging.getLogger(__name__)
# Characters XML 1.0 forbids (text pasted from office documents has them): one would make the whole feed unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def escape(text: str) -> str:
    return saxutils.escape(_NOT_XML.sub("", text))


def quoteattr(text: str) -> str:
    return saxutils.quoteattr(_NOT_XML.sub("", text))


ATOM = "http://www.w3.org/2005/Atom"
ENTRIES = 50  # stories per feed
DAYS = 90  # a feed looks back this far for them
POOL = 4 * ENTRIES  # the latest stored stories a feed's entries are chosen from, by publication date
CANDIDATES = 1000  # the latest stored stories a subscription's filters are tried on
FILE_PATTERNS = ("all.xml", "cluster-*.xml", "subscription-*.xml")
# An empty feed's `updated`: a fixed time, so that rewriting it changes nothing (readers and
# HTTP caches see the same bytes until a story arrives).
EMPTY = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class _Stories:
    """The stories the feeds show, read from the archive once and each entry built once,
    however many feeds (all, its clusters', subscriptions') it appears in."""

    def __init__(self, db: sqlite_utils.Database, config: Config):
        self.db = db
        self.tz = zoneinfo.ZoneInfo(config.timezone)
        self.upto = store.max_article_id(db)
        self.leads: dict[int, dict[str, Any]] = {}
        self.reports: dict[int, list[dict[str, Any]]] = {}
        self.tags: dict[int, list[dict[str, Any]]] = {}
        self.entries: dict[tuple[int, str], str] = {}

    def load(self, story_ids: list[int]) -> list[int]:
        """Read what is not read yet; returns the ids of stories led by a relevant report."""
        missing = [i for i in dict.fromkeys(story_ids) if i not in self.leads]
        if missing:
            self.leads.update({r["story_id"]: r for r in store.story_leads(self.db, missing)})
            found = store.story_reports(self.db, missing, self.upto)
            self.reports.update(found)
            self.tags.update(store.cluster_tags(self.db, [r["id"] for rows in found.values() for r in rows]))
        return [i for i in story_ids if i in self.leads]

    def published(self, story_id: int) -> dt.datetime:
        """A story's date in the feeds: its first report's publication date (at midnight where
        loomwatch runs), or when it was stored if undated — the date the digest orders by."""
        row = self.leads[story_id]
        if _is_date(row["published"]):
            return dt.datetime.combine(dt.date.fromisoformat(row["published"]), dt.time(), self.tz)
        return _db_time(row["first_seen"])

    def entry(self, story_id: int, language: str) -> str:
        """A story's <entry>, headline in `language`."""
        key = (story_id, language)
        if key not in self.entries:
            row = self.leads[story_id]
            members = self.reports.get(story_id) or [row]
            clusters = story_tags([t for m in members for t in self.tags.get(m["id"], [])])
            self.entries[key] = _entry(make_story(row, members, language), row, clusters, self.published(story_id), self.tz)
        return self.entries[key]

    def feed(self, feed_id: str, title: str, subtitle: str, story_ids: list[int], language: str) -> bytes:
        """The newest ENTRIES of these stories by date, as an Atom document."""
        newest = sorted(self.load(story_ids), key=lambda i: (self.published(i), self.leads[i]["id"]), reverse=True)[:ENTRIES]
        return atom(feed_id, title, subtitle, [self.entry(i, language) for i in newest], self.tz)


def write_feeds(db: sqlite_utils.Database, config: Config, directory: Path, *, now: dt.datetime | None = None) -> list[Path]:
    """Write every feed into `directory` (files replaced whole, and only when they changed);
    remove feeds of clusters and subscriptions that are no longer configured. Returns the feeds written."""
    now = as_utc(now)
    gaz = config.gazetteer()
    min_id = store.first_id_since(db, db_time(now - dt.timedelta(days=DAYS)))
    pool = _Stories(db, config)
    language = config.digest.language
    feeds: dict[str, bytes] = {}
    feeds["all.xml"] = pool.feed("urn:loomwatch:feed:all", "loomwatch: all textile-cluster stories",
                                 "Relevant stories about China's textile and apparel clusters, newest first.",
                                 store.recent_story_ids(db, min_id=min_id, limit=POOL), language)
    for cluster in gaz:
        inside = [c.id for c in gaz if cluster.id == c.id or cluster.id in gaz.ancestors(c.id)]
        place = ", ".join(p for p in dict.fromkeys([cluster.city, cluster.province]) if p and p != cluster.name)
        feeds[f"cluster-{cluster.id}.xml"] = pool.feed(
            f"urn:loomwatch:feed:cluster:{cluster.id}", f"loomwatch: {cluster.name} {cluster.name_zh}".strip(),
            f"Textile-cluster stories about {cluster.name}" + (f" ({place})" if place else "") + ", newest first.",
            store.recent_story_ids(db, min_id=min_id, limit=POOL, cluster_ids=inside), language)
    for sub in subscriptions_of(config):
        if not sub.name:
            continue
        matcher = Matcher(sub, gaz)
        candidates = pool.load(store.recent_story_ids(db, min_id=min_id, limit=CANDIDATES, cluster_ids=matcher.places))
        reports = (store.story_reports(db, candidates, pool.upto, full_text=True) if matcher.needs_text else pool.reports)
        chosen = [i for i in candidates if matcher.match(reports.get(i) or [pool.leads[i]], pool.tags)]
        feeds[f"subscription-{sub.name}.xml"] = pool.feed(
            f"urn:loomwatch:feed:subscription:{sub.name}", f"loomwatch: {sub.name}",
            f"Stories of the subscription {sub.name}" + (f" ({describe(sub)})" if describe(sub) else "") + ", newest first.",
            chosen, headline_language(sub, config))
    return _write(directory, feeds)


def _write(directory: Path, feeds: dict[str, bytes]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in feeds.items():
        path = directory / name
        if path.exists() and path.read_bytes() == data:
            continue
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        written.append(path)
    for pattern in FILE_PATTERNS:
        for stale in directory.glob(pattern):
            if stale.name not in feeds:
                stale.unlink()
    return written


def refresh_feeds(config: Config, now: dt.datetime | None = None) -> None:
    """Rewrite the feeds in `[digest] output_dir/feeds` (after a crawl): a failure is logged, never raised."""
    from loomwatch.storage import open_database

    if not config.digest.feeds:
        return
    directory = config.digest.output_dir / "feeds"
    try:
        db = open_database(config.storage.database, busy_timeout=config.storage.busy_timeout)
        try:
            write_feeds(db, config, directory, now=now)
        finally:
            db.close()
    except OSError as exc:
        log.warning("%s: cannot write the feeds (%s); check 'digest.output_dir'", directory, getattr(exc, "strerror", None) or exc)
    except sqlite3.Error as exc:  # a busy or damaged archive: the crawl's own work is done and stored
        log.warning("%s: the feeds were not refreshed (%s); the next crawl or `loomwatch digest` writes them", directory, exc)


# --- Atom ------------------------------------------------------------------------------------


def atom(feed_id: str, title: str, subtitle: str, entries: list[str], tz: zoneinfo.ZoneInfo) -> bytes:
    """One Atom 1.0 document (RFC 4287) of <entry> elements, newest first."""
    updated = max((_updated_in(xml) for xml in entries), default=_iso(EMPTY, tz))
    head = (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="{ATOM}">\n'
            f"  <id>{escape(feed_id)}</id>\n  <title>{escape(title)}</title>\n  <subtitle>{escape(subtitle)}</subtitle>\n"
            f"  <updated>{updated}</updated>\n  <author>\n    <name>loomwatch</name>\n  </author>\n"
            "  <generator>loomwatch</generator>\n")
    return (head + "".join(entries) + "</feed>\n").encode()


def _entry(story: Story, row: dict[str, Any], clusters: list[dict[str, Any]], published: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    updated = max(_db_time(row.get("last_seen") or row["first_seen"]), published)
    lines = ["  <entry>", f"    <id>{escape(row['url'])}</id>", f"    <title>{escape(story.title)}</title>",
             f"    <link rel=\"alternate\" href={quoteattr(story.url)} />",
             f"    <published>{_iso(published, tz)}</published>", f"    <updated>{_iso(updated, tz)}</updated>",
             f"    <author>\n      <name>{escape(story.source)}</name>\n    </author>"]
    for tag in clusters:
        label = " ".join(x for x in (tag["name"], tag["name_zh"]) if x) or tag["cluster_id"]
        lines.append(f"    <category term={quoteattr(tag['cluster_id'])} label={quoteattr(label)} />")
    if story.excerpt:
        lines.append(f"    <summary>{escape(story.excerpt)}</summary>")
    lines += [f'    <content type="html">{escape(_content_html(story))}</content>', "  </entry>", ""]
    return "\n".join(lines)


def _updated_in(entry: str) -> str:
    return entry.split("<updated>", 1)[1].split("<", 1)[0]


def _content_html(story: Story) -> str:
    from markupsafe import escape as html

    parts = [f"<p>{html(story.excerpt)}</p>" if story.excerpt else "",
             f"<p>{html(story.source)} · {html(story.date)} · {html(story.language)}</p>"]
    if story.copies:
        links = ", ".join(f'<a href="{html(c.url)}">{html(c.source)}</a>' + (f" ({html(c.language)})" if c.language != story.language else "")
                          for c in story.copies)
        parts.append(f"<p>Also reported by {links}</p>")
    return "".join(parts)


def _db_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)  # archive times are UTC


def _is_date(value: str | None) -> bool:
    try:
        dt.date.fromisoformat(value or "")
    except ValueError:
        return False
    return True


def _iso(moment: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds")
