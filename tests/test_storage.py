"""Creating the archive: it appears under its name only with its whole schema."""

from __future__ import annotations

import sqlite3

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
