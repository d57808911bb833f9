"""The site farm serves example sites over real HTTP; these tests talk to it with urllib."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from loomwatch.crawler.demo.sitefarm import DEMO_CONFIG, DEMO_SITES, SiteFarm, SiteFarmError, move_dates

GBK_TEXT = "柯桥印染企业王镕说，面料订单回暖。"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


_plain = urllib.request.build_opener(_NoRedirect)


def fetch(url: str, headers: dict[str, str] | None = None, follow: bool = True) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) for a GET, without raising on 3xx/4xx/5xx."""
    request = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener() if follow else _plain
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers.items()), err.read()


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


@pytest.fixture
def farm(tmp_path: Path):
    alpha = tmp_path / "alpha"
    write(alpha / "index.html", '<a href="{{base}}/a.htm">a</a> <a href="{{site:beta}}/x.html">beta</a>')
    write(alpha / "a.htm", "<html><body><p>Article A</p></body></html>")
    write(alpha / "gbk.html", ('<meta charset="gb2312"><p>' + GBK_TEXT + "</p>").encode("gbk"))
    write(alpha / "feed" / "index.rss", '<rss version="2.0"><channel><link>{{base}}/</link></channel></rss>')
    write(alpha / "archives" / "8366", "<html><body><p>Post 8366</p></body></html>")
    write(alpha / "report.pdf", b"%PDF-1.4\n{{base}} stays as it is\n%%EOF\n")
    write(alpha / "_secret.html", "hidden")
    write(alpha / "_site.toml", r'''
headers = { "X-Powered-By" = "PHP/5.6.40" }

[[rule]]
path = "/?p=8366"
redirect = "/archives/8366"

[[rule]]
path = "/old.htm"
redirect = "{{base}}/mid.htm"
status = 301

[[rule]]
path = "/mid.htm"
redirect = "/a.htm"
status = 302

[[rule]]
path = "/flaky.htm"
fail_first = 2
fail_status = 503
retry_after = 1

[[rule]]
path = "/a.htm"
headers = { "Content-Type" = "text/html; charset=utf-8" }

[[rule]]
path = "/gone.htm"
status = 410

[[rule]]
path = "/big.htm"
generate = "oversize"
size = 6000000

[[rule]]
path = "/stream.htm"
generate = "oversize"
size = 300000
content_length = false

[[rule]]
path = "/slow.htm"
delay = 0.4

[[rule]]
match = '^/events/(\d{4}-\d{2}-\d{2})\.html$'
generate = "calendar"
''')
    write(alpha / "flaky.htm", "<p>Back again</p>")
    write(alpha / "slow.htm", "<p>Slow</p>")
    beta = tmp_path / "beta"
    write(beta / "x.html", "<p>{{base}} and {{site:alpha}}</p>")
    write(beta / "_site.toml", 'conditional = false\ncharset = "UTF-8"\n')
    with SiteFarm(tmp_path) as farm:
        yield farm


def test_sites_and_urls(farm: SiteFarm) -> None:
    assert set(farm.sites) == {"alpha", "beta"}
    assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+", url) for url in farm.sites.values())
    assert farm.sites["alpha"] != farm.sites["beta"]
    assert farm.url("alpha", "/a.htm") == farm.sites["alpha"] + "/a.htm"
    assert farm.url("alpha", "a.htm") == farm.sites["alpha"] + "/a.htm"
    assert farm.url("alpha") == farm.sites["alpha"] + "/"
    with pytest.raises(SiteFarmError, match="no site named 'gamma'"):
        farm.url("gamma")


def test_placeholders_are_substituted(farm: SiteFarm) -> None:
    status, headers, body = fetch(farm.url("alpha", "/"))
    assert status == 200
    assert body.decode() == f'<a href="{farm.sites["alpha"]}/a.htm">a</a> <a href="{farm.sites["beta"]}/x.html">beta</a>'
    _, _, body = fetch(farm.url("beta", "/x.html"))
    assert body.decode() == f"<p>{farm.sites['beta']} and {farm.sites['alpha']}</p>"
    _, _, body = fetch(farm.url("alpha", "/report.pdf"))
    assert b"{{base}} stays as it is" in body  # binary files are never touched
    assert farm.expand('start_urls = ["{{site:beta}}/"]') == f'start_urls = ["{farm.sites["beta"]}/"]'
    with pytest.raises(SiteFarmError, match=r"\{\{site:gamma\}\} names no site"):
        farm.expand('start_urls = ["{{site:gamma}}/"]')


def test_gbk_bytes_preserved_and_no_charset_by_default(farm: SiteFarm) -> None:
    status, headers, body = fetch(farm.url("alpha", "/gbk.html"))
    assert status == 200
    assert headers["Content-Type"] == "text/html"
    assert body == ('<meta charset="gb2312"><p>' + GBK_TEXT + "</p>").encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        body.decode("gb2312")  # 镕 is GBK-only
    assert GBK_TEXT in body.decode("gb18030")


def test_content_types(farm: SiteFarm) -> None:
    assert fetch(farm.url("alpha", "/feed/"))[1]["Content-Type"] == "application/rss+xml"
    assert fetch(farm.url("alpha", "/archives/8366"))[1]["Content-Type"] == "text/html"
    assert fetch(farm.url("alpha", "/report.pdf"))[1]["Content-Type"] == "application/pdf"
    assert fetch(farm.url("alpha", "/a.htm"))[1]["Content-Type"] == "text/html; charset=utf-8"  # rule override
    assert fetch(farm.url("beta", "/x.html"))[1]["Content-Type"] == "text/html; charset=UTF-8"  # site charset
    assert fetch(farm.url("alpha", "/a.htm"))[1]["X-Powered-By"] == "PHP/5.6.40"  # site-wide header


def test_conditional_requests(farm: SiteFarm) -> None:
    status, headers, body = fetch(farm.url("alpha", "/a.htm"))
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    assert last_modified == "Fri, 20 Nov 2026 00:00:00 GMT"
    status, headers, body = fetch(farm.url("alpha", "/a.htm"), {"If-None-Match": etag})
    assert (status, body, headers["ETag"]) == (304, b"", etag)
    assert fetch(farm.url("alpha", "/a.htm"), {"If-None-Match": f'"other", W/{etag}'})[0] == 304
    assert fetch(farm.url("alpha", "/a.htm"), {"If-None-Match": '"other"'})[0] == 200
    assert fetch(farm.url("alpha", "/a.htm"), {"If-Modified-Since": last_modified})[0] == 304
    assert fetch(farm.url("alpha", "/a.htm"), {"If-Modified-Since": "Thu, 19 Nov 2026 00:00:00 GMT"})[0] == 200
    # the ETag belongs to the content: another page has another one
    assert fetch(farm.url("alpha", "/flaky.htm"))[0] == 503
    assert fetch(farm.url("alpha", "/gbk.html"))[1]["ETag"] != etag
    # a site can switch conditional requests off
    status, headers, _ = fetch(farm.url("beta", "/x.html"), {"If-Modified-Since": "Fri, 20 Nov 2026 00:00:00 GMT"})
    assert status == 200 and "ETag" not in headers and "Last-Modified" not in headers


def test_redirects(farm: SiteFarm) -> None:
    status, headers, _ = fetch(farm.url("alpha", "/?p=8366"), follow=False)
    assert (status, headers["Location"]) == (301, "/archives/8366")
    status, headers, _ = fetch(farm.url("alpha", "/old.htm"), follow=False)
    assert (status, headers["Location"]) == (301, farm.url("alpha", "/mid.htm"))
    status, headers, _ = fetch(farm.url("alpha", "/mid.htm"), follow=False)
    assert (status, headers["Location"]) == (302, "/a.htm")
    status, _, body = fetch(farm.url("alpha", "/old.htm"))
    assert (status, body) == (200, b"<html><body><p>Article A</p></body></html>")
    assert [r.path for r in farm.requests("alpha")][-3:] == ["/old.htm", "/mid.htm", "/a.htm"]
    # without the query the shortlink rule does not apply: "/" is the home page
    assert fetch(farm.url("alpha", "/"), follow=False)[0] == 200


def test_fail_first_recovers(farm: SiteFarm) -> None:
    url = farm.url("alpha", "/flaky.htm")
    first, second, third = fetch(url), fetch(url), fetch(url)
    assert (first[0], second[0], third[0]) == (503, 503, 200)
    assert first[1]["Retry-After"] == "1"
    assert third[2] == b"<p>Back again</p>"
    farm.reset_log()  # a fresh start fails again
    assert fetch(url)[0] == 503


def test_errors(farm: SiteFarm) -> None:
    status, headers, body = fetch(farm.url("alpha", "/no/such/page.htm"))
    assert status == 404 and b"404 Not Found" in body and headers["Content-Type"] == "text/html"
    assert fetch(farm.url("alpha", "/_site.toml"))[0] == 404
    assert fetch(farm.url("alpha", "/_secret.html"))[0] == 404
    assert fetch(farm.url("alpha", "/../beta/x.html"))[0] == 404
    assert fetch(farm.url("alpha", "/archives/"))[0] == 404  # a directory without an index
    assert fetch(farm.url("alpha", "/gone.htm"))[0] == 410


def test_oversize(farm: SiteFarm) -> None:
    status, headers, body = fetch(farm.url("alpha", "/big.htm"))
    assert status == 200
    assert headers["Content-Length"] == "6000000"
    assert len(body) == 6_000_000
    assert body.startswith(b"<!DOCTYPE html>") and body.endswith(b"</body></html>\n")
    status, headers, body = fetch(farm.url("alpha", "/stream.htm"))
    assert "Content-Length" not in headers and len(body) == 300_000


def test_calendar_is_an_endless_chain(farm: SiteFarm) -> None:
    url = farm.url("alpha", "/events/2026-12-30.html")
    seen = []
    for _ in range(4):
        status, _, body = fetch(url)
        assert status == 200
        html = body.decode("utf-8")
        nxt = re.search(r'<a href="([^"]+)">Next day', html).group(1)
        prev = re.search(r'<a href="([^"]+)">&laquo; Previous day', html).group(1)
        seen.append((prev, nxt))
        url = farm.url("alpha", nxt)
    assert seen == [
        ("/events/2026-12-29.html", "/events/2026-12-31.html"),
        ("/events/2026-12-30.html", "/events/2027-01-01.html"),
        ("/events/2026-12-31.html", "/events/2027-01-02.html"),
        ("/events/2027-01-01.html", "/events/2027-01-03.html"),
    ]
    assert fetch(farm.url("alpha", "/events/2026-02-30.html"))[0] == 404  # no such date


def test_max_concurrent_and_request_log(farm: SiteFarm) -> None:
    farm.reset_log()
    assert farm.max_concurrent("alpha") == 0
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def worker() -> None:
        barrier.wait()
        statuses.append(fetch(farm.url("alpha", "/slow.htm"), {"User-Agent": "loomwatch-test/1"})[0])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 4
    assert farm.max_concurrent("alpha") == 4
    assert farm.max_concurrent("beta") == 0
    assert farm.max_concurrent() == 4
    # The server notes a request as finished just after writing the response, so the
    # client can see the response a moment before the log does.
    deadline = time.monotonic() + 2
    while any(r.finished is None for r in farm.requests("alpha")) and time.monotonic() < deadline:
        time.sleep(0.01)
    log = farm.requests("alpha")
    assert [(r.method, r.path, r.status) for r in log] == [("GET", "/slow.htm", 200)] * 4
    assert all(r.headers["User-Agent"] == "loomwatch-test/1" for r in log)
    assert all(r.finished is not None and r.finished - r.started >= 0.39 for r in log)
    # one at a time stays one
    farm.reset_log()
    assert farm.requests("alpha") == []
    fetch(farm.url("alpha", "/slow.htm?x=1"))
    fetch(farm.url("alpha", "/slow.htm"))
    assert farm.max_concurrent("alpha") == 1
    assert [r.path for r in farm.requests("alpha")] == ["/slow.htm?x=1", "/slow.htm"]


def test_head_requests(farm: SiteFarm) -> None:
    request = urllib.request.Request(farm.url("alpha", "/a.htm"), method="HEAD")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and response.read() == b""
        assert response.headers["Content-Length"] == str(len(b"<html><body><p>Article A</p></body></html>"))


def test_stop_closes_ports(tmp_path: Path) -> None:
    write(tmp_path / "only" / "index.html", "hi")
    farm = SiteFarm(tmp_path).start()
    url = farm.url("only")
    assert fetch(url)[0] == 200
    farm.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)


@pytest.mark.parametrize(
    "toml, message",
    [
        ('[[rule]]\npath = "/a"\nredirct = "/b"\n', "unknown key"),
        ('[[rule]]\nredirect = "/b"\n', "exactly one of path"),
        ('[[rule]]\npath = "/a"\ngenerate = "oversize"\n', "needs size"),
        ('[[rule]]\npath = "/a"\ngenerate = "calendar"\n', "needs a match regex"),
        ('[[rule]]\nmatch = "("\n', "not a valid regex"),
        ('[[rule]]\npath = "/a"\nredirect = "/b"\nstatus = 200\n', "a redirect needs status"),
        ("speed = 3\n", "unknown key"),
    ],
)
def test_bad_site_toml_is_reported(tmp_path: Path, toml: str, message: str) -> None:
    write(tmp_path / "s" / "_site.toml", toml)
    with pytest.raises(SiteFarmError, match=message) as err:
        SiteFarm(tmp_path)
    assert "_site.toml" in str(err.value)


def test_unknown_site_placeholder_fails_at_start(tmp_path: Path) -> None:
    write(tmp_path / "s" / "index.html", '<a href="{{site:nowhere}}/">x</a>')
    with pytest.raises(SiteFarmError, match=r"index\.html: placeholder \{\{site:nowhere\}\} names no site"):
        SiteFarm(tmp_path).start()


def test_distinct_hosts(tmp_path: Path) -> None:
    for name in ("one", "two"):
        write(tmp_path / name / "index.html", name)
    with SiteFarm(tmp_path, distinct_hosts=True) as farm:
        assert farm.sites["one"].startswith("http://127.0.0.2:")
        assert farm.sites["two"].startswith("http://127.0.0.3:")
        assert fetch(farm.url("two"))[2] == b"two"


# -- the bundled example sites -------------------------------------------------------


def test_test_sites_serve_their_traps(site_farm: SiteFarm) -> None:
    assert set(site_farm.sites) >= {"portal-en", "traps", "gbk-gov", "feeds", "sitemap", "shapes", "slow", "elsewhere"}
    assert fetch(site_farm.url("portal-en", "/robots.txt"))[2].startswith(b"User-agent: *")
    assert fetch(site_farm.url("traps", "/2026-11/20/c_2003.htm"))[1]["Content-Type"] == "application/pdf"
    status, headers, body = fetch(site_farm.url("gbk-gov", "/art/2026/11/19/art_12_3404.html"))
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    sitemap = fetch(site_farm.url("sitemap", "/sitemap_index.xml"))[2].decode()
    assert site_farm.url("sitemap", "/sitemaps/news-2026-11.xml") in sitemap


def test_site_farm_fixture_starts_each_test_with_empty_logs(site_farm: SiteFarm) -> None:
    assert all(site_farm.requests(name) == [] for name in site_farm.sites)
    fetch(site_farm.url("traps", "/2026-11/20/c_2001.htm"))  # fails first, whatever test came before


def test_demo_sites_are_bundled() -> None:
    names = sorted(p.name for p in DEMO_SITES.iterdir() if p.is_dir())
    assert names == ["garment-blog", "keqiao-gov", "nantong-portal", "textile-index", "textile-world"]
    assert sum(f.stat().st_size for f in DEMO_SITES.rglob("*") if f.is_file()) < 1_000_000
    with SiteFarm(DEMO_SITES) as farm:
        config = farm.expand(DEMO_CONFIG.read_text(encoding="utf-8"))
        assert not re.search(r"\{\{(base|site:[\w.-]+)\}\}", config)
        for name, base in farm.sites.items():
            assert base in config
        status, headers, _ = fetch(farm.url("garment-blog", "/?p=8366"), follow=False)
        assert (status, headers["Location"]) == (301, "/archives/8366")
        feed = fetch(farm.url("garment-blog", "/feed/"))[2].decode("utf-8")
        assert farm.url("garment-blog", "/archives/8366?utm_source=rss&amp;utm_medium=rss") in feed
        robots = fetch(farm.url("textile-index", "/robots.txt"))[2].decode()
        assert f"Sitemap: {farm.url('textile-index', '/sitemap.xml')}" in robots
        status, _, body = fetch(farm.url("keqiao-gov", "/col/col1229/index.html"))
        assert status == 200 and "柯桥" in body.decode("gb18030")


def test_fixture_concurrency_is_measured_per_site(site_farm: SiteFarm) -> None:
    start = time.monotonic()
    paths = ["/2026-11/21/c_3001.htm", "/2026-11/21/c_3002.htm", "/2026-11/22/c_3003.htm"]
    threads = [threading.Thread(target=fetch, args=(site_farm.url("slow", path),)) for path in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - start < 3
    assert site_farm.max_concurrent("slow") == 3
    assert site_farm.max_concurrent("portal-en") == 0


def test_sites_readme_describes_every_test_site() -> None:
    readme = (Path(__file__).parent / "sites" / "README.md").read_text(encoding="utf-8")
    for site in (Path(__file__).parent / "sites").iterdir():
        if site.is_dir():
            assert f"## {site.name} " in readme, f"tests/sites/README.md does not describe site {site.name}"


@pytest.mark.parametrize(
    "page",
    [
        Path(__file__).parent / "sites/gbk-gov/art/2026/11/20/art_12_3403.html",
        DEMO_SITES / "keqiao-gov/art/2026/11/16/art_1229_567745.html",
    ],
)
def test_gb2312_declared_pages_need_gb18030(page: Path) -> None:
    raw = page.read_bytes()
    assert b'charset="gb2312"' in raw or b"charset=gb2312" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("gb2312")
    assert all(name in raw.decode("gb18030") for name in ("王镕", "李喆", "陈堃"))


@pytest.mark.parametrize(
    "page",
    [
        Path(__file__).parent / "sites/gbk-gov/art/2026/11/21/art_12_3402.html",
        DEMO_SITES / "keqiao-gov/art/2026/11/12/art_1229_567633.html",
    ],
)
def test_pages_without_any_charset(page: Path) -> None:
    raw = page.read_bytes()
    assert b"charset" not in raw.lower()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


# --- dated snapshots (_farm.toml) ------------------------------------------------------------

SNAPSHOT_TOML = 'snapshot = 2026-11-22\ntimezone = "Asia/Shanghai"\n'


@pytest.mark.parametrize(("written", "moved"), [
    ("2026-11-20", "2027-02-27"),
    ("2026-11-20T16:30:00+08:00", "2027-02-27T16:30:00+08:00"),
    ("/art/2026/11/9/art_1229_1.html", "/art/2027/2/16/art_1229_1.html"),  # Hanweb: unpadded stays unpadded
    ("/haimen/2026-11/02/c_561392.htm", "/haimen/2027-02/09/c_561392.htm"),  # China Daily
    ("/news/2026/202611/t20261120_3956515.htm", "/news/2027/202702/t20270227_3956515.htm"),  # TRS
    ("/news/202611/t20261130_5.htm", "/news/202703/t20270309_5.htm"),
    ("Updated: November 2, 2026", "Updated: February 9, 2027"),
    ("<pubDate>Sat, 21 Nov 2026 06:03:31 +0000</pubDate>", "<pubDate>Sun, 28 Feb 2027 06:03:31 +0000</pubDate>"),
    ("Posted 21 November 2026", "Posted 28 February 2027"),
    ("2026/11/21 10:12:00", "2027/02/28 10:12:00"),
    # a year or a month alone, other numbers and impossible dates stay
    ("Copyright 2005-2026, the October 2026 index, news-2026-11.xml, tel. 0575-8512-3456, v1.2026-11-20, 2026-13-45",
     "Copyright 2005-2026, the October 2026 index, news-2026-11.xml, tel. 0575-8512-3456, v1.2026-11-20, 2026-13-45"),
])
def test_move_dates_moves_full_dates_as_written(written: str, moved: str) -> None:
    assert move_dates(written.encode(), 99).decode() == moved


def test_a_dated_snapshot_is_served_as_of_today(tmp_path: Path) -> None:
    write(tmp_path / "_farm.toml", SNAPSHOT_TOML)
    gov = tmp_path / "gov"
    write(gov / "col" / "index.html", '<a href="/art/2026/11/9/art_1.html">Nov 9</a> <span>2026-11-09</span>')
    write(gov / "art" / "2026" / "11" / "9" / "art_1.html", ('<meta charset="gb2312"><p>发布日期：2026-11-09 柯桥</p>').encode("gbk"))
    write(gov / "_site.toml", '[[rule]]\npath = "/art/2026/11/9/art_1.html"\nheaders = { "X-Rule" = "applied" }\n'
                              '[[rule]]\npath = "/old/2026-11/09/a.htm"\nredirect = "/art/2026/11/9/art_1.html"\n')
    today = dt.date(2027, 3, 1)  # 99 days after the snapshot
    with SiteFarm(tmp_path, today=today) as farm:
        assert farm.url("gov", "/art/2026/11/9/art_1.html") == farm.sites["gov"] + "/art/2027/2/16/art_1.html"
        status, _, body = fetch(farm.url("gov", "/col/index.html"))
        assert body.decode() == '<a href="/art/2027/2/16/art_1.html">Nov 9</a> <span>2027-02-16</span>'
        status, headers, body = fetch(farm.sites["gov"] + "/art/2027/2/16/art_1.html")
        assert status == 200 and headers["X-Rule"] == "applied"  # rules and files keep the snapshot's paths
        assert "发布日期：2027-02-16 柯桥" in body.decode("gbk")  # GBK bytes around the date untouched
        assert headers["Last-Modified"] == "Sat, 27 Feb 2027 00:00:00 GMT"  # 2026-11-20 moved as well
        status, headers, _ = fetch(farm.sites["gov"] + "/old/2027-02/16/a.htm", follow=False)
        assert (status, headers["Location"]) == (301, "/art/2027/2/16/art_1.html")
        assert fetch(farm.sites["gov"] + "/art/2026/11/9/art_1.html")[0] == 404  # the snapshot's own path is not served
    with SiteFarm(tmp_path, today=dt.date(2026, 11, 22)) as farm:  # on the snapshot day nothing moves
        assert fetch(farm.url("gov", "/col/index.html"))[2].decode().endswith("<span>2026-11-09</span>")
    (tmp_path / "_farm.toml").unlink()
    with SiteFarm(tmp_path, today=today) as farm:  # an undated farm is served as written
        assert fetch(farm.url("gov", "/col/index.html"))[2].decode().endswith("<span>2026-11-09</span>")


def test_the_demo_snapshot_moves_to_the_day_it_is_served_in_china() -> None:
    with SiteFarm(DEMO_SITES) as farm:
        china_today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
        assert farm.days == (china_today - dt.date(2026, 11, 22)).days
        newest = fetch(farm.url("nantong-portal", "/haimendearshiqiao/2026-11/20/c_1187342.htm"))
        assert newest[0] == 200 and f"Updated: {china_today - dt.timedelta(days=2):%B} " in newest[2].decode()


@pytest.mark.parametrize(("toml", "message"), [
    ("snapshot = 2026-11-22T08:00:00\n", "snapshot must be a TOML date such as 2026-11-22"),
    ('snapshot = 2026-11-22\ntimezone = "Mars/Olympus"\n', "'Mars/Olympus' is not an IANA time zone"),
    ("snapshots = 2026-11-22\n", "unknown key(s) snapshots; known: snapshot, timezone"),
])
def test_bad_farm_toml_is_reported(tmp_path: Path, toml: str, message: str) -> None:
    write(tmp_path / "_farm.toml", toml)
    write(tmp_path / "site" / "index.html", "<p>x</p>")
    with pytest.raises(SiteFarmError, match=re.escape(message)):
        SiteFarm(tmp_path)
