"""Regenerate the digest golden files from a fixed archive at a frozen time.

    .venv/bin/python scripts/regen_golden.py          # rewrites tests/golden/digest.html and digest.txt
    git diff tests/golden/                             # review what a reader will see differently

tests/test_digest.py builds the same archive (`build_archive`) and fails when the
rendering differs from the files, so every change to the digest's look is a reviewed diff.
The stories are our own writing.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
# 07:30 in Shanghai on 21 November 2026, when the scheduled digest goes out.
NOW = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.timezone.utc)

KEQIAO_FAIR = """柯桥区举办秋季面料采购对接会
发布日期：2026-11-20
11月19日，柯桥区在中国轻纺城会展中心举办秋季面料采购对接会，来自三十多个国家的采购商与本地企业洽谈。本次对接会重点展示功能性面料和再生纤维产品，现场签约意向金额超过十亿元。区商务局表示，将继续为中小印染企业搭建线上线下相结合的展销平台。
对接会期间还举行了数字印花技术交流活动。"""

KEQIAO_WATER = """Keqiao dyeing plants finish wastewater upgrade ahead of winter
All forty-two printing and dyeing plants in Keqiao's Binhai industrial zone have switched to the district's new shared wastewater line, officials said on Thursday. The upgrade lets plants recycle about a third of their process water. Mr. Zhou, who manages one of the larger mills, said the change cut his water bill by a fifth.
Smaller workshops outside the zone have until March to connect."""

SHENGZE_LOOMS = """Shengze weavers shift looms to recycled polyester
Weaving mills in Shengze are moving a growing share of their water-jet looms to recycled polyester filament, traders at the Eastern Silk Market say. Buyers from Keqiao's fabric wholesalers have asked for certified recycled grey cloth since the summer. Prices for the recycled grades remain about eight percent above virgin filament.
Several mills plan to add certification staff next year."""

DIESHIQIAO_ORDERS = """Dieshiqiao home textile market reports brisk bedding orders
The Dieshiqiao home textile market in Haimen reported its busiest November week in three years, with duvet and pillow orders from Central Asian buyers leading the rise. Market managers credit a new freight rail link that shortens delivery to Almaty to eleven days. Stallholders expect orders to stay strong until the Spring Festival."""

DIESHIQIAO_COPY = DIESHIQIAO_ORDERS.replace("Market managers", "Managers of the market") + "\nReproduced from the Nantong city portal."

# The Chinese version of the Dieshiqiao story, as a district portal would publish it: a
# translation, not a copy, so it joins the story by the story layer, not by duplicate_of.
DIESHIQIAO_ZH = """叠石桥家纺市场床品订单创三年同期新高
海门叠石桥家纺市场迎来三年来最繁忙的十一月，来自中亚客商的被芯和枕芯订单增长最快。市场管理方认为，新开通的铁路货运班列把货物运到阿拉木图的时间缩短到十一天。商户预计订单将一直旺到春节前。"""

HUMEN_FAIR = """Humen spring womenswear fair opens registrations
Exhibitors can now register for the spring womenswear fair in Humen, the organisers announced. The fair will add a hall for small design studios that sell mainly through livestreams. Registration closes at the end of January."""

COTTON = """Cotton yarn prices edge lower as mills cut output
Spot prices for combed cotton yarn slipped for a third week as spinning mills trimmed output. Traders said downstream weavers are buying only for immediate needs. Inventories at the larger mills are close to their autumn highs."""

SAFETY_MEETING = """区政府召开冬季安全生产工作会议
会议部署了冬季消防和道路交通安全工作，要求各街道落实责任。会议还通报了近期检查发现的问题。"""

OLD_FAIR = """Keqiao autumn fair looks back on a record year
The 2024 autumn fair at China Textile City closed with record attendance, organisers said. Exhibitors reported strong interest in digitally printed fabrics."""


def build_archive(path: Path):
    """The fixed archive of the golden digest; returns the open database."""
    from loomwatch.pipelines.gazetteer import load_gazetteer
    from loomwatch.storage import open_database
    from loomwatch.storage.articles import insert_article, sync_clusters

    db = open_database(path)
    sync_clusters(db, load_gazetteer().rows())

    def add(url: str, source: str, title: str, text: str, published: str | None, first_seen: str, lang: str,
            relevant: int = 1, clusters: tuple = (), duplicate_of: int | None = None, story_id: int | None = None) -> int:
        return insert_article(db, {"url": url, "source": source, "title": title, "text": text, "published": published,
                                   "first_seen": first_seen, "lang": lang, "relevance": 0.9 if relevant else 0.1,
                                   "relevant": relevant, "duplicate_of": duplicate_of, "story_id": story_id}, clusters=clusters)

    with db.atomic():
        add("https://textile-index.example/news/older.html", "textile-index", "Keqiao fabric exporters see steady orders",
            "Fabric exporters in Keqiao reported steady orders through October. This story was mailed in an earlier digest.",
            "2026-11-18", "2026-11-19 09:00:00", "en", clusters=[("keqiao", 0.9)])
        add("https://www.keqiao.example/art/2026/11/20/art_1229_1.html", "keqiao-gov", "柯桥区举办秋季面料采购对接会",
            KEQIAO_FAIR, "2026-11-20", "2026-11-20 02:10:00", "zh-cn", clusters=[("keqiao", 0.92)])
        add("https://textile-index.example/news/keqiao-wastewater.html", "textile-index",
            "Keqiao dyeing plants finish wastewater upgrade ahead of winter", KEQIAO_WATER, "2026-11-19",
            "2026-11-20 03:05:00", "en", clusters=[("keqiao", 0.81)])
        add("https://silk-weekly.example/2026/11/shengze-recycled.html", "silk-weekly",
            "Shengze weavers shift looms to recycled polyester", SHENGZE_LOOMS, "2026-11-20", "2026-11-20 04:20:00", "en",
            clusters=[("shengze", 0.88), ("keqiao", 0.41)])
        original = add("https://nantong.example/2026-11/18/c_501.htm", "nantong-portal",
                       "Dieshiqiao home textile market reports brisk bedding orders", DIESHIQIAO_ORDERS, "2026-11-18",
                       "2026-11-20 05:00:00", "en", clusters=[("dieshiqiao", 0.9)])
        add("https://garment-blog.example/archives/8401", "garment-blog", "Bedding orders surge at Dieshiqiao market",
            DIESHIQIAO_COPY, "2026-11-19", "2026-11-20 06:00:00", "en", clusters=[("dieshiqiao", 0.9)], duplicate_of=original)
        add("https://textile-index.example/news/dieshiqiao-bedding.html", "textile-index",
            "Dieshiqiao bedding orders rise", DIESHIQIAO_COPY + " ", "2026-11-19", "2026-11-20 06:30:00", "en",
            clusters=[("dieshiqiao", 0.9)], duplicate_of=original)
        add("https://www.haimen.example/art/2026/11/20/art_88_3.html", "haimen-gov", "叠石桥家纺市场床品订单创三年同期新高",
            DIESHIQIAO_ZH, "2026-11-20", "2026-11-20 06:40:00", "zh-cn", clusters=[("dieshiqiao", 0.93)], story_id=original)
        add("https://garment-blog.example/archives/8402", "garment-blog", "Humen spring womenswear fair opens registrations",
            HUMEN_FAIR, None, "2026-11-20 07:45:00", "en", clusters=[("humen", 0.85)])
        add("https://textile-index.example/news/cotton-yarn.html", "textile-index",
            "Cotton yarn prices edge lower as mills cut output", COTTON, "2026-11-20", "2026-11-20 08:00:00", "en")
        add("https://www.keqiao.example/art/2026/11/20/art_1229_2.html", "keqiao-gov", "区政府召开冬季安全生产工作会议",
            SAFETY_MEETING, "2026-11-20", "2026-11-20 08:10:00", "zh-cn", relevant=0)
        add("https://textile-index.example/news/fair-2024.html", "textile-index", "Keqiao autumn fair looks back on a record year",
            OLD_FAIR, "2024-10-30", "2026-11-20 08:20:00", "en", clusters=[("keqiao", 0.9)])
        # Two crawl runs in the window; zhili-news failed in the second.
        db.execute("INSERT INTO crawl_runs (id, started, finished, status) VALUES (1, '2026-11-20 02:00:00', '2026-11-20 02:20:00', 'ok')")
        db.execute("INSERT INTO crawl_runs (id, started, finished, status) VALUES (2, '2026-11-20 06:00:00', '2026-11-20 06:25:00', 'partial')")
        for name in ("keqiao-gov", "textile-index", "silk-weekly", "nantong-portal", "garment-blog", "zhili-news"):
            failed = name == "zhili-news"
            db.execute("INSERT INTO sources (name, last_run_id, last_run_at, last_status, last_success_at, last_error, consecutive_failures) "
                       "VALUES (?, 2, '2026-11-20 06:25:00', ?, ?, ?, ?)",
                       [name, "failed" if failed else "ok", "2026-11-20 02:20:00" if failed else "2026-11-20 06:25:00",
                        "https://zhili-news.example/news/: HTTP 503 Service Unavailable" if failed else None, int(failed)])
            for run in (1, 2):
                bad = failed and run == 2
                db.execute("INSERT INTO source_runs (run_id, source, status, pages_fetched, article_links, last_error) VALUES (?, ?, ?, ?, ?, ?)",
                           [run, name, "failed" if bad else "ok", 0 if bad else 3, 0 if bad else 2,
                            "https://zhili-news.example/news/: HTTP 503 Service Unavailable" if bad else None])
    return db


def render_golden(workdir: Path) -> tuple[str, str]:
    """The HTML and text of the golden digest, built in `workdir`."""
    from loomwatch.crawler.config import Config
    from loomwatch.crawler.digest.model import build_digest
    from loomwatch.crawler.digest.render import render

    db = build_archive(workdir / "golden.db")
    try:
        return render(build_digest(db, Config(timezone="Asia/Shanghai"), now=NOW))
    finally:
        db.close()


def main() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        html, text = render_golden(Path(tmp))
    (GOLDEN / "digest.html").write_text(html, encoding="utf-8")
    (GOLDEN / "digest.txt").write_text(text, encoding="utf-8")
    print(f"wrote {GOLDEN / 'digest.html'} and {GOLDEN / 'digest.txt'}; review with `git diff tests/golden/`", file=sys.stderr)


if __name__ == "__main__":
    main()
