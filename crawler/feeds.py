"""Atom feeds: the latest stories of everything, of each cluster and of each subscription.

`loomwatch digest` writes them to `<output folder>/feeds/` (`all.xml`, `cluster-<id>.xml`,
`subscription-<name>.xml`), a crawl that stored something refreshes them, and `loomwatch
serve` serves that folder at `/-/feeds/`, so readers can follow loomwatch in a feed reader.

A feed holds the latest `ENTRIES` stories first stored within `DAYS` days, newest first
(by publication date, as the digest orders them), each once, under its headline report, with
its other reports as "also reported by". A cluster's feed includes the clusters inside it.
An entry's id is its story's first report's URL, so it stays the same in every feed and
every rewrite of the file; `updated` moves when the story gains a report.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
import xml.etree.ElementTree as ET
import zoneinfo
from pathlib import Path
from typing import Any

import sqlite_utils

from loomwatch.crawler.config import Config
from loomwatch.crawler.digest import Story, as_utc, make_story, story_tags
from loomwatch.crawler.subscriptions import Matcher, describe, gazetteer_of, headline_language, subscriptions_of
from loomwatch.storage import digests as store
from loomwatch.storage.db import db_time, parse_db_time

log = logging.getLogger(__name__)

ATOM = "http://www.w3.org/2005/Atom"
ENTRIES = 50  # stories per feed
DAYS = 90  # a feed looks back this far for them
CANDIDATES = 2000  # stories a subscription's filters are tried on, newest first
FILE_PATTERNS = ("all.xml", "cluster-*.xml", "subscription-*.xml")
# An empty feed's `updated`: a fixed time, so that rewriting it changes nothing (readers and
# HTTP caches see the same bytes until a story arrives).
EMPTY = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

ET.register_namespace("", ATOM)


def write_feeds(db: sqlite_utils.Database, config: Config, directory: Path, *, now: dt.datetime | None = None) -> list[Path]:
    """Write every feed into `directory` (files replaced whole, and only when they changed);
    remove feeds of clusters and subscriptions that are no longer configured. Returns the feeds written."""
    now = as_utc(now)
    gaz = gazetteer_of(config)
    min_id = store.first_id_since(db, db_time(now - dt.timedelta(days=DAYS)))
    upto = store.max_article_id(db)
    language = config.digest.language
    tz = zoneinfo.ZoneInfo(config.timezone)
    feeds: dict[str, bytes] = {}

    def entries(rows: list[dict[str, Any]], lang: str, reports: dict | None = None, tags: dict | None = None) -> list[tuple[Story, dict, list]]:
        reports = reports if reports is not None else store.story_reports(db, [r["story_id"] for r in rows], upto)
        tags = tags if tags is not None else store.cluster_tags(db, [r["id"] for found in reports.values() for r in found])
        found = []
        for row in rows:
            members = reports.get(row["story_id"]) or [row]
            clusters = story_tags([t for m in members for t in tags.get(m["id"], [])])
            found.append((make_story(row, members, lang), row, clusters))
        # Newest first by the time each entry gives as `published`.
        return sorted(found, key=lambda f: (_published(f[0], f[1], tz), f[1]["id"]), reverse=True)

    feeds["all.xml"] = atom("urn:loomwatch:feed:all", "loomwatch: all textile-cluster stories",
                            "Relevant stories about China's textile and apparel clusters, newest first.",
                            entries(store.recent_stories(db, min_id=min_id, limit=ENTRIES), language), config.timezone)
    for cluster in gaz:
        inside = [c.id for c in gaz if cluster.id == c.id or cluster.id in gaz.ancestors(c.id)]
        rows = store.recent_stories(db, min_id=min_id, limit=ENTRIES, cluster_ids=inside)
        place = ", ".join(p for p in dict.fromkeys([cluster.city, cluster.province]) if p and p != cluster.name)
        feeds[f"cluster-{cluster.id}.xml"] = atom(
            f"urn:loomwatch:feed:cluster:{cluster.id}", f"loomwatch: {cluster.name} {cluster.name_zh}".strip(),
            f"Textile-cluster stories about {cluster.name}" + (f" ({place})" if place else "") + ", newest first.",
            entries(rows, language), config.timezone)
    for sub in subscriptions_of(config):
        if not sub.name:
            continue
        matcher = Matcher(sub, gaz)
        rows = store.recent_stories(db, min_id=min_id, limit=CANDIDATES, cluster_ids=matcher.places)
        reports = store.story_reports(db, [r["story_id"] for r in rows], upto, full_text=matcher.needs_text)
        tags = store.cluster_tags(db, [r["id"] for found in reports.values() for r in found])
        chosen = [r for r in rows if matcher.match(reports.get(r["story_id"]) or [r], tags)][:ENTRIES]
        feeds[f"subscription-{sub.name}.xml"] = atom(
            f"urn:loomwatch:feed:subscription:{sub.name}", f"loomwatch: {sub.name}",
            f"Stories of the subscription {sub.name}" + (f" ({describe(sub)})" if describe(sub) else "") + ", newest first.",
            entries(chosen, headline_language(sub, config), reports, tags), config.timezone)
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
        db = open_database(config.storage.database)
        try:
            write_feeds(db, config, directory, now=now)
        finally:
            db.close()
    except OSError as exc:
        log.warning("%s: cannot write the feeds (%s); check 'digest.output_dir'", directory, getattr(exc, "strerror", None) or exc)
    except sqlite3.Error as exc:  # a busy or damaged archive: the crawl's own work is done and stored
        log.warning("%s: the feeds were not refreshed (%s); the next crawl or `loomwatch digest` writes them", directory, exc)


# --- Atom ------------------------------------------------------------------------------------


def atom(feed_id: str, title: str, subtitle: str, stories: list[tuple[Story, dict, list]], timezone: str) -> bytes:
    """One Atom 1.0 document (RFC 4287)."""
    tz = zoneinfo.ZoneInfo(timezone)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "id", feed_id)
    _text(feed, "title", title)
    _text(feed, "subtitle", subtitle)
    updated = max((max(_updated(row), _published(story, row, tz)) for story, row, _ in stories), default=EMPTY)
    _text(feed, "updated", _iso(updated, tz))
    ET.SubElement(ET.SubElement(feed, f"{{{ATOM}}}author"), f"{{{ATOM}}}name").text = "loomwatch"
    _text(feed, "generator", "loomwatch")
    for story, row, clusters in stories:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", row["url"])
        _text(entry, "title", story.title)
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=story.url)
        published = _published(story, row, tz)
        _text(entry, "published", _iso(published, tz))
        _text(entry, "updated", _iso(max(_updated(row), published), tz))
        ET.SubElement(ET.SubElement(entry, f"{{{ATOM}}}author"), f"{{{ATOM}}}name").text = story.source
        for tag in clusters:
            ET.SubElement(entry, f"{{{ATOM}}}category", term=tag["cluster_id"],
                          label=" ".join(x for x in (tag["name"], tag["name_zh"]) if x) or tag["cluster_id"])
        if story.excerpt:
            _text(entry, "summary", story.excerpt)
        content = _text(entry, "content", _content_html(story))
        content.set("type", "html")
    ET.indent(feed)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8") + b"\n"


def _content_html(story: Story) -> str:
    from markupsafe import escape

    parts = [f"<p>{escape(story.excerpt)}</p>" if story.excerpt else "",
             f"<p>{escape(story.source)} · {escape(story.date)} · {escape(story.language)}</p>"]
    if story.copies:
        links = ", ".join(f'<a href="{escape(c.url)}">{escape(c.source)}</a>' + (f" ({escape(c.language)})" if c.language != story.language else "")
                          for c in story.copies)
        parts.append(f"<p>Also reported by {links}</p>")
    return "".join(parts)


def _text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}")
    element.text = value
    return element


def _updated(row: dict[str, Any]) -> dt.datetime:
    return parse_db_time(row.get("last_seen") or row["first_seen"])


def _published(story: Story, row: dict[str, Any], tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The publication date (at midnight where loomwatch runs), or when an undated story was stored."""
    if _is_date(story.published):
        return dt.datetime.combine(dt.date.fromisoformat(story.published or ""), dt.time(), tz)
    return parse_db_time(row["first_seen"])


def _is_date(value: str | None) -> bool:
    try:
        dt.date.fromisoformat(value or "")
    except ValueError:
        return False
    return True


def _iso(moment: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds")
