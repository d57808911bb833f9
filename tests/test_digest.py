"""The daily digest: windows, grouping, folding, rendering, and mailing through a real SMTP server.

Time-dependent behaviour is tested through `run_digest(now=...)` with a frozen clock; the
CLI tests use archives stamped relative to the real clock. Mail goes to aiosmtpd on
127.0.0.1, on a port the kernel picks.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import importlib.util
import json
import logging
import re
import socket
import ssl
import struct
import subprocess
import sys
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner

from loomwatch.crawler.cli import main
from loomwatch.crawler.config import load_config
from loomwatch.crawler.digest.mail import DigestLock, SendError
from loomwatch.crawler.digest.model import build_digest, excerpt
from loomwatch.crawler.digest.render import render
from loomwatch.crawler.digest.run import run_digest
from loomwatch.pipelines.gazetteer import load_gazetteer
from loomwatch.storage import open_database
from loomwatch.storage.articles import insert_article, sync_clusters
from loomwatch.storage.stories import set_story

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
CHROMIUM = Path("/usr/bin/chromium")


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


golden = _script("regen_golden")
NOW = golden.NOW  # 2026-11-21 07:30 in Shanghai


# --- a real SMTP server --------------------------------------------------------------------


class PortZeroController(Controller):
    """aiosmtpd's Controller, listening on a port the kernel picks (it assumes a fixed one)."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Inbox:
    """Keeps every accepted message; refuses the recipients in `refuse`."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = PortZeroController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    controller.inbox = inbox
    yield controller
    controller.stop()


@pytest.fixture
def smtp_auth():
    """A server that requires login `digest` / `s3cret` (over plain SMTP: it is 127.0.0.1)."""

    def authenticate(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"digest", b"s3cret"), handled=False)

    inbox = Inbox()
    controller = PortZeroController(inbox, hostname="127.0.0.1", port=0, authenticator=authenticate,
                                    auth_required=True, auth_require_tls=False)
    controller.start()
    controller.inbox = inbox
    yield controller
    controller.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- archives and configurations -----------------------------------------------------------


def write_config(directory: Path, port: int, **email_keys) -> Path:
    email_keys = {"smtp_host": "127.0.0.1", "smtp_port": port, "sender": "loomwatch <digest@loomwatch.example>",
                  "recipients": ["ana@textiles.example", "bo@textiles.example"], "timeout": 5, **email_keys}
    lines = ['timezone = "Asia/Shanghai"', "[storage]", 'database = "a.db"', "[digest]", 'output_dir = "out"', "[email]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in email_keys.items()]
    path = directory / "loomwatch.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def new_archive(directory: Path):
    db = open_database(directory / "a.db")
    sync_clusters(db, load_gazetteer().rows())
    return db


def add(db, url: str, title: str, *, source: str = "textile-index", clusters=(("keqiao", 0.9),), published: str | None = "today",
        first_seen: str | None = None, relevant: int = 1, duplicate_of: int | None = None, lang: str = "en",
        text: str | None = None) -> int:
    if published == "today":
        published = dt.datetime.now(dt.timezone.utc).date().isoformat()
    text = text or f"{title}. Mills and traders in the cluster reported the change this week. Buyers expect more of it."
    with db.atomic():
        return insert_article(db, {"url": url, "source": source, "title": title, "text": text, "published": published,
                                   "first_seen": first_seen, "lang": lang, "relevance": 0.8, "relevant": relevant,
                                   "duplicate_of": duplicate_of}, clusters=clusters if relevant else ())


def invoke(*args: str) -> "CliRunner.invoke":
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def text_part(message) -> str:
    return message.get_body(("plain",)).get_content()


def digests(db) -> list[dict]:
    return [dict(r) for r in db.query("SELECT * FROM digests ORDER BY id")]


@pytest.fixture
def golden_archive(tmp_path):
    db = golden.build_archive(tmp_path / "a.db")
    yield db
    db.close()


# --- the model: grouping, folding, selection -----------------------------------------------


def test_golden_files_match_the_rendering(tmp_path):
    html, text = golden.render_golden(tmp_path)
    assert text == (GOLDEN / "digest.txt").read_text(encoding="utf-8"), "digest.txt changed: run scripts/regen_golden.py and review the diff"
    assert html == (GOLDEN / "digest.html").read_text(encoding="utf-8"), "digest.html changed: run scripts/regen_golden.py and review the diff"


def test_each_story_once_under_its_report_in_the_digest_language(golden_archive):
    from loomwatch.crawler.config import Config, DigestSettings

    def dieshiqiao(language: str):
        d = build_digest(golden_archive, Config(timezone="Asia/Shanghai", digest=DigestSettings(language=language)), now=NOW)
        [story] = [s for s in d.stories if "Dieshiqiao" in s.title or "叠石桥" in s.title]  # three reports, one story
        return d, story

    d, english = dieshiqiao("en")
    assert (english.title, english.source, english.language) == ("Dieshiqiao home textile market reports brisk bedding orders",
                                                                 "nantong-portal", "English")
    assert [(c.source, c.language) for c in english.copies] == [("garment-blog", "English"), ("textile-index", "English"),
                                                                ("haimen-gov", "Chinese")]
    assert d.counts["stories"] == 6
    d, chinese = dieshiqiao("zh")
    assert (chinese.title, chinese.source, chinese.id, chinese.lead_id) == ("叠石桥家纺市场床品订单创三年同期新高", "haimen-gov",
                                                                            english.id, english.lead_id)
    assert chinese.excerpt.startswith("海门叠石桥家纺市场迎来三年来最繁忙的十一月")
    assert [c.source for c in chinese.copies] == ["nantong-portal", "garment-blog", "textile-index"]
    _, fallback = dieshiqiao("ja")  # no report in Japanese: the first-seen one
    assert fallback.source == "nantong-portal"


def test_a_story_that_gains_a_report_after_it_was_mailed_is_not_mailed_again(golden_archive):
    from loomwatch.crawler.config import Config

    config = Config(timezone="Asia/Shanghai")
    first = build_digest(golden_archive, config, now=NOW)
    lead = next(s for s in first.stories if s.source == "silk-weekly")
    golden_archive.execute("INSERT INTO digests (kind, window_start, window_end, created, status, sent, after_article_id, last_article_id) "
                           "VALUES ('new', ?, ?, ?, 'sent', ?, NULL, ?)",
                           ["2026-11-19 23:30:00", "2026-11-20 23:30:00", "2026-11-20 23:30:00", "2026-11-20 23:30:00", first.last_article_id])
    translation = add(golden_archive, "https://zh.silk.example/1", "盛泽织造企业转向再生涤纶", source="silk-zh", lang="zh-cn",
                      clusters=(("shengze", 0.9),))
    with golden_archive.atomic():  # found to be a report of the mailed story
        set_story(golden_archive, translation, lead.id)
    fresh = add(golden_archive, "https://silk-weekly.example/2", "Shengze mills add certification staff", source="silk-weekly",
                clusters=(("shengze", 0.9),))
    later = build_digest(golden_archive, config, now=NOW + dt.timedelta(hours=3))
    assert [s.lead_id for s in later.stories] == [fresh]


def test_sections_by_cluster_with_cross_references_and_folded_copies(golden_archive, tmp_path):
    d = build_digest(golden_archive, load_config(write_config(tmp_path, 25)), now=NOW)
    assert [s.id for s in d.sections] == ["keqiao", "dieshiqiao", "humen", "shengze", None]
    assert [s.title for s in d.sections][:2] == ["Keqiao 柯桥", "Dieshiqiao 叠石桥"]
    assert d.sections[-1].name == "Other textile news"
    keqiao, dieshiqiao, _, shengze, other = d.sections
    # The Chinese title as published, and the story about two clusters printed once, under its strongest.
    assert [s.title for s in keqiao.stories] == ["柯桥区举办秋季面料采购对接会", "Keqiao dyeing plants finish wastewater upgrade ahead of winter"]
    assert [s.title for s in shengze.stories] == ["Shengze weavers shift looms to recycled polyester"]
    assert [(r.story.title, r.under) for r in keqiao.cross_refs] == [("Shengze weavers shift looms to recycled polyester", "Shengze")]
    assert shengze.stories[0].also_about == ["Keqiao"]
    # Two copies and a translation folded into the story: each outlet once, with its link.
    assert [(c.source, c.url) for c in dieshiqiao.stories[0].copies] == [
        ("garment-blog", "https://garment-blog.example/archives/8401"),
        ("textile-index", "https://textile-index.example/news/dieshiqiao-bedding.html"),
        ("haimen-gov", "https://www.haimen.example/art/2026/11/20/art_88_3.html"),  # its Chinese version
    ]
    assert [s.title for s in other.stories] == ["Cotton yarn prices edge lower as mills cut output"]
    titles = [s.title for s in d.stories]
    assert len(titles) == len(set(titles)) == 6
    for left_out in ("区政府召开冬季安全生产工作会议",  # not relevant
                     "Keqiao autumn fair looks back on a record year",  # published in 2024, stored now
                     "Keqiao fabric exporters see steady orders",  # stored before the window
                     "Bedding orders surge at Dieshiqiao market"):  # a duplicate
        assert left_out not in titles
    assert d.counts == {"stories": 6, "clusters": 4, "sources": 5}


def test_a_cluster_with_only_cross_references_points_to_the_story(tmp_path):
    db = new_archive(tmp_path)
    add(db, "https://x.example/1", "Shengze mills court Keqiao wholesalers", clusters=[("shengze", 0.9), ("keqiao", 0.4)],
        first_seen="2026-11-20 10:00:00")
    d = build_digest(db, load_config(write_config(tmp_path, 25)), now=NOW)
    assert [(s.id, len(s.stories), len(s.cross_refs)) for s in d.sections] == [("shengze", 1, 0), ("keqiao", 0, 1)]
    assert d.counts == {"stories": 1, "clusters": 2, "sources": 1}
    _, text = render(d)
    assert "In this digest: Shengze 盛泽 (1), Keqiao 柯桥 (see also)" in text
    assert "== Keqiao 柯桥 (see also) ==" in text and text.count("Shengze mills court Keqiao wholesalers") == 2


def test_undated_story_counts_from_when_it_was_stored(golden_archive, tmp_path):
    d = build_digest(golden_archive, load_config(write_config(tmp_path, 25)), now=NOW)
    humen = next(s for s in d.stories if s.source == "garment-blog")
    assert humen.published is None and humen.date == "undated, stored 2026-11-20"


def test_max_age_keeps_a_backfill_out(tmp_path):
    db = new_archive(tmp_path)
    today = NOW.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    stored = "2026-11-20 20:00:00"
    for days in (0, 7, 8, 400):
        add(db, f"https://x.example/{days}", f"Keqiao story {days} days old", published=(today - dt.timedelta(days=days)).isoformat(),
            first_seen=stored)
    add(db, "https://x.example/undated", "Keqiao undated story", published=None, first_seen=stored)
    d = build_digest(db, load_config(write_config(tmp_path, 25)), now=NOW)
    assert sorted(s.title for s in d.stories) == ["Keqiao story 0 days old", "Keqiao story 7 days old", "Keqiao undated story"]


@pytest.mark.parametrize("text, expected", [
    ("Keqiao mills\nPosted: 20 Nov 2026\nThe first sentence is here. Mr. Li said the second one. A third follows. A fourth never shows.",
     "The first sentence is here. Mr. Li said the second one. A third follows."),
    ("柯桥新闻\n来源：区商务局\n第一句话在这里。第二句话也在。第三句跟着。第四句不会出现。", "第一句话在这里。第二句话也在。第三句跟着。"),
    ("Buyers compare quilts in the East Hall. [Photo/Nantong Daily]\nTrading halls were crowded. Orders rose.", "Trading halls were crowded. Orders rose."),
    ("图为柯桥面料市场一角。\n市场成交活跃。订单增加。", "市场成交活跃。订单增加。"),
    ("Word " * 200, None),
])
def test_excerpt_skips_title_and_datelines_and_stays_short(text, expected):
    result = excerpt(text, "Keqiao mills")
    if expected is None:
        assert result.endswith("…") and len(result) <= 400
    else:
        assert result == expected


def test_html_is_safe_for_mail_clients(golden_archive, tmp_path):
    html, text = render(build_digest(golden_archive, load_config(write_config(tmp_path, 25)), now=NOW))
    lowered = html.lower()
    for forbidden in ("<script", "<style", "<link", "<img", "<iframe", "class=", "javascript:"):
        assert forbidden not in lowered
    assert re.findall(r'src="', html) == []
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and all(h.startswith("https://") for h in hrefs)
    assert all('style="' in tag for tag in re.findall(r"<(?:h1|h2|p|a)\b[^>]*>", html))
    assert "&lt;" not in text  # the text part is not HTML-escaped


# --- windows: nothing skipped, nothing repeated ---------------------------------------------


def test_windows_neither_skip_nor_repeat(smtp, tmp_path):
    config = load_config(write_config(tmp_path, smtp.port))
    db = new_archive(tmp_path)
    first = [add(db, f"https://x.example/{n}", f"Keqiao story {n}", first_seen="2026-11-20 10:00:00") for n in (1, 2)]
    sent = run_digest(config, send=True, now=NOW)
    assert sent.status == "sent" and sent.digest.article_ids == first
    # Committed after the first digest looked, stamped before it (a crawl batch straddling the cut):
    late = add(db, "https://x.example/3", "Keqiao story 3", first_seen="2026-11-20 23:29:59")
    later = add(db, "https://x.example/4", "Keqiao story 4", first_seen="2026-11-21 05:00:00")
    second = run_digest(config, send=True, now=NOW + dt.timedelta(days=1))
    assert second.digest.article_ids == [late, later]
    assert second.digest.window_start == NOW
    assert "New since the previous digest" in second.digest.window_label
    assert len(smtp.inbox.messages) == 2


def test_a_preview_does_not_use_up_the_window(smtp, tmp_path):
    config = load_config(write_config(tmp_path, smtp.port))
    db = new_archive(tmp_path)
    story = add(db, "https://x.example/1", "Keqiao story", first_seen="2026-11-20 10:00:00")
    for _ in range(2):
        preview = run_digest(config, now=NOW)
        assert preview.status == "rendered" and preview.digest.article_ids == [story]
    assert smtp.inbox.messages == []
    assert run_digest(config, send=True, now=NOW).digest.article_ids == [story]
    assert [r["status"] for r in digests(db)] == ["rendered", "rendered", "sent"]


def test_force_mails_the_last_window_again(smtp, tmp_path):
    config = load_config(write_config(tmp_path, smtp.port))
    db = new_archive(tmp_path)
    story = add(db, "https://x.example/1", "Keqiao story", first_seen="2026-11-20 10:00:00")
    run_digest(config, send=True, now=NOW)
    assert run_digest(config, send=True, now=NOW + dt.timedelta(hours=1)).status == "nothing_new"
    again = run_digest(config, send=True, force=True, now=NOW + dt.timedelta(hours=1))
    assert again.status == "sent" and again.digest.article_ids == [story]
    assert len(smtp.inbox.messages) == 2


def test_date_is_an_archive_view_of_one_local_day(smtp, golden_archive, tmp_path):
    config = load_config(write_config(tmp_path, smtp.port))
    day = dt.date(2026, 11, 20)
    outcome = run_digest(config, send=True, day=day, now=NOW + dt.timedelta(days=3))
    assert outcome.status == "sent" and len(outcome.digest.stories) == 6
    assert outcome.digest.window_start == dt.datetime(2026, 11, 19, 16, 0, tzinfo=dt.timezone.utc)
    assert [f.name for f in outcome.files] == ["digest-2026-11-20.html", "digest-2026-11-20.txt", "digest-2026-11-20.eml"]
    assert "Archive view" in text_part(smtp.inbox.messages[0][1])
    again = run_digest(config, send=True, day=day, now=NOW + dt.timedelta(days=3))
    assert again.status == "already_sent" and "--force" in again.note
    assert run_digest(config, send=True, day=day, force=True, now=NOW + dt.timedelta(days=3)).status == "sent"
    assert len(smtp.inbox.messages) == 2
    # A day's digest does not move the cursor of what is new.
    assert len(run_digest(config, send=True, now=NOW).digest.stories) == 6


def test_send_empty(smtp, tmp_path):
    db = new_archive(tmp_path)
    quiet = load_config(write_config(tmp_path, smtp.port))
    outcome = run_digest(quiet, send=True, now=NOW)
    assert outcome.status == "nothing_new" and "email.send_empty" in outcome.note
    assert smtp.inbox.messages == [] and digests(db) == []
    chatty = load_config(write_config(tmp_path, smtp.port, send_empty=True))
    assert run_digest(chatty, send=True, now=NOW).status == "sent"
    assert "Nothing new in this window" in text_part(smtp.inbox.messages[0][1])
    assert run_digest(chatty, send=True, now=NOW + dt.timedelta(hours=2)).status == "nothing_new"  # once a day
    assert run_digest(chatty, send=True, now=NOW + dt.timedelta(days=1)).status == "sent"
    assert len(smtp.inbox.messages) == 2


# --- the CLI and a real SMTP server --------------------------------------------------------


def test_send_mails_one_grouped_digest_then_nothing(smtp, tmp_path):
    config = write_config(tmp_path, smtp.port)
    db = new_archive(tmp_path)
    original = add(db, "https://nantong.example/a", "Dieshiqiao bedding orders climb", source="nantong-portal", clusters=[("dieshiqiao", 0.9)])
    add(db, "https://blog.example/copy", "Bedding orders climb at Dieshiqiao", source="garment-blog", clusters=[("dieshiqiao", 0.9)],
        duplicate_of=original)
    add(db, "https://kq.example/1", "柯桥面料市场成交活跃", source="keqiao-gov", lang="zh-cn")
    add(db, "https://kq.example/2", "Keqiao printers add digital lines")
    add(db, "https://kq.example/3", "Shengze and Keqiao share a logistics hub", clusters=[("shengze", 0.7), ("keqiao", 0.5)])
    add(db, "https://x.example/gov", "Road works schedule", relevant=0)

    result = invoke("digest", "--config", str(config), "--send")
    assert result.exit_code == 0, result.output
    assert "digest " in result.output and "4 stories in 3 clusters from 3 sources" in result.output
    assert "mailed to ana@textiles.example, bo@textiles.example" in result.output
    assert len(smtp.inbox.messages) == 1
    rcpt, msg = smtp.inbox.messages[0]
    assert rcpt == ["ana@textiles.example", "bo@textiles.example"]
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    local_today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    assert msg["Subject"] == f"loomwatch digest {local_today}: 4 new textile-cluster stories"
    assert msg["From"] == "loomwatch <digest@loomwatch.example>"
    assert msg["To"] == "ana@textiles.example, bo@textiles.example"
    assert abs(parsedate_to_datetime(msg["Date"]) - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=5)
    assert re.fullmatch(r"<[^@>]+@loomwatch\.example>", msg["Message-ID"])
    assert msg["Auto-Submitted"] == "auto-generated"
    text = text_part(msg)
    # Keqiao (2 stories) before Dieshiqiao and Shengze (1 each); the shared story cross-referenced.
    assert text.index("== Keqiao 柯桥 (2) ==") < text.index("== Dieshiqiao 叠石桥 (1) ==") < text.index("== Shengze 盛泽 (1) ==")
    assert "See also: Shengze and Keqiao share a logistics hub (under Shengze)" in text
    assert "garment-blog <https://blog.example/copy>" in text
    assert text.count("Dieshiqiao bedding orders climb") == 1 and "Bedding orders climb at Dieshiqiao" not in text
    assert "Road works" not in text
    html = msg.get_body(("html",)).get_content()
    assert '<a href="https://blog.example/copy"' in html and "柯桥面料市场成交活跃" in html

    second = invoke("digest", "--config", str(config), "--send")
    assert second.exit_code == 0 and "nothing new since the last digest; no mail sent" in second.output
    assert len(smtp.inbox.messages) == 1

    newer = add(db, "https://kq.example/4", "Keqiao adds a night market")
    third = invoke("digest", "--config", str(config), "--send")
    assert third.exit_code == 0 and len(smtp.inbox.messages) == 2
    assert "Keqiao adds a night market" in text_part(smtp.inbox.messages[1][1])
    assert "Keqiao printers" not in text_part(smtp.inbox.messages[1][1])
    rows = digests(db)
    assert [r["status"] for r in rows] == ["sent", "sent"]
    assert json.loads(rows[1]["article_ids"]) == [newer]
    assert rows[1]["message_id"] == smtp.inbox.messages[1][1]["Message-ID"]


def test_files_written_to_out(smtp, tmp_path):
    config = write_config(tmp_path, smtp.port, subject="纺织集群日报 {date}：{stories} 条")
    add(new_archive(tmp_path), "https://kq.example/1", "Keqiao printers add digital lines")
    result = invoke("digest", "--config", str(config), "--out", str(tmp_path / "files"))
    assert result.exit_code == 0 and "not mailed: pass --send" in result.output
    (eml,) = (tmp_path / "files").glob("*.eml")
    assert sorted(p.suffix for p in (tmp_path / "files").iterdir() if p.is_file()) == [".eml", ".html", ".txt"]
    assert (tmp_path / "files" / "feeds" / "all.xml").is_file()  # the feeds go with the digest
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative" and "Keqiao printers add digital lines" in text_part(msg)
    assert re.fullmatch(r"纺织集群日报 \d{4}-\d\d-\d\d：1 条", msg["Subject"])
    assert b"=?utf-8?" in eml.read_bytes()  # the header is encoded, as SMTP requires
    assert smtp.inbox.messages == []
    assert not (tmp_path / "out").exists()  # --out replaced [digest] output_dir


def test_refused_connection_fails_and_the_next_run_sends_the_window(smtp, tmp_path):
    db = new_archive(tmp_path)
    story = add(db, "https://kq.example/1", "Keqiao printers add digital lines")
    port = closed_port()
    result = invoke("digest", "--config", str(write_config(tmp_path, port)), "--send")
    assert result.exit_code == 1
    assert f"digest not sent: could not connect to SMTP server 127.0.0.1:{port}: Connection refused" in result.output
    assert "check 'email.smtp_host', 'email.smtp_port'" in result.output
    (row,) = digests(db)
    assert row["status"] == "failed" and "Connection refused" in row["error"] and row["sent"] is None
    retry = invoke("digest", "--config", str(write_config(tmp_path, smtp.port)), "--send")
    assert retry.exit_code == 0
    assert json.loads(digests(db)[-1]["article_ids"]) == [story]
    assert "Keqiao printers add digital lines" in text_part(smtp.inbox.messages[0][1])


def test_a_refused_recipient_mails_nobody_and_the_next_run_retries(smtp, tmp_path):
    db = new_archive(tmp_path)
    add(db, "https://kq.example/1", "Keqiao printers add digital lines")
    smtp.inbox.refuse = {"typo@textiles.example"}
    config = write_config(tmp_path, smtp.port, recipients=["ana@textiles.example", "typo@textiles.example"])
    result = invoke("digest", "--config", str(config), "--send")
    assert result.exit_code == 1
    assert "refused recipient typo@textiles.example (550 5.1.1 no such mailbox here); fix 'email.recipients'" in result.output
    assert smtp.inbox.messages == []  # not even ana: the retry must not mail her twice
    assert digests(db)[0]["status"] == "failed"
    fixed = write_config(tmp_path, smtp.port, recipients=["ana@textiles.example"])
    assert invoke("digest", "--config", str(fixed), "--send").exit_code == 0
    assert [rcpt for rcpt, _ in smtp.inbox.messages] == [["ana@textiles.example"]]


def test_a_retry_covers_a_failed_first_window_even_a_day_later(smtp, tmp_path):
    db = new_archive(tmp_path)
    story = add(db, "https://kq.example/1", "Keqiao printers add digital lines", first_seen="2026-11-20 10:00:00")
    broken = load_config(write_config(tmp_path, closed_port()))
    with pytest.raises(SendError):
        run_digest(broken, send=True, now=NOW)
    working = load_config(write_config(tmp_path, smtp.port))
    outcome = run_digest(working, send=True, now=NOW + dt.timedelta(days=1, hours=2))
    assert outcome.digest.article_ids == [story]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_the_password_from_the_environment(smtp_auth, tmp_path, monkeypatch):
    add(new_archive(tmp_path), "https://kq.example/1", "Keqiao printers add digital lines")
    config = write_config(tmp_path, smtp_auth.port, username="digest", password_env="LW_TEST_SMTP_PASSWORD")
    monkeypatch.delenv("LW_TEST_SMTP_PASSWORD", raising=False)
    missing = invoke("digest", "--config", str(config), "--send")
    assert missing.exit_code == 2
    assert "environment variable LW_TEST_SMTP_PASSWORD (named by 'email.password_env') is not set" in missing.output
    monkeypatch.setenv("LW_TEST_SMTP_PASSWORD", "wrong")
    refused = invoke("digest", "--config", str(config), "--send")
    assert refused.exit_code == 1
    assert "refused the login of user 'digest' (535" in refused.output and "$LW_TEST_SMTP_PASSWORD" in refused.output
    assert "wrong" not in refused.output
    monkeypatch.setenv("LW_TEST_SMTP_PASSWORD", "geheim-größe")  # Python's SMTP client sends logins as ASCII only
    accented = invoke("digest", "--config", str(config), "--send")
    assert accented.exit_code == 2
    assert "cannot log in as user 'digest': the password in $LW_TEST_SMTP_PASSWORD has non-ASCII characters" in accented.output
    assert "größe" not in accented.output and "Traceback" not in accented.output
    monkeypatch.setenv("LW_TEST_SMTP_PASSWORD", "s3cret")
    assert invoke("digest", "--config", str(config), "--send").exit_code == 0
    assert len(smtp_auth.inbox.messages) == 1


class NtlmOnly(Inbox):
    async def auth_NTLM(self, server, args):
        return AuthResult(success=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_server_without_a_login_method_we_speak_says_so(tmp_path, monkeypatch):
    add(new_archive(tmp_path), "https://kq.example/1", "Keqiao printers add digital lines")
    controller = PortZeroController(NtlmOnly(), hostname="127.0.0.1", port=0, auth_require_tls=False,
                                    auth_exclude_mechanism=["LOGIN", "PLAIN"], authenticator=lambda *args: AuthResult(success=False))
    controller.start()
    monkeypatch.setenv("LW_TEST_SMTP_PASSWORD", "s3cret")
    try:
        result = invoke("digest", "--config", str(write_config(tmp_path, controller.port, username="digest",
                                                               password_env="LW_TEST_SMTP_PASSWORD")), "--send")
    finally:
        controller.stop()
    assert result.exit_code == 1
    assert f"SMTP server 127.0.0.1:{controller.port} offers no login method loomwatch can use (AUTH NTLM" in result.output
    assert "dropped the connection" not in result.output


@pytest.mark.parametrize("security, message", [
    ("ssl", "TLS with SMTP server 127.0.0.1:{port} failed (WRONG_VERSION_NUMBER); check 'email.security'"),
    ("starttls", "SMTP server 127.0.0.1:{port}: STARTTLS extension not supported by server."),
])
def test_wrong_security_for_the_server_says_which_setting_to_change(smtp, tmp_path, security, message):
    add(new_archive(tmp_path), "https://kq.example/1", "Keqiao printers add digital lines")
    result = invoke("digest", "--config", str(write_config(tmp_path, smtp.port, security=security)), "--send")
    assert result.exit_code == 1 and message.format(port=smtp.port) in result.output
    assert smtp.inbox.messages == []


def test_an_untrusted_certificate_is_refused(tmp_path):
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    inbox = Inbox()
    controller = PortZeroController(inbox, hostname="127.0.0.1", port=0, tls_context=context, require_starttls=True)
    controller.start()
    try:
        add(new_archive(tmp_path), "https://kq.example/1", "Keqiao printers add digital lines")
        result = invoke("digest", "--config", str(write_config(tmp_path, controller.port, security="starttls")), "--send")
    finally:
        controller.stop()
    assert result.exit_code == 1
    assert f"the TLS certificate of SMTP server 127.0.0.1:{controller.port} could not be verified (self-signed certificate)" in result.output
    assert inbox.messages == []


@pytest.mark.parametrize("email_keys, message", [
    ({"recipients": []}, "key 'email.recipients' is empty"),
    ({"subject": "digest {day}"}, "key 'email.subject': unknown field {day}; the fields are {date}, {stories}, {clusters}, {sources}"),
    ({"subject": "digest {date:%d %b}"}, "key 'email.subject': 'digest {date:%d %b}' is not a valid template (Invalid format specifier"),
    ({"username": "digest"}, "key 'email.username' is set but 'email.password_env' is empty"),
    ({"recipients": ["ana@textiles.example; bo@textiles.example"]},
     "key 'email.recipients': 'ana@textiles.example; bo@textiles.example' is not one e-mail address"),
    ({"sender": ""}, "key 'email.sender': '' is not one e-mail address"),
])
def test_bad_email_settings_exit_2_before_anything_is_written(smtp, tmp_path, email_keys, message):
    new_archive(tmp_path)
    result = invoke("digest", "--config", str(write_config(tmp_path, smtp.port, **email_keys)), "--send")
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "out").exists() and smtp.inbox.messages == []


def test_an_unwritable_output_directory_exits_2(smtp, tmp_path):
    add(new_archive(tmp_path), "https://kq.example/1", "Keqiao printers add digital lines")
    (tmp_path / "out").write_text("a file where [digest] output_dir should be")
    result = invoke("digest", "--config", str(write_config(tmp_path, smtp.port)), "--send")
    assert result.exit_code == 2
    assert f"{tmp_path / 'out'}: cannot write the digest files (File exists); check 'digest.output_dir' or --out" in result.output
    assert smtp.inbox.messages == []


def test_no_archive_yet_exits_2(tmp_path):
    result = invoke("digest", "--config", str(write_config(tmp_path, 25)))
    assert result.exit_code == 2 and "no archive here yet; run `loomwatch crawl` first" in result.output
    assert not (tmp_path / "a.db").exists()


def test_date_option(tmp_path):
    config = str(write_config(tmp_path, 25))
    bad = invoke("digest", "--config", config, "--date", "20-11-2026")
    assert bad.exit_code == 2 and "'20-11-2026' is not a date; write it as YYYY-MM-DD" in bad.output
    new_archive(tmp_path)
    good = invoke("digest", "--config", config, "--date", "2026-11-20")
    assert good.exit_code == 0 and "Archive view: stories first stored on 20 November 2026 (Asia/Shanghai)" in good.output
    assert (tmp_path / "out" / "digest-2026-11-20.html").exists()


def test_quiet_prints_nothing_when_all_is_well(smtp, tmp_path):
    add(new_archive(tmp_path), "https://kq.example/1", "Keqiao printers add digital lines")
    result = invoke("-q", "digest", "--config", str(write_config(tmp_path, smtp.port)), "--send")
    assert result.exit_code == 0 and result.output == "" and len(smtp.inbox.messages) == 1


def test_a_send_interrupted_by_a_crash_is_sent_again(smtp, tmp_path, caplog):
    config = load_config(write_config(tmp_path, smtp.port))
    db = new_archive(tmp_path)
    story = add(db, "https://kq.example/1", "Keqiao story", first_seen="2026-11-20 10:00:00")
    db.execute("INSERT INTO digests (kind, window_start, window_end, created, status, article_ids) "
               "VALUES ('new', '2026-11-19 23:30:00', '2026-11-20 23:30:00', '2026-11-20 23:30:00', 'sending', ?)", [f"[{story}]"])
    db.conn.commit()
    with caplog.at_level(logging.WARNING, logger="loomwatch.crawler.digest"):
        outcome = run_digest(config, send=True, now=NOW + dt.timedelta(minutes=5))
    assert outcome.status == "sent" and outcome.digest.article_ids == [story]
    assert "was interrupted while being mailed" in caplog.text
    first = digests(db)[0]
    assert first["status"] == "failed" and first["error"].startswith("interrupted")


def test_a_second_mailer_waits_then_gives_up_with_exit_3(smtp, tmp_path):
    add(new_archive(tmp_path), "https://kq.example/1", "Keqiao story")
    config = write_config(tmp_path, smtp.port, timeout=1)
    with DigestLock(tmp_path / "a.db", wait=0):
        result = invoke("digest", "--config", str(config), "--send")
    assert result.exit_code == 3 and "another `loomwatch digest --send` is mailing from this archive (pid" in result.output
    assert smtp.inbox.messages == []


# --- the footer: source health -------------------------------------------------------------


def test_footer_lists_sources_that_failed_in_the_window(golden_archive, tmp_path):
    golden_archive.execute("INSERT INTO crawl_runs (id, started, status) VALUES (3, '2026-11-10 02:00:00', 'partial')")
    golden_archive.execute("INSERT INTO source_runs (run_id, source, status, last_error) VALUES (3, 'silk-weekly', 'failed', 'old trouble')")
    golden_archive.conn.commit()
    d = build_digest(golden_archive, load_config(write_config(tmp_path, 25)), now=NOW)
    troubles = {t.name: t for t in d.troubles}
    assert troubles["zhili-news"].reason == "failed in 1 crawl of this window"
    assert troubles["zhili-news"].last_error == "https://zhili-news.example/news/: HTTP 503 Service Unavailable"
    assert troubles["zhili-news"].last_success == "2026-11-20 10:20"  # local time
    assert "silk-weekly" not in troubles  # its failure was before the window
    assert d.runs_label == "2 crawls in this window: 1 ok, 1 partial."
    _, text = render(d)
    assert "! zhili-news: failed in 1 crawl of this window" in text


def test_footer_warns_when_no_crawl_ran(tmp_path):
    db = new_archive(tmp_path)
    d = build_digest(db, load_config(write_config(tmp_path, 25)), now=NOW)
    assert "No crawl ran in this window" in render(d)[1]


def test_footer_includes_unhealthy_sources(golden_archive, tmp_path):
    health = pytest.importorskip("loomwatch.storage.health", reason="source health (issue 5) is not in this tree yet")
    config = load_config(write_config(tmp_path, 25))
    golden_archive.execute("UPDATE sources SET consecutive_failures = 9, last_status = 'failed', "
                           "last_error = 'https://silk-weekly.example/: DNS lookup failed' WHERE name = 'silk-weekly'")
    golden_archive.conn.commit()
    expected = {row["name"] for row in health.unhealthy_sources(golden_archive, config.health)}
    assert "silk-weekly" in expected
    d = build_digest(golden_archive, config, now=NOW)
    assert expected <= {t.name for t in d.troubles}


# --- what a reader sees --------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


@pytest.mark.chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)")
def test_screenshots_at_phone_and_desktop_width(tmp_path):
    (tmp_path / "digest.html").write_text((GOLDEN / "digest.html").read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "screenshot_digest.py"), str(tmp_path / "digest.html"),
                             "--out", str(tmp_path / "shots")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr  # 1 = wider than the window: sideways scrolling
    phone, desktop = tmp_path / "shots" / "digest-phone.png", tmp_path / "shots" / "digest-desktop.png"
    assert png_size(phone)[0] == 390 and png_size(desktop)[0] == 1200
    # The phone layout wraps the same content into a taller page.
    assert png_size(phone)[1] > png_size(desktop)[1] > 1000


def test_docs_cover_every_option_and_email_setting():
    doc = (ROOT / "docs" / "digest.md").read_text(encoding="utf-8")
    for option in ("--send", "--out", "--date", "--force", "--config"):
        assert option in doc
    from loomwatch.crawler.config import documented_keys

    for key in documented_keys():
        if key.startswith(("email.", "digest.")):
            assert key.split(".", 1)[1] in doc, f"docs/digest.md does not mention {key}"


def test_plain_text_wraps_chinese_by_display_width():
    from loomwatch.crawler.digest.render import wrap
    from loomwatch.crawler.digest.model import width

    text = ("本报讯：织里镇童装企业今年前三季度共接待外地采购商一万二千余批次，较去年同期增长百分之十八，"
            "其中来自东南亚的客商明显增多。镇商会负责人介绍说，多数企业已经开通直播销售。")
    lines = wrap(text, "  ").split("\n")
    assert len(lines) > 1 and "".join(line.strip() for line in lines) == text  # nothing lost or added
    assert all(width(line) <= 76 for line in lines[:-1] if not line.strip()[-1] in "。，")
    assert all(width(line) <= 78 for line in lines)
    assert not any(line.strip()[0] in "。，、" for line in lines)  # a closing mark never starts a line
    english = "Weavers in the town added two hundred water-jet looms this autumn, the association said."
    lines = wrap(f"{english} {english}", "  ").split("\n")
    assert len(lines) == 3 and all(len(line) <= 76 for line in lines)
    assert " ".join(line.strip() for line in lines) == f"{english} {english}"  # broken at spaces only
