"""The analysts' archive: a real Datasette (and a real `loomwatch serve`) over a real archive.

The archive below is written through the storage API the crawl uses. Its stories are
invented for these tests; each Chinese one is built so that a search can hit it only
where the searched word really occurs (家 and 纺 both appear in the marathon story, never
side by side).
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner
from conftest import get, record_run

from loomwatch.crawler.archive.plugin import snippet
from loomwatch.crawler.archive.serve import (
    build_datasette,
    load_metadata,
    prepare_archive,
)
from loomwatch.crawler.cli import main
from loomwatch.pipelines.gazetteer import load_gazetteer
from loomwatch.storage import open_database
from loomwatch.storage.articles import insert_article, sync_clusters
from loomwatch.storage.runs import SourceResult

# key: (source, lang, published, title, text, clusters, duplicate of key)
STORIES: dict[str, tuple] = {
    "bedding_en": ("nantong-portal", "en", "2024-06-04", "Dieshiqiao market opens a bedding hall",
                   "Traders at the Dieshiqiao home textile market in Haimen moved into a new hall for quilts and bedding. "
                   "Buyers from Central Asia toured the stalls on the first morning.", ["dieshiqiao"], None),
    "bedding_zh": ("textile-index", "zh-cn", "2024-06-05", "叠石桥家纺城夏季订货会开幕",
                   "叠石桥家纺城夏季订货会今天开幕，两千多家家纺企业带来新款床品。采购商说今年的订单比去年多。", ["dieshiqiao"], None),
    "dyeing_zh": ("keqiao-gov", "zh-cn", "2024-06-11", "柯桥印染企业完成提标改造",
                  "柯桥区印染企业本月完成污水提标改造。中国轻纺城的面料商户表示，交货期更稳定了。", ["keqiao"], None),
    "dyeing_copy1": ("garment-blog", "zh-cn", "2024-06-12", "柯桥印染企业完成提标改造（转载）",
                     "转载：柯桥区印染企业本月完成污水提标改造。中国轻纺城的面料商户表示，交货期更稳定了。", ["keqiao"], "dyeing_zh"),
    "dyeing_copy2": ("textile-world", "zh-cn", "2024-06-13", "柯桥印染改造完成",
                     "柯桥区印染企业本月完成污水提标改造，中国轻纺城面料商户表示交货期更稳定。", ["keqiao"], "dyeing_zh"),
    "looms_en": ("textile-world", "en", "2024-06-18", "Shengze weavers add water-jet looms",
                 "Weaving mills in Shengze installed four hundred water-jet looms this spring to keep up with polyester orders.",
                 ["shengze"], None),
    "silk_zh": ("textile-index", "zh-cn", "2024-06-19", "盛泽丝绸企业走访印染园区",
                "盛泽镇的丝绸企业代表走访了新建的印染园区，了解集中供热和废水处理的安排。", ["shengze"], None),
    "denim_en": ("garment-blog", "en", "2024-06-20", "Humen fashion fair books more denim buyers",
                 "Organisers of the Humen garment fair said denim and knitwear buyers booked twice as many booths as last year.",
                 ["humen"], None),
    "market_zh": ("keqiao-gov", "zh-cn", "2024-06-06", "绍兴轻纺市场夏季行情",
                  "绍兴轻纺市场夏季行情平稳，化纤面料成交量小幅上升。", ["keqiao"], None),
    "marathon_zh": ("nantong-portal", "zh-cn", "2024-06-07", "南通马拉松周日开跑",
                    "大家好，本周日马拉松比赛期间部分道路封闭。专家说纺车博物馆照常开放。印刷厂和染料店停业一天。", [], None),
    "marathon_en": ("nantong-portal", "en", None, "City marathon closes roads on Sunday",
                    "Several roads in the city centre close on Sunday morning for the marathon. Buses will be diverted.", [], None),
}
STORY_OF = {"bedding_zh": "bedding_en"}  # a report of another story: the Chinese version of the English one
RUN_DAYS = ("2024-06-20", "2024-06-21")  # the two crawl runs; textile-world fails in the second


def build_archive(path: Path) -> dict[str, int]:
    """Write the test archive; returns each story's article id."""
    db = open_database(path)
    sync_clusters(db, load_gazetteer().rows())
    ids: dict[str, int] = {}
    with db.atomic():
        for key, (source, lang, published, title, text, clusters, copy_of) in STORIES.items():
            ids[key] = insert_article(db, {
                "url": f"https://{source}.example.com/{key}.html", "source": source, "lang": lang, "published": published,
                "title": title, "text": text, "first_seen": f"{published or '2024-06-21'} 09:{len(ids):02d}:00",
                "relevance": 0.9 if clusters else 0.05, "relevant": int(bool(clusters)),
                "duplicate_of": ids[copy_of] if copy_of else None,
                "story_id": ids[STORY_OF[key]] if key in STORY_OF else None,
            }, clusters=[(c, 1.0) for c in clusters])
    sources = [{"name": s, "start_urls": [f"https://{s}.example.com/"], "feeds": [], "sitemaps": []}
               for s in sorted({story[0] for story in STORIES.values()})]
    for day, failing in zip(RUN_DAYS, ("", "textile-world")):
        record_run(db, sources, day, [
            SourceResult(s["name"], status="failed" if s["name"] == failing else "ok", pages_fetched=5, article_links=3,
                         new_articles=2, errors=3 if s["name"] == failing else 0,
                         last_error="HTTP 503 at https://textile-world.example.com/" if s["name"] == failing else None)
            for s in sources
        ])
    db.close()
    return ids


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("archive") / "loomwatch.db"
    return path, build_archive(path)


@pytest.fixture
def fresh_archive(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """An archive of its own, for tests that write to it."""
    path = tmp_path / "loomwatch.db"
    return path, build_archive(path)


def rows(path: Path, url: str) -> list[dict]:
    return get(path, url + ("&" if "?" in url else "?") + "_shape=array")[0].json()


def titles_of(ids: dict[str, int], found: list[dict]) -> set[str]:
    by_id = {v: k for k, v in ids.items()}
    return {by_id[row["id"]] for row in found}


# --- search --------------------------------------------------------------------------------------


@pytest.mark.parametrize("query, expected", [
    ("家纺", {"bedding_zh"}),                               # 家 and 纺 also occur in marathon_zh, never adjacent
    ("印染", {"dyeing_zh", "dyeing_copy1", "dyeing_copy2", "silk_zh"}),  # 印 and 染 too
    ("丝绸", {"silk_zh"}),
    ("中国轻纺城", {"dyeing_zh", "dyeing_copy1", "dyeing_copy2"}),  # not market_zh, which has 轻纺 only
    ("轻纺", {"dyeing_zh", "dyeing_copy1", "dyeing_copy2", "market_zh"}),
    ("柯桥 印染", {"dyeing_zh", "dyeing_copy1", "dyeing_copy2"}),   # every term must occur
    ("looms", {"looms_en"}),
    ("Denim", {"denim_en"}),
    ("marathon", {"marathon_en"}),
    ('"water-jet looms"', {"looms_en"}),
    ("cotton", set()),
    ('unbalanced "quote', set()),                          # any input is a valid query, never an error
    ("丝绸%00", {"silk_zh"}),                                # a NUL byte ended FTS5's parse: 400 "unterminated string"
])
def test_table_search_finds_chinese_and_english_words(archive, query: str, expected: set[str]) -> None:
    path, ids = archive
    for table in ("articles", "articles_view"):
        found = rows(path, f"/loomwatch/{table}.json?_search={query}")
        assert titles_of(ids, found) == expected, (table, query)


def test_column_search_uses_the_same_rewrite(archive) -> None:
    path, ids = archive
    found = rows(path, "/loomwatch/articles.json?_search_title=印染&_col=title")
    assert titles_of(ids, found) == {"dyeing_zh", "dyeing_copy1", "dyeing_copy2", "silk_zh"}
    assert rows(path, "/loomwatch/articles.json?_search_title=中国轻纺城") == []  # only in texts


def test_an_emptied_search_box_shows_every_row(archive) -> None:
    # The search form sends `_search=` when its box is cleared: that is no search, not a search for nothing.
    path, ids = archive
    for table in ("articles", "articles_view"):
        assert titles_of(ids, rows(path, f"/loomwatch/{table}.json?_search=")) == set(STORIES), table
        assert titles_of(ids, rows(path, f"/loomwatch/{table}.json?_search_title=%20")) == set(STORIES), table


def test_search_box_and_query_are_shown_on_the_page(archive) -> None:
    path, _ = archive
    html = get(path, "/loomwatch/articles?_search=印染")[0].text
    assert 'name="_search"' in html and 'value="印染"' in html
    assert "4 rows where search matches" in html


# --- facets, sorting, links ----------------------------------------------------------------------


def test_articles_have_source_lang_cluster_and_relevant_facets(archive) -> None:
    path, _ = archive
    data = get(path, "/loomwatch/articles.json")[0].json()
    facets = data["facet_results"]
    assert set(facets) == {"source", "lang", "cluster", "relevant"}
    counts = lambda name: {r["value"]: r["count"] for r in facets[name]["results"]}  # noqa: E731
    assert counts("cluster") == {"keqiao": 4, "dieshiqiao": 2, "shengze": 2, "humen": 1}
    assert counts("lang") == {"zh-cn": 7, "en": 4}
    assert counts("relevant") == {1: 9, 0: 2}
    assert counts("source")["nantong-portal"] == 3
    keqiao = next(r for r in facets["cluster"]["results"] if r["value"] == "keqiao")
    assert keqiao["label"] == "Keqiao 柯桥"
    assert "_cluster=keqiao" in keqiao["toggle_url"]


def test_choosing_a_cluster_facet_filters_the_rows(archive) -> None:
    path, ids = archive
    for table in ("articles", "articles_view"):
        data = get(path, f"/loomwatch/{table}.json?_cluster=keqiao&_search=印染")[0].json()
        assert titles_of(ids, data["rows"] if isinstance(data["rows"][0], dict) else
                         [dict(zip(data["columns"], r)) for r in data["rows"]]) == {"dyeing_zh", "dyeing_copy1", "dyeing_copy2"}
        assert 'tagged with cluster "keqiao"' in data["human_description_en"]
        selected = {r["value"]: r["selected"] for r in data["facet_results"]["cluster"]["results"]}
        assert selected == {"keqiao": True}


def test_a_cluster_facet_on_a_column_from_the_url_cannot_reach_the_sql(archive) -> None:
    # `?_facet_tag=` is user input: its column was put into the facet's SQL as `t.[column]`.
    path, _ = archive
    crafted = "id] LEFT JOIN clusters c ON 0 UNION ALL SELECT name, sql, '', 1 FROM sqlite_master --"
    data = get(path, "/loomwatch/articles.json?_facet_tag=nosuch")[0].json()  # was a 400 "no such column"
    assert {r["value"] for r in data["facet_results"]["cluster"]["results"]} == {"keqiao", "dieshiqiao", "shengze", "humen"}
    page = get(path, f"/loomwatch/articles?_facet_tag={quote(crafted)}")[0].text
    assert "_sqlite_migrations" not in page  # the crafted column listed every table's schema as facet values


def test_articles_are_newest_first(archive) -> None:
    path, _ = archive
    stored = [r["first_seen"] for r in rows(path, "/loomwatch/articles.json?_col=first_seen")]
    assert stored == sorted(stored, reverse=True) and len(set(stored)) > 5
    dates = [r["date"] for r in rows(path, "/loomwatch/articles_view.json?_col=date")]
    assert dates == sorted(dates, reverse=True) and dates[0] == "2024-06-21"


def test_urls_link_to_the_original_and_ids_to_the_archived_row(archive) -> None:
    path, ids = archive
    table, view = (r.text for r in get(path, "/loomwatch/articles", "/loomwatch/articles_view"))
    link = '<a href="https://keqiao-gov.example.com/dyeing_zh.html" rel="noopener noreferrer"'
    assert link in table and link in view
    assert f'<a href="/loomwatch/articles/{ids["dyeing_zh"]}">{ids["dyeing_zh"]}</a>' in view  # duplicate_of of a copy
    duplicate = get(path, f"/loomwatch/articles?id={ids['dyeing_copy1']}")[0].text
    # duplicate_of shows the original's title (its label column), linked to the original's row
    assert f'<a href="/loomwatch/articles/{ids["dyeing_zh"]}">柯桥印染企业完成提标改造</a>' in duplicate


def test_archive_stylesheet_is_served_and_linked(archive) -> None:
    path, _ = archive
    page, css = get(path, "/loomwatch/articles", "/-/loomwatch.css")
    assert '<link rel="stylesheet" href="/-/loomwatch.css">' in page.text
    assert css.headers["content-type"].startswith("text/css") and "col-title" in css.text


# --- metadata ------------------------------------------------------------------------------------


def test_metadata_describes_the_instance_and_names_only_real_tables_and_columns(archive) -> None:
    path, _ = archive
    meta = load_metadata()
    assert meta["title"] and meta["source"] and meta["description_html"]
    served = get(path, "/-/metadata.json")[0].json()
    assert served["title"] == meta["title"]
    db = sqlite3.connect(path)
    for name, table in meta["databases"]["loomwatch"]["tables"].items():
        columns = {row[1] for row in db.execute(f"PRAGMA table_xinfo([{name}])")}
        if name.startswith(("dedup_", "coverage_", "_sqlite")) and not columns:
            continue  # hidden tables another migration may not have created
        assert columns, f"metadata describes {name}, which the archive does not have"
        assert set(table.get("columns", {})) <= columns, name
        for facet in table.get("facets", []):
            column = facet if isinstance(facet, str) else next(iter(facet.values()))
            assert column in columns, (name, facet)
        for key in ("sort", "sort_desc", "label_column", "fts_pk"):
            if key in table:
                assert table[key] in columns, (name, key)


def test_hidden_tables_are_not_listed(archive) -> None:
    path, _ = archive
    tables = {t["name"]: t["hidden"] for t in get(path, "/loomwatch.json")[0].json()["tables"]}
    assert tables["articles"] is False and tables["_sqlite_migrations"] is True and tables["coverage_tags"] is True
    views = {v["name"] for v in get(path, "/loomwatch.json")[0].json()["views"]}
    assert {"articles_view", "cluster_coverage_weekly", "source_health_daily"} <= views


# --- canned queries and views --------------------------------------------------------------------

CANNED: dict[str, tuple[str, object]] = {
    # query: (parameters, expected) where expected is a list of rows (subset of columns) or a check
    "stories_per_cluster_per_week": ("since=2024-06-10", [
        {"week": "2024-06-17", "cluster": "shengze", "stories": 2, "articles": 2, "sources": 2},
        {"week": "2024-06-17", "cluster": "humen", "stories": 1, "articles": 1, "sources": 1},
        {"week": "2024-06-10", "cluster": "keqiao", "stories": 1, "articles": 3, "sources": 3},
    ]),
    "coverage_chart": ("top=2", [  # ties at 2 stories are broken by cluster id; empty weeks are 0
        {"week": "2024-06-03", "cluster": "Keqiao 柯桥", "stories": 1},
        {"week": "2024-06-03", "cluster": "Shengze 盛泽", "stories": 0},
        {"week": "2024-06-10", "cluster": "Keqiao 柯桥", "stories": 1},
        {"week": "2024-06-10", "cluster": "Shengze 盛泽", "stories": 0},
        {"week": "2024-06-17", "cluster": "Keqiao 柯桥", "stories": 0},
        {"week": "2024-06-17", "cluster": "Shengze 盛泽", "stories": 2},
    ]),
    "latest_for_cluster": ("cluster=南通", [  # Nantong's stories are tagged with its town Dieshiqiao
        {"title": STORIES["bedding_en"][3], "clusters": "Dieshiqiao", "reports": 2, "story_id": 1},  # once, with its translation
    ]),
    "search_in_cluster": ("q=印染&cluster=Shengze&since=2024-06-01&until=2024-06-30", [
        {"title": STORIES["silk_zh"][3], "clusters": "Shengze", "copy_of": None},
    ]),
    "syndication_reach": ("min_copies=2", [
        {"title": STORIES["dyeing_zh"][3], "original_source": "keqiao-gov", "copies": 2, "copying_sources": 2,
         "copied_by": "garment-blog,textile-world"},
    ]),
    "copies_of_story": ("id=5", [
        {"role": "original", "source": "keqiao-gov"}, {"role": "copy", "source": "garment-blog"},
        {"role": "copy", "source": "textile-world"},
    ]),
    "stories_per_source": ("since=2024-06-06", [
        {"source": "garment-blog", "articles": 2, "stories": 2, "first_reports": 1, "copies": 1},
        {"source": "keqiao-gov", "articles": 2, "stories": 2, "first_reports": 2, "copies": 0},
        {"source": "textile-world", "articles": 2, "stories": 2, "first_reports": 1, "copies": 1},
        {"source": "textile-index", "articles": 1, "stories": 1, "first_reports": 1, "copies": 0},
        {"source": "nantong-portal", "articles": 2, "stories": 0, "first_reports": 0, "copies": 0},  # off-topic: no story
    ]),
    "most_reported_stories": ("", [
        {"title": STORIES["dyeing_zh"][3], "reports": 3, "languages": "zh-cn", "clusters": "Keqiao"},
        {"title": STORIES["bedding_en"][3], "reports": 2, "languages": "en, zh-cn", "sources": "nantong-portal, textile-index"},
    ] + [{"reports": 1}] * 4),
    "stories_in_both_languages": ("", [
        {"story_id": 1, "title": STORIES["bedding_en"][3], "reports": 2, "languages": "en, zh-cn"},
    ]),
    "story": ("id=2", [  # the id of any report finds its story
        {"role": "first report", "lang": "en", "source": "nantong-portal", "article_id": 1},
        {"role": "report", "lang": "zh-cn", "source": "textile-index", "article_id": 2},
    ]),
    "source_health": ("source=textile-world", [
        {"day": "2024-06-21", "runs": 1, "failed_runs": 1, "errors": 3,
         "last_error": "2024-06-21 02:00:00 HTTP 503 at https://textile-world.example.com/"},
        {"day": "2024-06-20", "runs": 1, "failed_runs": 0, "errors": 0, "last_error": None},
    ]),
}


def test_every_canned_query_is_tested_and_there_are_at_least_five() -> None:
    queries = load_metadata()["databases"]["loomwatch"]["queries"]
    assert set(queries) == set(CANNED) and len(queries) >= 5
    for name, query in queries.items():
        assert query["title"] and query["description_html"], name


@pytest.mark.parametrize("name", list(CANNED))
def test_canned_query_returns_the_expected_rows(archive, name: str) -> None:
    path, _ = archive
    params, expected = CANNED[name]
    found = rows(path, f"/loomwatch/{name}.json?{params}")
    assert [{k: row[k] for k in want} for row, want in zip(found, expected)] == expected
    assert len(found) == len(expected)


@pytest.mark.parametrize("name", list(CANNED))
def test_canned_query_runs_with_its_form_left_empty(archive, name: str) -> None:
    path, _ = archive
    page = get(path, f"/loomwatch/{name}")[0].text
    assert "<form" in page and load_metadata()["databases"]["loomwatch"]["queries"][name]["title"] in page
    # queries that narrow nothing when left empty answer at once; the others wait for their parameter
    answers = 'class="rows-and-columns"' in page
    assert answers == (name not in ("latest_for_cluster", "copies_of_story", "story")), name


def test_canned_queries_take_other_spellings_of_a_cluster(archive) -> None:
    path, _ = archive
    for cluster in ("keqiao", "Keqiao", "柯桥", " KEQIAO "):
        found = rows(path, f"/loomwatch/latest_for_cluster.json?cluster={cluster}")
        assert [r["title"] for r in found] == [STORIES["dyeing_zh"][3], STORIES["market_zh"][3]], cluster
        assert found[0]["reports"] == 3


def test_search_query_shows_a_readable_excerpt(archive) -> None:
    path, _ = archive
    found = rows(path, "/loomwatch/search_in_cluster.json?q=looms")
    assert len(found) == 1 and "water-jet looms" in found[0]["excerpt"]
    assert all("印染" in r["excerpt"] for r in rows(path, "/loomwatch/search_in_cluster.json?q=印染"))


def test_articles_view_joins_cluster_names_and_copy_counts(archive) -> None:
    path, ids = archive
    found = {r["id"]: r for r in rows(path, "/loomwatch/articles_view.json?_size=max")}
    assert found[ids["dyeing_zh"]]["clusters"] == "Keqiao" and found[ids["dyeing_zh"]]["copies"] == 2
    assert found[ids["dyeing_copy1"]]["duplicate_of"] == ids["dyeing_zh"]
    assert found[ids["marathon_en"]]["clusters"] is None and found[ids["marathon_en"]]["date"] == "2024-06-21"


def test_stories_view_lists_each_story_once_and_links_its_page(archive) -> None:
    path, ids = archive
    found = rows(path, "/loomwatch/stories_view.json?_size=max")
    assert len(found) == 6 and len({r["story_id"] for r in found}) == 6  # the relevant stories; off-topic ones have none
    bedding = next(r for r in found if r["story_id"] == ids["bedding_en"])
    assert (bedding["reports"], bedding["languages"], bedding["clusters"]) == (2, "en, zh-cn", "Dieshiqiao")
    page = get(path, "/loomwatch/stories_view")[0].text
    assert f'href="/loomwatch/story?id={ids["bedding_en"]}"' in page  # every story_id opens the story's page
    view = {r["id"]: r for r in rows(path, "/loomwatch/articles_view.json?_size=max")}
    assert view[ids["bedding_zh"]]["story_id"] == ids["bedding_en"] and view[ids["bedding_zh"]]["story_reports"] == 2
    assert view[ids["marathon_en"]]["story_id"] is None


def test_weekly_coverage_and_daily_source_health_views(archive) -> None:
    path, _ = archive
    weeks = rows(path, "/loomwatch/cluster_coverage_weekly.json?cluster=keqiao")
    assert {(r["week"], r["stories"], r["articles"]) for r in weeks} == {("2024-06-03", 1, 1), ("2024-06-10", 1, 3)}
    health = rows(path, "/loomwatch/source_health_daily.json?day=2024-06-21")
    assert len(health) == 5 and sum(r["failed_runs"] for r in health) == 1


# --- read-only, and crawls keep writing -----------------------------------------------------------


def test_nothing_served_can_write_to_the_archive(fresh_archive) -> None:
    path, _ = fresh_archive

    async def attempt() -> tuple[Exception | None, int]:
        ds = build_datasette(path)
        await ds.invoke_startup()
        blocked = await ds.client.get("/loomwatch.json?sql=DELETE FROM articles")
        assert blocked.status_code == 400
        try:
            await ds.get_database("loomwatch").execute_write("DELETE FROM articles")
        except sqlite3.OperationalError as exc:
            return exc, blocked.status_code
        return None, blocked.status_code

    error, _ = asyncio.run(attempt())
    assert error is not None and "readonly" in str(error).replace(" ", "").lower()
    assert sqlite3.connect(path).execute("SELECT count(*) FROM articles").fetchone()[0] == len(STORIES)


def test_a_crawl_can_write_while_datasette_reads_and_datasette_sees_it(fresh_archive) -> None:
    path, _ = fresh_archive

    def write_article() -> None:
        writer = open_database(path)
        writer.execute("PRAGMA busy_timeout = 0")  # fail at once instead of waiting if anything held a lock
        with writer.atomic():
            insert_article(writer, {"url": "https://late.example.com/1.html", "source": "late", "lang": "zh-cn",
                                    "title": "海门家纺新品发布", "text": "海门家纺企业发布了秋季新品。"}, clusters=[("haimen", 1.0)])
        writer.close()

    def inside_a_read_transaction(conn: sqlite3.Connection) -> tuple[int, int]:
        conn.execute("BEGIN")
        before = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        write_article()  # while Datasette's connection holds a read snapshot
        during = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        conn.execute("COMMIT")
        return before, during

    async def scenario() -> tuple[tuple[int, int], list[dict]]:
        ds = build_datasette(path)
        await ds.invoke_startup()
        assert len((await ds.client.get("/loomwatch/articles.json?_search=家纺&_shape=array")).json()) == 1
        counts = await ds.get_database("loomwatch").execute_fn(inside_a_read_transaction)
        after = (await ds.client.get("/loomwatch/articles.json?_search=家纺&_shape=array&_col=title")).json()
        return counts, after

    (before, during), after = asyncio.run(scenario())
    assert before == during == len(STORIES)  # the snapshot was not disturbed
    assert {r["title"] for r in after} == {"叠石桥家纺城夏季订货会开幕", "海门家纺新品发布"}


def test_an_archive_from_before_the_views_gets_them_when_served(fresh_archive) -> None:
    path, _ = fresh_archive
    db = sqlite3.connect(path)
    for view in ("articles_view", "cluster_coverage_weekly", "source_health_daily"):
        db.execute(f"DROP VIEW {view}")
    assert db.execute("DELETE FROM _sqlite_migrations WHERE name LIKE '%\\_archive\\_views' ESCAPE '\\'").rowcount == 1
    db.commit()
    db.close()
    prepare_archive(path)
    assert rows(path, "/loomwatch/stories_per_cluster_per_week.json")
    before = path.stat().st_mtime_ns
    prepare_archive(path)  # nothing pending: nothing written
    assert path.stat().st_mtime_ns == before


# --- the command ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(directory: Path, database: Path) -> Path:
    config = directory / "loomwatch.toml"
    config.write_text(f'[storage]\ndatabase = "{database}"\n', encoding="utf-8")
    return config


def test_loomwatch_serve_answers_over_http(archive, tmp_path: Path) -> None:
    path, ids = archive
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "loomwatch.crawler", "serve", "--config", str(write_config(tmp_path, path)),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                response = httpx.get(f"{base}/loomwatch/articles.json", params={"_search": "印染", "_shape": "array"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "loomwatch serve did not answer within 30 s"
                time.sleep(0.2)
        assert titles_of(ids, response.json()) == {"dyeing_zh", "dyeing_copy1", "dyeing_copy2", "silk_zh"}
        page = httpx.get(f"{base}/-/dashboards/overview")
        assert page.status_code == 200 and "Textile clusters at a glance" in page.text
        scripts = [part.split('"', 1)[0] for part in page.text.split('<script src="')[1:]]
        assert any(s.endswith("/vega-lite.min.js") for s in scripts)  # the charts' libraries, served locally
        for script in scripts:
            assert script.startswith("/") and httpx.get(base + script).status_code == 200, script
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert f"read-only at http://127.0.0.1:{port}/loomwatch" in proc.stderr.read()


def test_serve_explains_a_missing_archive_a_busy_port_and_a_foreign_file(archive, tmp_path: Path) -> None:
    path, _ = archive
    runner = CliRunner()
    missing = runner.invoke(main, ["serve", "--config", str(write_config(tmp_path, tmp_path / "none.db"))])
    assert missing.exit_code == 2
    assert f"{tmp_path / 'none.db'}: no archive there yet; run `loomwatch crawl`" in missing.output
    foreign = tmp_path / "other.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    result = runner.invoke(main, ["serve", "--config", str(write_config(tmp_path, foreign))])
    assert result.exit_code == 2 and "an SQLite database of another program, not a loomwatch archive (its tables: t)" in result.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(main, ["serve", "--config", str(write_config(tmp_path, path)), "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "pass another --port" in result.output


# --- pieces --------------------------------------------------------------------------------------


def test_snippet_shows_the_first_hit_in_context() -> None:
    text = "开头" * 100 + "柯桥印染企业完成改造" + "结尾" * 100
    excerpt = snippet(text, "印染")
    assert "印染" in excerpt and excerpt.startswith("…") and excerpt.endswith("…") and len(excerpt) <= 142
    assert snippet("Short text about looms.", "LOOMS") == "Short text about looms."
    assert snippet(None, "x") == ""


def test_docs_describe_every_canned_query_and_view() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "archive.md").read_text(encoding="utf-8")
    for name in [*load_metadata()["databases"]["loomwatch"]["queries"], "articles_view", "cluster_coverage_weekly",
                 "source_health_daily", "loomwatch serve"]:
        assert f"`{name}`" in docs or f"`{name} " in docs, name


# --- screenshots (Chromium) ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.chromium
def test_screenshots_show_the_pages_and_the_charts_draw_offline(archive, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("screenshot_archive", Path(__file__).parent.parent / "scripts" / "screenshot_archive.py")
    shots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shots)
    binary = shots.chromium()
    if not binary:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    report = shots.take_screenshots(archive[0], tmp_path, binary)
    assert set(report) == set(shots.PAGES)
    for name, result in report.items():
        png = result["png"].read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000, name  # a blank page compresses to a few kB
        assert result["outside_hosts"] == [], name  # nothing but 127.0.0.1 was asked for: no CDN, no map tiles
    for name in ("dashboard", "dashboard-narrow"):
        dom = report[name]["dom"]
        assert report[name]["charts_drawn"] == shots.VEGA_CHARTS, name
        # the tables are filled by the page's scripts: the latest stories, and textile-world's failed run in source health
        assert STORIES["denim_en"][3] in dom and "1 of 2" in dom, name
    assert STORIES["bedding_en"][3] in report["article"]["dom"]
