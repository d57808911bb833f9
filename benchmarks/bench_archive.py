"""Archive benchmarks: does the archive stay fast at 100,000 and 1,000,000 articles?

    python benchmarks/bench_archive.py [--n 100000] [--db PATH] [--reuse]

1. An archive of N articles is generated quickly: bulk inserts into the real schema
   (`open_database`), English and Chinese texts of realistic length (1-5 kB of English,
   400-1,800 Chinese characters) made of phrases written for this benchmark, the FTS
   rows through `storage.articles.index_for_search`, the cluster gazetteer and 1-3 cluster tags on
   the relevant 40 %, 8 % near-copies (`duplicate_of`), first_seen spread over two years
   (about N/730 articles a day), 40 sources, a crawl run every four hours with its
   per-source rows, and MinHash signatures with their LSH bands as in
   `benchmarks/bench_dedup.py`. `--db PATH --reuse` keeps and reuses a built archive.
2. Measured on it:
   - near-duplicate check: `find_near_duplicate` + `index` per new article, stored in
     transactions of 50 like the store pipeline (bench_dedup's method);
   - one day's digest: `run_digest(config, send=False, day=...)`, files written;
   - full-text search: the SQL Datasette's table search issues, with loomwatch's
     `fts_query` rewrite (what `lw_match` does), English and Chinese terms, and the same
     searches as `/loomwatch/articles_view.json?_search=` pages of a real Datasette;
   - every canned query of `crawler/archive/datasette/metadata.yaml`, with its default (empty)
     parameters and with a typical value, through a real Datasette (in-process ASGI client);
   - the dashboard (/-/dashboards/overview): the page (which runs its filters' option
     queries) and every chart's SQL as the page fetches it (`/loomwatch.json?sql=`), with no
     filter, with each filter, and over the whole two years.
   Times are the median of `--repeat` runs after one warm-up run (the page cache is warm).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dedup import Signatures, measure

from loomwatch.crawler.archive import dashboard
from loomwatch.crawler.archive.serve import build_datasette, load_metadata
from loomwatch.crawler.config import load_config
from loomwatch.pipelines import dedup
from loomwatch.pipelines.gazetteer import load_gazetteer
from loomwatch.storage import open_database, stories
from loomwatch.storage.articles import index_for_search, sync_clusters
from loomwatch.storage.search import fts_query

DAYS = 730
LAST_DAY = dt.date(2026, 11, 20)
SOURCES = [f"source-{i:02d}" for i in range(40)]
EN_QUERIES = ["dyeing", "home textile", "Keqiao", "recycled polyester exports"]  # single words, a phrase-less pair, rarer triples
ZH_QUERIES = ["家纺", "印染", "柯桥", "中国轻纺城"]
CANNED_VALUES = {"cluster": "keqiao", "since": "2026-01-01", "q": "印染", "source": "source-03", "top": "8", "min_copies": "2"}
# The dashboard's filters as an analyst sets them (crawler/archive/datasette/dashboard.yaml).
DASHBOARD_FILTERS = {
    "no filter (12 weeks)": {},
    "since 2026-01-01": {"since": "2026-01-01"},
    "two years": {"since": (LAST_DAY - dt.timedelta(days=DAYS - 1)).isoformat(), "until": LAST_DAY.isoformat()},
    "cluster Keqiao 柯桥": {"cluster": "Keqiao 柯桥"},
    "cluster Nantong 南通 (with its towns)": {"cluster": "Nantong 南通"},
    "province Zhejiang": {"province": "Zhejiang"},
    "language zh-cn": {"lang": "zh-cn"},
    "source source-03": {"source": "source-03"},
    "two years, zh-cn, Zhejiang": {"since": (LAST_DAY - dt.timedelta(days=DAYS - 1)).isoformat(), "lang": "zh-cn", "province": "Zhejiang"},
}

EN_WORDS = ["mills", "exporters", "weavers", "traders", "buyers", "workshops", "spinners", "dyers", "printers", "factories", "orders", "prices", "yarn", "cotton", "polyester", "silk", "fabric", "bedding", "quilts", "curtains", "garments", "knitwear", "denim", "market", "fair", "logistics", "exports", "imports", "season", "demand", "supply", "margins", "wages", "energy", "wastewater", "upgrade", "digital", "printing", "looms", "capacity", "inventory", "retailers", "brands", "platforms", "live-stream", "e-commerce", "customs", "freight", "containers", "tariffs", "subsidies", "park", "district", "county", "township", "officials", "association", "survey", "quarter", "month", "week", "rose", "fell", "steady", "firm", "weak", "dyeing", "home", "textile", "recycled", "Keqiao", "Nantong", "Shengze", "Humen", "Zhili", "Changshu", "Haimen", "Dieshiqiao"]
EN_GLUE = (["the", "of", "and", "in", "to", "for", "with", "on", "at", "from", "that", "as", "by", "while", "after", "before", "since"])
ZH_PHRASES = ["家纺", "印染", "面料", "纺织", "服装", "童装", "丝绸", "化纤", "织造", "订单", "价格", "出口", "市场", "展会", "物流", "企业", "工厂", "商户", "采购", "产能", "库存", "电商", "直播", "设备", "改造", "环保", "污水", "能源", "成本", "工人", "工资", "园区", "街道", "政府", "协会", "调查", "季度", "同比", "增长", "下降", "回暖", "平稳", "中国轻纺城", "叠石桥", "柯桥", "盛泽", "虎门", "织里", "常熟", "南通", "海门", "吴江", "绍兴", "湖州", "东莞", "轻纺", "床品", "窗帘", "被套", "毛巾", "针织", "牛仔", "纱线", "棉花", "涤纶", "再生", "数码", "印花", "染厂", "布行", "外贸", "内销"]
ZH_GLUE = list("的了在和与及为对将把从向是有也都")


def _pool(rng: random.Random, size: int = 20_000) -> tuple[list[str], list[str]]:
    """Sentences to draw from: picking whole sentences keeps building a million texts fast."""
    en = [" ".join(rng.choice(EN_WORDS) if i % 3 else rng.choice(EN_GLUE) for i in range(rng.randint(10, 24))).capitalize() + "."
          for _ in range(size)]
    zh = ["".join(rng.choice(ZH_PHRASES) + (rng.choice(ZH_GLUE) if rng.random() < 0.4 else "") for _ in range(rng.randint(6, 14))) + "。"
          for _ in range(size)]
    return en, zh


def make_text(rng: random.Random, pool: list[str], chars: int, sep: str) -> str:
    """About `chars` characters of sentences from `pool`, in paragraphs of 2-6 sentences."""
    average = 110 if sep == " " else 27
    sentences = rng.choices(pool, k=max(2, chars // average))
    step = rng.randint(2, 6)
    return "\n\n".join(sep.join(sentences[i : i + step]) for i in range(0, len(sentences), step))


def build(db, n: int, seed: int = 7, batch: int = 20_000) -> dict[str, float]:
    """Fill an empty archive with `n` articles and everything that hangs off them."""
    rng = random.Random(seed)
    started = time.perf_counter()
    db.execute("PRAGMA synchronous = OFF")  # a generated archive: no need to survive a power cut while it is built
    db.execute("PRAGMA cache_size = -200000")
    gazetteer = load_gazetteer([], origin="bench").rows()
    sync_clusters(db, gazetteer)
    cluster_ids = [c["id"] for c in gazetteer]
    popular = cluster_ids[:12]  # a few clusters get most of the coverage, as in life
    first = dt.datetime.combine(LAST_DAY - dt.timedelta(days=DAYS - 1), dt.time())
    step = DAYS * 86400 / n
    relevant_ids: list[int] = []
    story_of: dict[int, int] = {}  # article id -> its story (storage.stories' default rules)
    en_pool, zh_pool = _pool(rng)

    runs = []
    for r in range(DAYS * 6):
        started_at = first + dt.timedelta(hours=4 * r)
        runs.append((r + 1, started_at.strftime("%Y-%m-%d %H:%M:%S"), (started_at + dt.timedelta(minutes=9)).strftime("%Y-%m-%d %H:%M:%S")))
    with db.atomic():
        db.conn.executemany("INSERT INTO crawl_runs (id, started, finished, status, sources, pages_fetched, new_articles, errors) "
                            "VALUES (?, ?, ?, 'ok', '[]', 400, 40, 0)", runs)
        db.conn.executemany(
            "INSERT INTO source_runs (run_id, source, status, pages_fetched, article_links, new_articles, errors, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((run_id, s, "ok" if rng.random() > 0.02 else "failed", rng.randint(1, 30), rng.randint(20, 60), rng.randint(0, 5),
              0, None) for run_id, _, _ in runs for s in SOURCES))
        db.conn.executemany("INSERT INTO sources (name, last_status, health) VALUES (?, 'ok', 'ok')", ((s,) for s in SOURCES))

    for lo in range(1, n + 1, batch):
        articles, urls, fts, tags = [], [], [], []
        for i in range(lo, min(lo + batch, n + 1)):
            seen = first + dt.timedelta(seconds=int((i - 1) * step + rng.random() * step))
            zh = rng.random() < 0.55
            text = make_text(rng, zh_pool, rng.randint(400, 1800), "") if zh else make_text(rng, en_pool, rng.randint(1000, 5000), " ")
            title = text[: rng.randint(14, 30)] if zh else text[: rng.randint(50, 110)].rsplit(" ", 1)[0]
            relevance = rng.random()
            relevant = int(relevance >= 0.6)
            duplicate_of = rng.randint(max(1, i - 3000), i - 1) if i > 1 and rng.random() < 0.08 else None
            story_id = story_of.get(duplicate_of) or (i if relevant else None)
            if story_id:
                story_of[i] = story_id
            published = None if rng.random() < 0.1 else (seen.date() - dt.timedelta(days=rng.choice((0, 0, 0, 1, 2)))).isoformat()
            source = SOURCES[int(rng.paretovariate(1.2)) % len(SOURCES)]
            url = f"https://{source}.example.invalid/{seen:%Y%m}/t{seen:%Y%m%d}_{i}.html"
            articles.append((i, url, source, title, text, published, seen.strftime("%Y-%m-%d %H:%M:%S"), "zh-cn" if zh else "en",
                             round(relevance, 3), relevant, duplicate_of, story_id, hashlib.sha1(text.encode()).hexdigest(),
                             1 + int((i - 1) * step // 14400)))
            urls.append((url, i))
            fts.append((i, title, text))
            if relevant:
                relevant_ids.append(i)
                chosen = {rng.choice(popular) if rng.random() < 0.7 else rng.choice(cluster_ids) for _ in range(rng.choice((1, 1, 1, 2, 3)))}
                tags += [(i, c, round(rng.uniform(0.5, 5), 2)) for c in chosen]
        with db.atomic():
            db.conn.executemany(
                "INSERT INTO articles (id, url, source, title, text, published, first_seen, lang, relevance, relevant, duplicate_of, "
                "story_id, content_hash, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", articles)
            db.conn.executemany("INSERT INTO article_urls (url, article_id) VALUES (?, ?)", urls)
            index_for_search(db, fts)
            db.conn.executemany("INSERT INTO article_clusters (article_id, cluster_id, score) VALUES (?, ?, ?)", tags)
        print(f"  {min(lo + batch - 1, n):,} articles ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    with db.atomic():
        stories.rebuild(db)
    articles_s = time.perf_counter() - started

    sigs = Signatures(seed).archive(n)
    with db.atomic():
        db.conn.executemany("INSERT INTO dedup_signatures (article_id, signature) VALUES (?, ?)",
                            ((i + 1, sigs[i].astype("<u2").tobytes()) for i in range(n)))
    dedup.rebuild(db, dedup.DEFAULT_THRESHOLD)
    db.execute("PRAGMA optimize")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA synchronous = NORMAL")
    return {"articles_s": articles_s, "total_s": time.perf_counter() - started}


def timed(fn, repeat: int) -> tuple[float, object]:
    result = fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, result


def bench_digest(path: Path, workdir: Path, repeat: int) -> dict[str, float]:
    from loomwatch.crawler.digest.run import run_digest

    config_file = workdir / "digest.toml"
    config_file.write_text(f'[storage]\ndatabase = "{path}"\n[digest]\noutput_dir = "{workdir / "digests"}"\n', encoding="utf-8")
    config = load_config(config_file)
    results = {}
    for label, day in (("last day", LAST_DAY), ("a day a year ago", LAST_DAY - dt.timedelta(days=365))):
        now = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(8), dt.UTC)
        ms, outcome = timed(lambda day=day, now=now: run_digest(config, send=False, day=day, now=now), repeat)
        results[label] = ms
        stories = getattr(getattr(outcome, "digest", None), "count", None)
        print(f"digest of one day ({label}, {day}): {ms:.0f} ms" + (f", {stories} stories" if stories is not None else ""))
    return results


def bench_fts_sql(db, repeat: int) -> dict[str, float]:
    # What Datasette's table search runs (with lw_match's rewrite in place of escape_fts), and its count.
    rows_sql = ("SELECT id, title, source, first_seen FROM articles WHERE rowid IN "
                "(SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q) ORDER BY first_seen DESC, id DESC LIMIT 101")
    count_sql = "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH :q"
    results = {}
    for q in EN_QUERIES + ZH_QUERIES:
        match = fts_query(q)
        ms, rows = timed(lambda match=match: db.execute(rows_sql, {"q": match}).fetchall(), repeat)
        count_ms, count = timed(lambda match=match: db.execute(count_sql, {"q": match}).fetchone()[0], repeat)
        results[q] = ms
        print(f"FTS {q!r}: {ms:.1f} ms for the first page ({len(rows)} rows); counting its {count:,} matches {count_ms:.1f} ms")
    return results


async def _datasette(path: Path, repeat: int) -> dict[str, dict[str, float]]:
    ds = build_datasette(path)  # loomwatch serve's settings: a 5 s SQL limit, facets given up after 1 s
    await ds.invoke_startup()

    async def get(url: str) -> tuple[float, int]:
        times, status = [], 0
        for i in range(repeat + 1):
            t0 = time.perf_counter()
            response = await ds.client.get(url)
            if i:
                times.append(time.perf_counter() - t0)
            status = response.status_code
        return statistics.median(times) * 1000, status

    out: dict[str, dict[str, float]] = {"search": {}, "search_results": {}, "canned": {}, "canned_typical": {}}
    for q in EN_QUERIES[:2] + ZH_QUERIES[:2]:
        # The results alone (what a JSON client or the first screen needs), then the full page.
        ms, status = await get("/loomwatch/articles.json?" + urlencode({"_search": q, "_size": 50, "_nocount": 1, "_nofacet": 1}))
        out["search_results"][q] = ms
        print(f"Datasette articles search {q!r}, first 50 results, newest first (no count, no facets): {ms:.0f} ms (HTTP {status})")
        ms, status = await get("/loomwatch/articles_view.json?" + urlencode({"_search": q, "_size": 50}))
        out["search"][q] = ms
        print(f"Datasette articles_view search {q!r} (page with facets and count): {ms:.0f} ms (HTTP {status})")
    queries = load_metadata()["databases"]["loomwatch"]["queries"]
    for name, query in queries.items():
        params = sorted(set(__import__("re").findall(r":(\w+)", query["sql"])))
        for label, values in (("canned", {p: "" for p in params}), ("canned_typical", {p: CANNED_VALUES.get(p, "") for p in params})):
            if label == "canned_typical" and not any(values.values()) and name not in ("copies_of_story", "story"):
                continue
            if name in ("copies_of_story", "story") and label == "canned_typical":
                values["id"] = "1234"
            ms, status = await get(f"/loomwatch/{name}.json?" + urlencode({**values, "_shape": "array"}))
            out[label][name] = ms
            shown = ", ".join(f"{k}={v}" for k, v in values.items() if v) or "defaults"
            print(f"canned query {name} ({shown}): {ms:.0f} ms (HTTP {status})")
    out["dashboard_page"], status = await get(dashboard.path())
    print(f"dashboard page (with its filters' option queries): {out['dashboard_page']:.0f} ms (HTTP {status})")
    out["dashboard"] = {}
    for label, filters in DASHBOARD_FILTERS.items():
        for name, sql in dashboard.chart_queries().items():
            ms, status = await get("/loomwatch.json?" + urlencode({"sql": sql, **filters, "_shape": "objects"}))
            out["dashboard"][f"{name}, {label}"] = ms
            print(f"dashboard chart {name} ({label}): {ms:.0f} ms (HTTP {status})")
    slowest = max(out["dashboard"], key=out["dashboard"].get)
    print(f"dashboard: slowest chart query {slowest}: {out['dashboard'][slowest]:.0f} ms (target: 1,000 ms)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="archived articles (default 100,000)")
    parser.add_argument("--lookups", type=int, default=2000, help="new articles for the near-duplicate check (default 2,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query (median; default 5)")
    parser.add_argument("--db", type=Path, help="archive file (default: a temporary file, removed afterwards)")
    parser.add_argument("--reuse", action="store_true", help="with --db: use the archive there if it exists instead of building one")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--build-only", action="store_true", help="build the archive (give --db) and stop")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="loomwatch-archive-") as tmp:
        workdir = Path(tmp)
        path = args.db or workdir / "archive.db"
        figures: dict = {"n": args.n}
        if path.exists() and not args.reuse:
            print(f"{path} exists: pass --reuse to use it, or give a new file to --db", file=sys.stderr)
            return 2
        db = open_database(path)
        have = db.execute("SELECT count(*) FROM articles").fetchone()[0]
        if have == 0:
            built = build(db, args.n)
            figures["build"] = built
            print(f"archive: {args.n:,} articles built in {built['total_s']:.0f} s; {path.stat().st_size / 1e9:.2f} GB")
        else:
            print(f"archive: reusing {path} ({have:,} articles)")
            args.n = have
        figures["n"] = args.n
        if args.build_only:
            db.close()
            return 0

        figures["fts"] = bench_fts_sql(db, args.repeat)
        db.close()
        figures["digest"] = bench_digest(path, workdir, args.repeat)
        figures["datasette"] = asyncio.run(_datasette(path, args.repeat))

        # Last: it adds the new articles to the archive (ids above n; no text, no FTS row).
        db = open_database(path)
        maker = Signatures(11)
        archive = np.stack([np.frombuffer(s, dtype="<u2") for (s,) in db.execute(
            "SELECT signature FROM dedup_signatures WHERE article_id <= ? ORDER BY article_id", [args.n])])
        new, source = maker.new(archive, args.lookups)
        top = db.execute("SELECT max(id) FROM articles").fetchone()[0]
        result = measure(db, np.zeros((top, 1)), new, source, dedup.DEFAULT_THRESHOLD)
        figures["dedup"] = result
        print(f"near-duplicate check (find_near_duplicate + index): median {result['median_ms']:.2f} ms, p95 {result['p95_ms']:.2f} ms "
              f"per article ({args.lookups:,} new articles); near-copies found {result['copies_found']:.0%}")
        db.execute("DELETE FROM dedup_bands WHERE article_id > ?", [args.n])  # leave a reused archive as it was
        db.execute("DELETE FROM dedup_signatures WHERE article_id > ?", [args.n])
        db.execute("DELETE FROM article_urls WHERE article_id > ?", [args.n])
        db.execute("DELETE FROM articles WHERE id > ?", [args.n])
        db.conn.commit()
        db.close()
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
