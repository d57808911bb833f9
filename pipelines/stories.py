"""Deciding which story a new article joins: rewrites, translations and reposts of one report.

Runs in the store step, inside the article's transaction, after near-duplicate detection
(`story_for`: a copy joins its original's story, unless their figures conflict).
Everything expensive was done per article in the worker processes: its facts
(loomwatch.pipelines.facts) and its near-duplicate signature. The decision reads only a
bounded slice of the archive:

1. **Candidates by blocking.** The new article's weightiest facts (`facts.blocking_keys`:
   precise figures, dates, editions, people, organisations, its clusters) are looked up
   in `story_keys` within `[stories] window_days` of its date; each lookup reads at most
   `storage.stories.BUCKET_LIMIT` articles. The `MAX_CANDIDATES` articles that share the
   most keys are compared. Never a scan of the archive.
2. **Comparing two reports** (`compare`): the weight of the *specific* facts they share
   (figures, dates, editions, people: what a rewrite or translation keeps and another
   event does not), the share of the smaller side's specific facts that the other has,
   and, within one language, the estimated Jaccard similarity of their shingles (the
   near-duplicate signature). Names of organisations, places and clusters are shared by
   every report about one cluster: they help find candidates but prove nothing.
   - A **match** needs shared specific facts ≥ `min_shared_facts` with a share ≥
     `min_fact_share` (and, within one language, some shared wording: text similarity ≥
     `min_same_language_text`), or text similarity ≥ `min_text_similarity` with at least
     one shared specific fact.
   - A **veto** overrides any score: amounts (yuan, dollars, euros), percentages or the
     edition of an event that both reports give with no value in common; or precise
     counts and dates likewise, where more kinds of fact disagree than agree. That keeps
     apart this week's price report from last week's, the 25th fair from the 27th, an
     expo's opening from its closing report. Years are no such kind: texts mention past
     years freely.
3. **Joining a story**: the article joins the story of its best match only if it is also
   *compatible* (no veto, at least half of the match thresholds) with the story's lead
   and with at least `member_share` of the story's other reports examined (its latest
   `MAX_MEMBERS`). A story therefore grows by matches to its lead and most members, never
   by a chain of pairwise matches. Otherwise the article leads a story of its own.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import sqlite_utils

from loomwatch.pipelines import dedup
from loomwatch.pipelines.facts import blocking_keys, weight
from loomwatch.pipelines.settings import StorySettings
from loomwatch.storage import stories
from loomwatch.storage.pending import Pending

MAX_KEYS = 16  # facts an article is indexed and looked up by
MAX_CANDIDATES = 20  # candidates compared, those sharing the most keys first
MAX_MEMBERS = 12  # reports of a story a newcomer is checked against (its lead and the latest)
COMPATIBLE = 0.5  # share of the match thresholds that counts as compatible
# Facts that pin down one report: figures, dates, editions, people.
SPECIFIC = ("cny", "usd", "eur", "pct", "n", "md", "ord", "p")
# Kinds of fact that identify a report when both give them: figures (counts need three
# significant digits), the edition of an event, and dates. Two reports that give amounts
# of money, percentages or editions with none in common are different stories; counts and
# dates veto only where more kinds disagree than agree (a rewrite may cite another count).
VETO_KINDS = ("cny", "usd", "eur", "pct", "ord", "n3", "md")
HEADLINE_KINDS = ("cny", "usd", "eur", "pct", "ord")


@dataclass(frozen=True)
class Comparison:
    shared: float  # weight of the specific facts both give
    share: float  # shared / the specific-fact weight of the side that has less
    text: float  # estimated shingle similarity (0 across languages; not computed without shared facts)
    same_language: bool  # both in one language (Simplified and Traditional Chinese are one), both signed
    score: float  # for ranking matches: shared + 10 × text
    figures: tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]] = field(repr=False, compare=False)  # both reports'

    @functools.cached_property
    def veto(self) -> str | None:
        """The kinds of figure that disagree, when they veto a match. Worked out when asked:
        most candidates a new article is compared with fail the thresholds anyway."""
        return _veto(*self.figures)

    def matches(self, rules: StorySettings, factor: float = 1.0) -> bool:
        by_facts = (self.shared >= factor * rules.min_shared_facts and self.share >= factor * rules.min_fact_share
                    and (not self.same_language or self.text >= factor * rules.min_same_language_text))
        # Shared wording with a little factual agreement: a template reused for another
        # report shares wording too, but few of its figures.
        by_text = (self.text >= factor * rules.min_text_similarity and self.shared > 0
                   and self.share >= COMPATIBLE * factor * rules.min_fact_share)
        return (by_facts or by_text) and not self.veto


@dataclass(frozen=True)
class Report:
    """What a comparison needs of one report, worked out once from its facts."""

    specific: dict[str, float]  # the specific facts and their weights
    specific_weight: float  # people aside
    figures: dict[str, frozenset[str]]  # VETO_KINDS present -> their facts
    signature: np.ndarray | None  # the near-duplicate signature's values
    language: str  # en, zh, ... ("" when unknown)

    @classmethod
    def of(cls, facts: Iterable[str], signature: bytes | None, lang: str | None = None) -> "Report":
        specific, figures, total = {}, {}, 0.0
        for fact in facts:
            group, fact_weight = _role(fact)
            if fact_weight:
                specific[fact] = fact_weight
                # A person named in one version and not the other is no evidence against:
                # reports name different officials, and only Chinese names after a title are found.
                total += fact_weight if not fact.startswith("p:") else 0.0
                if group:
                    figures.setdefault(group, []).append(fact)
        values = np.frombuffer(signature, dtype="<u2") if signature and len(signature) == dedup.SIGNATURE_BYTES else None
        return cls(specific, total, {k: frozenset(v) for k, v in figures.items()}, values,
                   (lang or "").split("-")[0].lower())


@functools.lru_cache(maxsize=1 << 16)
def _role(fact: str) -> tuple[str | None, float]:
    """(its veto kind or None, its weight when specific, else 0) of a fact."""
    kind = fact.partition(":")[0]
    if kind not in SPECIFIC:
        return None, 0.0
    if kind == "n":
        return ("n3" if weight(fact) >= 2 else None), weight(fact)
    return (kind if kind in VETO_KINDS else None), weight(fact)


@functools.lru_cache(maxsize=16384)  # a few days of relevant articles: a crawl's own are the likeliest candidates
def _stored_report(facts: str, signature: bytes | None, lang: str | None) -> Report:
    """The Report of a stored article (facts as stored, JSON): recent articles are candidates again and again."""
    return Report.of(json.loads(facts), signature, lang)


class StoredReports:
    """What decisions read of stored articles (their story and their Report), kept across a
    writer's batches: the candidates of one day's articles are the same stories' members
    again and again. Only for the store step, which holds the crawl lock: no other process
    changes stored articles meanwhile, and the store step itself never changes an article's
    story or facts once stored. `clear` it when a transaction is rolled back (an id may then
    be given to another article). With `pending` (see storage.pending), the pending articles
    it was given are kept until they are visible: reading them would not find them."""

    LIMIT = 1 << 16  # articles kept; then it starts again (a long backfill)

    def __init__(self, pending: Pending | None = None) -> None:
        self.known: dict[int, tuple[int | None, Report] | None] = {}  # id -> (story, report), None: no facts
        self.pending = pending

    def clear(self) -> None:
        self.known.clear()

    def _make_room(self, needed: int) -> None:
        if len(self.known) + needed > self.LIMIT:
            kept = {i: self.known[i] for i in self.pending.articles if i in self.known} if self.pending else {}
            self.known.clear()
            self.known.update(kept)

    def add(self, article_id: int, story_id: int, report: Report) -> None:
        """Keep an article the store step has just stored and recorded (`record`), with its
        Newcomer's report (built from its facts as stored): a new article is the likeliest
        candidate of those that follow."""
        self._make_room(1)
        self.known[article_id] = (story_id, report)

    def of(self, db: sqlite_utils.Database, article_ids: Iterable[int]) -> list[tuple[int, int | None, Report]]:
        ids = sorted(set(article_ids))
        missing = [i for i in ids if i not in self.known]
        if missing:
            self._make_room(len(missing))
            self.known.update(dict.fromkeys(missing))
            self.known.update(_reports(db, missing))
        return [(i, *found) for i in ids if (found := self.known[i]) is not None]


def _reports(db: sqlite_utils.Database, article_ids: Iterable[int]) -> dict[int, tuple[int | None, Report]]:
    return {r["id"]: (r["story_id"], _stored_report(r["facts"], r["signature"], r["lang"])) for r in stories.reports(db, article_ids)}


def stored_reports(db: sqlite_utils.Database, article_ids: Iterable[int], cache: StoredReports | None = None
                   ) -> list[tuple[int, int | None, Report]]:
    """(id, story, Report) of the stored articles among `article_ids` that have facts, by id."""
    if cache is not None:
        return cache.of(db, article_ids)
    return [(i, *found) for i, found in sorted(_reports(db, article_ids).items())]


class Newcomer:
    """A new article's facts as they are stored (sorted, distinct), the keys it is looked up
    and indexed by, and its Report: each worked out once, when first needed (an off-topic
    article needs neither), for its decision, the recording of its facts and StoredReports.
    Built from the stored order, its Report is the one reading the article back would give
    (the same sums over the same facts in the same order)."""

    def __init__(self, article: dict) -> None:
        """Of an article with its "facts" (any order), "signature" and "lang" (and its
        "story_keys", when its worker worked them out: see pipelines.analyse.lookup_keys)."""
        self.facts = sorted(set(article.get("facts") or ()))
        self.signature: bytes | None = article.get("signature")
        self.lang: str | None = article.get("lang")
        if article.get("story_keys") is not None:
            self.keys = list(article["story_keys"])

    @functools.cached_property
    def keys(self) -> list[str]:
        return story_keys(self.facts)

    @functools.cached_property
    def report(self) -> Report:
        return Report.of(self.facts, self.signature, self.lang)


def story_keys(facts: Iterable[str]) -> list[str]:
    """The facts an article is looked up and indexed by in `story_keys`."""
    return blocking_keys(sorted(set(facts)), MAX_KEYS)


def compare(a: Report, b: Report) -> Comparison:
    """Compare two reports by their facts and near-duplicate signatures."""
    common = a.specific.keys() & b.specific.keys()
    signed = a.signature is not None and b.signature is not None
    same_language = bool(a.language and a.language == b.language and signed)
    if not common:  # nothing specific shared, so no match: the values the sums below would give
        return Comparison(0, 0.0, 0.0, same_language, 0.0, (a.figures, b.figures))
    weights = a.specific  # sums of lists, not of generators: compared twenty times per new article
    shared = sum([weights[f] for f in common])
    smaller = min(a.specific_weight, b.specific_weight)
    share = sum([weights[f] for f in common if f[:2] != "p:"]) / smaller if smaller else 0.0
    # The estimated Jaccard similarity (as dedup.similarity), from the values kept decoded.
    text = int(np.count_nonzero(a.signature == b.signature)) / dedup.NUM_PERM if shared and signed else 0.0
    return Comparison(shared, share, text, same_language, shared + 10 * text, (a.figures, b.figures))


def _veto(a: dict[str, frozenset[str]], b: dict[str, frozenset[str]]) -> str | None:
    both = [k for k in VETO_KINDS if k in a and k in b]
    # Agreeing on a kind means most of the smaller side's values are in the other: reports
    # full of figures share a few by chance.
    disagree = [k for k in both if 2 * len(a[k] & b[k]) < min(len(a[k]), len(b[k]))]
    if any(k in HEADLINE_KINDS for k in disagree) or len(disagree) > len(both) - len(disagree):
        return ", ".join(disagree)
    return None


def article_day(published: str | None, first_seen: str | None = None) -> int:
    """The day an article is dated by, in days since 1970-01-01: its publication date,
    else the day it was first stored (today for a new article)."""
    for value in (published, first_seen):
        try:
            return dt.date.fromisoformat((value or "")[:10]).toordinal() - _EPOCH
        except ValueError:
            continue
    return dt.datetime.now(dt.timezone.utc).date().toordinal() - _EPOCH


_EPOCH = dt.date(1970, 1, 1).toordinal()


def story_for(
    db: sqlite_utils.Database,
    article: dict,
    duplicate_of: int | None,
    day: int,
    rules: StorySettings,
    before_id: int | None = None,
    cache: StoredReports | None = None,
    newcomer: Newcomer | None = None,
    pending: Pending | None = None,
) -> int | None:
    """The story decision for a new article (with its "relevant", "facts" and "signature"):
    the id of the story it joins, `NEW_STORY` when it leads one of its own, or None for
    the default (a copy joins its original's story; an off-topic article none).

    A near copy whose figures conflict with its original's (a weekly report made from
    last week's template) is decided like any other article. Considers only articles
    stored before `before_id` (restory re-decides the archive in order); run inside the
    transaction that stores the article. `cache`: the store step's StoredReports;
    `newcomer`: the article's, when the caller has it already; `pending`: see
    storage.pending (the cache must then keep them).
    """
    new = newcomer or Newcomer(article)
    if duplicate_of is not None:
        original = stored_reports(db, [duplicate_of], cache)
        if not original or not _veto(new.report.figures, original[0][2].figures):
            return None
    if not article.get("relevant"):
        return None
    return decide_story(db, new, day, rules, before_id, cache, pending)


def decide_story(db: sqlite_utils.Database, newcomer: Newcomer, day: int, rules: StorySettings,
                 before_id: int | None = None, cache: StoredReports | None = None, pending: Pending | None = None) -> int:
    """The story a new relevant article joins, or `NEW_STORY` when it leads a new one."""
    new = newcomer.report
    ranked = stories.candidates(db, newcomer.keys, day, rules.window_days, before_id, MAX_CANDIDATES, pending)
    if not ranked:
        return stories.NEW_STORY
    matches: dict[int, float] = {}  # story -> best score of a match in it
    for _, story_id, report in stored_reports(db, ranked, cache):
        if story_id is None:
            continue
        comparison = compare(new, report)
        if comparison.matches(rules):
            matches[story_id] = max(matches.get(story_id, 0.0), comparison.score)
    for story_id in sorted(matches, key=lambda s: -matches[s]):
        if _agrees_with_story(db, new, story_id, rules, before_id, cache, pending):
            return story_id
    return stories.NEW_STORY


def _agrees_with_story(db: sqlite_utils.Database, new: Report, story_id: int, rules: StorySettings, before_id: int | None,
                       cache: StoredReports | None, pending: Pending | None) -> bool:
    ids = stories.members(db, story_id, before_id if before_id is not None else 2**62, MAX_MEMBERS, pending)
    if not ids:
        return False
    found = {article_id: report for article_id, _, report in stored_reports(db, ids, cache)}
    verdicts = []
    for article_id in ids:
        report = found.get(article_id)
        # A member without recorded facts (stored before stories were decided) is no evidence either way.
        verdicts.append(None if report is None else compare(new, report).matches(rules, COMPATIBLE))
    lead, others = verdicts[0], [v for v in verdicts[1:] if v is not None]
    if lead is False:
        return False
    return not others or sum(others) >= rules.member_share * len(others)


def reassign(db: sqlite_utils.Database, article_id: int, article: dict, duplicate_of: int | None, day: int,
             rules: StorySettings) -> int | None:
    """Decide the story of a stored article again, as if it arrived now after every
    article stored before it, and move it there (restory; retag of a newly relevant
    article). Returns its story, or None when it has none."""
    newcomer = Newcomer(article)
    decided = story_for(db, article, duplicate_of, day, rules, before_id=article_id, newcomer=newcomer)
    story_id = stories.story_as_stored(db, article_id, decided, duplicate_of, bool(article.get("relevant")))
    stories.set_story(db, article_id, story_id)
    if story_id is None:
        stories.forget_facts(db, article_id)
    else:
        record(db, article_id, newcomer, day)
    return story_id


def record(db: sqlite_utils.Database, article_id: int, newcomer: Newcomer, day: int) -> None:
    """Keep a story member's facts and index it for the decisions to come."""
    stories.record_facts(db, article_id, day, newcomer.facts, newcomer.keys)
