"""Readers' subscriptions: which stories each reader gets, and when.

A `[[subscriptions]]` table (crawler/config.py `Subscription`) names its recipients, the
stories it wants — clusters (a cluster includes the clusters inside it), provinces, report
languages, keywords, a relevance floor — and a schedule: `daily` and `weekly` digests
(run.py), or `immediate` alerts after each crawl (alerts.py). With no
`[[subscriptions]]`, `[email]` and `[digest]` act as one subscription of everything,
named "" (`implicit`).

A story matches on what all its reports say together: a keyword in its Chinese
translation, a cluster named only in a later rewrite count. Keywords: Latin script as
whole words, case and full-width forms ignored, a trailing `*` for any ending (`dye*`:
dyes, dyeing); Chinese as substrings, spaces and line breaks inside them ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from loomwatch.crawler.config import WEEKDAYS, Config, Subscription
from loomwatch.pipelines.gazetteer import Gazetteer, fold, province_name

IMPLICIT = ""  # the name of the one subscription of a configuration without [[subscriptions]]
LATIN = "a-z0-9\u00c0-\u024f"  # letters and digits of spaced scripts, after fold()
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(f"[{_HAN}]+|[^{_HAN}]+")
_WIDE = re.compile(f"[{_HAN}\u3000-\u303f\uff00-\uffef]")  # characters two columns wide
CONTEXT = 72  # display columns of context on each side of a matched keyword (a Han character takes two)

# Chinese names of the provinces (and province-level cities and regions) as the gazetteer spells them.
def subscriptions_of(config: Config) -> list[Subscription]:
    """The configured subscriptions, or the implicit one: every story, daily, to [email] recipients."""
    if config.subscriptions:
        return list(config.subscriptions)
    return [Subscription(name=IMPLICIT, recipients=config.email.recipients, schedule="daily",
                         language=config.digest.language, subject=config.email.subject, send_empty=config.email.send_empty)]


def label(sub: Subscription) -> str:
    return sub.name or "all stories"


def where(sub: Subscription) -> str:
    """How error messages name a subscription's settings: "[[subscriptions]] NAME key" or "key 'email."."""
    return f"[[subscriptions]] {sub.name} key " if sub.name else "key 'email."


def headline_language(sub: Subscription, config: Config) -> str:
    return sub.language or config.digest.language


# --- matching -------------------------------------------------------------------------------


def keyword_pattern(word: str) -> re.Pattern[str]:
    """The regex of one keyword, to search in fold()ed text."""
    word = fold(" ".join(word.split()))
    prefix = word.endswith("*")
    word = word.rstrip("*").strip()
    body = ""
    for run in _RUNS.findall(word):
        if re.match(f"[{_HAN}]", run):
            piece = r"\s*".join(map(re.escape, run))
            body += (r"\s*" if body else "") + piece
        else:
            body += r"[\s\-]+".join(re.escape(token) for token in run.split(" ") if token)
            body += r"\s*" if run.endswith(" ") else ""
    if re.match(f"[{LATIN}]", word):
        body = f"(?<![{LATIN}])" + body
    if prefix:
        body += f"[{LATIN}]*"
    elif re.search(f"[{LATIN}]$", word):
        body += f"(?![{LATIN}])"
    return re.compile(body)


@dataclass
class Match:
    """Why a story matched: the first keyword found (None without keywords) and where."""

    keyword: str | None = None
    report_id: int | None = None
    context: str = ""  # the keyword in its sentence, marked *like this*


class Matcher:
    """A subscription's filters, compiled once; `match` tells whether a story passes them."""

    def __init__(self, sub: Subscription, gaz: Gazetteer):
        self.sub = sub
        wanted: set[str] = set()
        for cluster in gaz:
            lineage = {cluster.id, *gaz.ancestors(cluster.id)}
            if lineage & set(sub.clusters):
                wanted.add(cluster.id)
        provinces = {province_name(p, [c.province for c in gaz if c.province]) for p in sub.provinces}
        wanted |= {c.id for c in gaz if c.province and c.province in provinces}
        self.places: frozenset[str] | None = frozenset(wanted) if (sub.clusters or sub.provinces) else None
        self.languages = tuple(code.lower() for code in sub.languages)
        self.keywords = [(word, keyword_pattern(word)) for word in sub.keywords]
        self.excludes = [keyword_pattern(word) for word in sub.exclude_keywords]

    @property
    def narrows(self) -> bool:
        """Whether some stories fail this subscription (False: it takes every story)."""
        return bool(self.places is not None or self.languages or self.keywords or self.excludes or self.sub.min_relevance)

    @property
    def needs_text(self) -> bool:
        return bool(self.keywords or self.excludes)

    def language_ok(self, code: str | None) -> bool:
        code = (code or "").lower()
        return any(code == want or ("-" not in want and code.split("-")[0] == want) for want in self.languages)

    def match(self, reports: list[dict[str, Any]], tags: dict[int, list[dict[str, Any]]], *, context: bool = False) -> Match | None:
        """Match a story on all its `reports` (rows with id, title, text, lang, relevance) and
        their cluster `tags`; with `context`, the Match quotes the keyword in its sentence."""
        if self.sub.min_relevance and max((r.get("relevance") or 0) for r in reports) < self.sub.min_relevance:
            return None
        if self.languages and not any(self.language_ok(r.get("lang")) for r in reports):
            return None
        if self.places is not None:
            found = {t["cluster_id"] for r in reports for t in tags.get(r["id"], [])}
            if not found & self.places:
                return None
        if not self.needs_text:
            return Match()
        # Texts before titles: the context shown with an alert says more than the headline.
        fields = [(r, original, fold(original)) for key in ("text", "title") for r in reports for original in [r.get(key) or ""]]
        if any(p.search(folded) for p in self.excludes for _, _, folded in fields):
            return None
        # A text that repeats its title first: look for the keyword in its sentences first.
        titles = {r["id"]: fold(" ".join((r.get("title") or "").split())) for r in reports}
        hits: dict[str, Match] = {}
        for word, pattern in self.keywords:
            for report, original, folded in fields:
                title = titles[report["id"]]
                skip = len(title) if title and original is report.get("text") and folded.lstrip().startswith(title) else 0
                found = pattern.search(folded, skip) or (pattern.search(folded) if skip else None)
                if found:
                    hits[word] = Match(word, report["id"], in_context(original, found.start(), found.end()) if context else "")
                    break
        if not self.keywords:
            return Match()
        if not hits or (self.sub.match == "all" and len(hits) < len(self.keywords)):
            return None
        return next(hits[word] for word, _ in self.keywords if word in hits)


def in_context(text: str, start: int, end: int) -> str:
    """The matched words in their line of `text`, with up to CONTEXT display columns (a Han
    character is two) either side, on one line, marked *so*; "…" where the line is cut."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end) % (len(text) + 1)
    before = " ".join(text[line_start:start].split())
    after = " ".join(text[end:line_end].split())
    left, right = _fit(before[::-1])[::-1], _fit(after)
    if len(left) < len(before):
        left = "…" + (left.split(" ", 1)[1] if " " in left[1:] and before[-len(left) - 1] != " " else left.lstrip())
    if len(right) < len(after):
        right = (right.rsplit(" ", 1)[0] if " " in right[:-1] and after[len(right)] != " " else right.rstrip()) + "…"
    gap_left = " " if before and text[start - 1:start].isspace() else ""
    gap_right = " " if after and text[end:end + 1].isspace() else ""
    return f"{left}{gap_left}*{' '.join(text[start:end].split())}*{gap_right}{right}"


def _fit(text: str) -> str:
    used = 0
    for index, char in enumerate(text):
        used += 2 if _WIDE.match(char) else 1
        if used > CONTEXT:
            return text[:index]
    return text


def describe(sub: Subscription) -> str:
    """The subscription's filters in a line ("" for one that takes every story)."""
    parts = []
    if sub.clusters:
        parts.append("clusters " + ", ".join(sub.clusters))
    if sub.provinces:
        parts.append("provinces " + ", ".join(sub.provinces))
    if sub.languages:
        parts.append("in " + ", ".join(sub.languages))
    if sub.keywords:
        parts.append(("all of " if sub.match == "all" and len(sub.keywords) > 1 else "") + "keywords " + ", ".join(sub.keywords))
    if sub.exclude_keywords:
        parts.append("not " + ", ".join(sub.exclude_keywords))
    if sub.min_relevance:
        parts.append(f"relevance ≥ {sub.min_relevance:g}")
    return "; ".join(parts)


def schedule_label(sub: Subscription) -> str:
    if sub.schedule == "weekly":
        return f"weekly on {sub.weekday.capitalize()}"
    return sub.schedule


# --- when a digest is due -------------------------------------------------------------------


def week_start(sub: Subscription, local_day: dt.date) -> dt.date:
    """The latest `weekday` on or before `local_day`: where the week of a weekly subscription begins."""
    return local_day - dt.timedelta(days=(local_day.weekday() - WEEKDAYS.index(sub.weekday)) % 7)


def first_span(sub: Subscription) -> dt.timedelta:
    """How far back a subscription's first digest looks (none was ever sent)."""
    return dt.timedelta(days=7) if sub.schedule == "weekly" else dt.timedelta(days=1)

