"""The archive's schema, changed only through named migrations (recorded in the database).

Publication dates are stored as `YYYY-MM-DD` as printed by the source; times as
loomwatch.storage.clock writes them.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

from loomwatch.storage.archive import MIGRATION_SET
from loomwatch.storage.articles import index_for_search, iter_articles
from loomwatch.storage.stories import rebuild

migrations = Migrations(MIGRATION_SET)


@migrations(name="0001_initial")
def _initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            title TEXT,
            text TEXT NOT NULL,
            published TEXT,
            first_seen TEXT NOT NULL,
            lang TEXT,
            author TEXT,
            relevance REAL,
            relevant INTEGER,
            duplicate_of INTEGER REFERENCES articles(id),
            content_hash TEXT NOT NULL,
            run_id INTEGER
        );
        CREATE INDEX articles_source ON articles(source, first_seen);
        CREATE INDEX articles_first_seen ON articles(first_seen);
        CREATE INDEX articles_published ON articles(published);
        CREATE INDEX articles_content_hash ON articles(content_hash);
        CREATE INDEX articles_duplicate_of ON articles(duplicate_of);

        -- Every URL an article was reached under (as requested, after redirects, rel=canonical),
        -- so that none of them is requested again.
        CREATE TABLE article_urls (
            url TEXT PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id)
        ) WITHOUT ROWID;

        -- Article-shaped pages that gave no article: not HTML, too large, no text.
        CREATE TABLE skipped_pages (
            url TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1
        );

        CREATE TABLE clusters (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            name_zh TEXT,
            province TEXT,
            city TEXT,
            specialty TEXT,
            aliases TEXT,
            parent TEXT
        );

        CREATE TABLE article_clusters (
            article_id INTEGER NOT NULL REFERENCES articles(id),
            cluster_id TEXT NOT NULL,
            score REAL NOT NULL,
            PRIMARY KEY (article_id, cluster_id)
        );
        CREATE INDEX article_clusters_cluster ON article_clusters(cluster_id, article_id);

        CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            start_urls TEXT,
            feeds TEXT,
            sitemaps TEXT,
            first_run_at TEXT,
            last_run_id INTEGER,
            last_run_at TEXT,
            last_status TEXT,
            last_success_at TEXT,
            last_error TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            consecutive_empty INTEGER NOT NULL DEFAULT 0,
            ever_found_links INTEGER NOT NULL DEFAULT 0,
            health TEXT,
            health_reason TEXT
        );

        CREATE TABLE crawl_runs (
            id INTEGER PRIMARY KEY,
            started TEXT NOT NULL,
            finished TEXT,
            status TEXT NOT NULL,           -- running, ok, partial, failed, killed
            pid INTEGER,
            sources TEXT,                   -- JSON list of source names in this run
            pages_fetched INTEGER,
            new_articles INTEGER,
            errors INTEGER,
            message TEXT
        );

        CREATE TABLE source_runs (
            run_id INTEGER NOT NULL REFERENCES crawl_runs(id),
            source TEXT NOT NULL,
            status TEXT NOT NULL,           -- ok, failed (no start URL, feed or sitemap could be read)
            pages_fetched INTEGER NOT NULL DEFAULT 0,
            article_links INTEGER NOT NULL DEFAULT 0,
            new_articles INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            no_text INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            PRIMARY KEY (run_id, source)
        );

        CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            created TEXT NOT NULL,
            status TEXT NOT NULL,           -- rendered, sent, failed
            sent TEXT,
            recipients TEXT,
            article_ids TEXT,
            subject TEXT,
            message_id TEXT,
            error TEXT
        );

        -- Chinese is indexed as character bigrams: see loomwatch.storage.search.
        CREATE VIRTUAL TABLE articles_fts USING fts5(title, text, tokenize = 'unicode61 remove_diacritics 2');
        """
    )


@migrations(name="0002_digest_window")
def _digest_window(db: sqlite_utils.Database) -> None:
    # A digest's bounds as article ids (see loomwatch.storage.digests): what is new is
    # after_article_id < id <= last_article_id. kind is `new` (since the last digest) or
    # `day` (one calendar day, --date); files are the .html/.txt/.eml written for it.
    # One statement at a time: executescript() would commit the migration's transaction.
    for statement in (
        "ALTER TABLE digests ADD COLUMN kind TEXT NOT NULL DEFAULT 'new'",
        "ALTER TABLE digests ADD COLUMN after_article_id INTEGER",
        "ALTER TABLE digests ADD COLUMN last_article_id INTEGER",
        "ALTER TABLE digests ADD COLUMN files TEXT",
        "CREATE INDEX digests_kind_status ON digests(kind, status, id)",
    ):
        db.execute(statement)


@migrations(name="0003_dedup")
def _dedup(db: sqlite_utils.Database) -> None:
    # The near-duplicate index of loomwatch.pipelines.dedup. Per article: a 256-byte
    # MinHash signature, and one (band key, article) row per LSH band (17 at the default
    # threshold). The band parameters in use are recorded in dedup_params, so that a
    # changed [dedup] threshold rebuilds dedup_bands from the stored signatures.
    for statement in (
        """CREATE TABLE dedup_signatures (
            article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
            signature BLOB NOT NULL
        )""",
        """CREATE TABLE dedup_bands (
            band_key INTEGER NOT NULL,
            article_id INTEGER NOT NULL,
            PRIMARY KEY (band_key, article_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE dedup_params (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            scheme TEXT NOT NULL,
            num_perm INTEGER NOT NULL,
            bands INTEGER NOT NULL,
            rows INTEGER NOT NULL,
            threshold REAL NOT NULL
        )""",
    ):
        db.execute(statement)


def _articles_view(more_columns: str = "") -> str:
    """articles_view as 0004 created it, with `more_columns` (SQL ending in a comma) before first_seen."""
    return f"""CREATE VIEW articles_view AS
        SELECT
            a.id,
            coalesce(date(a.published), date(a.first_seen)) AS date,
            a.title,
            a.url,
            a.source,
            a.lang,
            (SELECT group_concat(name, ', ') FROM (
                SELECT coalesce(c.name, ac.cluster_id) AS name FROM article_clusters ac
                LEFT JOIN clusters c ON c.id = ac.cluster_id
                WHERE ac.article_id = a.id ORDER BY ac.score DESC
            )) AS clusters,
            a.relevance,
            a.relevant,
            a.duplicate_of,
            (SELECT count(*) FROM articles d WHERE d.duplicate_of = a.id) AS copies,{more_columns}
            a.first_seen
        FROM articles a"""


@migrations(name="0004_archive_views")
def _archive_views(db: sqlite_utils.Database) -> None:
    # Views for analysts in Datasette (loomwatch serve; docs/archive.md). A story's date is
    # its publication date, or the day it was first stored when the source printed none;
    # weeks start on Monday. A "story" is an original: its copies (duplicate_of) count once.
    for statement in (
        _articles_view(),
        """CREATE VIEW cluster_coverage_weekly AS
        SELECT
            date(coalesce(date(a.published), date(a.first_seen)), 'weekday 0', '-6 days') AS week,
            ac.cluster_id AS cluster,
            c.name AS cluster_name,
            c.name_zh AS cluster_name_zh,
            count(DISTINCT coalesce(a.duplicate_of, a.id)) AS stories,
            count(*) AS articles,
            count(DISTINCT a.source) AS sources
        FROM article_clusters ac
        JOIN articles a ON a.id = ac.article_id
        LEFT JOIN clusters c ON c.id = ac.cluster_id
        GROUP BY week, ac.cluster_id""",
        # Days are UTC, as crawl times are stored; last_error is the day's latest, prefixed with its run's start.
        """CREATE VIEW source_health_daily AS
        SELECT
            date(r.started) AS day,
            s.source,
            count(*) AS runs,
            sum(s.status = 'ok') AS ok_runs,
            sum(s.status <> 'ok') AS failed_runs,
            sum(s.pages_fetched) AS pages_fetched,
            sum(s.article_links) AS article_links,
            sum(s.new_articles) AS new_articles,
            sum(s.duplicates) AS duplicates,
            sum(s.no_text) AS no_text,
            sum(s.errors) AS errors,
            max(CASE WHEN s.last_error IS NOT NULL THEN r.started || ' ' || s.last_error END) AS last_error
        FROM source_runs s
        JOIN crawl_runs r ON r.id = s.run_id
        GROUP BY day, s.source""",
    ):
        db.execute(statement)


@migrations(name="0005_archive_indexes")
def _archive_indexes(db: sqlite_utils.Database) -> None:
    # Indexes for the analysts' views and canned queries at a million articles (measured by
    # benchmarks/bench_archive.py). A row's dates and flags are stored after its text, so
    # reading them from the table walks the text's overflow pages: these covering indexes
    # hold what the queries read. articles_date serves "ORDER BY date DESC ... LIMIT" (its
    # expression is the views' `date` column, which the planner must see verbatim).
    # articles_copies replaces articles_duplicate_of, of which it is an extension.
    for statement in (
        "CREATE INDEX articles_date ON articles(coalesce(date(published), date(first_seen)), id)",
        "CREATE INDEX articles_facts ON articles(id, published, first_seen, duplicate_of, source, relevant)",
        "CREATE INDEX articles_source_facts ON articles(source, published, first_seen, duplicate_of, relevant)",
        "CREATE INDEX articles_copies ON articles(duplicate_of, source, first_seen)",
        "DROP INDEX articles_duplicate_of",
        # Same view as in 0004, but joining through articles_facts: the planner prefers the
        # rowid lookup, which reads past each text; the covering index halves the time.
        "DROP VIEW cluster_coverage_weekly",
        """CREATE VIEW cluster_coverage_weekly AS
        SELECT
            date(coalesce(date(a.published), date(a.first_seen)), 'weekday 0', '-6 days') AS week,
            ac.cluster_id AS cluster,
            c.name AS cluster_name,
            c.name_zh AS cluster_name_zh,
            count(DISTINCT coalesce(a.duplicate_of, a.id)) AS stories,
            count(*) AS articles,
            count(DISTINCT a.source) AS sources
        FROM article_clusters ac
        JOIN articles a INDEXED BY articles_facts ON a.id = ac.article_id
        LEFT JOIN clusters c ON c.id = ac.cluster_id
        GROUP BY week, ac.cluster_id""",
    ):
        db.execute(statement)


_WEEK = "date(coalesce(date(a.published), date(a.first_seen)), 'weekday 0', '-6 days')"


def _coverage_tag_added(story: str) -> str:
    """The trigger that counts a new cluster tag into coverage_weekly; `story` is the SQL
    expression of the tagged article's story (over `a`, its articles row)."""
    return f"""CREATE TRIGGER coverage_tag_added AFTER INSERT ON article_clusters BEGIN
            INSERT INTO coverage_tags (article_id, cluster_id, week, story_id, source)
            SELECT a.id, NEW.cluster_id, {_WEEK}, {story}, a.source
            FROM articles a WHERE a.id = NEW.article_id;
            INSERT INTO coverage_weekly (week, cluster_id, stories, articles, sources)
            SELECT t.week, t.cluster_id,
                NOT EXISTS (SELECT 1 FROM coverage_tags o WHERE o.week = t.week AND o.cluster_id = t.cluster_id
                            AND o.story_id = t.story_id AND o.article_id <> t.article_id),
                1,
                NOT EXISTS (SELECT 1 FROM coverage_tags o WHERE o.week = t.week AND o.cluster_id = t.cluster_id
                            AND o.source = t.source AND o.article_id <> t.article_id)
            FROM coverage_tags t WHERE t.article_id = NEW.article_id AND t.cluster_id = NEW.cluster_id
            ON CONFLICT (week, cluster_id) DO UPDATE SET
                stories = stories + excluded.stories, articles = articles + 1, sources = sources + excluded.sources;
        END"""


@migrations(name="0006_coverage_weekly")
def _coverage_weekly(db: sqlite_utils.Database) -> None:
    # Weekly coverage kept up to date by triggers, so that the coverage view and charts
    # read ~100 rows per week instead of aggregating every cluster tag of the archive
    # (3 s at a million articles; benchmarks/bench_archive.py). coverage_tags holds each
    # tag with what the counts need (its article's week, story and source; both are fixed
    # once an article is stored); coverage_weekly holds the counts, changed by one when a
    # tag comes or goes. The triggers run in the writer's transaction, whoever writes
    # article_clusters, so the counts can never disagree with the tags.
    week = "date(coalesce(date(a.published), date(a.first_seen)), 'weekday 0', '-6 days')"
    for statement in (
        """CREATE TABLE coverage_tags (
            article_id INTEGER NOT NULL,
            cluster_id TEXT NOT NULL,
            week TEXT NOT NULL,
            story_id INTEGER NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (article_id, cluster_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX coverage_tags_story ON coverage_tags(week, cluster_id, story_id)",
        "CREATE INDEX coverage_tags_source ON coverage_tags(week, cluster_id, source)",
        """CREATE TABLE coverage_weekly (
            week TEXT NOT NULL,
            cluster_id TEXT NOT NULL,
            stories INTEGER NOT NULL,
            articles INTEGER NOT NULL,
            sources INTEGER NOT NULL,
            PRIMARY KEY (week, cluster_id)
        ) WITHOUT ROWID""",
        f"""INSERT INTO coverage_tags (article_id, cluster_id, week, story_id, source)
        SELECT a.id, ac.cluster_id, {week}, coalesce(a.duplicate_of, a.id), a.source
        FROM article_clusters ac JOIN articles a INDEXED BY articles_facts ON a.id = ac.article_id""",
        """INSERT INTO coverage_weekly (week, cluster_id, stories, articles, sources)
        SELECT week, cluster_id, count(DISTINCT story_id), count(*), count(DISTINCT source)
        FROM coverage_tags GROUP BY week, cluster_id""",
        # A new tag adds a story (a source) unless the week's cluster already had another tag
        # of that story (of that source); a removed tag takes one away likewise.
        _coverage_tag_added("coalesce(a.duplicate_of, a.id)"),
        """CREATE TRIGGER coverage_tag_removed AFTER DELETE ON article_clusters BEGIN
            UPDATE coverage_weekly SET
                stories = stories - NOT EXISTS (SELECT 1 FROM coverage_tags o WHERE o.week = t.week AND o.cluster_id = t.cluster_id
                                                AND o.story_id = t.story_id AND o.article_id <> t.article_id),
                articles = articles - 1,
                sources = sources - NOT EXISTS (SELECT 1 FROM coverage_tags o WHERE o.week = t.week AND o.cluster_id = t.cluster_id
                                                AND o.source = t.source AND o.article_id <> t.article_id)
            FROM (SELECT * FROM coverage_tags WHERE article_id = OLD.article_id AND cluster_id = OLD.cluster_id) AS t
            WHERE coverage_weekly.week = t.week AND coverage_weekly.cluster_id = t.cluster_id;
            DELETE FROM coverage_weekly WHERE cluster_id = OLD.cluster_id AND articles = 0;
            DELETE FROM coverage_tags WHERE article_id = OLD.article_id AND cluster_id = OLD.cluster_id;
        END""",
        "DROP VIEW cluster_coverage_weekly",
        """CREATE VIEW cluster_coverage_weekly AS
        SELECT w.week, w.cluster_id AS cluster, c.name AS cluster_name, c.name_zh AS cluster_name_zh,
               w.stories, w.articles, w.sources
        FROM coverage_weekly w
        LEFT JOIN clusters c ON c.id = w.cluster_id""",
    ):
        db.execute(statement)


@migrations(name="0007_contentless_fts")
def _contentless_fts(db: sqlite_utils.Database) -> None:
    # The search index kept its own copy of every title and text (with Chinese written out
    # as bigrams): 6 of the 13.8 GB of a million-article archive. Searches only ask it for
    # article ids (`rowid IN (... MATCH ...)`; excerpts come from articles.text), so it
    # keeps the index alone now. Articles are never deleted or rewritten, which is what a
    # contentless table could not follow by itself. The old table goes first and the new
    # index is built from the articles, so the new index takes the freed pages instead of
    # growing the file; the rest of the freed space is reused as the archive grows, or
    # given back with `sqlite-utils vacuum`.
    db.execute("DROP TABLE articles_fts")
    db.execute("CREATE VIRTUAL TABLE articles_fts USING fts5(title, text, content = '', tokenize = 'unicode61 remove_diacritics 2')")
    for rows in iter_articles(db, batch=2000, columns="id, title, text"):
        index_for_search(db, [(row["id"], row["title"], row["text"]) for row in rows])


@migrations(name="0008_stories")
def _stories(db: sqlite_utils.Database) -> None:
    # The story layer (loomwatch.storage.stories): every relevant article belongs to one
    # story, led by its first-seen article, whose id the story takes. An existing archive's
    # stories are its originals with their copies (duplicate_of); a relevant copy of an
    # off-topic original leads a story of its own copies. The weekly coverage counts then
    # key stories by story_id (the same values as before for every stored article).
    for statement in (
        """CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            lead_article_id INTEGER NOT NULL REFERENCES articles(id),
            first_seen TEXT NOT NULL,       -- when its first report was stored (UTC)
            last_seen TEXT NOT NULL,        -- when its latest report was stored (UTC)
            reports INTEGER NOT NULL,       -- articles in the story, copies included
            languages TEXT NOT NULL,        -- JSON list of its reports' languages
            sources TEXT NOT NULL           -- JSON list of its reports' sources
        )""",
        "CREATE UNIQUE INDEX stories_lead ON stories(lead_article_id)",
        "CREATE INDEX stories_first_seen ON stories(first_seen)",
        "ALTER TABLE articles ADD COLUMN story_id INTEGER",
        "UPDATE articles SET story_id = id WHERE duplicate_of IS NULL AND relevant = 1",
        """UPDATE articles SET story_id = o.story_id FROM articles o
           WHERE o.id = articles.duplicate_of AND o.story_id IS NOT NULL""",
        """UPDATE articles SET story_id = (SELECT min(b.id) FROM articles b
                                          WHERE b.duplicate_of = articles.duplicate_of AND b.relevant = 1)
           WHERE story_id IS NULL AND duplicate_of IS NOT NULL AND relevant = 1""",
        "CREATE INDEX articles_story ON articles(story_id, id)",
        "UPDATE coverage_tags SET story_id = coalesce((SELECT story_id FROM articles a WHERE a.id = coverage_tags.article_id), article_id)",
        "DELETE FROM coverage_weekly",
        """INSERT INTO coverage_weekly (week, cluster_id, stories, articles, sources)
           SELECT week, cluster_id, count(DISTINCT story_id), count(*), count(DISTINCT source)
           FROM coverage_tags GROUP BY week, cluster_id""",
        "DROP TRIGGER coverage_tag_added",
    ):
        db.execute(statement)
    rebuild(db)
    # As in 0006, with the story taken from story_id: insert_article sets it before the tags.
    db.execute(_coverage_tag_added("coalesce(a.story_id, a.id)"))


@migrations(name="0009_story_facts")
def _story_facts(db: sqlite_utils.Database) -> None:
    # What the story decision (loomwatch.pipelines.stories) compares, per article in a
    # story: its facts (figures, dates, names; loomwatch.pipelines.facts) and the day
    # they are dated by, and a blocking index of its weightiest facts by day, so that a
    # new article meets only articles of its time window that share a fact with it:
    # a few index range reads whatever the size of the archive. An existing archive's
    # articles get theirs from `loomwatch restory`, which also refolds their stories;
    # story_restory holds its progress (one row while a restory is under way).
    for statement in (
        """CREATE TABLE story_facts (
            article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
            day INTEGER NOT NULL,           -- days since 1970-01-01 of its publication date (else first stored)
            facts TEXT NOT NULL             -- JSON list of fact strings
        )""",
        """CREATE TABLE story_keys (
            key INTEGER NOT NULL,           -- 64-bit hash of a fact
            day INTEGER NOT NULL,
            article_id INTEGER NOT NULL,
            PRIMARY KEY (key, day, article_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE story_restory (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            rules TEXT NOT NULL,            -- the [stories] settings it runs with, as JSON
            last_article_id INTEGER NOT NULL,
            started TEXT NOT NULL,
            moved INTEGER NOT NULL DEFAULT 0
        )""",
    ):
        db.execute(statement)


@migrations(name="0009_story_views")
def _story_views(db: sqlite_utils.Database) -> None:
    # For analysts (Datasette; docs/archive.md): stories_view has one row per story, read
    # newest first through stories_first_seen, or most reported first through
    # stories_reports; articles_view gains each article's story and its number of reports.
    # A row's columns after its text cost a walk over the text's overflow pages (see 0005):
    # articles_story becomes covering for a story's reports (source, dates), and
    # articles_source_stories for the stories per source.
    for statement in (
        "CREATE INDEX stories_reports ON stories(reports, first_seen)",
        "DROP INDEX articles_story",
        "CREATE INDEX articles_story ON articles(story_id, id, source, published, first_seen, duplicate_of)",
        "CREATE INDEX articles_source_stories ON articles(source, story_id, published, first_seen, duplicate_of)",
        """CREATE VIEW stories_view AS
        SELECT
            s.id AS story_id,
            coalesce(date(a.published), date(a.first_seen)) AS date,
            a.title,
            s.reports,
            (SELECT group_concat(value, ', ') FROM json_each(s.languages)) AS languages,
            (SELECT group_concat(value, ', ') FROM json_each(s.sources)) AS sources,
            (SELECT group_concat(name, ', ') FROM (
                SELECT DISTINCT coalesce(c.name, ac.cluster_id) AS name
                FROM articles m INDEXED BY articles_story
                JOIN article_clusters ac ON ac.article_id = m.id
                LEFT JOIN clusters c ON c.id = ac.cluster_id
                WHERE m.story_id = s.id ORDER BY name
            )) AS clusters,
            s.first_seen,
            s.last_seen,
            a.url,
            s.lead_article_id AS article_id
        FROM stories s JOIN articles a ON a.id = s.lead_article_id""",
        "DROP VIEW articles_view",
        _articles_view("""
            a.story_id,
            (SELECT reports FROM stories s WHERE s.id = a.story_id) AS story_reports,"""),
    ):
        db.execute(statement)


@migrations(name="0011_subscriptions")
def _subscriptions(db: sqlite_utils.Database) -> None:
    # Readers' subscriptions (loomwatch.crawler.digest.subscriptions): each digest and alert
    # belongs to one, "" being the one subscription of a configuration without any (all
    # digests before this migration). kind gains `alert`, status `skipped` (an alert over
    # its subscription's daily limit). `mailings` shows what was mailed to whom: one row
    # per story of every sent digest and alert.
    for statement in (
        "ALTER TABLE digests ADD COLUMN subscription TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX digests_subscription ON digests(subscription, kind, status, id)",
        """CREATE VIEW mailings AS
           SELECT d.sent, CASE WHEN d.subscription = '' THEN '(all stories)' ELSE d.subscription END AS subscription,
                  d.kind, d.recipients, a.title, a.url, a.source, a.id AS article_id, d.id AS digest_id, d.subject
           FROM digests d JOIN json_each(d.article_ids) j JOIN articles a ON a.id = j.value
           WHERE d.status = 'sent'
           ORDER BY d.id DESC, j.key""",
    ):
        db.execute(statement)


@migrations(name="0012_dashboard")
def _dashboard(db: sqlite_utils.Database) -> None:
    # The analysts' dashboard (crawler/archive/datasette/dashboard.yaml). Clusters get their place on
    # the map (written by the next crawl's sync_clusters, or by `loomwatch serve` when it
    # applies this migration). Story reports get a covering index by date: every chart
    # starts from the reports dated in its range, and reads their story, language and source
    # from this index instead of the rows, whose texts would be walked past (two years of
    # stories counted in 20-33 ms instead of 270 at 100,000 articles; benchmarks/README.md).
    for statement in (
        "ALTER TABLE clusters ADD COLUMN lat REAL",
        "ALTER TABLE clusters ADD COLUMN lon REAL",
        """CREATE INDEX articles_story_reports ON articles(coalesce(date(published), date(first_seen)), story_id, lang, source)
           WHERE story_id IS NOT NULL""",
    ):
        db.execute(statement)


@migrations(name="0013_fleet_cursor")
def _fleet_cursor(db: sqlite_utils.Database) -> None:
    # How far a fleet's writer has stored its Redis results stream, written in the same
    # transaction as the results: a writer killed at any moment stores none of them twice.
    db.execute("CREATE TABLE fleet_cursor (prefix TEXT PRIMARY KEY, last_entry TEXT NOT NULL, updated TEXT NOT NULL)")


@migrations(name="0014_recent_bands")
def _recent_bands(db: sqlite_utils.Database) -> None:
    # New articles' near-duplicate band rows, moved into dedup_bands in key order now and then
    # (pipelines.dedup.settle): random inserts into the big band table dirtied a page each.
    db.execute(
        """CREATE TABLE dedup_bands_recent (
            band_key INTEGER NOT NULL,
            article_id INTEGER NOT NULL,
            PRIMARY KEY (band_key, article_id)
        ) WITHOUT ROWID"""
    )


@migrations(name="0015_digest_runs")
def _digest_runs(db: sqlite_utils.Database) -> None:
    # When a whole `digest --send` (every daily and weekly subscription, none failed) finished:
    # the scheduler's catch-up asks this, not the digests, so that one subscription mailed by
    # hand, or a run that mailed nothing because nothing was new, reads as what it was.
    db.execute("CREATE TABLE digest_runs (id INTEGER PRIMARY KEY, finished TEXT NOT NULL, mailed INTEGER NOT NULL)")
