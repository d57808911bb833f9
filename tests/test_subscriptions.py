"""Readers' subscriptions: filters, one digest per subscription mailed exactly once, weekly
windows, immediate alerts after a real crawl, Atom feeds, and `loomwatch subscriptions`.

Mail goes to aiosmtpd on 127.0.0.1 (the fixtures of test_digest.py); time-dependent
behaviour runs with a frozen `now=`, also a year ahead; the CLI tests use the real clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import zoneinfo
from pathlib import Path

import feedparser
import pytest
from test_digest import (  # noqa: F401
    NOW,
    Inbox,
    PortZeroController,
    add,
    golden,
    invoke,
    new_archive,
    smtp,
    text_part,
)

from loomwatch.crawler.config import Subscription, load_config
from loomwatch.crawler.digest.alerts import run_alerts
from loomwatch.crawler.digest.run import run_digests
from loomwatch.crawler.digest.subscriptions import Matcher
from loomwatch.crawler.scheduler import plan_jobs
from loomwatch.crawler.archive.serve import build_datasette
from loomwatch.crawler.demo.sitefarm import SiteFarm
from loomwatch.pipelines.gazetteer import load_gazetteer
from loomwatch.storage.stories import set_story

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
STORED = "2026-11-20 10:00:00"  # within the first window of a digest at NOW


def toml(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def write_config(directory: Path, port: int, subscriptions: list[dict], *, extra: str = "") -> Path:
    lines = ['timezone = "Asia/Shanghai"', "[storage]", 'database = "a.db"', "[digest]", 'output_dir = "out"', "[email]",
             'smtp_host = "127.0.0.1"', f"smtp_port = {port}", 'sender = "loomwatch <digest@loomwatch.example>"', "timeout = 5"]
    for sub in subscriptions:
        lines += ["", "[[subscriptions]]", *(f"{key} = {toml(value)}" for key, value in sub.items())]
    path = directory / "loomwatch.toml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def mail_to(smtp, recipient: str) -> list:
    return [message for rcpt, message in smtp.inbox.messages if recipient in rcpt]


def digest_rows(db) -> list[dict]:
    return [dict(r) for r in db.query("SELECT * FROM digests ORDER BY id")]


# --- the configuration ----------------------------------------------------------------------


@pytest.mark.parametrize("sub, message", [
    ({"name": "kq", "clusters": ["keqio"]}, "[[subscriptions]] kq key 'clusters': unknown cluster id 'keqio'; did you mean 'keqiao'?"),
    ({"name": "kq", "provinces": ["Zhejaing"]}, "[[subscriptions]] kq key 'provinces': no cluster lies in 'Zhejaing'; did you mean 'Zhejiang'?"),
    ({"name": "kq", "schedule": "hourly"}, "[[subscriptions]] #1 (kq) key 'schedule': expected one of daily, weekly, immediate, got 'hourly'"),
    ({"name": "kq", "weekday": "mon"}, "[[subscriptions]] #1 (kq) key 'weekday': expected one of monday, tuesday"),
    ({"name": "kq", "recipient": ["a@x.example"]}, "[[subscriptions]] #1 (kq): unknown key 'recipient'; did you mean 'recipients'?"),
    ({"name": "kq", "keywords": ["*dye"]}, "[[subscriptions]] #1 (kq) key 'keywords': '*dye' is not a keyword"),
    ({"name": "kq", "languages": ["Chinese"]}, "[[subscriptions]] #1 (kq) key 'languages': 'Chinese' is not a language code"),
    ({"name": "Keqiao buyer"}, "[[subscriptions]] #1 (Keqiao buyer) key 'name': 'Keqiao buyer' is not a slug"),
    ({"recipients": ["a@x.example"]}, "[[subscriptions]] #1 key 'name' is required"),
    ({"name": "kq", "min_relevance": 2}, "[[subscriptions]] #1 (kq) key 'min_relevance': expected a value of at most 1, got 2"),
    # Two addresses in one string: only the first would be mailed, while the digest counted as sent to both.
    ({"name": "kq", "recipients": ["a@x.example, b@x.example"]},
     "[[subscriptions]] #1 (kq) key 'recipients': 'a@x.example, b@x.example' is not one e-mail address"),
    ({"name": "kq", "recipients": ["nobody"]}, "[[subscriptions]] #1 (kq) key 'recipients': 'nobody' is not one e-mail address"),
])
def test_a_bad_subscription_exits_2_naming_it_and_the_key(tmp_path, sub, message):
    result = invoke("subscriptions", "--config", str(write_config(tmp_path, 25, [sub])))
    assert result.exit_code == 2 and message in result.output, result.output


def test_duplicate_names_and_unknown_names_on_the_command_line(tmp_path):
    twice = write_config(tmp_path, 25, [{"name": "kq"}, {"name": "kq"}])
    result = invoke("subscriptions", "--config", str(twice))
    assert result.exit_code == 2 and "[[subscriptions]] #2 (kq) key 'name': duplicate subscription name 'kq'" in result.output
    config = write_config(tmp_path, 25, [{"name": "kq"}])
    new_archive(tmp_path)
    result = invoke("digest", "--config", str(config), "--subscription", "nt")
    assert result.exit_code == 2 and "no subscription named 'nt'; the subscriptions are kq" in result.output


# --- matching -------------------------------------------------------------------------------


def story(*reports: dict, tags: dict | None = None) -> tuple[list[dict], dict]:
    rows = [{"id": n, "title": "", "text": "", "lang": "en", "relevance": 0.8, **r} for n, r in enumerate(reports, 1)]
    return rows, tags or {}


def matches(sub: dict, *reports: dict, tags: dict | None = None):
    matcher = Matcher(Subscription(name="t", **sub), load_gazetteer())
    return matcher.match(*story(*reports, tags=tags), context=True)


@pytest.mark.parametrize("keyword, text, found", [
    ("dye", "Plants that dye cotton", True),
    ("dye", "Dyeing plants in Keqiao", False),  # whole words only
    ("dye*", "Dyeing plants in Keqiao", True),  # ... unless the keyword says "any ending"
    ("production limits", "Mills face production\nlimits this winter", True),  # a phrase across a line break
    ("production limits", "production-limits notice", True),
    ("wastewater", "wastewaters", False),
    ("PTA", "ＰＴＡ期货价格上涨", True),  # full-width letters, next to Chinese
    ("环保督察", "第三轮中央环保\n督察期间", True),  # Chinese as a substring, a line break inside ignored
    ("环保督察", "环保检查", False),
    ("限产", "多家企业被要求限产整改", True),
    ("GB 18401", "新版GB18401标准", False),
    ("GB18401", "新版GB18401标准", True),
])
def test_keywords_whole_words_in_latin_script_substrings_in_chinese(keyword, text, found):
    assert bool(matches({"keywords": [keyword]}, {"text": text})) is found


def test_any_all_exclude_and_the_keyword_in_context():
    sub = {"keywords": ["wastewater", "印染"]}
    english = {"title": "Keqiao plants upgrade", "text": "Keqiao plants upgrade\nAll plants switched to the new shared wastewater line, officials said."}
    chinese = {"lang": "zh-cn", "title": "柯桥印染企业", "text": "柯桥区印染企业完成改造。"}
    found = matches(sub, english)
    assert found.keyword == "wastewater" and found.context == "All plants switched to the new shared *wastewater* line, officials said."
    assert matches({**sub, "match": "all"}, english) is None
    assert matches({**sub, "match": "all"}, english, chinese).keyword == "wastewater"  # the story: all its reports together
    assert matches({**sub, "exclude_keywords": ["officials"]}, english, chinese) is None
    assert matches({"keywords": ["限产"]}, english) is None


def test_clusters_include_their_children_provinces_languages_and_relevance():
    dieshiqiao = {1: [{"cluster_id": "dieshiqiao"}]}
    keqiao = {1: [{"cluster_id": "keqiao"}]}
    assert matches({"clusters": ["nantong"]}, {}, tags=dieshiqiao)  # Dieshiqiao lies in Nantong
    assert not matches({"clusters": ["dieshiqiao"]}, {}, tags={1: [{"cluster_id": "nantong"}]})
    assert not matches({"clusters": ["nantong"]}, {})  # no cluster at all
    assert matches({"provinces": ["浙江"]}, {}, tags=keqiao) and matches({"provinces": ["zhejiang"]}, {}, tags=keqiao)
    assert not matches({"provinces": ["Jiangsu"]}, {}, tags=keqiao)
    assert matches({"clusters": ["shengze"], "provinces": ["Zhejiang"]}, {}, tags=keqiao)  # either place
    assert matches({"languages": ["zh"]}, {"lang": "en"}, {"lang": "zh-cn"})  # zh: simplified and traditional
    assert not matches({"languages": ["zh-tw"]}, {"lang": "zh-cn"})
    assert not matches({"min_relevance": 0.9}, {"relevance": 0.8}) and matches({"min_relevance": 0.8}, {"relevance": 0.8})


# --- one digest per subscription, exactly once ----------------------------------------------

BUYER = {"name": "keqiao-buyer", "recipients": ["buyer@kq.example"], "clusters": ["keqiao", "shengze"],
         "keywords": ["fabric*", "面料", "印染"], "language": "zh-cn"}
DESK = {"name": "nantong-desk", "recipients": ["desk@nt.example", "li@nt.example"], "clusters": ["nantong"], "schedule": "daily"}
ENGLISH = {"name": "english", "recipients": ["all@x.example"], "languages": ["en"]}


def test_each_subscription_is_mailed_its_own_digest_and_a_shared_story_reaches_each_once(smtp, tmp_path):
    config = load_config(write_config(tmp_path, smtp.port, [BUYER, DESK, ENGLISH]))
    db = new_archive(tmp_path)
    fabric = add(db, "https://x.example/1", "Keqiao fabric traders open a night market", first_seen=STORED)
    dyeing = add(db, "https://x.example/2", "柯桥印染企业完成污水管网改造", lang="zh-cn", first_seen=STORED,
                 text="柯桥区四十二家印染企业完成污水管网改造。区生态环境局表示改造按期完成。")
    bedding = add(db, "https://x.example/3", "Dieshiqiao bedding orders climb", clusters=[("dieshiqiao", 0.9)], first_seen=STORED)
    yarn = add(db, "https://x.example/4", "Keqiao yarn prices steady", first_seen=STORED)

    outcomes = {o.digest.subscription: o for o in run_digests(config, send=True, now=NOW)}
    assert {name: o.status for name, o in outcomes.items()} == {"keqiao-buyer": "sent", "nantong-desk": "sent", "english": "sent"}
    assert outcomes["keqiao-buyer"].digest.article_ids == [fabric, dyeing]
    assert outcomes["nantong-desk"].digest.article_ids == [bedding]
    assert outcomes["english"].digest.article_ids == [fabric, bedding, yarn]
    assert [rcpt for rcpt, _ in smtp.inbox.messages] == [["buyer@kq.example"], ["desk@nt.example", "li@nt.example"], ["all@x.example"]]
    (buyer,) = mail_to(smtp, "buyer@kq.example")
    assert buyer["Subject"].strip() == "[keqiao-buyer] loomwatch digest 2026-11-21: 2 new textile-cluster stories"
    body = text_part(buyer)
    assert "Subscription keqiao-buyer: clusters keqiao, shengze; keywords fabric*, 面料, 印染" in body
    assert "柯桥印染企业完成污水管网改造" in body and "Dieshiqiao" not in body and "yarn" not in body
    assert "Dieshiqiao bedding orders climb" in text_part(mail_to(smtp, "li@nt.example")[0])
    files = sorted(p.name for p in (tmp_path / "out").glob("*.txt"))
    assert files == ["digest-english-2026-11-21-0730.txt", "digest-keqiao-buyer-2026-11-21-0730.txt", "digest-nantong-desk-2026-11-21-0730.txt"]

    # The next run: nothing new for anyone, nothing mailed; a new story goes only where it matches.
    again = run_digests(config, send=True, now=NOW + dt.timedelta(hours=1))
    assert [o.status for o in again] == ["nothing_new"] * 3 and len(smtp.inbox.messages) == 3
    assert "[[subscriptions]] keqiao-buyer key 'send_empty' is off" in again[0].note
    newer = add(db, "https://x.example/5", "Keqiao fabric fair adds a hall", first_seen="2026-11-21 02:00:00")
    later = {o.digest.subscription: o for o in run_digests(config, send=True, now=NOW + dt.timedelta(days=1))}
    assert later["keqiao-buyer"].digest.article_ids == later["english"].digest.article_ids == [newer]
    assert later["nantong-desk"].status == "nothing_new" and len(smtp.inbox.messages) == 5

    # What was mailed to whom, as the archive shows it (the `mailings` view).
    mailed = [(r["subscription"], json.loads(r["recipients"]), r["article_id"]) for r in db.query("SELECT * FROM mailings")]
    assert sorted(mailed).count(("keqiao-buyer", ["buyer@kq.example"], fabric)) == 1
    assert len([m for m in mailed if m[2] == fabric]) == 2  # two subscriptions, once each
    assert {r["subscription"] for r in digest_rows(db)} == {"keqiao-buyer", "nantong-desk", "english"}


def test_without_subscriptions_the_email_settings_are_the_one_subscription(smtp, tmp_path):
    path = write_config(tmp_path, smtp.port, [])
    path.write_text(path.read_text().replace("[email]", '[email]\nrecipients = ["team@x.example"]'), encoding="utf-8")
    db = new_archive(tmp_path)
    add(db, "https://x.example/1", "Keqiao fabric traders open a night market", first_seen=STORED)
    (outcome,) = run_digests(load_config(path), send=True, now=NOW)
    assert outcome.status == "sent" and outcome.recipients == ("team@x.example",)
    assert smtp.inbox.messages[0][1]["Subject"] == "loomwatch digest 2026-11-21: 1 new textile-cluster stories"
    assert digest_rows(db)[0]["subscription"] == "" and [f.name for f in outcome.files][0] == "digest-2026-11-21-0730.html"
    assert (tmp_path / "out" / "feeds" / "all.xml").is_file()


def test_a_refused_recipient_fails_only_its_subscription_and_only_it_is_retried(smtp, tmp_path):
    db = new_archive(tmp_path)
    add(db, "https://x.example/1", "Keqiao fabric traders open a night market")
    alpha = {"name": "alpha", "recipients": ["ana@x.example", "typo@x.example"]}
    beta = {"name": "beta", "recipients": ["bo@x.example"]}
    smtp.inbox.refuse = {"typo@x.example"}
    result = invoke("digest", "--config", str(write_config(tmp_path, smtp.port, [alpha, beta])), "--send")
    assert result.exit_code == 1
    assert (f"digest alpha not sent: SMTP server 127.0.0.1:{smtp.port} refused recipient typo@x.example (550 5.1.1 no such mailbox "
            "here); fix [[subscriptions]] alpha key 'recipients'") in result.output
    assert "mailed to bo@x.example" in result.output
    assert [rcpt for rcpt, _ in smtp.inbox.messages] == [["bo@x.example"]]
    fixed = write_config(tmp_path, smtp.port, [{**alpha, "recipients": ["ana@x.example"]}, beta])
    retry = invoke("digest", "--config", str(fixed), "--send")
    assert retry.exit_code == 0, retry.output
    assert [rcpt for rcpt, _ in smtp.inbox.messages] == [["bo@x.example"], ["ana@x.example"]]  # beta not mailed again
    assert "digest beta" in retry.output and "nothing new since the last digest" in retry.output
    assert [(r["subscription"], r["status"]) for r in digest_rows(db)] == [("alpha", "failed"), ("beta", "sent"), ("alpha", "sent")]


def test_a_non_ascii_address_goes_out_by_smtputf8_or_fails_only_its_subscription_in_one_line(smtp, tmp_path):
    db = new_archive(tmp_path)
    add(db, "https://x.example/1", "Keqiao fabric traders open a night market")
    alpha = {"name": "alpha", "recipients": ["josé@x.example"]}
    beta = {"name": "beta", "recipients": ["bo@x.example"]}
    plain = PortZeroController(Inbox(), hostname="127.0.0.1", port=0, enable_SMTPUTF8=False)
    plain.start()
    try:
        result = invoke("digest", "--config", str(write_config(tmp_path, plain.port, [alpha, beta])), "--send")
    finally:
        plain.stop()
    assert result.exit_code == 1
    assert f"digest alpha not sent: SMTP server 127.0.0.1:{plain.port} cannot take the address 'josé@x.example'" in result.output
    assert "fix [[subscriptions]] alpha key 'recipients'" in result.output
    assert [rcpt for rcpt, _ in plain.handler.messages] == [["bo@x.example"]]
    assert [(r["subscription"], r["status"]) for r in digest_rows(db)] == [("alpha", "failed"), ("beta", "sent")]
    # A server that offers SMTPUTF8 takes the address: the retry mails alpha, and beta not again.
    retry = invoke("digest", "--config", str(write_config(tmp_path, smtp.port, [alpha, beta])), "--send")
    assert retry.exit_code == 0, retry.output
    assert [rcpt for rcpt, _ in smtp.inbox.messages] == [["josé@x.example"]]


class KillingInbox(Inbox):
    """Kills process `victim` when it starts its second message (MAIL FROM): between two subscriptions' mails."""

    def __init__(self) -> None:
        super().__init__()
        self.victim: int | None = None
        self.mails = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mails += 1
        if self.mails == 2 and self.victim:
            os.kill(self.victim, signal.SIGKILL)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


@pytest.mark.slow
def test_a_kill_between_two_subscriptions_mails_repeats_none_and_loses_none(tmp_path):
    inbox = KillingInbox()
    controller = PortZeroController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        config = write_config(tmp_path, controller.port, [{"name": "first", "recipients": ["one@x.example"]},
                                                           {"name": "second", "recipients": ["two@x.example"]}])
        db = new_archive(tmp_path)
        add(db, "https://x.example/1", "Keqiao fabric traders open a night market")
        child = subprocess.Popen([sys.executable, "-m", "loomwatch.crawler", "digest", "--send", "--config", str(config)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        inbox.victim = child.pid
        assert child.wait(timeout=120) == -signal.SIGKILL
        assert [rcpt for rcpt, _ in inbox.messages] == [["one@x.example"]]
        assert [(r["subscription"], r["status"]) for r in digest_rows(db)] == [("first", "sent"), ("second", "sending")]
        inbox.victim = None
        result = invoke("digest", "--config", str(config), "--send")
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    assert [rcpt for rcpt, _ in inbox.messages] == [["one@x.example"], ["two@x.example"]]
    assert [(r["subscription"], r["status"]) for r in digest_rows(db)] == [("first", "sent"), ("second", "failed"), ("second", "sent")]
    assert digest_rows(db)[1]["error"].startswith("interrupted")


# --- weekly windows, and the clock moved --------------------------------------------------------


def monday_after(moment: dt.datetime) -> dt.datetime:
    local = moment.astimezone(SHANGHAI)
    return local + dt.timedelta(days=(7 - local.weekday()) % 7)


@pytest.mark.parametrize("years_ahead", [0, 1])
def test_a_weekly_digest_goes_out_once_a_week_on_its_day(smtp, tmp_path, years_ahead):
    config = load_config(write_config(tmp_path, smtp.port, [
        {"name": "weekly", "recipients": ["week@x.example"], "schedule": "weekly", "weekday": "monday"},
        {"name": "daily", "recipients": ["day@x.example"]},
    ]))
    db = new_archive(tmp_path)
    monday = monday_after(NOW + dt.timedelta(days=365 * years_ahead))  # 07:30 on a Monday in Shanghai
    weekly, daily, stored = [], [], []
    for day in range(15):
        moment = monday + dt.timedelta(days=day)
        stored.append(add(db, f"https://x.example/{day}", f"Keqiao story of day {day}", published=moment.date().isoformat(),
                          first_seen=(moment - dt.timedelta(hours=2)).astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")))
        outcomes = {o.digest.subscription: o for o in run_digests(config, send=True, now=moment)}
        weekly.append(outcomes["weekly"])
        daily.append(outcomes["daily"])
    assert [o.status for o in weekly] == ["sent"] + ["not_due"] * 6 + ["sent"] + ["not_due"] * 6 + ["sent"]
    assert "not due: weekly on Monday" in weekly[1].note and f"the next is due on {(monday + dt.timedelta(days=7)).date()}" in weekly[1].note
    assert weekly[0].digest.article_ids == stored[:1] and "New in the last 7 days" in weekly[0].digest.window_label
    assert weekly[7].digest.article_ids == stored[1:8] and weekly[14].digest.article_ids == stored[8:15]
    assert [o.digest.article_ids for o in daily] == [[s] for s in stored]  # the daily one is not disturbed
    assert len(mail_to(smtp, "week@x.example")) == 3 and len(mail_to(smtp, "day@x.example")) == 15


def test_a_missed_weekday_is_caught_up_by_the_next_run(smtp, tmp_path):
    config = load_config(write_config(tmp_path, smtp.port, [
        {"name": "weekly", "recipients": ["week@x.example"], "schedule": "weekly", "weekday": "friday"}]))
    db = new_archive(tmp_path)
    friday = monday_after(NOW) + dt.timedelta(days=4)
    add(db, "https://x.example/1", "Keqiao story", published=friday.date().isoformat(),
        first_seen=(friday - dt.timedelta(days=2)).astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"))
    # The machine was off on Friday: Saturday's run mails the week, Sunday's does not.
    (saturday,) = run_digests(config, send=True, now=friday + dt.timedelta(days=1))
    (sunday,) = run_digests(config, send=True, now=friday + dt.timedelta(days=2))
    assert (saturday.status, sunday.status) == ("sent", "not_due")
    (forced,) = run_digests(config, send=True, force=True, now=friday + dt.timedelta(days=2))
    assert forced.status == "sent" and len(smtp.inbox.messages) == 2


def test_a_weekly_digest_caught_up_late_keeps_the_first_day_of_its_week(smtp, tmp_path):
    config = load_config(write_config(tmp_path, smtp.port, [
        {"name": "weekly", "recipients": ["week@x.example"], "schedule": "weekly", "weekday": "monday"}]))
    db = new_archive(tmp_path)
    monday = monday_after(NOW)  # 07:30 in Shanghai

    def stored(moment: dt.datetime) -> str:
        return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    add(db, "https://x.example/0", "Keqiao story of the week before", published=monday.date().isoformat(),
        first_seen=stored(monday - dt.timedelta(hours=2)))
    assert [o.status for o in run_digests(config, send=True, now=monday)] == ["sent"]
    # Stored on Monday after that digest: one dated that day, one undated.
    dated = add(db, "https://x.example/1", "Keqiao story of Monday", published=monday.date().isoformat(),
                first_seen=stored(monday + dt.timedelta(hours=3)))
    undated = add(db, "https://x.example/2", "Keqiao undated story", published=None, first_seen=stored(monday + dt.timedelta(hours=1)))
    # The machine was off on the next Monday: Tuesday's run mails the week, all of it.
    (late,) = run_digests(config, send=True, now=monday + dt.timedelta(days=8))
    assert late.status == "sent" and late.digest.article_ids == [dated, undated]


def test_the_schedulers_catch_up_counts_whole_digest_runs_not_one_subscription_mailed_by_hand(smtp, tmp_path):
    alpha = {"name": "alpha", "recipients": ["ana@x.example"]}
    beta = {"name": "beta", "recipients": ["bo@x.example"]}
    config = load_config(write_config(tmp_path, smtp.port, [alpha, beta], extra='[schedule]\ncrawl = ""\ndigest = "30 7 * * *"\n'))
    db = new_archive(tmp_path)
    add(db, "https://x.example/1", "Keqiao fabric traders open a night market", first_seen=STORED)
    assert [o.status for o in run_digests(config, send=True, now=NOW)] == ["sent", "sent"]  # 07:30 on the 21st
    next_day = NOW + dt.timedelta(days=1)
    add(db, "https://x.example/2", "Keqiao fabric fair adds a hall", first_seen="2026-11-21 12:00:00")
    # The daemon was down at 07:30 on the 22nd; at 09:30 someone mails alpha by hand.
    (by_hand,) = run_digests(config, send=True, now=next_day + dt.timedelta(hours=2), names=("alpha",))
    assert by_hand.status == "sent"
    (digest,) = plan_jobs(config, now=next_day + dt.timedelta(hours=3))
    assert digest.catch_up  # beta's digest of the 22nd is still owed: the daemon sends it at start-up
    caught_up = {o.digest.subscription: o.status for o in run_digests(config, send=True, now=next_day + dt.timedelta(hours=3))}
    assert caught_up == {"alpha": "nothing_new", "beta": "sent"} and len(smtp.inbox.messages) == 4
    (digest,) = plan_jobs(config, now=next_day + dt.timedelta(hours=4))
    assert not digest.catch_up and digest.first_run == NOW + dt.timedelta(days=2)
    # A whole run that had nothing to mail still ran: a restart later that day mails nobody early.
    third_day = NOW + dt.timedelta(days=2)
    assert [o.status for o in run_digests(config, send=True, now=third_day)] == ["nothing_new", "nothing_new"]
    (digest,) = plan_jobs(config, now=third_day + dt.timedelta(hours=2))
    assert not digest.catch_up and digest.first_run == NOW + dt.timedelta(days=3)
    assert [r["mailed"] for r in db.query("SELECT mailed FROM digest_runs ORDER BY id")] == [2, 1, 0]


def test_a_story_that_begins_to_match_through_a_later_report_is_mailed_once(smtp, tmp_path):
    watch = {"name": "inspections", "recipients": ["c@x.example"], "keywords": ["环保督察"]}
    everything = {"name": "everything", "recipients": ["all@x.example"]}
    config = load_config(write_config(tmp_path, smtp.port, [watch, everything]))
    db = new_archive(tmp_path)
    lead = add(db, "https://x.example/en", "Keqiao dyeing plants prepare for inspectors", first_seen=STORED)
    other = add(db, "https://x.example/zh", "柯桥开展环保督察", lang="zh-cn", text="柯桥区开展环保督察，印染企业逐一检查。", first_seen=STORED)
    first = {o.digest.subscription: o for o in run_digests(config, send=True, now=NOW)}
    assert first["inspections"].digest.article_ids == [other] and first["everything"].digest.article_ids == [lead, other]
    # Its Chinese version, found a day later, names the inspection: the story now matches.
    translation = add(db, "https://zh.x.example/1", "柯桥印染企业迎接环保督察", lang="zh-cn",
                      text="柯桥印染企业迎接中央环保督察，四十余家企业完成自查。", first_seen="2026-11-21 03:00:00")
    with db.atomic():
        set_story(db, translation, lead)
    second = {o.digest.subscription: o for o in run_digests(config, send=True, now=NOW + dt.timedelta(days=1))}
    assert second["inspections"].digest.article_ids == [lead] and second["everything"].status == "nothing_new"
    body = text_part(mail_to(smtp, "c@x.example")[-1])
    assert "Keqiao dyeing plants prepare for inspectors" in body and "柯桥印染企业迎接环保督察" not in body.split("Also reported by")[0]
    another = add(db, "https://zh2.x.example/1", "柯桥印染企业环保督察整改", lang="zh-cn", text="环保督察整改持续推进。",
                  first_seen="2026-11-22 03:00:00")
    with db.atomic():
        set_story(db, another, lead)
    third = run_digests(config, send=True, now=NOW + dt.timedelta(days=2))
    assert [o.status for o in third] == ["nothing_new", "nothing_new"] and len(mail_to(smtp, "c@x.example")) == 2


# --- immediate alerts ---------------------------------------------------------------------------

ALERT = {"name": "compliance", "recipients": ["officer@x.example"], "schedule": "immediate",
         "keywords": ["环保督察", "限产", "production limits"]}


def test_the_daily_alert_limit_is_reported_when_reached_and_kept(smtp, tmp_path):
    config = load_config(write_config(tmp_path, smtp.port, [{**ALERT, "alert_limit": 2}]))
    db = new_archive(tmp_path)
    first = [add(db, f"https://x.example/{n}", f"柯桥印染企业限产通知（第{n}批）", lang="zh-cn", first_seen=STORED,
                 text=f"第{n}批印染企业接到限产通知，涉及产能约两成。") for n in (1, 2, 3)]
    (outcome,) = run_alerts(config, send=True, now=NOW)
    assert outcome.status == "sent" and [s.lead_id for s in outcome.stories] == [first[2], first[1]] and outcome.left_out == 1
    (rcpt, msg), = smtp.inbox.messages
    assert rcpt == ["officer@x.example"] and msg["Subject"] == "loomwatch alert [compliance]: 柯桥印染企业限产通知（第3批） (+1 more)"
    body = text_part(msg)
    assert "Daily limit reached: this subscription alerts at most 2 stories a day (alert_limit)." in body
    assert "1 more matching story was left out of this alert" in body
    assert '"限产": 第3批印染企业接到*限产*通知，涉及产能约两成。' in body
    add(db, "https://x.example/4", "柯桥又一批企业限产", lang="zh-cn", text="又一批企业限产。", first_seen="2026-11-21 00:30:00")
    (capped,) = run_alerts(config, send=True, now=NOW + dt.timedelta(hours=2))
    assert capped.status == "skipped" and "daily limit of 2 alerted stories reached" in capped.note
    assert len(smtp.inbox.messages) == 1 and digest_rows(db)[-1]["status"] == "skipped"
    fresh = add(db, "https://x.example/5", "盛泽织造企业限产", lang="zh-cn", text="盛泽织造企业限产一周。", first_seen="2026-11-21 23:00:00",
                clusters=[("shengze", 0.9)])
    (tomorrow,) = run_alerts(config, send=True, now=NOW + dt.timedelta(days=1))
    assert tomorrow.status == "sent" and [s.lead_id for s in tomorrow.stories] == [fresh]  # not the one over yesterday's limit
    assert len(smtp.inbox.messages) == 2 and "Daily limit" not in text_part(smtp.inbox.messages[1][1])


def test_an_alert_preview_writes_files_and_uses_nothing_up(smtp, tmp_path):
    config = write_config(tmp_path, smtp.port, [ALERT])
    db = new_archive(tmp_path)
    add(db, "https://x.example/1", "Keqiao mills face production limits", text="Keqiao mills face production limits this winter.")
    for _ in range(2):
        result = invoke("alerts", "--config", str(config))
        assert result.exit_code == 0 and "alert compliance: 1 story; wrote" in result.output and "not mailed" in result.output
    assert smtp.inbox.messages == [] and len(list((tmp_path / "out" / "alerts").glob("*.txt"))) >= 1
    result = invoke("alerts", "--config", str(config), "--send")
    assert result.exit_code == 0 and "alert compliance: 1 story mailed to officer@x.example" in result.output
    assert len(smtp.inbox.messages) == 1


ARTICLE = """<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>
<body><div class="nav"><a href="/index.html">首页</a></div>
<div class="article"><h1>{title}</h1><p class="meta">发布日期：{date}</p>{paragraphs}</div></body></html>"""

STORIES = {
    "1": ("zh-cn", "柯桥区十二家印染企业因环保督察停产整治",
          ["第三轮中央环保督察期间，柯桥区生态环境局对滨海工业区的印染企业开展专项检查，十二家企业因废水处理设施不达标被责令停产整治。",
           "区生态环境局表示，涉及企业须在一个月内完成印染废水管网改造，验收合格后方可恢复生产。中国轻纺城的面料经营户预计，部分印花布和染色面料的交货期将推迟一到两周。",
           "柯桥是全国最大的纺织面料集散地，印染产能约占全国三分之一。"]),
    "2": ("zh-cn", "中国轻纺城秋季面料展销会开幕",
          ["十一月下旬，中国轻纺城秋季面料展销会在柯桥开幕，三百多家纺织企业展出功能性面料、再生纤维面料和数码印花产品。",
           "来自东南亚和中东的采购商在展会首日签下多笔订单，针织面料和家纺面料成交活跃。",
           "展会将持续三天，主办方还安排了纺织品设计交流活动。"]),
}
LATER = ("en", "Keqiao dyeing mills brace for winter production limits",
         ["Printing and dyeing mills in Keqiao expect production limits this winter as the district caps energy use at textile plants.",
          "Fabric traders at China Textile City said deliveries of dyed and printed fabrics could slow by a week or more.",
          "The dyeing plants in the Binhai industrial zone account for most of Keqiao's fabric finishing capacity."])


def write_site(root: Path, stories: dict[str, tuple]) -> None:
    site = root / "kq-news"
    (site / "news").mkdir(parents=True, exist_ok=True)
    today = dt.datetime.now(SHANGHAI).date().isoformat()
    links = "".join(f'<li><a href="/news/{key}.html">{title}</a></li>' for key, (_, title, _) in stories.items())
    (site / "index.html").write_text(f"<html><body><ul>{links}</ul></body></html>", encoding="utf-8")
    for key, (lang, title, paragraphs) in stories.items():
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        (site / "news" / f"{key}.html").write_text(ARTICLE.format(lang=lang, title=title, date=today, paragraphs=body), encoding="utf-8")


def crawl(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loomwatch.crawler", "crawl", "--config", str(config)],
                          capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_a_crawl_mails_immediate_alerts_each_story_once(smtp, tmp_path):
    write_site(tmp_path / "sites", STORIES)
    with SiteFarm(tmp_path / "sites") as farm:
        source = (f'\n[crawl]\ndownload_delay = 0.01\nautothrottle = false\nworkers = 1\n\n[[sources]]\nname = "kq-news"\n'
                  f"start_urls = ['{farm.url('kq-news', '/index.html')}']\narticle_urls = ['/news/\\d+\\.html$']\n"
                  'clusters = ["keqiao"]\n')
        config = write_config(tmp_path, smtp.port, [ALERT, {"name": "daily", "recipients": ["d@x.example"]}], extra=source)
        first = crawl(config)
        assert first.returncode == 0, first.stderr
        assert "alert compliance: 1 story mailed to officer@x.example" in first.stdout
        (rcpt, msg), = smtp.inbox.messages  # the daily digest waits for `digest --send`
        assert rcpt == ["officer@x.example"] and msg["Subject"] == "loomwatch alert [compliance]: 柯桥区十二家印染企业因环保督察停产整治"
        body = text_part(msg)
        assert "* 柯桥区十二家印染企业因环保督察停产整治" in body
        assert "kq-news · " in body and "Keqiao 柯桥" in body
        assert '"环保督察": 第三轮中央*环保督察*期间，柯桥区生态环境局对滨海工业区的' in body
        assert farm.url("kq-news", "/news/1.html") in body

        again = crawl(config)  # nothing new: no second alert
        assert again.returncode == 0 and "alert" not in again.stdout and len(smtp.inbox.messages) == 1

        write_site(tmp_path / "sites", {**STORIES, "3": LATER})
        third = crawl(config)
        assert third.returncode == 0, third.stderr
        assert len(smtp.inbox.messages) == 2
        body = text_part(smtp.inbox.messages[1][1])
        assert "Keqiao dyeing mills brace for winter production limits" in body and STORIES["1"][1] not in body
        assert '"production limits": Printing and dyeing mills in Keqiao expect *production limits* this winter' in body
    feed = feedparser.parse((tmp_path / "out" / "feeds" / "subscription-compliance.xml").read_bytes())
    assert not feed.bozo and [e.title for e in feed.entries] == [LATER[1], STORIES["1"][1]]  # refreshed by the crawls


def test_an_alert_that_cannot_be_mailed_is_retried_after_the_next_crawl(smtp, tmp_path):
    db = new_archive(tmp_path)
    story_id = add(db, "https://x.example/1", "Keqiao mills face production limits", first_seen=STORED,
                   text="Keqiao mills face production limits this winter.")
    refused = load_config(write_config(tmp_path, 1, [ALERT]))
    (failed,) = run_alerts(refused, send=True, now=NOW)
    assert failed.status == "failed" and "could not connect to SMTP server 127.0.0.1:1" in failed.note
    (sent,) = run_alerts(load_config(write_config(tmp_path, smtp.port, [ALERT])), send=True, now=NOW + dt.timedelta(hours=4))
    assert sent.status == "sent" and [s.lead_id for s in sent.stories] == [story_id]


# --- feeds --------------------------------------------------------------------------------------


def test_feeds_are_valid_atom_newest_first_and_served(tmp_path):
    db = golden.build_archive(tmp_path / "a.db")
    db.close()
    config = load_config(write_config(tmp_path, 25, [BUYER, DESK, {**ALERT, "keywords": ["wastewater"]}]))
    run_digests(config, now=NOW)
    feeds = tmp_path / "out" / "feeds"
    parsed = {}
    for path in feeds.glob("*.xml"):
        parsed[path.name] = feed = feedparser.parse(path.read_bytes())
        assert not feed.bozo and feed.version == "atom10", (path.name, feed.get("bozo_exception"))
        dates = [e.published_parsed for e in feed.entries]
        assert dates == sorted(dates, reverse=True), path.name  # newest first
    assert {"all.xml", "cluster-keqiao.xml", "cluster-nantong.xml", "cluster-humen.xml", "subscription-keqiao-buyer.xml",
            "subscription-nantong-desk.xml", "subscription-compliance.xml"} <= set(parsed)
    everything = parsed["all.xml"]
    assert len(everything.entries) == 8 and len({e.id for e in everything.entries}) == 8
    assert everything.entries[-1].title == "Keqiao autumn fair looks back on a record year"  # published in 2024
    (bedding,) = parsed["cluster-nantong.xml"].entries  # Dieshiqiao lies in Nantong
    assert bedding.title == "Dieshiqiao home textile market reports brisk bedding orders"
    assert bedding.link == "https://nantong.example/2026-11/18/c_501.htm" and bedding.author == "nantong-portal"
    assert [t.term for t in bedding.tags] == ["dieshiqiao"] and "haimen-gov</a> (Chinese)" in bedding.content[0].value
    buyer_titles = [e.title for e in parsed["subscription-keqiao-buyer.xml"].entries]
    assert "柯桥区举办秋季面料采购对接会" in buyer_titles and not any("Dieshiqiao" in t for t in buyer_titles)
    assert [e.title for e in parsed["subscription-compliance.xml"].entries] == ["Keqiao dyeing plants finish wastewater upgrade ahead of winter"]
    assert parsed["subscription-nantong-desk.xml"].feed.subtitle == "Stories of the subscription nantong-desk (clusters nantong), newest first."

    async def fetch(urls):
        ds = build_datasette(tmp_path / "a.db", feeds=feeds)
        await ds.invoke_startup()
        return [await ds.client.get(url) for url in urls]

    page, keqiao, missing, mailings = asyncio.run(fetch(["/-/feeds/", "/-/feeds/cluster-keqiao.xml", "/-/feeds/cluster-nowhere.xml",
                                                        "/loomwatch/mailings.json?_shape=array"]))
    assert page.status_code == 200 and 'href="/-/feeds/subscription-keqiao-buyer.xml"' in page.text
    assert keqiao.status_code == 200 and keqiao.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert keqiao.content == (feeds / "cluster-keqiao.xml").read_bytes() and missing.status_code == 404
    assert mailings.status_code == 200 and mailings.json() == []  # previews mail nobody


def test_a_control_character_in_a_stored_story_does_not_break_the_feeds(tmp_path):
    db = new_archive(tmp_path)  # pasted from an office document: characters XML does not allow
    add(db, "https://x.example/1", "Keqiao\x02 dyeing mills", text="Keqiao dyeing mills\x08 raise their exports. Buyers expect more.")
    run_digests(load_config(write_config(tmp_path, 25, [])))
    feed = feedparser.parse((tmp_path / "out" / "feeds" / "all.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert [e.title for e in feed.entries] == ["Keqiao dyeing mills"]


def test_feeds_drop_what_is_no_longer_configured_and_are_not_rewritten_unchanged(tmp_path):
    db = golden.build_archive(tmp_path / "a.db")
    db.close()
    run_digests(load_config(write_config(tmp_path, 25, [BUYER])), now=NOW)
    feeds = tmp_path / "out" / "feeds"
    before = (feeds / "all.xml").stat().st_mtime_ns
    run_digests(load_config(write_config(tmp_path, 25, [DESK])), now=NOW)
    assert not (feeds / "subscription-keqiao-buyer.xml").exists() and (feeds / "subscription-nantong-desk.xml").exists()
    assert (feeds / "all.xml").stat().st_mtime_ns == before


# --- the command --------------------------------------------------------------------------------


def test_subscriptions_lists_each_with_its_matches_of_the_last_week(smtp, tmp_path):
    config = write_config(tmp_path, smtp.port, [BUYER, DESK, ALERT])
    db = new_archive(tmp_path)
    add(db, "https://x.example/1", "Keqiao fabric traders open a night market")
    add(db, "https://x.example/2", "Keqiao printers face production limits")
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=9)).strftime("%Y-%m-%d %H:%M:%S")
    add(db, "https://x.example/3", "Keqiao fabric exporters see steady orders", first_seen=old)
    result = invoke("subscriptions", "--config", str(config))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["keqiao-buyer", "daily", "1", "matched", "in", "the", "last", "7", "days", "last", "mailed", "never"]
    assert lines[1].strip() == "to buyer@kq.example"
    assert lines[2].strip().startswith("clusters keqiao, shengze; keywords fabric*, 面料, 印染; feed ")
    assert lines[3].split()[:3] == ["nantong-desk", "daily", "0"] and lines[6].split()[:3] == ["compliance", "immediate", "1"]
    assert invoke("digest", "--config", str(config), "--send").exit_code == 0
    rows = [json.loads(line) for line in invoke("subscriptions", "--config", str(config), "--json").output.splitlines()]
    assert [r["name"] for r in rows] == ["keqiao-buyer", "nantong-desk", "compliance"]
    assert rows[0]["last_mailed"] and rows[1]["last_mailed"] is None and rows[0]["recipients"] == ["buyer@kq.example"]


def test_docs_cover_every_subscription_setting_and_command():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "digest.md").read_text(encoding="utf-8")
    from loomwatch.crawler.config import documented_keys

    for key in documented_keys():
        if key.startswith("subscriptions."):
            assert f"`{key.split('.', 1)[1]}`" in doc, f"docs/digest.md does not mention {key}"
    for command in ("loomwatch alerts", "loomwatch subscriptions", "--subscription", "/-/feeds/"):
        assert command in doc


@pytest.mark.slow
def test_the_demo_and_its_printed_commands_show_each_subscription_and_a_feed(tmp_path):
    demo = subprocess.run([sys.executable, "-m", "loomwatch.crawler", "demo", "--dir", str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=240)
    assert demo.returncode == 0, demo.stderr
    printed = [line.split("#")[0].split()[1:] for line in demo.stdout.splitlines()
               if line.strip().split(" ")[1:2] in (["subscriptions"], ["digest"], ["alerts"])]
    assert [args[0] for args in printed] == ["subscriptions", "digest", "alerts"]
    outputs = {}
    for args in printed:
        result = subprocess.run([sys.executable, "-m", "loomwatch.crawler", *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (args, result.stderr)
        outputs[args[0]] = result.stdout
    assert [line.split()[0] for line in outputs["subscriptions"].splitlines() if not line.startswith(" ")] == [
        "keqiao-buyer", "hometex-weekly", "compliance"]
    assert "digest keqiao-buyer" in outputs["digest"] and "digest hometex-weekly" in outputs["digest"]
    assert "alert compliance" in outputs["alerts"]
    out = tmp_path / "demo" / "digests"
    assert len(list(out.glob("digest-keqiao-buyer-*.html"))) == len(list(out.glob("digest-hometex-weekly-*.html"))) == 1
    for name in ("all.xml", "cluster-keqiao.xml", "subscription-keqiao-buyer.xml", "subscription-hometex-weekly.xml"):
        feed = feedparser.parse((out / "feeds" / name).read_bytes())
        assert not feed.bozo and feed.entries, name  # the demo's stories were stored just now
