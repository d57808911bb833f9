"""Stories outside the crawl: refolding the archive (`loomwatch restory`) and folding texts
given on the command line (`loomwatch stories`) through the crawl's own store step."""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loomwatch.crawler.config import Config
from loomwatch.pipelines import stories
from loomwatch.pipelines.facts import extract_facts
from loomwatch.storage import CrawlLock, open_database, utcnow
from loomwatch.storage.db import writing

log = logging.getLogger(__name__)


@dataclass
class RestoryReport:
    articles: int  # articles re-decided, in this run and any earlier interrupted one
    moved: int  # of those, articles whose story changed
    stories: int  # stories in the archive afterwards
    resumed: bool  # picked up where an interrupted restory stopped


def restory(config: Config, batch: int = 500, keep_facts: bool = False,
            progress: Callable[[int], None] = lambda n: None) -> RestoryReport:
    """Decide every article's story again with the current rules, in the order the
    articles were stored, as the crawl would have decided them.

    One transaction per batch, which also records how far it got (`story_restory`): a
    kill loses at most one batch, and the next restory with the same [stories] settings
    resumes there (with other settings it starts over). Facts are extracted again from
    the texts (the glossary or the extraction may have changed) unless `keep_facts`.
    Holds the crawl lock: no crawl writes meanwhile.
    """
    from loomwatch.pipelines.clusters import tagger_for

    gazetteer = tagger_for(config.pipelines).gazetteer
    rules = config.stories
    rules_text = json.dumps(dataclasses.asdict(rules), sort_keys=True)
    with CrawlLock(config.storage.database):
        db = open_database(config.storage.database, busy_timeout=config.storage.busy_timeout)
        state = db.execute("SELECT rules, last_article_id, moved FROM story_restory WHERE id = 1").fetchone()
        resumed = state is not None and state[0] == rules_text
        last, moved = (state[1], state[2]) if resumed else (0, 0)
        if not resumed:
            with db.atomic():
                db.execute("INSERT OR REPLACE INTO story_restory (id, rules, last_article_id, started, moved) VALUES (1, ?, 0, ?, 0)",
                           [rules_text, utcnow()])
        else:
            log.info("resuming the restory that stopped after article %d", last)
        done = db.execute("SELECT count(*) FROM articles WHERE id <= ?", [last]).fetchone()[0]
        while True:
            rows = db.execute(
                """SELECT a.id, a.title, a.text, a.published, a.first_seen, a.relevant, a.duplicate_of, a.story_id,
                          s.signature, f.facts, a.lang
                   FROM articles a LEFT JOIN dedup_signatures s ON s.article_id = a.id
                   LEFT JOIN story_facts f ON f.article_id = a.id
                   WHERE a.id > ? ORDER BY a.id LIMIT ?""",
                [last, batch],
            ).fetchall()
            if not rows:
                break
            with writing(db):
                for article_id, title, text, published, first_seen, relevant, duplicate_of, old, signature, stored, lang in rows:
                    if not relevant and duplicate_of is None:
                        facts = []  # off-topic and no copy: in no story
                    elif keep_facts and stored is not None:
                        facts = json.loads(stored)
                    else:
                        facts = extract_facts(title, text, gazetteer)
                    day = stories.article_day(published, first_seen)
                    article = {"facts": facts, "signature": signature, "relevant": relevant, "lang": lang}
                    moved += stories.reassign(db, article_id, article, duplicate_of, day, rules) != old
                last = rows[-1][0]
                db.execute("UPDATE story_restory SET last_article_id = ?, moved = ? WHERE id = 1", [last, moved])
            done += len(rows)
            progress(done)
        with db.atomic():
            db.execute("DELETE FROM story_restory")
        count = db.execute("SELECT count(*) FROM stories").fetchone()[0]
        db.close()
    return RestoryReport(done, moved, count, resumed)


# --- loomwatch stories -------------------------------------------------------------------


def fold_texts(config: Config, records: Iterable[dict[str, Any]], database: Path | None = None,
               cpu: dict[str, float] | None = None) -> Iterator[dict[str, Any]]:
    """Store texts in order as the crawl stores relevant articles, and yield
    {"id", "story"} for each, in the same order: texts with the same `story` are one
    story, whose value is the `id` of its first text.

    Each record has "title" and "text", and may have "published" (YYYY-MM-DD) and
    "lang" (detected when missing). Every text is treated as relevant: the crawl decides
    stories only for relevant articles, and relevance is the tagger's business. The
    texts go into a fresh archive (`database`, or a temporary file) through the crawl's
    analysis (`analyse_text`) and its StorePipeline: the same near-duplicate and story
    decisions, in one transaction per 50 texts. `cpu`, when given, receives CPU seconds
    by stage (language, tagging, dedup, facts; store, story_lookup, dedup_lookup).
    """
    from loomwatch.pipelines.analyse import analyse_text
    from loomwatch.pipelines.store import Counters, StorePipeline

    with tempfile.TemporaryDirectory(prefix="loomwatch-stories-") as scratch:
        path = database or Path(scratch) / "stories.db"
        config = dataclasses.replace(config, storage=dataclasses.replace(config.storage, database=path))
        stats = Counters()
        pipeline = StorePipeline(config.pipelines, None, stats)
        pipeline.open_spider()
        ids: list[Any] = []
        stages: dict[str, float] = {}
        clock = time.process_time()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.process_time()
            stages[stage] = stages.get(stage, 0.0) + now - clock
            clock = now

        for number, record in enumerate(records, 1):
            title, text = record.get("title") or "", record.get("text") or ""
            clock = time.process_time()
            article = analyse_text(title, text, lap=lap, relevant=True)
            article.update(title=title, text=text, published=record.get("published") or None, relevant=1,
                           author=None, canonical=None)
            if record.get("lang"):
                article["lang"] = record["lang"]
            ids.append(record.get("id", number))
            pipeline.process_item({"source": "stories", "url": f"https://stories.invalid/{number}", "urls": [], "article": article})
        pipeline.close_spider()
        if cpu is not None:
            cpu.update(stages, **{k.rsplit("/", 1)[1]: v for k, v in stats.items() if k.startswith("loomwatch/cpu/")})
        db = open_database(path)
        story_of = {int(url.rsplit("/", 1)[1]): (article_id, story_id)
                    for url, article_id, story_id in db.execute("SELECT url, id, story_id FROM articles")}
        db.close()
    number_of = {article_id: number for number, (article_id, _) in story_of.items()}
    for number, record_id in enumerate(ids, 1):
        article_id, story_id = story_of.get(number, (None, None))
        lead = number_of.get(story_id) if story_id is not None else None
        yield {"id": record_id, "story": ids[lead - 1] if lead else None}
