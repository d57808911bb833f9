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


def store(path, batches: list[list[dict]]) -> tuple[dict, dict]:
    """Write the batches through the store step; what the archive holds (by URL) and the counters."""
    import dataclasses

    from loomwatch.crawler.config import Config, StorageSettings
    from loomwatch.pipelines.store import Counters, StorePipeline

    counters = Counters()
    pipeline = StorePipeline(dataclasses.replace(Config(), storage=StorageSettings(database=path)), None, counters)
    pipeline.open_spider()
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
    first = "https://news.example/1.html"
    assert together[first] == (None, first, 4)
    assert together["https://news.example/3.html"] == (first, first, 4)
    assert together["https://news.example/4.html"] == (first, first, 4)
    assert together["https://news.example/6.html"] == (None, first, 4)
    assert together["https://news.example/9.html"][0] == "https://news.example/8.html"
    assert "https://news.example/5.html" not in together
    assert together_counts["loomwatch/news/new_articles"] == 7 and together_counts["loomwatch/news/duplicates"] == 3
    assert together_counts["loomwatch/news/errors"] == 1 and together_counts["loomwatch/news/no_text"] == 1
