"""The archive file: it appears under its name only with its whole schema, and its search index keeps no copy of the texts."""

from __future__ import annotations

import sqlite3

import sqlite_utils

from loomwatch.storage import db as storage_db
from loomwatch.storage import open_database


def tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_new_archive_appears_only_with_its_tables(tmp_path, monkeypatch):
    path = tmp_path / "archive.db"
    existed_during_migration = []
    apply = storage_db.migrations.apply

    def watched_apply(db):
        existed_during_migration.append(path.exists())
        return apply(db)

    monkeypatch.setattr(storage_db.migrations, "apply", watched_apply)
    open_database(path).close()
    assert existed_during_migration[0] is False  # the schema was built before the name existed
    assert {"articles", "crawl_runs", "articles_fts"} <= tables(path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".archive.db.")] == []  # no temporary file left behind
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert path.stat().st_mode == plain.stat().st_mode  # the permissions any new file gets (the umask's), not a temp file's 0600


def test_an_archive_created_meanwhile_by_another_process_is_kept(tmp_path, monkeypatch):
    path = tmp_path / "archive.db"
    apply = storage_db.migrations.apply

    def racing_apply(db):
        if not path.exists():  # another crawl creates the archive and stores a run while this one builds its own
            monkeypatch.setattr(storage_db.migrations, "apply", apply)
            other = open_database(path)
            other.execute("INSERT INTO crawl_runs (started, status) VALUES ('2026-11-23 08:00:00', 'ok')")
            other.conn.commit()
            other.close()
        return apply(db)

    monkeypatch.setattr(storage_db.migrations, "apply", racing_apply)
    db = open_database(path)
    assert db.execute("SELECT count(*) FROM crawl_runs").fetchone()[0] == 1
    db.close()


def test_the_search_index_keeps_no_copy_of_the_texts_and_finds_what_it_found_before(tmp_path):
    from loomwatch.storage.articles import content_hash, index_for_search, insert_article
    from loomwatch.storage.search import fts_query

    path = tmp_path / "archive.db"
    old = sqlite_utils.Database(path)
    storage_db.migrations.apply(old, stop_before="0007_contentless_fts")  # an archive of the previous release
    texts = {
        "http://a.example/1.html": ("柯桥印染企业节水改造", "柯桥区多家印染企业完成节水改造，中国轻纺城面料交易保持活跃。"),
        "http://a.example/2.html": ("Nantong home textiles", "Bedding exporters in Nantong reported firmer orders for quilt covers."),
        "http://a.example/3.html": ("盛泽丝绸", "盛泽镇丝绸织造企业迎来秋季订单。"),
    }
    with old.conn:  # as that release stored them: the row, then its search entry
        for url, (title, text) in texts.items():
            cursor = old.execute("INSERT INTO articles (url, source, title, text, first_seen, content_hash) VALUES (?, 's', ?, ?, ?, ?)",
                                 [url, title, text, "2026-01-01 00:00:00", content_hash(text)])
            index_for_search(old, [(cursor.lastrowid, title, text)])
    queries = ["印染", "轻纺城", "quilt", "Nantong", "丝绸", "家纺"]

    def found(db) -> dict[str, list[int]]:
        return {q: [r[0] for r in db.execute("SELECT rowid FROM articles_fts WHERE articles_fts MATCH ? ORDER BY rowid", [fts_query(q)])]
                for q in queries}

    before = found(old)
    old.close()
    db = open_database(path)  # applies 0007
    assert found(db) == before and before["印染"] == [1] and before["Nantong"] == [2] and before["家纺"] == []
    assert not db["articles_fts_content"].exists()
    assert db.execute("SELECT title, text FROM articles_fts WHERE rowid = 1").fetchone() == (None, None)
    insert_article(db, {"url": "http://a.example/4.html", "source": "s", "title": "南通家纺", "text": "叠石桥家纺市场秋冬床品热销。",
                        "content_hash": content_hash("叠石桥家纺市场秋冬床品热销。")})
    assert found(db)["家纺"] == [4]


# -- the store step: a batch is decided as if its articles came one by one -----------------------

MILL = ("Keqiao dyeing mills finished their wastewater upgrade this spring with new membrane filters and heat recovery.\n"
        "The district office said forty two mills now reuse most of their process water and pay less for energy.\n"
        "Fabric traders at the market expect steadier deliveries once the last three mills restart their lines in April.")
OTHER = ("Nantong bedding exporters reported slower orders for quilt covers as buyers in Europe cut their spring stock.\n"
         "Several workshops in Dieshiqiao moved weavers to curtain lines and asked the county for help with freight costs.\n"
         "Traders expect the autumn fair to show whether demand for printed bedding returns before the end of the year.")
TRANSLATION = "柯桥印染企业今年春天完成污水处理改造，新增膜过滤和余热回收设备。区里表示，四十二家印染厂的工艺用水大多已循环使用。"
FACTS = ["cny:1200000", "md:04-15", "n:42", "c:keqiao"]


def page(n: int, text: str, *, url: str | None = None, lang: str = "en", facts=FACTS, clusters=(("keqiao", 2.0),), failure=None) -> dict:
    from loomwatch.pipelines import dedup
    from loomwatch.pipelines.analyse import search_keys

    url = url or f"https://news.example/{n}.html"
    if failure:
        return {"source": "news", "url": url, "urls": [url], "failure": {"reason": failure, "detail": "empty page"}}
    title = text[:30]
    article = {"title": title, "text": text, "published": "2026-04-15", "author": None, "canonical": None, "lang": lang,
               "relevance": 0.9, "relevant": 1, "clusters": list(clusters), "signature": dedup.signature(text), "facts": facts,
               **search_keys(title, text)}
    return {"source": "news", "url": url, "urls": [url], "failure": None, "article": article}


def store(path, batches: list[list[dict]], *, ahead: str = "") -> tuple[dict, dict]:
    """Write the batches through the store step; what the archive holds (by URL) and the counters.
    `ahead`: "process", decided ahead of their writing by the fleet writer's DecidingProcess (as
    far ahead as it gets; "killed": that process killed first); "all": every batch decided before the first is written, so that every
    decision reads the articles before it as pending (see storage.pending)."""
    import dataclasses

    from loomwatch.crawler.config import Config, StorageSettings
    from loomwatch.pipelines.store import AheadDecider, Counters, StorePipeline

    counters = Counters()
    config = dataclasses.replace(Config(), storage=StorageSettings(database=path))
    pipeline = StorePipeline(config, None, counters)
    pipeline.open_spider()
    if ahead in ("process", "killed"):
        writing = pipeline.ahead()
        assert writing.process.ready  # it has opened the archive before the first batch comes
        if ahead == "killed":  # the deciding process is gone before the first batch
            writing.process.process.kill()
            writing.process.process.join()
        for batch in batches:
            writing.submit(batch)
        for _ in batches:
            writing.write()
        writing.close()
    elif ahead == "all":
        pipeline.ahead().close()  # makes the near-duplicate index ready
        decider = AheadDecider(str(path), config.dedup.threshold, config.stories, 30.0)
        decided = [decider.decide_batch([(item, *StorePipeline._urls(item)) for item in batch]) for batch in batches]
        decider.close()
        for batch, decisions in zip(batches, decided):
            pipeline.write(batch, decided=decisions)
    else:
        for batch in batches:
            pipeline.write(batch)
    pipeline.close_spider()
    with sqlite3.connect(path) as conn:
        url_of = dict(conn.execute("SELECT id, url FROM articles"))
        stored = {url: (url_of.get(duplicate_of), url_of.get(story), reports)
                  for url, duplicate_of, story, reports in conn.execute(
                      "SELECT a.url, a.duplicate_of, a.story_id, s.reports FROM articles a LEFT JOIN stories s ON s.id = a.story_id")}
        stored["tags"] = sorted(conn.execute("SELECT a.url, t.cluster_id FROM article_clusters t JOIN articles a ON a.id = t.article_id"))
        stored["coverage"] = sorted(conn.execute("SELECT * FROM coverage_weekly"))
        stored["keys"] = sorted(conn.execute("SELECT a.url, k.key, k.day FROM story_keys k JOIN articles a ON a.id = k.article_id"))
        stored["bands"] = sorted(conn.execute("SELECT a.url, b.band_key FROM (SELECT * FROM dedup_bands UNION ALL "
                                              "SELECT * FROM dedup_bands_recent) b JOIN articles a ON a.id = b.article_id"))
    return stored, {k: v for k, v in counters.items() if "/cpu/" not in k}


def test_a_batch_sees_its_own_articles_and_one_bad_article_leaves_the_rest_stored(tmp_path):
    pages = [
        page(1, MILL),
        page(2, OTHER, facts=["n:17", "c:nantong"], clusters=[("nantong", 1.5)]),
        page(3, MILL),  # an exact copy of 1 in the same batch
        page(4, MILL + "\nReproduced from the district's news office."),  # a near copy
        page(1, OTHER + "\nAgain."),  # reached again under a URL stored earlier in the batch
        page(5, MILL, clusters=[("keqiao", 1.0), ("keqiao", 2.0)]),  # a tag twice: breaks article_clusters' key
        page(6, TRANSLATION, lang="zh-cn"),  # a translation of 1: its story
        page(7, "", failure="no_text"),
        page(8, "Shengze looms restart.", facts=[]),  # too short to sign: its copy is found by its content hash alone
        page(9, "Shengze looms restart.", facts=[]),
    ]
    alone, alone_counts = store(tmp_path / "alone.db", [[p] for p in pages])
    together, together_counts = store(tmp_path / "together.db", [pages])
    assert together == alone and together_counts == alone_counts
    # Decided ahead of their writing (a fleet's writer), in batches of one and all at once: the
    # same archive. The article that breaks a constraint voids the decisions made ahead of it.
    for name, batches in (("ahead-alone.db", [[p] for p in pages]), ("ahead-together.db", [pages])):
        ahead, ahead_counts = store(tmp_path / name, batches, ahead="process")
        assert ahead_counts.pop("loomwatch/decided_again") == 1
        assert (ahead, ahead_counts) == (alone, alone_counts)
    first = "https://news.example/1.html"
    assert together[first] == (None, first, 4)
    assert together["https://news.example/3.html"] == (first, first, 4)
    assert together["https://news.example/4.html"] == (first, first, 4)
    assert together["https://news.example/6.html"] == (None, first, 4)
    assert together["https://news.example/9.html"][0] == "https://news.example/8.html"
    assert "https://news.example/5.html" not in together
    assert together_counts["loomwatch/news/new_articles"] == 7 and together_counts["loomwatch/news/duplicates"] == 3
    assert together_counts["loomwatch/news/errors"] == 1 and together_counts["loomwatch/news/no_text"] == 1


def test_decisions_made_ahead_are_the_ones_made_one_by_one_with_full_buckets_and_long_stories(tmp_path):
    # Enough articles that every story key's bucket overflows (BUCKET_LIMIT), a story outgrows
    # the members a newcomer is checked against (MAX_MEMBERS), copies of earlier batches' articles,
    # and an off-topic original whose copies' story starts with its first relevant copy.
    import random

    from loomwatch.pipelines.stories import MAX_MEMBERS
    from loomwatch.storage.stories import BUCKET_LIMIT

    rng = random.Random(7)
    words = [f"{a}{b}" for a in ("loom", "dye", "silk", "yarn", "bale", "mill", "weft", "warp") for b in "aeiouy"]

    def text(lines: int = 4) -> str:
        return "\n".join(" ".join(rng.choice(words) for _ in range(14)) for _ in range(lines))

    pages = []
    fair = text(1)
    for n in range(90):
        if n % 6 == 0:  # rewrites of one fair's report (a line in common, no near copies): one story by its figures
            body, facts = fair + "\n" + text(3), ["ord:27", "md:11-20", "cny:3.2e+09", "c:keqiao"]
        elif n % 6 == 1:  # a smaller report, rewritten seven articles later (next batch): a story of two
            body, facts = text(), [f"cny:{n}.5e+07", "md:11-21", "c:keqiao"]
        elif n % 6 == 2 and n > 6:
            body, facts = pages[n - 7]["article"]["text"].split("\n")[0] + "\n" + text(3), pages[n - 7]["article"]["facts"]
        else:  # other Keqiao news: shares the cluster key only
            body, facts = text(), [f"n:{1000 + n}", "c:keqiao"]
        pages.append(page(n, body, facts=facts))
    off_topic = text()
    pages[10] = {**pages[10], "article": {**page(10, off_topic, facts=[])["article"], "relevant": 0}}
    pages += [page(200 + n, off_topic + ("\nCopied." if n else ""), facts=["n:555", "c:keqiao"]) for n in range(3)]
    batches = [pages[i : i + 5] for i in range(0, len(pages), 5)]

    one_by_one = store(tmp_path / "one-by-one.db", batches)
    # As workers send them: with their band and story keys worked out (the store step's own work otherwise).
    from loomwatch.crawler.config import Config
    from loomwatch.pipelines.analyse import lookup_keys

    threshold = Config().dedup.threshold
    analysed = [[{**p, "article": {**p["article"], **lookup_keys(p["article"]["signature"], p["article"]["facts"], threshold)}}
                 for p in batch] for batch in batches]
    assert analysed[0][0]["article"]["band_keys"] and analysed[0][0]["article"]["story_keys"]
    assert store(tmp_path / "analysed.db", analysed) == one_by_one
    assert store(tmp_path / "analysed-ahead.db", analysed, ahead="process") == one_by_one
    assert store(tmp_path / "ahead.db", batches, ahead="process") == one_by_one  # none decided again
    assert store(tmp_path / "all-ahead.db", batches, ahead="all") == one_by_one
    assert store(tmp_path / "killed.db", batches, ahead="killed") == one_by_one  # decided as written instead
    stored = one_by_one[0]
    fair_story = stored["https://news.example/0.html"][1]
    assert sum(1 for key, value in stored.items() if key.startswith("http") and value[1] == fair_story) > MAX_MEMBERS
    assert sum(1 for p in pages if "c:keqiao" in p["article"]["facts"]) > BUCKET_LIMIT
    assert all(stored[f"https://news.example/{n}.html"][1] == f"https://news.example/{n - 7}.html" for n in range(8, 90, 6))
    copies = [stored[f"https://news.example/{200 + n}.html"] for n in range(3)]
    assert {c[0] for c in copies} == {"https://news.example/10.html"} and len({c[1] for c in copies}) == 1


def test_another_program_writing_while_a_batch_is_decided_makes_the_batch_wait_not_fail(tmp_path):
    # The scheduler notes a skipped crawl, or the digest records a mailing, while a crawl
    # writes. A batch transaction that read before taking the write lock could not take it
    # once the other program had committed (SQLITE_BUSY_SNAPSHOT, whatever the busy
    # timeout): the crawl stopped, blaming a lock "held longer than 30 s".
    import dataclasses
    import threading

    from loomwatch.crawler.config import Config, StorageSettings
    from loomwatch.pipelines.store import Counters, StorePipeline

    path = tmp_path / "archive.db"
    open_database(path).close()
    config = dataclasses.replace(Config(), storage=StorageSettings(database=path))
    pipeline = StorePipeline(config, None, Counters())
    pipeline.open_spider()
    other_started, other_done = threading.Event(), []

    def other_program() -> None:
        with sqlite3.connect(path, timeout=10) as conn:
            other_started.set()
            conn.execute("INSERT INTO crawl_runs (started, finished, status) VALUES ('2026-11-23 08:00:00', "
                         "'2026-11-23 08:00:00', 'skipped')")
        other_done.append(True)

    other = threading.Thread(target=other_program)

    def when_the_batch_first_writes(sql: str) -> None:
        if sql.startswith("INSERT") and not other.is_alive() and not other_done:
            other.start()
            other_started.wait()
            other.join(0.3)  # it commits now unless the batch holds the write lock

    pipeline.db.conn.set_trace_callback(when_the_batch_first_writes)
    pipeline.write([page(1, MILL)])
    pipeline.db.conn.set_trace_callback(None)
    other.join()
    pipeline.close_spider()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT url FROM articles").fetchall() == [("https://news.example/1.html",)]
        assert conn.execute("SELECT status FROM crawl_runs").fetchall() == [("skipped",)]


def test_two_programs_opening_an_older_archive_at_once_both_bring_it_up_to_date(tmp_path, monkeypatch):
    # A crawl and a digest started together after an upgrade: each saw the same update
    # pending; the second applied it again over the first's and stopped with "table ...
    # already exists; run `loomwatch check`" (the digest not mailed, the crawl not run).
    path = tmp_path / "archive.db"
    old = sqlite_utils.Database(path)
    storage_db.migrations.apply(old, stop_before="0015_digest_runs")  # the archive of the previous release
    old.close()
    apply = storage_db.migrations.apply

    def raced_apply(db, **kwargs):
        def other_program_opens_it(sql: str) -> None:
            if sql.strip().upper().startswith(("BEGIN", "CREATE TABLE DIGEST_RUNS")):
                db.conn.set_trace_callback(None)
                monkeypatch.setattr(storage_db.migrations, "apply", apply)
                try:
                    open_database(path, busy_timeout=0.2).close()
                except Exception as exc:  # waits for this one's write lock, here in this thread: it would get it next
                    assert "locked by another program" in str(exc)

        db.conn.set_trace_callback(other_program_opens_it)
        return apply(db, **kwargs)

    monkeypatch.setattr(storage_db.migrations, "apply", raced_apply)
    db = open_database(path)
    assert db.execute("SELECT count(*) FROM _sqlite_migrations WHERE name = '0015_digest_runs'").fetchone()[0] == 1
    db.close()
    open_database(path).close()  # and the other program, opening it now, finds it up to date


def test_a_page_too_slow_to_analyse_is_tried_three_times_then_left_alone(tmp_path):
    # Each try costs a crawl the time limit ([crawl] analysis_timeout): as pages without text,
    # it is given up after three, and a fleet's writer publishes it as known.
    from loomwatch.storage.articles import is_known_url, known_urls, record_skipped

    db = open_database(tmp_path / "archive.db")
    url = "https://news.example/ledger.html"
    for attempt in range(1, 4):
        assert not is_known_url(db, url), attempt
        with db.atomic():
            record_skipped(db, url, "news", "too_slow", "analysis took longer than 60 s (crawl.analysis_timeout)")
    assert is_known_url(db, url)
    assert list(known_urls(db)) == [url]
