"""loomwatch's Datasette plugin: Chinese-aware search, a cluster facet and links to originals.

`loomwatch serve` registers this module with Datasette's plugin manager; every hook that
touches data acts only on the database served under the name `ARCHIVE`, so other
databases in the same Datasette are left alone.

- Search: the index stores Chinese as character bigrams (loomwatch.storage.search), so the
  search box must rewrite queries the same way. Datasette's table search calls the SQL
  function `escape_fts(:search)`; this plugin redefines it on archive connections, and adds
  `lw_match(q)` (the same rewrite, for canned queries) and `lw_snippet(text, q)` (a plain
  excerpt around the first hit: FTS5's own snippet() would show bigrams).
- Read-only: every archive connection, including Datasette's write connection, is set to
  `query_only`, so nothing served can change the archive while crawls write to it.
- Clusters: tags live in `article_clusters`, not in a column, so the `tag` facet type
  and the `?_cluster=ID` filter join them for any table whose `id` is an article id.
- Links: `url` cells link to the original page; article ids in views and canned queries
  (`article_id`, `copy_of`, and `id`, `duplicate_of` in articles_view) to the archived row;
  `story_id` cells to the story's page (the `story` canned query: all its reports).
- Layout: a small stylesheet (datasette/archive.css) gives article texts room in tables.
- Feeds: the Atom feeds `loomwatch digest` writes (crawler/digest/feeds.py) at /-/feeds/NAME.xml,
  from the folder named by the plugin setting `feeds` (set by crawler/archive/serve.py), with a list
  of them at /-/feeds/.
- Article page: the row page of `articles` reads like an article (datasette/row-loomwatch-articles.html,
  filled by `extra_template_vars`): title, source, date, language, clusters, the story's other
  reports, the text in paragraphs and the link to the original; the columns stay one click away.
- Dashboard (crawler/archive/dashboard.py): `lw_html(text)` and `lw_urlencode(text)` for the charts'
  SQL, and the province outlines of its map served from the package
  (/-/loomwatch/china-provinces.geojson), so that nothing is loaded from the internet.
"""

from __future__ import annotations

import html
import re
import sqlite3
from importlib.resources import files
from typing import Any
from urllib.parse import quote

import markupsafe
from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.filters import FilterArguments
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args
from datasette.utils.asgi import Response

from loomwatch.storage.clock import utcnow
from loomwatch.storage.search import fts_query

ARCHIVE = "loomwatch"  # the name `loomwatch serve` gives the archive in Datasette's URLs
ARTICLE_TABLES = ("articles", "articles_view")  # tables whose `id` is an article id
_TERMS = re.compile(r'"([^"]+)"|(\S+)')
STYLESHEET = "/-/loomwatch.css"
PROVINCES = "/-/loomwatch/china-provinces.geojson"


def match_expression(query: str | None) -> str:
    return fts_query(query or "")


def snippet(text: str | None, query: str | None, width: int = 140) -> str:
    """About `width` characters of `text` around the first search term found in it."""
    if not text:
        return ""
    folded = text.casefold()
    hits = [folded.find(term.casefold()) for quoted, bare in _TERMS.findall(query or "") for term in [quoted or bare]]
    hits = [h for h in hits if h >= 0]
    start = max(0, min(hits) - width // 3) if hits else 0
    excerpt = " ".join(text[start : start + width].split())
    return ("…" if start else "") + excerpt + ("…" if start + width < len(text) else "")


@hookimpl(trylast=True)  # after Datasette's own prepare_connection, so this escape_fts wins
def prepare_connection(conn: sqlite3.Connection, database: str) -> None:
    if database != ARCHIVE:
        return
    conn.execute("PRAGMA query_only = 1")
    # In WAL mode readers rarely wait, but they do while a crawl checkpoints or after a crash
    # is recovered: wait briefly instead of failing the page.
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.create_function("escape_fts", 1, match_expression, deterministic=True)
    conn.create_function("lw_match", 1, match_expression, deterministic=True)
    conn.create_function("lw_snippet", 2, snippet, deterministic=True)
    conn.create_function("lw_html", 1, lambda text: html.escape(str(text)) if text is not None else None, deterministic=True)
    conn.create_function("lw_urlencode", 1, lambda text: quote(str(text or ""), safe=""), deterministic=True)
    # The time as loomwatch's own clock gives it (UTC, the archive's format), for the
    # dashboard's "today": SQLite's 'now' would ignore a clock moved in the tests.
    conn.create_function("lw_now", 0, utcnow)


@hookimpl
def render_cell(value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    if database != ARCHIVE or not isinstance(value, str | int) or value == "":
        return None
    if column == "url" and isinstance(value, str) and value.startswith(("http://", "https://")):
        shown = value.split("://", 1)[1]
        shown = shown if len(shown) <= 60 else shown[:38] + "…" + shown[-20:]
        return markupsafe.Markup('<a href="{}" rel="noopener noreferrer" title="open the original page">{}</a>').format(value, shown)
    if column in ("article_id", "copy_of") or (column in ("id", "duplicate_of") and table == "articles_view"):
        href = datasette.urls.row(ARCHIVE, "articles", str(value))
        return markupsafe.Markup('<a href="{}">{}</a>').format(href, value)
    if column == "story_id" and isinstance(value, int):
        href = datasette.urls.query(ARCHIVE, "story") + f"?id={value}"
        return markupsafe.Markup('<a href="{}" title="all reports of this story">{}</a>').format(href, value)
    return None


@hookimpl
def extra_css_urls() -> list[str]:
    return [STYLESHEET]


@hookimpl
def register_routes() -> list:
    async def stylesheet() -> Response:
        css = files("loomwatch.crawler.archive").joinpath("datasette/archive.css").read_text(encoding="utf-8")
        return Response(css, content_type="text/css; charset=utf-8", headers={"cache-control": "max-age=3600"})

    async def provinces() -> Response:
        outlines = files("loomwatch.crawler.archive").joinpath("datasette/china-provinces.geojson").read_text(encoding="utf-8")
        return Response(outlines, content_type="application/geo+json", headers={"cache-control": "max-age=86400"})

    return [(r"^/-/loomwatch\.css$", stylesheet), (rf"^{re.escape(PROVINCES)}$", provinces), (r"^/-/feeds/?$", feed_list),
            (r"^/-/feeds/(?P<name>[a-z0-9_-]+\.xml)$", feed)]


def _feeds_folder(datasette: Any) -> Any:
    from pathlib import Path

    folder = (datasette.plugin_config(ARCHIVE) or {}).get("feeds")
    return Path(folder) if folder else None


async def feed(request: Any, datasette: Any) -> Response:
    folder = _feeds_folder(datasette)
    name = request.url_vars["name"]
    path = folder / name if folder else None
    if path is None or not path.is_file():
        return Response.text(f"no feed {name} here: `loomwatch digest` writes the feeds (see /-/feeds/)", status=404)
    return Response(path.read_bytes(), content_type="application/atom+xml; charset=utf-8",
                    headers={"cache-control": "max-age=300"})


async def feed_list(datasette: Any) -> Response:
    folder = _feeds_folder(datasette)
    names = sorted(p.name for p in folder.glob("*.xml")) if folder and folder.is_dir() else []
    items = "".join(markupsafe.Markup('<li><a href="/-/feeds/{0}">{0}</a></li>').format(n) for n in names)
    body = (markupsafe.Markup("<!DOCTYPE html><html><head><meta charset='utf-8'><title>loomwatch feeds</title></head><body>"
                              "<h1>loomwatch Atom feeds</h1><p>Paste a link into a feed reader. `loomwatch digest` rewrites "
                              "them; crawls that store stories refresh them.</p><ul>{}</ul>{}</body></html>")
            .format(markupsafe.Markup(items), "" if names else markupsafe.Markup("<p>None yet: run <code>loomwatch digest</code>.</p>")))
    return Response.html(str(body))


ARTICLE_SQL = {
    "article": """SELECT id, title, source, lang, url, text, author, published, first_seen, story_id, duplicate_of, relevant,
                         coalesce(date(published), date(first_seen)) AS date FROM articles WHERE id = :id""",
    "clusters": """SELECT c.id, c.name, c.name_zh FROM article_clusters ac JOIN clusters c ON c.id = ac.cluster_id
                   WHERE ac.article_id = :id ORDER BY ac.score DESC, c.id""",
    "reports": """SELECT id, title, source, lang, url, duplicate_of, coalesce(date(published), date(first_seen)) AS date
                  FROM articles WHERE story_id = :story AND id <> :id ORDER BY first_seen, id LIMIT 100""",
}


async def article_page(datasette: Any, pks: str) -> dict[str, Any] | None:
    """What the article page shows, or None when `pks` names no article."""
    if not pks.isdigit():
        return None
    db = datasette.get_database(ARCHIVE)
    found = (await db.execute(ARTICLE_SQL["article"], {"id": int(pks)})).rows
    if not found:
        return None
    article = dict(found[0])
    params = {"id": article["id"], "story": article["story_id"]}
    article["clusters"] = [dict(r) for r in (await db.execute(ARTICLE_SQL["clusters"], params)).rows]
    article["reports"] = [dict(r) for r in (await db.execute(ARTICLE_SQL["reports"], params)).rows] if article["story_id"] else []
    article["paragraphs"] = [p.strip() for p in (article["text"] or "").splitlines() if p.strip()]
    article["host"] = article["url"].split("://", 1)[-1].split("/", 1)[0]
    return article


@hookimpl
def extra_template_vars(view_name: str, database: str | None, table: str | None, request: Any, datasette: Any) -> Any:
    if view_name != "row" or database != ARCHIVE or table != "articles" or request is None:
        return None

    async def article_vars() -> dict[str, Any]:
        return {"article": await article_page(datasette, request.url_vars.get("pks", ""))}

    return article_vars


@hookimpl
def filters_from_request(request: Any, database: str, table: str) -> FilterArguments | None:
    if database != ARCHIVE or table not in ARTICLE_TABLES:
        return None
    wanted = [v for v in request.args.getlist("_cluster") if v]
    if not wanted:
        return None
    return FilterArguments(
        [f"id IN (SELECT article_id FROM article_clusters WHERE cluster_id = :lw_cluster_{i})" for i in range(len(wanted))],
        {f"lw_cluster_{i}": value for i, value in enumerate(wanted)},
        [f'tagged with cluster "{value}"' for value in wanted],
    )


SEARCH_COLUMNS = ("title", "text")  # the columns of articles_fts


@hookimpl(specname="filters_from_request", trylast=True)  # last, so its supports_search wins
def search_filter(request: Any, database: str, table: str) -> FilterArguments | None:
    """The search box of the article tables: `?_search=` and `?_search_title=` / `_search_text=`.

    Datasette's own table search would write `id IN (fts matches) ORDER BY first_seen`, which
    SQLite runs by fetching and sorting every match: 2.5 s for a common word in a million
    articles. `+id` keeps the planner on the sort index, checking each row against the
    matches, and the first page comes back in about 0.1 s (benchmarks/bench_archive.py). So
    metadata names no fts_table for these tables, and this hook does the search.
    """
    if database != ARCHIVE or table not in ARTICLE_TABLES:
        return None
    where, params, described = [], {}, []
    shown = ""
    for key in request.args:
        if key != "_search" and not key.startswith("_search_"):
            continue
        column = "articles_fts" if key == "_search" else key.removeprefix("_search_")
        if column != "articles_fts" and column not in SEARCH_COLUMNS:
            continue
        value = request.args.get(key)
        if not value.strip():  # the form sends `_search=` when its box is cleared: no search, as in Datasette
            continue
        name = f"lw_search_{len(params)}"
        where.append(f"+id IN (SELECT rowid FROM articles_fts WHERE {column} MATCH escape_fts(:{name}))")
        params[name] = shown = value
        described.append(f'search matches "{value}"' if key == "_search" else f'search column "{column}" matches "{value}"')
    return FilterArguments(where, params, described, {"supports_search": True, "search": shown})


class ClusterFacet(Facet):
    """Counts of the rows per cluster tag: `{"tag": "id"}` in metadata, or `?_facet_tag=id`.

    Datasette shows it as "cluster (tag)": the type name is what the heading adds."""

    type = "tag"

    async def suggest(self) -> list:
        return []  # configured in metadata for the article tables; never offered elsewhere

    async def facet_results(self) -> tuple[list, list]:
        results: list[dict] = []
        timed_out: list[str] = []
        if self.database != ARCHIVE or self.table not in ARTICLE_TABLES:
            return results, timed_out
        size = self.get_facet_size()
        columns = await self.ds.get_database(self.database).table_columns(self.table)
        for config in self.get_configs():
            column = config["config"].get("column") or config["config"]["simple"]
            if column not in columns:  # `?_facet_tag=` is user input: only a real column name enters the SQL
                continue
            sql = (
                f"SELECT ac.cluster_id AS value, c.name AS name, c.name_zh AS name_zh, count(*) AS count "
                f"FROM ({self.sql}) AS t JOIN article_clusters ac ON ac.article_id = t.{escape_sqlite(column)} "
                f"LEFT JOIN clusters c ON c.id = ac.cluster_id GROUP BY ac.cluster_id ORDER BY count DESC, value LIMIT {size + 1}"
            )
            try:
                rows = await self.ds.execute(self.database, sql, self.params, truncate=False,
                                             custom_time_limit=self.ds.setting("facet_time_limit_ms"))
            except QueryInterrupted:
                timed_out.append("cluster")
                continue
            selected_now = {v for k, v in self.get_querystring_pairs() if k == "_cluster"}
            values = []
            for row in rows.rows[:size]:
                value = row["value"]
                selected = value in selected_now
                path = (path_with_removed_args if selected else path_with_added_args)(self.request, {"_cluster": value})
                label = " ".join(x for x in (row["name"], row["name_zh"]) if x) or value
                values.append({"value": value, "label": label, "count": row["count"], "selected": selected,
                               "toggle_url": self.ds.absolute_url(self.request, path)})
            results.append({
                "name": "cluster",
                "type": self.type,
                "results": values,
                "hideable": config["source"] != "metadata",
                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet_tag": column})),
                "truncated": len(rows.rows) > size,
            })
        return results, timed_out


@hookimpl
def register_facet_classes() -> list[type]:
    return [ClusterFacet]

