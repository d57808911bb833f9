"""The settings the pipelines take, and `PipelineSettings`: all a crawl's pipelines need.

The application builds a `PipelineSettings` from its configuration (`Config.pipelines` in
loomwatch.crawler.config) and hands it to the pipelines through Scrapy's settings, to the
fleet's writer and to `restory`; nothing here reads the application's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from loomwatch.storage.settings import StorageSettings, setting


@dataclass(frozen=True)
class TaggingSettings:
    relevance_threshold: float = setting(0.5, "Articles with relevance at or above this are `relevant` (0..1).", minimum=0, maximum=1)


@dataclass(frozen=True)
class DedupSettings:
    threshold: float = setting(0.7, "Estimated Jaccard similarity of shingles at or above which an article is a near-duplicate of an earlier one.", minimum=0.1, maximum=1)


@dataclass(frozen=True)
class StorySettings:
    window_days: int = setting(21, "Reports of one story are published (or, undated, first stored) within this many days of each other; reports further apart are never compared.", minimum=1)
    min_shared_facts: float = setting(2.5, "Weight of the specific facts (figures, dates, editions, people) two reports must share to be one story by their facts: a precise figure weighs 2-2.5, a date 1.5, a round figure 0.5-1 (see README, \"Stories\").", minimum=0.5)
    min_fact_share: float = setting(0.35, "Share of the specific facts of the report that has fewer that the other must have too, for a match by facts.", minimum=0, maximum=1)
    min_text_similarity: float = setting(0.2, "Estimated shingle similarity (0..1, as `[dedup] threshold`) at which two reports in one language that share at least one specific fact are one story.", minimum=0.05, maximum=1)
    min_same_language_text: float = setting(0.05, "In one language, a match by facts also needs at least this shingle similarity: rewrites of one release share some wording, different reports that happen to share a date and a name share almost none.", minimum=0, maximum=1)
    member_share: float = setting(0.5, "A report joins a story only if it is compatible (half the thresholds above, no conflicting figures) with the story's first report and with at least this share of its other reports: stories never grow by chaining.", minimum=0, maximum=1)


class SourceHints(NamedTuple):
    """What a configured source tells the analysis about its pages."""

    clusters: tuple[str, ...] = ()  # cluster ids it mostly covers (raise their scores)
    language: str = ""  # language hint when detection is unsure


@dataclass(frozen=True)
class PipelineSettings:
    storage: StorageSettings = field(default_factory=StorageSettings)
    tagging: TaggingSettings = field(default_factory=TaggingSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    stories: StorySettings = field(default_factory=StorySettings)
    clusters: tuple[dict, ...] = ()  # a configuration's own [[clusters]], added to the packaged gazetteer
    origin: str = "<defaults>"  # where they were read from, for error messages
    workers: int = 0  # analysis processes; 0 = one per CPU core
    analysis_timeout: float = 60.0  # seconds a worker may spend on one page
    sources: dict[str, SourceHints] = field(default_factory=dict)  # by source name
