"""A synthetic multi-site farm of N article pages, for the crawl benchmark.

    python benchmarks/farm.py --n 2000 --out /tmp/farm    # write it, print the config

Eight sites in the shapes loomwatch meets (China Daily regional CMS, WordPress with a feed,
Hanweb and TRS government sites in GBK, DedeCMS, a news CMS with RSS, sitemap-only sites),
three in English and five in Chinese. Pages are 40-120 kB like real ones: an inline
stylesheet and script, a long navigation menu, a sidebar of other stories, a footer with
link farms, and one article of 1.5-6 kB of text. Listing pages hold 30 links each and a
pager; some sites add a feed of their 50 newest stories and a sitemap of all of them;
4 % of the stories are copies of an earlier one on another site (near-duplicates).

Everything is generated from a seed, so the same N gives the same bytes. The texts are
random combinations of phrases written for this benchmark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

PER_LISTING = 30
FEED_ITEMS = 50
DUPLICATE_SHARE = 0.04
NEWEST = dt.date(2026, 11, 20)


@dataclass(frozen=True)
class SiteShape:
    name: str
    lang: str  # en, zh
    encoding: str  # utf-8, gbk
    article: str  # path template: {y} {m} {d} {id} {slug}
    listing: tuple[str, str]  # first page, page k (k >= 2): {k}
    article_re: str
    follow_re: str
    weight: float
    feed: str | None = None
    sitemap: str | None = None
    listed: bool = True  # false: reachable only through its sitemap


SITES = (
    SiteShape("nantong-daily", "en", "utf-8", "/{y}-{m}/{d}/c_{id}.htm", ("/index.htm", "/index_{k}.htm"),
              r"/\d{4}-\d{2}/\d{2}/c_\d+\.htm$", r"/index_\d+\.htm$", 0.16, sitemap="/sitemap.xml"),
    SiteShape("textile-weekly", "en", "utf-8", "/archives/{id}", ("/", "/page/{k}/"),
              r"/archives/\d+$", r"/page/\d+/$", 0.12, feed="/feed/"),
    SiteShape("silk-road-en", "en", "utf-8", "/{y}/{m}/{d}/{slug}/", ("/", "/page/{k}/"),
              r"/\d{4}/\d{2}/\d{2}/[\w-]{8,}/$", r"/page/\d+/$", 0.08, feed="/feed/"),
    SiteShape("keqiao-gov", "zh", "gbk", "/art/{y}/{mm}/{dd}/art_1229_{id}.html",
              ("/col/col1229/index.html", "/col/col1229/index_{k}.html"),
              r"/art/\d{4}/\d{1,2}/\d{1,2}/art_\d+_\d+\.html$", r"/col/col1229/index(_\d+)?\.html$", 0.16),
    SiteShape("shengze-gov", "zh", "gbk", "/{y}{m}/t{y}{m}{d}_{id}.html", ("", ""),
              r"/t\d{8}_\d+\.html$", r"^$", 0.10, sitemap="/sitemap.xml", listed=False),
    SiteShape("humen-news", "zh", "utf-8", "/news/{id}.html", ("/list_3_1.html", "/list_3_{k}.html"),
              r"/news/\d+\.html$", r"/list_\d+_\d+\.html$", 0.14, feed="/rss.xml"),
    SiteShape("changshu-trade", "zh", "utf-8", "/content_{id}.htm", ("/index.htm", "/index_{k}.htm"),
              r"/content_\d+\.htm$", r"/index_\d+\.htm$", 0.12, sitemap="/sitemap.xml"),
    SiteShape("zhili-info", "zh", "gbk", "/show-{id}.html", ("/list_5_1.html", "/list_5_{k}.html"),
              r"/show-\d+\.html$", r"/list_\d+_\d+\.html$", 0.12),
)

EN_PLACES = ["Nantong", "Haimen", "Dieshiqiao", "Keqiao", "Shaoxing", "Changshu", "Shengze", "Wujiang", "Humen",
             "Zhili", "Huzhou", "Suzhou", "Hai'an", "Dongguan", "the Yangtze delta", "Tongzhou"]
EN_SUBJECTS = ["Home-textile makers", "Bedding exporters", "Dyeing and finishing mills", "Silk weavers",
               "Garment workshops", "Fabric traders", "Children's wear factories", "Polyester spinners",
               "Knitwear suppliers", "Curtain and upholstery firms", "The county's textile office",
               "Buyers at the trade fair", "Small workshops", "Logistics firms serving the market"]
EN_VERBS = ["reported", "expected", "announced", "recorded", "warned of", "pointed to", "planned", "welcomed"]
EN_OBJECTS = ["firmer orders for quilt covers", "a slower autumn season", "new digital printing lines",
              "higher prices for cotton yarn", "a shift to online live-stream sales", "a rise in export shipments",
              "tighter rules on wastewater", "a new logistics hub near the market", "longer payment terms from buyers",
              "demand for recycled polyester", "a wave of equipment upgrades", "fewer orders from Europe"]
EN_TAILS = ["according to figures released on Monday", "as the peak season approached",
            "after a quiet summer", "despite weaker demand abroad", "in the first ten months of the year",
            "while energy costs stayed high", "as retailers restocked", "said a manager who asked not to be named"]
EN_NAV = ["Home", "News", "Business", "Industry", "Markets", "Policy", "Trade Fairs", "Exports", "Opinion",
          "Photos", "Video", "Services", "About Us", "Contact", "Investment", "Culture", "Travel", "Jobs"]

ZH_PLACES = ["南通", "海门", "叠石桥", "柯桥", "绍兴", "常熟", "盛泽", "吴江", "虎门", "织里", "湖州", "苏州",
             "海安", "东莞", "通州", "川姜"]
ZH_SUBJECTS = ["家纺企业", "床上用品出口商", "印染企业", "丝绸织造厂", "服装加工户", "面料经销商", "童装企业",
               "化纤纺丝企业", "针织企业", "窗帘布艺商户", "区纺织办公室", "展会采购商", "小微加工厂", "市场物流企业"]
ZH_VERBS = ["表示", "预计", "宣布", "统计显示", "提醒", "认为", "计划", "迎来"]
ZH_OBJECTS = ["被套订单明显回暖", "秋季销售较为平淡", "新上数码印花生产线", "棉纱价格有所上涨",
              "直播电商销售占比提高", "出口发货量同比增长", "污水排放标准进一步收紧", "市场周边新建物流中心",
              "采购商账期有所延长", "再生涤纶需求增加", "设备更新改造加快", "欧洲订单有所减少"]
ZH_TAILS = ["据周一发布的数据", "随着旺季临近", "在经历了平淡的夏季之后", "尽管海外需求偏弱",
            "今年前十个月", "在能源成本高企的情况下", "零售商开始补货", "一位不愿具名的负责人说"]
ZH_NAV = ["首页", "新闻中心", "政务公开", "政策文件", "产业动态", "市场行情", "招商引资", "展会信息", "图片新闻",
          "视频", "公共服务", "互动交流", "机构设置", "领导信息", "通知公告", "办事指南", "数据发布", "专题专栏"]


@dataclass
class Story:
    id: int
    site: SiteShape
    day: dt.date
    title: str
    paragraphs: list[str]
    path: str = ""


@dataclass
class Farm:
    root: Path
    config: str  # a loomwatch config with {{site:NAME}} placeholders; SiteFarm.expand() fills them
    articles: list[tuple[Path, str]] = field(default_factory=list)  # (file, encoding) of every article page
    bytes_total: int = 0


def _en_sentence(rng: random.Random) -> str:
    place = rng.choice(EN_PLACES)
    return (f"{rng.choice(EN_SUBJECTS)} in {place} {rng.choice(EN_VERBS)} {rng.choice(EN_OBJECTS)}, "
            f"{rng.choice(EN_TAILS)}; {rng.randint(3, 97)} firms and {rng.randint(2, 40)}.{rng.randint(0, 9)} per cent were cited.")


def _zh_sentence(rng: random.Random) -> str:
    place = rng.choice(ZH_PLACES)
    return (f"{rng.choice(ZH_TAILS)}，{place}{rng.choice(ZH_SUBJECTS)}{rng.choice(ZH_VERBS)}{rng.choice(ZH_OBJECTS)}，"
            f"涉及企业{rng.randint(3, 97)}家，增幅约{rng.randint(2, 40)}.{rng.randint(0, 9)}%。")


def _story(rng: random.Random, sid: int, site: SiteShape, day: dt.date) -> Story:
    en = site.lang == "en"
    target = rng.randint(1500, 6000) if en else rng.randint(800, 2600)  # characters of text
    sentence = _en_sentence if en else _zh_sentence
    paragraphs, size = [], 0
    while size < target:
        para = (" " if en else "").join(sentence(rng) for _ in range(rng.randint(2, 5)))
        paragraphs.append(para)
        size += len(para)
    if en:
        title = f"{rng.choice(EN_PLACES)}: {rng.choice(EN_SUBJECTS).lower()} {rng.choice(EN_VERBS)} {rng.choice(EN_OBJECTS)}"
    else:
        title = f"{rng.choice(ZH_PLACES)}{rng.choice(ZH_SUBJECTS)}{rng.choice(ZH_OBJECTS)}"
    return Story(sid, site, day, title, paragraphs)


def _path(story: Story) -> str:
    d = story.day
    words = story.title.lower().replace(":", "").replace("'", "").split()[:6] if story.site.lang == "en" else ["story"]
    return story.site.article.format(y=f"{d.year}", m=f"{d.month:02d}", d=f"{d.day:02d}", mm=d.month, dd=d.day,
                                     id=story.id, slug="-".join([*words, str(story.id)]))  # the id: copies share a title


def _furniture(rng: random.Random, site: SiteShape, others: list[Story]) -> tuple[str, str, str]:
    """Head extras, page top and page bottom: the bulk of a real page's bytes."""
    en = site.lang == "en"
    nav = EN_NAV if en else ZH_NAV
    style = "\n".join(f".c{i}{{margin:{i % 7}px {i % 5}px;padding:0 {i % 9}px;color:#{(i * 2654435761) % 0xFFFFFF:06x};"
                      f"font:{12 + i % 6}px/1.{i % 9} Arial,'Microsoft YaHei',sans-serif}}" for i in range(rng.randint(80, 420)))
    script = "\n".join(f"var _cfg{i}={{id:{rng.randint(1, 10**6)},ch:'{rng.choice(nav)}',on:{str(bool(i % 2)).lower()},"
                       f"u:'/stat/p{i}.gif?r='+Math.random()}};" for i in range(rng.randint(60, 320)))
    head = f"<style>\n{style}\n</style>\n<script>\n{script}\n</script>"
    menu = "".join(f'<li class="c{i}"><a href="/col/col{1000 + i}/index.html">{rng.choice(nav)}</a>'
                   + "".join(f'<a class="sub" href="/col/col{2000 + i * 10 + j}/index.html">{rng.choice(nav)}{j}</a>' for j in range(rng.randint(2, 6)))
                   + "</li>" for i in range(rng.randint(25, 70)))
    top = (f'<div id="top" class="c1"><div class="logo"><a href="/">{site.name}</a></div>'
           f'<form action="/search"><input name="q"><button>{"Search" if en else "搜索"}</button></form></div>'
           f'<div id="nav"><ul>{menu}</ul></div>'
           f'<div class="crumb"><a href="/">{"Home" if en else "首页"}</a> &gt; <a href="/col/col1/index.html">{rng.choice(nav)}</a></div>')
    side = "".join(f'<li><a href="{o.path}" title="{o.title}">{o.title}</a><span>{o.day.isoformat()}</span></li>' for o in others)
    ads = "".join(f'<div class="ad c{i}"><a href="/ad/{rng.randint(1, 999)}"><img src="/img/ad{i}.jpg" alt="{rng.choice(nav)}"></a></div>'
                  for i in range(rng.randint(4, 12)))
    links = "".join(f'<a href="http://partner{i}.example.invalid/">{rng.choice(nav)}{i}</a> | ' for i in range(rng.randint(30, 90)))
    bottom = (f'<div id="side"><h3>{"Most read" if en else "热点新闻"}</h3><ul>{side}</ul>{ads}</div>'
              f'<div id="footer"><div class="links">{links}</div>'
              f'<p>{"Copyright" if en else "版权所有"} © 2026 {site.name} · ICP 0{rng.randint(1000000, 9999999)} · '
              f'{"Hosted by the information centre" if en else "主办单位：信息中心 技术支持：大数据局"}</p></div>')
    return head, top, bottom


def _meta_charset(site: SiteShape) -> str:
    return "gb2312" if site.encoding == "gbk" else "utf-8"


def _article_html(rng: random.Random, story: Story, others: list[Story]) -> str:
    site, en = story.site, story.site.lang == "en"
    head, top, bottom = _furniture(rng, site, others)
    date_line = (f"Updated: {story.day.isoformat()} {rng.randint(7, 21):02d}:{rng.randint(0, 59):02d} · Source: {site.name}" if en
                 else f"发布日期：{story.day.isoformat()}　来源：{site.name}　浏览次数：{rng.randint(10, 9000)}")
    body = "".join(f"<p>{p}</p>\n" for p in story.paragraphs)
    return (f'<!DOCTYPE html>\n<html lang="{"en" if en else "zh-CN"}"><head><meta charset="{_meta_charset(site)}">'
            f"<title>{story.title} - {site.name}</title>"
            f'<meta property="og:site_name" content="{site.name}"><link rel="canonical" href="{{{{base}}}}{story.path}">{head}</head>'
            f'<body>{top}<div id="main"><div class="article"><h1>{story.title}</h1><div class="info">{date_line}</div>'
            f'<div class="content">{body}</div></div></div>{bottom}</body></html>')


def _listing_html(rng: random.Random, site: SiteShape, page: int, pages: int, stories: list[Story]) -> str:
    en = site.lang == "en"
    head, top, bottom = _furniture(rng, site, [])

    def href(k: int) -> str:
        return site.listing[0] if k == 1 else site.listing[1].format(k=k)

    items = "".join(f'<li><a href="{s.path}">{s.title}</a><span class="date">{s.day.isoformat()}</span></li>' for s in stories)
    pager = [f'<a href="{href(1)}">{"First" if en else "首页"}</a>']
    if page > 1:
        pager.append(f'<a href="{href(page - 1)}">{"Previous" if en else "上一页"}</a>')
    pager += [f'<a href="{href(k)}">{k}</a>' for k in range(max(1, page - 3), min(pages, page + 5) + 1) if k != page]
    if page < pages:
        pager.append(f'<a rel="next" href="{href(page + 1)}">{"Next" if en else "下一页"}</a>')
    return (f'<!DOCTYPE html>\n<html><head><meta charset="{_meta_charset(site)}"><title>{"News" if en else "新闻中心"} - {site.name}</title>{head}</head>'
            f'<body>{top}<div id="main"><ul class="list">{items}</ul><div class="pager">{"".join(pager)}</div></div>{bottom}</body></html>')


def _feed(site: SiteShape, stories: list[Story]) -> str:
    items = "".join(f"<item><title>{s.title}</title><link>{{{{base}}}}{s.path}</link>"
                    f"<pubDate>{s.day.strftime('%a, %d %b %Y')} 08:00:00 +0800</pubDate></item>" for s in stories)
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{site.name}</title><link>{{{{base}}}}/</link>{items}</channel></rss>'


def _sitemap(stories: list[Story]) -> str:
    urls = "".join(f"<url><loc>{{{{base}}}}{s.path}</loc><lastmod>{s.day.isoformat()}</lastmod></url>" for s in stories)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


def _write(root: Path, site: SiteShape, path: str, text: str) -> tuple[Path, int]:
    file = root / site.name / path.lstrip("/")
    if path.endswith("/") or path == "":
        file = file / ("index.xml" if path.startswith("/feed") else "index.html")
    file.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("gb18030" if site.encoding == "gbk" and file.suffix != ".xml" else "utf-8")
    file.write_bytes(data)
    return file, len(data)


def generate(root: Path, n: int = 2000, seed: int = 1) -> Farm:
    """Write a farm of about `n` article pages under `root` (which must be empty or absent)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    total_weight = sum(s.weight for s in SITES)
    counts = [max(1, round(n * s.weight / total_weight)) for s in SITES]
    counts[0] += n - sum(counts)
    stories_by_site: dict[str, list[Story]] = {}
    sid = 100_000
    all_stories: list[Story] = []
    for site, count in zip(SITES, counts):
        stories = []
        for i in range(count):
            sid += 1
            day = NEWEST - dt.timedelta(days=i * 60 // count)  # newest first, over about two months
            story = _story(rng, sid, site, day)
            if all_stories and rng.random() < DUPLICATE_SHARE:  # a syndicated copy of an earlier story in the same language
                earlier = [s for s in all_stories[-400:] if s.site.lang == site.lang]
                if earlier:
                    original = rng.choice(earlier)
                    story.title, story.paragraphs = original.title, list(original.paragraphs)
            story.path = _path(story)
            stories.append(story)
        stories_by_site[site.name] = stories
        all_stories += stories

    farm = Farm(root, "")
    for site in SITES:
        stories = stories_by_site[site.name]
        for i, story in enumerate(stories):
            others = [stories[(i + j * 7 + 1) % len(stories)] for j in range(rng.randint(15, 30))]
            file, size = _write(root, site, story.path, _article_html(rng, story, others))
            farm.articles.append((file, site.encoding))
            farm.bytes_total += size
        if site.listed:
            pages = (len(stories) + PER_LISTING - 1) // PER_LISTING
            for k in range(1, pages + 1):
                path = site.listing[0] if k == 1 else site.listing[1].format(k=k)
                _write(root, site, path, _listing_html(rng, site, k, pages, stories[(k - 1) * PER_LISTING : k * PER_LISTING]))
        if site.feed:
            _write(root, site, site.feed, _feed(site, stories[:FEED_ITEMS]))
        if site.sitemap:
            _write(root, site, site.sitemap, _sitemap(stories))
        (root / site.name / "robots.txt").write_text("User-agent: *\nDisallow: /search\n")
    farm.config = config_text(n)
    return farm


def config_text(n: int, database: str = "bench.db") -> str:
    lines = [
        "# Generated by benchmarks/farm.py: no politeness delay, every page within reach.",
        f'[storage]\ndatabase = "{database}"\n',
        "[crawl]\ndownload_delay = 0\nautothrottle = false\nconcurrency_per_domain = 4\ntimeout = 30\nretries = 0\n",
    ]
    for site in SITES:
        start = [f"{{{{site:{site.name}}}}}{site.listing[0]}"] if site.listed else []
        lines.append("[[sources]]")
        lines.append(f'name = "{site.name}"')
        lines.append(f"start_urls = {_toml_list(start)}")
        lines.append(f"feeds = {_toml_list([f'{{{{site:{site.name}}}}}{site.feed}'] if site.feed else [])}")
        lines.append(f"sitemaps = {_toml_list([f'{{{{site:{site.name}}}}}{site.sitemap}'] if site.sitemap else [])}")
        lines.append(f"article_urls = ['{site.article_re}']")
        lines.append(f"follow_urls = ['{site.follow_re}']" if site.listed else "follow_urls = []")
        lines.append(f"max_depth = {n}\nmax_requests = {n * 2 + 100}")
        lines.append(f'language = "{"en" if site.lang == "en" else "zh-cn"}"\n')
    return "\n".join(lines)


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="article pages (default 2,000)")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the sites into")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    farm = generate(args.out, args.n, args.seed)
    print(f"# {len(farm.articles):,} article pages, {farm.bytes_total / len(farm.articles) / 1000:.0f} kB each on average, in {args.out}")
    print(farm.config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
