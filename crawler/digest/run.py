"""The digest job, `run_digests`: for every daily and weekly subscription, choose its window,
build, render, write and (with `send=True`) mail its digest once, then refresh the Atom feeds."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import sqlite_utils

from loomwatch.crawler.config import (
    Config,
    ConfigError,
    Subscription,
)
from loomwatch.crawler.digest.mail import (
    DigestLock,
    SendError,
    compose,
    deliver,
    smtp_password,
    write_files,
)
from loomwatch.crawler.digest.model import (
    Digest,
    Window,
    as_utc,
    build_digest,
    select_stories,
)
from loomwatch.crawler.digest.render import render, subject_for, subject_template
from loomwatch.crawler.digest.subscriptions import (
    Matcher,
    subscriptions_of,
    week_start,
)
from loomwatch.storage import digests as store
from loomwatch.storage import open_database
from loomwatch.storage.clock import db_time, parse_db_time

log = logging.getLogger(__name__)


# --- the job -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the digest job did for one subscription. status: sent, rendered (files only),
    nothing_new, already_sent, not_due (weekly), feed_only (no recipients), failed."""

    status: str
    digest: Digest
    files: list[Path] = field(default_factory=list)
    subject: str = ""
    message_id: str = ""
    recipients: tuple[str, ...] = ()
    digest_id: int | None = None
    note: str = ""


def run_digest(config: Config, *, send: bool = False, out: Path | None = None, day: dt.date | None = None,
               force: bool = False, now: dt.datetime | None = None, subscription: str | None = None) -> Outcome:
    """The digest of one subscription (by name; default: the only one) — see `run_digests`.

    Raises ConfigError (bad settings), SendError (the mail did not go out; recorded as
    failed) and DigestBusy (another process is mailing)."""
    outcomes = run_digests(config, send=send, out=out, day=day, force=force, now=now,
                           names=None if subscription is None else (subscription,), feeds=False)
    if len(outcomes) != 1:
        raise ConfigError(f"{config.path}: {len(outcomes)} subscriptions have digests; name one of them")
    if outcomes[0].status == "failed":
        raise SendError(outcomes[0].note)
    return outcomes[0]


def run_digests(config: Config, *, send: bool = False, out: Path | None = None, day: dt.date | None = None,
                force: bool = False, now: dt.datetime | None = None, names: tuple[str, ...] | None = None,
                feeds: bool = True) -> list[Outcome]:
    """Build the digest of every daily and weekly subscription (or of those `names`), write
    its files, and with `send` mail each that is due exactly once (see the module docstring),
    each on its own: one that fails is recorded `failed` and retried by the next run, and
    the others go out all the same. Then, with `feeds`, rewrite the Atom feeds.

    Raises ConfigError (bad settings) and DigestBusy (another process is mailing)."""
    database = config.storage.database
    if not Path(database).exists():
        raise ConfigError(f"{database}: no archive here yet; run `loomwatch crawl` first, or check 'storage.database'")
    now = as_utc(now)
    subs = chosen_subscriptions(config, names, ("daily", "weekly"))
    password = None
    try:
        if send:
            if not config.subscriptions and not config.email.recipients:
                raise ConfigError("key 'email.recipients' is empty; list the addresses to mail, e.g. recipients = [\"team@example.org\"]")
            password = smtp_password(config.email) if any(sub.recipients for sub in subs) else None
        for sub in subs:  # a bad template fails before anything is written
            subject_for(_empty_digest(config, now, sub), *subject_template(sub, config))
    except ConfigError as exc:
        raise ConfigError(f"{config.path or 'configuration'}: {exc}") from None
    db = open_database(database, busy_timeout=config.storage.busy_timeout)
    try:
        if not send:
            outcomes = [_render_only(db, config, sub, out, day, force, now) for sub in subs]
        else:
            with DigestLock(database, wait=config.email.timeout):
                for row in store.close_interrupted(db, db_time(now)):
                    log.warning("%s #%s (window %s – %s) was interrupted while being mailed; it may have arrived. Sending it again",
                                "alert" if row["kind"] == "alert" else "digest", row["id"], row["window_start"], row["window_end"])
                outcomes = [_send(db, config, sub, out, day, force, now, password) for sub in subs]
                if names is None and day is None and all(o.status != "failed" for o in outcomes):
                    store.record_run(db, db_time(now), sum(o.status == "sent" for o in outcomes))
        if feeds and config.digest.feeds:
            from loomwatch.crawler.digest.feeds import write_feeds

            write_feeds(db, config, (out or config.digest.output_dir) / "feeds", now=now)
    finally:
        db.close()
    return outcomes


def chosen_subscriptions(config: Config, names: tuple[str, ...] | None, schedules: tuple[str, ...]) -> list[Subscription]:
    """The subscriptions with one of these schedules, or those named (ConfigError for an unknown name)."""
    subs = subscriptions_of(config)
    if not names:
        return [sub for sub in subs if sub.schedule in schedules]
    known = {sub.name: sub for sub in subs}
    for name in names:
        if name not in known:
            listed = ", ".join(s.name for s in subs if s.name) or "none: there is no [[subscriptions]] table"
            raise ConfigError(f"{config.path or 'configuration'}: no subscription named {name!r}; the subscriptions are {listed}")
    return [known[name] for name in names]


def _empty_digest(config: Config, now: dt.datetime, sub: Subscription | None = None) -> Digest:
    return Digest("new", config.timezone, now, now, now, None, None, 0, [], [], {}, subscription=sub.name if sub else "")


def _render_only(db: sqlite_utils.Database, config: Config, sub: Subscription, out: Path | None, day: dt.date | None,
                 force: bool, now: dt.datetime) -> Outcome:
    digest = build_digest(db, config, now=now, day=day, force=force, subscription=sub)
    html, text = render(digest)
    msg = compose(digest, config.email, html, text, subject=subject_for(digest, *subject_template(sub, config)), recipients=sub.recipients)
    files = write_files(out or config.digest.output_dir, digest, html, text, msg)
    digest_id = store.record_digest(db, _row(digest, "rendered", msg, files, sub.recipients))
    return Outcome("rendered", digest, files, msg["Subject"], msg["Message-ID"], sub.recipients, digest_id)


def _send(db: sqlite_utils.Database, config: Config, sub: Subscription, out: Path | None, day: dt.date | None, force: bool,
          now: dt.datetime, password: str | None) -> Outcome:
    digest = build_digest(db, config, now=now, day=day, force=force, subscription=sub)
    if not sub.recipients:
        return Outcome("feed_only", digest, note=f"[[subscriptions]] {sub.name} has no recipients: a feed only, not mailed")
    if day is not None and not force:
        sent = store.day_sent(db, db_time(digest.window_start), sub.name)
        if sent:
            return Outcome("already_sent", digest, note=f"the digest of {day.isoformat()} was mailed already "
                                                        f"(digest #{sent['id']}, {sent['sent']} UTC); pass --force to mail it again")
    if day is None and not force and sub.schedule == "weekly":
        note = _not_due(db, config, sub, now)
        if note:
            return Outcome("not_due", digest, note=note)
    if not digest.stories and not force:
        note = _why_not_empty(db, config, sub, digest)
        if note:
            return Outcome("nothing_new", digest, note=note)
    html, text = render(digest)
    msg = compose(digest, config.email, html, text, subject=subject_for(digest, *subject_template(sub, config)), recipients=sub.recipients)
    files = write_files(out or config.digest.output_dir, digest, html, text, msg)
    digest_id = store.record_digest(db, _row(digest, "sending", msg, files, sub.recipients))
    key = f"[[subscriptions]] {sub.name} key 'recipients'" if sub.name else "'email.recipients'"
    try:
        deliver(msg, config.email, password, sub.recipients, key)
    except SendError as exc:
        store.update_digest(db, digest_id, status="failed", error=str(exc))
        log.error("digest #%s%s not sent: %s", digest_id, f" ({sub.name})" if sub.name else "", exc)
        return Outcome("failed", digest, files, msg["Subject"], msg["Message-ID"], sub.recipients, digest_id, note=str(exc))
    store.update_digest(db, digest_id, status="sent", sent=db_time(now), error=None)
    log.info("digest #%s mailed to %s", digest_id, ", ".join(sub.recipients))
    return Outcome("sent", digest, files, msg["Subject"], msg["Message-ID"], sub.recipients, digest_id)


def _not_due(db: sqlite_utils.Database, config: Config, sub: Subscription, now: dt.datetime) -> str:
    """Why a weekly digest is not due ('' = due): it went out already this week (weeks start on its weekday)."""
    tz = zoneinfo.ZoneInfo(config.timezone)
    begins = week_start(sub, now.astimezone(tz).date())
    last = store.last_sent(db, sub.name)
    if last and last["sent"] and parse_db_time(last["sent"]) >= dt.datetime.combine(begins, dt.time(), tz):
        following = begins + dt.timedelta(days=7)
        return (f"not due: weekly on {sub.weekday.capitalize()}, and digest #{last['id']} went out "
                f"{parse_db_time(last['sent']).astimezone(tz):%Y-%m-%d %H:%M}; the next is due on {following.isoformat()}")
    return ""


def _why_not_empty(db: sqlite_utils.Database, config: Config, sub: Subscription, digest: Digest) -> str:
    """Why an empty digest is not mailed ('' = mail it): send_empty is off, or one went out today already."""
    if not sub.send_empty:
        since = "the last digest" if digest.previous_sent else digest.since_label
        key = f"[[subscriptions]] {sub.name} key 'send_empty'" if sub.name else "'email.send_empty'"
        return f"nothing new since {since}; no mail sent ({key} is off)"
    last = store.last_sent(db, sub.name)
    if last and last["sent"]:
        tz = zoneinfo.ZoneInfo(config.timezone)
        if parse_db_time(last["sent"]).astimezone(tz).date() == digest.local_end.date():
            return f"nothing new, and digest #{last['id']} was mailed today already; no mail sent"
    return ""


def _row(digest: Digest, status: str, msg: EmailMessage, files: list[Path], recipients: tuple[str, ...]) -> dict[str, Any]:
    return {
        "kind": digest.kind, "window_start": db_time(digest.window_start), "window_end": db_time(digest.window_end),
        "created": db_time(digest.now), "status": status, "recipients": list(recipients),
        "article_ids": digest.article_ids, "after_article_id": digest.after_article_id,
        "last_article_id": digest.last_article_id, "subject": msg["Subject"], "message_id": msg["Message-ID"],
        "files": [str(f) for f in files], "subscription": digest.subscription,
    }


def describe(outcome: Outcome) -> str:
    """Two lines for the terminal: what the digest holds, and its window."""
    d = outcome.digest
    c = d.counts
    name = f" {d.subscription}" if d.subscription else ""
    return (f"digest{name} {d.date.isoformat()}: {c['stories']} stor{'ies' if c['stories'] != 1 else 'y'} in {c['clusters']} "
            f"cluster{'s' if c['clusters'] != 1 else ''} from {c['sources']} source{'s' if c['sources'] != 1 else ''}\n"
            f"{d.window_label}")


def overview(config: Config, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Each subscription with its schedule, recipients, filters, the stories it matched among
    those stored in the last 7 days, when it was last mailed, and its feed's file."""
    from loomwatch.crawler.digest.subscriptions import describe, schedule_label

    now = as_utc(now)
    tz = zoneinfo.ZoneInfo(config.timezone)
    database = config.storage.database
    # Reading must not create an archive: a missing one has matched nothing yet.
    db = open_database(database, busy_timeout=config.storage.busy_timeout) if Path(database).exists() else None
    gaz = config.gazetteer()
    rows = []
    try:
        for sub in subscriptions_of(config):
            matched, last = 0, None
            if db is not None:
                start = now - dt.timedelta(days=7)
                window = Window("new", start, now, None, store.max_article_id(db), db_time(start), None, now)
                matched = len(select_stories(db, window, Matcher(sub, gaz), config.digest.max_age_days, tz).rows)
                last = store.last_mailed(db, sub.name)
            feed = config.digest.output_dir / "feeds" / (f"subscription-{sub.name}.xml" if sub.name else "all.xml")
            rows.append({"name": sub.name, "schedule": schedule_label(sub), "recipients": list(sub.recipients),
                         "filters": describe(sub), "last_week": matched, "last_mailed": last, "feed": str(feed)})
    finally:
        if db is not None:
            db.close()
    return rows
