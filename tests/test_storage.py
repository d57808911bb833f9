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
