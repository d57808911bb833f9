"""Immediate alerts: after each crawl, the new stories an `immediate` subscription matches,
mailed at once in one short message.

`after_crawl(config)` is the one call a crawl makes when it is done (`loomwatch crawl`, and
so every crawl `loomwatch schedule` starts; any other crawl driver should call it too): it
refreshes the feeds when the crawl stored something, then runs `run_alerts`.

Each immediate subscription has its own window, as a digest does (model.py):
the stories stored since its last alert that was sent — by article id, so none is skipped or
repeated — plus stories that began to match through a report stored since (a translation
that names the keyword). Each story is alerted once. A message lists each story's title,
source, clusters, the matched keyword in its sentence, and link. At most
`alert_limit` stories a day (local date): the alert that reaches the limit says so, and
matches later that day are recorded as `skipped` rather than mailed (they are in the
subscription's feed). A failed alert is recorded `failed` and retried after the next crawl.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass, field
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import sqlite_utils

from loomwatch.crawler.config import Config, ConfigError, Subscription
from loomwatch.crawler.digest.mail import (
    DigestBusy,
    DigestLock,
    SendError,
    deliver,
    machine_mail,
    smtp_password,
    write_whole,
)
from loomwatch.crawler.digest.model import (
    Story,
    as_utc,
    choose_window,
    make_story,
    select_stories,
    short_time,
    story_tags,
)
from loomwatch.crawler.digest.render import fill_subject, render_template
from loomwatch.crawler.digest.run import chosen_subscriptions
from loomwatch.crawler.digest.subscriptions import (
    Match,
    Matcher,
    describe,
    headline_language,
)
from loomwatch.storage import digests as store
from loomwatch.storage import open_database
from loomwatch.storage.clock import db_time

log = logging.getLogger(__name__)


@dataclass
class AlertStory:
    story: Story
    lead_id: int
    clusters: list[str]  # display names, strongest first
    match: Match


@dataclass
class AlertOutcome:
    """What `run_alerts` did for one subscription. status: sent, rendered (files only),
    nothing_new, skipped (daily limit reached before), feed_only (no recipients), failed."""

    subscription: str
    status: str
    stories: list[AlertStory] = field(default_factory=list)
    left_out: int = 0  # matching stories not alerted: over the daily limit
    files: list[Path] = field(default_factory=list)
    subject: str = ""
    recipients: tuple[str, ...] = ()
    digest_id: int | None = None
    note: str = ""


def after_crawl(config: Config, *, stored: int | None = None, now: dt.datetime | None = None) -> list[AlertOutcome]:
    """What follows every crawl: refresh the feeds (when it `stored` anything, or when unknown)
    and mail the immediate subscriptions' alerts. Never raises for a mail problem: a failed
    alert is recorded, logged and in the outcomes, and goes out after the next crawl."""
    from loomwatch.crawler.digest.feeds import refresh_feeds

    if stored is None or stored > 0:
        refresh_feeds(config, now)
    if not any(sub.schedule == "immediate" for sub in config.subscriptions):
        return []
    try:
        return run_alerts(config, send=True, now=now)
    except DigestBusy:
        log.warning("alerts: another loomwatch process is mailing from this archive; the alerts go out after the next crawl")
        return []


def run_alerts(config: Config, *, send: bool = False, now: dt.datetime | None = None, out: Path | None = None,
               names: tuple[str, ...] | None = None) -> list[AlertOutcome]:
    """The alerts of every immediate subscription (or of those `names`): written to
    `<output folder>/alerts/`, and with `send` mailed and recorded. Raises ConfigError and DigestBusy."""
    database = config.storage.database
    if not Path(database).exists():
        raise ConfigError(f"{database}: no archive here yet; run `loomwatch crawl` first, or check 'storage.database'")
    now = as_utc(now)
    subs = chosen_subscriptions(config, names, ("immediate",))
    try:
        password = smtp_password(config.email) if send and any(sub.recipients for sub in subs) else None
        for sub in subs:
            alert_subject(sub, [], now, config.timezone)  # a bad template fails before anything is written
    except ConfigError as exc:
        raise ConfigError(f"{config.path or 'configuration'}: {exc}") from None
    directory = (out or config.digest.output_dir) / "alerts"
    db = open_database(database, busy_timeout=config.storage.busy_timeout)
    try:
        if not send:
            return [_alert(db, config, sub, now, directory, None, send=False) for sub in subs]
        with DigestLock(database, wait=config.email.timeout):
            for row in store.close_interrupted(db, db_time(now)):
                log.warning("%s #%s was interrupted while being mailed; it may have arrived. Sending it again",
                            "alert" if row["kind"] == "alert" else "digest", row["id"])
            return [_alert(db, config, sub, now, directory, password, send=True) for sub in subs]
    finally:
        db.close()


def _alert(db: sqlite_utils.Database, config: Config, sub: Subscription, now: dt.datetime, directory: Path,
           password: str | None, *, send: bool) -> AlertOutcome:
    tz = zoneinfo.ZoneInfo(config.timezone)
    matcher = Matcher(sub, config.gazetteer())
    window = choose_window(db, sub, now, tz, kind="alert")
    chosen = select_stories(db, window, matcher, config.digest.max_age_days, tz, context=True)
    if not chosen.rows:
        return AlertOutcome(sub.name, "nothing_new", note="no new story matched")
    if send and not sub.recipients:
        return AlertOutcome(sub.name, "feed_only", note=f"[[subscriptions]] {sub.name} has no recipients: a feed only, not mailed")
    midnight = dt.datetime.combine(now.astimezone(tz).date(), dt.time(), tz)
    room = sub.alert_limit - store.alerted_since(db, sub.name, db_time(midnight))
    row = {"kind": "alert", "subscription": sub.name, "window_start": db_time(window.start), "window_end": db_time(window.end),
           "created": db_time(now), "recipients": list(sub.recipients), "after_article_id": window.after,
           "last_article_id": window.upto}
    if room <= 0:
        note = (f"daily limit of {sub.alert_limit} alerted stories reached (alert_limit); {len(chosen.rows)} more "
                f"matching stor{'ies' if len(chosen.rows) != 1 else 'y'} not alerted")
        if send:
            store.record_digest(db, {**row, "status": "skipped", "article_ids": [r["id"] for r in chosen.rows], "error": note})
            log.warning("alert %s: %s", sub.name, note)
        return AlertOutcome(sub.name, "skipped", left_out=len(chosen.rows), note=note)
    language = headline_language(sub, config)
    stories = []
    for lead in chosen.rows[:room]:
        members = chosen.reports.get(lead["story_id"]) or [lead]
        names = [" ".join(x for x in (t["name"], t["name_zh"]) if x) or t["cluster_id"]
                 for t in story_tags([t for m in members for t in chosen.tags.get(m["id"], [])])]
        stories.append(AlertStory(make_story(lead, members, language), lead["id"], names, chosen.matches[lead["story_id"]]))
    left_out = len(chosen.rows) - len(stories)
    reached = room <= len(chosen.rows)
    subject = alert_subject(sub, stories, now, config.timezone)
    text = render_template("alert.txt", sub=sub, filters=describe(sub), stories=stories, left_out=left_out, reached=reached,
                           generated=short_time(now.astimezone(tz)), timezone=config.timezone)
    msg = machine_mail(config.email, subject, sub.recipients, now, config.timezone, f"alert.{sub.name}.{now:%Y%m%d%H%M%S}")
    msg.set_content(text)
    files = write_whole(directory, f"alert-{sub.name}-{now.astimezone(tz):%Y-%m-%d-%H%M%S}",
                        {"txt": text.encode(), "eml": msg.as_bytes(policy=SMTP_POLICY)}, "alert")
    outcome = AlertOutcome(sub.name, "rendered", stories, left_out, files, subject, sub.recipients)
    ids = sorted(s.lead_id for s in stories)
    common = {**row, "article_ids": ids, "subject": subject, "message_id": msg["Message-ID"], "files": [str(f) for f in files]}
    if not send:
        outcome.digest_id = store.record_digest(db, {**common, "status": "rendered"})
        return outcome
    outcome.digest_id = store.record_digest(db, {**common, "status": "sending"})
    try:
        deliver(msg, config.email, password, sub.recipients, f"[[subscriptions]] {sub.name} key 'recipients'")
    except SendError as exc:
        store.update_digest(db, outcome.digest_id, status="failed", error=str(exc))
        log.error("alert #%s (%s) not sent: %s", outcome.digest_id, sub.name, exc)
        outcome.status, outcome.note = "failed", str(exc)
        return outcome
    store.update_digest(db, outcome.digest_id, status="sent", sent=db_time(now), error=None)
    log.info("alert #%s (%s): %d stor%s mailed to %s", outcome.digest_id, sub.name, len(stories),
             "ies" if len(stories) != 1 else "y", ", ".join(sub.recipients))
    if reached:
        log.warning("alert %s: daily limit of %d stories reached (alert_limit); %d left out, later matches today are not mailed",
                    sub.name, sub.alert_limit, left_out)
    outcome.status = "sent"
    return outcome


def alert_subject(sub: Subscription, stories: list[AlertStory], now: dt.datetime, timezone: str) -> str:
    """`subject` filled in (fields as a digest's), else "loomwatch alert [name]: first title (+N more)"."""
    if sub.subject:
        sources = {s.story.source for s in stories}
        clusters = {name for s in stories for name in s.clusters}
        values = {"date": now.astimezone(zoneinfo.ZoneInfo(timezone)).date().isoformat(), "stories": len(stories),
                  "clusters": len(clusters), "sources": len(sources), "subscription": sub.name}
        return fill_subject(sub.subject, f"[[subscriptions]] {sub.name} key 'subject'", values)
    if not stories:
        return f"loomwatch alert [{sub.name}]"
    more = f" (+{len(stories) - 1} more)" if len(stories) > 1 else ""
    return " ".join(f"loomwatch alert [{sub.name}]: {stories[0].story.title}{more}".split())


def describe_outcome(outcome: AlertOutcome) -> str:
    """One line for the terminal."""
    n = len(outcome.stories)
    what = f"alert {outcome.subscription}: {n} stor{'ies' if n != 1 else 'y'}"
    if outcome.status == "sent":
        return f"{what} mailed to {', '.join(outcome.recipients)}: {outcome.subject}"
    if outcome.status == "rendered":
        return f"{what}; wrote {', '.join(str(f) for f in outcome.files)} (not mailed: pass --send to mail it)"
    return f"alert {outcome.subscription}: {outcome.note}"


__all__ = ["AlertOutcome", "after_crawl", "describe_outcome", "run_alerts"]
