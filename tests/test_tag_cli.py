"""`loomwatch tag` and `loomwatch retag`: the tagger from the command line and over the archive."""

from __future__ import annotations

import json

from click.testing import CliRunner

from loomwatch.crawler.cli import main
from loomwatch.pipelines.clusters import tag_article
from loomwatch.storage import open_database
from loomwatch.storage.articles import insert_article

YISHAN = {
    "title": "Yishan underwear knitters prepare for the spring wholesale season",
    "text": (
        "Knitwear makers in Yishan, a town in Cangnan county known for knitted underwear, are restocking yarn and "
        "samples ahead of the spring wholesale season. Local managers said that more than two hundred knitting "
        "workshops had added circular knitting machines this year, and that orders for cotton-blend "
        "underwear had grown fastest. Several garment exporters said buyers now ask for smaller "
        "batches and quicker delivery, which suits the town's many small knitting mills."
    ),
}
MARATHON = {"title": "Nantong marathon draws runners", "text": "Thousands of runners took part in the city marathon along the river on Sunday morning. " * 4}


def test_tag_reads_json_lines_and_prints_the_pipeline_result(tmp_path):
    lines = "\n".join(json.dumps(x) for x in (YISHAN, MARATHON)) + "\n"
    result = CliRunner().invoke(main, ["tag", "--config", str(tmp_path / "none.toml")], input=lines)
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.output.strip().splitlines())
    assert first == tag_article(YISHAN["title"], YISHAN["text"]).as_json()
    assert first["relevant"] is True
    assert second["relevant"] is False and second["clusters"] == []


def test_tag_names_the_bad_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(YISHAN) + "\n[1, 2]\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["tag", str(path), "--config", str(tmp_path / "none.toml")])
    assert result.exit_code == 2
    assert f"{path}: line 2: not a JSON object" in result.output
    # A record whose text is not a string: the same one line, naming the key.
    path.write_text(json.dumps(YISHAN) + "\n" + json.dumps({"title": "x", "text": ["a", "b"]}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["tag", str(path), "--config", str(tmp_path / "none.toml")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{path}: line 2: not a JSON object with \"title\" and \"text\" ('text' is list, not a string)" in result.output


def test_retag_applies_clusters_added_in_the_config(tmp_path):
    config = tmp_path / "loomwatch.toml"
    config.write_text('[storage]\ndatabase = "archive.db"\n', encoding="utf-8")
    db = open_database(tmp_path / "archive.db")
    before = tag_article(YISHAN["title"], YISHAN["text"])
    assert "yishan" not in {c.id for c in before.clusters}
    with db.atomic():
        insert_article(db, {**YISHAN, "url": "http://x.example/a/1", "source": "s", "relevance": before.relevance, "relevant": int(before.relevant)},
                       clusters=[(c.id, c.score) for c in before.clusters])
    db.close()

    config.write_text(
        config.read_text()
        + '\n[[clusters]]\nid = "yishan"\nname = "Yishan"\nname_zh = "宜山"\nprovince = "Zhejiang"\ncity = "Wenzhou"\n'
        'specialty = ["knitted underwear"]\naliases = ["宜山镇"]\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["retag", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "re-tagged 1 articles; 1 changed" in result.output
    db = open_database(tmp_path / "archive.db")
    assert [r["cluster_id"] for r in db.query("SELECT cluster_id FROM article_clusters")] == ["yishan"]
    assert db.execute("SELECT name_zh FROM clusters WHERE id = 'yishan'").fetchone() == ("宜山",)
    again = CliRunner().invoke(main, ["retag", "--config", str(config)])
    assert "1 articles; 0 changed" in again.output


def test_retag_puts_newly_relevant_articles_into_stories_and_takes_off_topic_ones_out(tmp_path):
    config = tmp_path / "loomwatch.toml"
    config.write_text('[storage]\ndatabase = "archive.db"\n', encoding="utf-8")
    db = open_database(tmp_path / "archive.db")
    with db.atomic():  # stored by an older tagger that got both wrong
        textile = insert_article(db, {**YISHAN, "url": "http://x.example/a/1", "source": "s", "relevance": 0.1, "relevant": 0})
        marathon = insert_article(db, {**MARATHON, "url": "http://x.example/a/2", "source": "s", "relevance": 0.9, "relevant": 1})
    assert [r["story_id"] for r in db.query("SELECT story_id FROM articles ORDER BY id")] == [None, marathon]
    db.close()
    result = CliRunner().invoke(main, ["retag", "--config", str(config)])
    assert result.exit_code == 0, result.output
    db = open_database(tmp_path / "archive.db")
    assert [r["story_id"] for r in db.query("SELECT story_id FROM articles ORDER BY id")] == [textile, None]
    assert [r["id"] for r in db.query("SELECT id FROM stories")] == [textile]


def test_retag_brings_an_archive_tagged_by_an_older_tagger_up_to_date(tmp_path):
    """What an archive crawled before the offices and facilities rules, the Japanese
    vocabulary and the later clusters holds: a Japanese story stored off-topic, a meeting
    story tagged with a city hall's city, a fair story tagged with its airport's city, a
    Yangzhou plush-toy story with no tag, and a clusters table without the clusters added since."""
    config = tmp_path / "loomwatch.toml"
    config.write_text('[storage]\ndatabase = "archive.db"\n', encoding="utf-8")
    japanese = {"title": "虎門の衣料品市場", "text": "広東省の虎門ではアパレル企業が冬物の縫製を急いでいる。繊維製品の輸出も増えた。"}
    meeting = {
        "title": "Cluster meeting on fabric exports",
        "text": "Officials of the Ningbo city hall heard Keqiao fabric traders and Shengze weavers report on textile exports.",
    }
    fair = {"title": "Garment buyers arrive for the autumn fabric fair",
            "text": "Garment buyers landed at Nantong airport on Monday and checked in at the Nantong Hotel before the fabric fair opened."}
    toys = {"title": "扬州毛绒玩具出口增长", "text": "扬州的毛绒玩具企业今年出口增长，面料采购和缝纫工人的需求都在增加。"}
    db = open_database(tmp_path / "archive.db")
    with db.atomic():
        insert_article(db, {**japanese, "url": "http://x.example/ja/1", "source": "s", "relevance": 0.0, "relevant": 0}, clusters=[])
        insert_article(db, {**meeting, "url": "http://x.example/en/2", "source": "s", "relevance": 0.9, "relevant": 1},
                       clusters=[("ningbo", 0.4), ("keqiao", 0.6), ("shengze", 0.6)])
        insert_article(db, {**fair, "url": "http://x.example/en/3", "source": "s", "relevance": 0.9, "relevant": 1}, clusters=[("nantong", 0.5)])
        insert_article(db, {**toys, "url": "http://x.example/zh/4", "source": "s", "relevance": 0.8, "relevant": 1}, clusters=[])
        db.execute("DELETE FROM clusters WHERE id IN ('pinghu', 'yangxunqiao', 'yangzhou')")
    db.close()

    result = CliRunner().invoke(main, ["retag", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "re-tagged 4 articles; 4 changed" in result.output
    db = open_database(tmp_path / "archive.db")
    tags = {(r["url"], r["cluster_id"]) for r in db.query(
        "SELECT url, cluster_id FROM article_clusters JOIN articles ON articles.id = article_id")}
    assert tags == {("http://x.example/ja/1", "humen"), ("http://x.example/en/2", "keqiao"), ("http://x.example/en/2", "shengze"),
                    ("http://x.example/zh/4", "yangzhou")}
    assert db.execute("SELECT relevant FROM articles WHERE url = 'http://x.example/ja/1'").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM clusters WHERE id IN ('pinghu', 'yangxunqiao', 'yangzhou')").fetchone() == (3,)



def test_retag_waits_for_a_crawl_that_commits_while_a_batch_is_read(tmp_path, monkeypatch):
    # retag takes no crawl lock: a crawl commits a batch every few seconds meanwhile. A retag
    # batch that read before taking the write lock failed at its first write with a traceback
    # (database is locked: SQLITE_BUSY_SNAPSHOT) instead of waiting for the crawl's commit.
    import sqlite3
    import threading

    from loomwatch.crawler import retag

    config = tmp_path / "loomwatch.toml"
    config.write_text('[storage]\ndatabase = "archive.db"\n', encoding="utf-8")
    path = tmp_path / "archive.db"
    db = open_database(path)
    with db.atomic():  # stored off-topic by an older tagger: retag changes it
        insert_article(db, {**YISHAN, "url": "http://x.example/a/1", "source": "s", "relevance": 0.1, "relevant": 0})
    db.close()
    crawl_started = threading.Event()

    def crawl_commits() -> None:
        with sqlite3.connect(path, timeout=10) as conn:
            crawl_started.set()
            conn.execute("INSERT INTO crawl_runs (started, status) VALUES ('2026-11-23 08:00:00', 'running')")

    crawl = threading.Thread(target=crawl_commits)

    def when_retag_first_writes(sql: str) -> None:
        if sql.startswith("UPDATE articles") and not crawl.ident:
            crawl.start()
            crawl_started.wait()
            crawl.join(0.3)  # it commits now unless the batch holds the write lock

    def opened(*args, **kwargs):
        db = open_database(*args, **kwargs)
        db.conn.set_trace_callback(when_retag_first_writes)
        return db

    monkeypatch.setattr(retag, "open_database", opened)
    result = CliRunner().invoke(main, ["retag", "--config", str(config)])
    crawl.join()
    assert result.exit_code == 0, result.output
    assert "re-tagged 1 articles; 1 changed" in result.output
    db = open_database(path)
    assert db.execute("SELECT relevant FROM articles").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM crawl_runs").fetchone() == (1,)
    db.close()


def test_retag_reports_an_archive_it_cannot_write_in_one_line(tmp_path, monkeypatch):
    # Another program holds the write lock past [storage] busy_timeout once retag has opened
    # the archive (a full disk takes the same way): one line saying what to do, no traceback.
    import sqlite3

    from loomwatch.crawler import retag

    config = tmp_path / "loomwatch.toml"
    config.write_text('[storage]\ndatabase = "archive.db"\nbusy_timeout = 0.2\n', encoding="utf-8")
    path = tmp_path / "archive.db"
    db = open_database(path)
    with db.atomic():
        insert_article(db, {**YISHAN, "url": "http://x.example/a/1", "source": "s", "relevance": 0.1, "relevant": 0})
    db.close()
    other = sqlite3.connect(path, isolation_level=None)

    def opened(*args, **kwargs):
        db = open_database(*args, **kwargs)
        other.execute("BEGIN IMMEDIATE")  # an sqlite3 shell left in a transaction
        return db

    monkeypatch.setattr(retag, "open_database", opened)
    result = CliRunner().invoke(main, ["retag", "--config", str(config)])
    other.execute("ROLLBACK")
    other.close()
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"loomwatch: {path}: locked by another program for longer than 0.2 s") and "Traceback" not in result.output
    assert open_database(path).execute("SELECT relevant FROM articles").fetchone() == (0,)  # nothing half done
