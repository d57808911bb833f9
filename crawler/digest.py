"""The daily digest: what is new in the archive, grouped by cluster, rendered and mailed once.

`run_digest` is the whole job (the CLI is a thin shell over it):

1. choose the window — by default everything stored after the last *sent* digest (the
   last 24 hours when none was ever sent); with `day=` one calendar day in the configured
   time zone, an archive view that does not move the "what is new" cursor;
2. build the model (`build_digest`): relevant originals published within
   `[digest] max_age_days`, each under its strongest cluster and cross-referenced under its
   others, syndicated copies folded in as "also reported by", and the sources' health;
3. render HTML and text (jinja2 templates in `templates/`), write .html/.txt/.eml;
4. with `send=True`, mail it: the row in `digests` is `sending` during the SMTP
   transaction and becomes `sent` only once the server accepted the message for every
   recipient, else `failed` — and the next run covers the same window again.

A file lock beside the database keeps two digest processes from mailing one window twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import smtplib
import socket
import ssl
import string
import textwrap
import zoneinfo
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid, parseaddr
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import sqlite_utils

from loomwatch.crawler.config import Config, ConfigError, EmailSettings, HealthSettings
from loomwatch.storage import digests as store
from loomwatch.storage import open_database
from loomwatch.storage.db import db_time, parse_db_time
from loomwatch.storage.lock import FileLock, LockedError

log = logging.getLogger(__name__)

UTC = dt.timezone.utc
SUBJECT_FIELDS = ("date", "stories", "clusters", "sources")
OTHER = "Other textile news"
LANGUAGES = {"en": "English", "zh-cn": "Chinese", "zh": "Chinese", "zh-tw": "Chinese (traditional)", "ja": "Japanese", "ko": "Korean"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EXCERPT_WIDTH = 320  # display columns (a Han character is two): about three English or two Chinese sentences


class DigestError(Exception):
    """The digest could not be made or mailed; the message says why and what to do."""


class SendError(DigestError):
    """The SMTP server could not be reached or did not accept the message. Nothing was marked sent."""


class DigestBusy(DigestError, LockedError):
    """Another digest process holds this database's digest lock."""


# --- the model -----------------------------------------------------------------------------


@dataclass
class Copy:
    """A folded duplicate: the same story at another outlet."""

    source: str
    url: str


@dataclass
class Story:
    id: int
    title: str
    url: str
    source: str
    published: str | None
    first_seen: str
    language: str
    excerpt: str
    copies: list[Copy] = field(default_factory=list)
    also_about: list[str] = field(default_factory=list)  # display names of its other clusters

    @property
    def date(self) -> str:
        return self.published or f"undated, stored {self.first_seen[:10]}"


@dataclass
class CrossRef:
    story: Story
    under: str  # the section the story is printed in


@dataclass
class Section:
    id: str | None  # None for "Other textile news"
    name: str
    name_zh: str = ""
    place: str = ""
    specialty: str = ""
    stories: list[Story] = field(default_factory=list)
    cross_refs: list[CrossRef] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.name} {self.name_zh}".strip()

    @property
    def count(self) -> int:
        return len(self.stories) + len(self.cross_refs)

    @property
    def tally(self) -> str:
        """What the contents line says of the section: its story count, or that it only points elsewhere."""
        return str(len(self.stories)) if self.stories else "see also"


@dataclass
class SourceTrouble:
    name: str
    reason: str
    last_error: str = ""
    last_success: str = ""  # local time, or "never"


@dataclass
class Digest:
    kind: str  # new | day
    timezone: str
    now: dt.datetime  # aware, UTC
    window_start: dt.datetime  # aware, UTC
    window_end: dt.datetime
    day: dt.date | None
    after_article_id: int | None
    last_article_id: int
    sections: list[Section]
    troubles: list[SourceTrouble]
    runs: dict[str, int]  # crawl runs in the window by status
    previous_sent: str | None = None  # when the digest this one follows was sent (None: there was none)
    max_age_days: int = 7

    @property
    def stories(self) -> list[Story]:
        return [s for section in self.sections for s in section.stories]

    @property
    def article_ids(self) -> list[int]:
        return sorted(s.id for s in self.stories)

    @property
    def cluster_sections(self) -> list[Section]:
        return [s for s in self.sections if s.id is not None]

    @property
    def sources(self) -> list[str]:
        return sorted({s.source for s in self.stories})

    @property
    def counts(self) -> dict[str, int]:
        return {"stories": len(self.stories), "clusters": len(self.cluster_sections), "sources": len(self.sources)}

    @property
    def local_end(self) -> dt.datetime:
        return self.window_end.astimezone(zoneinfo.ZoneInfo(self.timezone))

    @property
    def date(self) -> dt.date:
        return self.day or self.local_end.date()

    @property
    def heading(self) -> str:
        return long_date(self.date)

    @property
    def window_label(self) -> str:
        tz = zoneinfo.ZoneInfo(self.timezone)
        if self.kind == "day":
            return f"Archive view: stories first stored on {long_date(self.date)} ({self.timezone})"
        start, end = self.window_start.astimezone(tz), self.window_end.astimezone(tz)
        if self.previous_sent:
            since = "New since the previous digest"
        elif end - start == dt.timedelta(days=1):
            since = "New in the last 24 hours"
        else:
            since = "New since the first digest that could not be mailed"
        return f"{since}: {short_time(start)} – {short_time(end)} ({self.timezone})"

    @property
    def runs_label(self) -> str:
        total = sum(self.runs.values())
        if not total:
            return "No crawl ran in this window: check the crawl schedule (loomwatch schedule or cron)."
        parts = ", ".join(f"{n} {status}" for status, n in sorted(self.runs.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"{total} crawl{'s' if total != 1 else ''} in this window: {parts}."

    @property
    def slug(self) -> str:
        """The file name stem of this digest's .html/.txt/.eml."""
        if self.kind == "day":
            return f"digest-{self.date.isoformat()}"
        return f"digest-{self.local_end:%Y-%m-%d-%H%M}"


def long_date(day: dt.date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def short_time(moment: dt.datetime) -> str:
    # Month names of our own: strftime's %b follows the process locale.
    return f"{DAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1][:3]} {moment:%H:%M}"


def as_utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(UTC).replace(microsecond=0)
    return (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC)


# --- choosing the window and building the model --------------------------------------------


def build_digest(db: sqlite_utils.Database, config: Config, *, now: dt.datetime | None = None,
                 day: dt.date | None = None, force: bool = False) -> Digest:
    """The digest of what is new since the last sent one (or of one calendar `day`).

    With `force`, a digest of what is new covers again the window of the last sent digest
    (plus anything newer), so that it can be mailed a second time."""
    now = as_utc(now)
    tz = zoneinfo.ZoneInfo(config.timezone)
    upto = store.max_article_id(db)
    previous_sent = None
    if day is not None:
        kind = "day"
        start = dt.datetime.combine(day, dt.time(), tz).astimezone(UTC)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(UTC)
        after, since, until = None, db_time(start), db_time(end)
        reference = end
    else:
        kind = "new"
        last = store.last_sent(db)
        if last and force:
            after, start = last["after_article_id"], parse_db_time(last["window_start"])
            since = last["window_start"] if after is None else None
            previous_sent = last["sent"]
        elif last:
            after, start, since = last["last_article_id"], parse_db_time(last["window_end"]), None
            previous_sent = last["sent"]
        else:
            # Never sent: the last 24 hours, or from the first failed attempt, so a retry
            # after a failure covers that attempt's whole window even a day later.
            failed = store.first_failed(db)
            start = min(now - dt.timedelta(days=1), parse_db_time(failed["window_start"])) if failed else now - dt.timedelta(days=1)
            after, since = None, db_time(start)
        end, until, reference = now, None, now
    oldest = reference - dt.timedelta(days=config.digest.max_age_days)
    rows = store.window_articles(
        db, after_id=after, upto_id=upto, since=since, until=until,
        min_published=oldest.astimezone(tz).date().isoformat(), min_first_seen=db_time(oldest),
    )
    sections = group_by_cluster(db, rows, upto)
    window = (db_time(start), db_time(end))
    return Digest(
        kind=kind, timezone=config.timezone, now=now, window_start=start, window_end=end, day=day,
        after_article_id=after, last_article_id=upto, sections=sections,
        troubles=source_troubles(db, config.health, *window, tz, [s.name for s in config.sources] or None),
        runs=store.crawl_runs_between(db, *window), previous_sent=previous_sent, max_age_days=config.digest.max_age_days,
    )


def group_by_cluster(db: sqlite_utils.Database, rows: list[dict[str, Any]], upto: int) -> list[Section]:
    """One section per cluster, most stories first; then "Other textile news".

    A story about several clusters is printed under its strongest one (ties: cluster id) and
    cross-referenced under the others."""
    ids = [r["id"] for r in rows]
    tags = store.cluster_tags(db, ids)
    copies = store.folded_copies(db, ids, upto)
    sections: dict[str, Section] = {}
    other = Section(None, OTHER)

    def section_for(tag: dict[str, Any]) -> Section:
        if tag["cluster_id"] not in sections:
            place = ", ".join(p for p in dict.fromkeys([tag["city"], tag["province"]]) if p and p != tag["name"])
            sections[tag["cluster_id"]] = Section(tag["cluster_id"], tag["name"] or tag["cluster_id"], tag["name_zh"] or "",
                                                  place, tag["specialty"] or "")
        return sections[tag["cluster_id"]]

    for row in rows:
        story = make_story(row, copies.get(row["id"], []))
        found = tags.get(row["id"], [])
        if not found:
            other.stories.append(story)
            continue
        home = section_for(found[0])
        home.stories.append(story)
        for tag in found[1:]:
            section = section_for(tag)
            section.cross_refs.append(CrossRef(story, home.name))
            story.also_about.append(section.name)
    ordered = sorted(sections.values(), key=lambda s: (-len(s.stories), -s.count, s.name.casefold()))
    return ordered + ([other] if other.stories else [])


def make_story(row: dict[str, Any], copies: list[dict[str, Any]]) -> Story:
    title = " ".join((row["title"] or "").split())
    text = row["text"] or ""
    if not title:
        title = shorten(" ".join(text.split()), 80) or row["url"]
    by_source: dict[str, Copy] = {}
    for c in copies:
        if c["source"] != row["source"]:
            by_source.setdefault(c["source"], Copy(c["source"], c["url"]))
    return Story(
        id=row["id"], title=title, url=row["url"], source=row["source"], published=row["published"],
        first_seen=row["first_seen"], language=LANGUAGES.get((row["lang"] or "").lower(), row["lang"] or "unknown language"),
        excerpt=excerpt(text, title), copies=list(by_source.values()),
    )


def source_troubles(db: sqlite_utils.Database, settings: HealthSettings, start: str, end: str, tz: zoneinfo.ZoneInfo,
                    names: list[str] | None = None) -> list[SourceTrouble]:
    """Sources that failed within the window, and those (of the configured `names`) the health check calls unhealthy."""

    def local(text: str | None) -> str:
        return parse_db_time(text).astimezone(tz).strftime("%Y-%m-%d %H:%M") if text else "never"

    troubles: dict[str, SourceTrouble] = {}
    for row in unhealthy(db, settings, names):
        troubles[row["name"]] = SourceTrouble(row["name"], row.get("reason") or "unhealthy", row.get("last_error") or "",
                                              local(row.get("last_success_at")))
    last_success = {r["name"]: r["last_success_at"] for r in db.query("SELECT name, last_success_at FROM sources")}
    for row in store.failed_sources(db, start, end):
        runs = row["failed_runs"]
        reason = f"failed in {runs} crawl{'s' if runs != 1 else ''} of this window"
        if row["name"] in troubles:
            known = troubles[row["name"]]
            known.reason = f"{known.reason}; {reason}"
            known.last_error = known.last_error or row["last_error"] or ""
        else:
            troubles[row["name"]] = SourceTrouble(row["name"], reason, row["last_error"] or "", local(last_success.get(row["name"])))
    return sorted(troubles.values(), key=lambda t: t.name)


def unhealthy(db: sqlite_utils.Database, settings: HealthSettings, names: list[str] | None) -> list[dict[str, Any]]:
    # The health rules live in one place (issue 5); an archive made before they existed has none.
    try:
        from loomwatch.storage.health import unhealthy_sources
    except ImportError:
        log.debug("loomwatch.storage.health is not available; the digest footer lists only failures in the window")
        return []
    return list(unhealthy_sources(db, settings, names))


# --- excerpts ------------------------------------------------------------------------------

_HAN = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_SENTENCE = re.compile(
    r".+?(?:[。！？]+[”’」』）]*|[.!?]+[\"'”’)]*(?=\s+[\"“‘(\[A-Z0-9\u4e00-\u9fff])|$)", re.S)
_ABBREVIATION = re.compile(r"(?:^|\s)(?:Mr|Mrs|Ms|Dr|Prof|No|Nos|Co|Corp|Inc|Ltd|St|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
                           r"|approx|est|vs|e\.g|i\.e|[A-Z](?:\.[A-Z])+)\.$")
# A photo caption describes the picture, not the story: "[Photo/Nantong Daily]", "（摄影：王伟）", "图为…".
_CAPTION = re.compile(r"\[(?:Photo|Image|Pic|Video)\b[^\]]*\]|\((?:Photo|Image)\b[^)]*\)|（(?:摄影|图片|图)[^）]*）|^图为|摄\s*$", re.I)
_META_LINE = re.compile(r"^\s*(?:发布日期|发布时间|发表时间|日期|来源|作者|编辑|责任编辑|字号|浏览次数|Source|By|Posted|Published|Updated|Date|Editor)\s*[:：]", re.I)


def width(text: str) -> int:
    return len(text) + len(_HAN.findall(text))


def shorten(text: str, limit: int) -> str:
    """Cut to `limit` display columns, at a word boundary for spaced scripts, with an ellipsis."""
    if width(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        used += 2 if _HAN.match(ch) else 1
        if used > limit - 1:
            break
        out.append(ch)
    cut = "".join(out)
    if " " in cut[-30:] and not _HAN.match(cut[-1]):
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:，、；：") + "…"


def excerpt(text: str, title: str = "") -> str:
    """Two or three sentences from the start of the article, without the title, dateline or bylines."""
    folded_title = "".join(title.split()).casefold()
    sentences: list[str] = []
    for line in text.splitlines():
        line = " ".join(line.split())
        squeezed = "".join(line.split()).casefold()
        if not line or _META_LINE.match(line) or _CAPTION.search(line) or (folded_title and squeezed in (folded_title, folded_title + "。")):
            continue
        if len(sentences) == 0 and width(line) < 24 and not re.search(r"[。！？.!?]$", line):
            continue  # a heading, a dateline or a photo credit: no sentence yet
        for match in _SENTENCE.finditer(line):
            sentence = match.group().strip()
            if not sentence or (not sentences and "".join(sentence.split()).casefold().rstrip(".。!！") == folded_title):
                continue
            if sentences and _ABBREVIATION.search(sentences[-1]):  # "Mr. Li" is one sentence
                sentences[-1] = f"{sentences[-1]}{'' if _HAN.match(sentence[0]) else ' '}{sentence}"
            else:
                sentences.append(sentence)
        if len(sentences) >= 3:
            break
    chosen: list[str] = []
    for sentence in sentences[:3]:
        if chosen and (len(chosen) >= 2 and width(" ".join(chosen + [sentence])) > EXCERPT_WIDTH
                       or width(" ".join(chosen + [sentence])) > EXCERPT_WIDTH * 1.25):
            break
        chosen.append(sentence)
    joined = ""
    for sentence in chosen:  # no space between Chinese sentences, one between others
        joined += sentence if not joined or _HAN.match(joined[-1]) else " " + sentence
    return shorten(joined, int(EXCERPT_WIDTH * 1.25))


# --- rendering -----------------------------------------------------------------------------


def _template(name: str) -> tuple[str, str, Any]:
    text = files("loomwatch.crawler").joinpath("templates", name).read_text(encoding="utf-8")
    return text, name, lambda: True


_ENV = jinja2.Environment(
    loader=jinja2.FunctionLoader(_template),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)
# "Fri 20 Nov 07:30" should not break across lines in HTML.
_ENV.filters["nowrap_times"] = lambda text: markupsafe.Markup(re.sub(
    r"\b((?:%s) \d{1,2} \w{3}) (\d\d:\d\d)" % "|".join(DAYS),
    lambda m: m.group(1).replace(" ", "&nbsp;") + "&nbsp;" + m.group(2), str(markupsafe.escape(text))))
_ENV.filters["wrap"] = lambda text, indent="": textwrap.fill(
    text, 76, initial_indent=indent, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def render(digest: Digest) -> tuple[str, str]:
    """The HTML and plain-text bodies."""
    context = {"d": digest, "generated": short_time(digest.now.astimezone(zoneinfo.ZoneInfo(digest.timezone)))}
    return _ENV.get_template("digest.html").render(context), _ENV.get_template("digest.txt").render(context)


def subject_for(digest: Digest, template: str) -> str:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"key 'email.subject': {template!r} is not a valid template ({exc}); write fields as {{date}}, and a literal brace as {{{{") from None
    unknown = names - set(SUBJECT_FIELDS)
    if unknown:
        raise ConfigError(f"key 'email.subject': unknown field {{{sorted(unknown)[0]}}}; the fields are "
                          + ", ".join(f"{{{f}}}" for f in SUBJECT_FIELDS))
    subject = template.format(date=digest.date.isoformat(), **digest.counts)
    return " ".join(subject.split())  # no line breaks in a header


def compose(digest: Digest, settings: EmailSettings, html: str, text: str) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML preferred by clients that show it."""
    msg = EmailMessage()
    msg["Subject"] = subject_for(digest, settings.subject)
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients) if settings.recipients else "undisclosed-recipients:;"
    msg["Date"] = format_datetime(digest.now.astimezone(zoneinfo.ZoneInfo(digest.timezone)))
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "loomwatch.localhost"
    msg["Message-ID"] = make_msgid(f"digest.{digest.slug}", domain=domain)
    # A digest is machine mail: vacation responders should not answer it (RFC 3834; Outlook's header).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def write_files(directory: Path, digest: Digest, html: str, text: str, msg: EmailMessage) -> list[Path]:
    """Write <slug>.html, .txt and .eml, each replaced whole (a reader never sees half a file)."""
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for suffix, data in (("html", html.encode()), ("txt", text.encode()), ("eml", msg.as_bytes(policy=SMTP_POLICY))):
            path = directory / f"{digest.slug}.{suffix}"
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            written.append(path)
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot write the digest files ({exc.strerror or exc}); "
                          "check 'digest.output_dir' or --out") from None
    return written


# --- sending -------------------------------------------------------------------------------


def smtp_password(settings: EmailSettings) -> str | None:
    """The SMTP password from the environment variable named by `password_env`; None when no login is configured."""
    if not settings.username:
        return None
    if not settings.password_env:
        raise ConfigError("key 'email.username' is set but 'email.password_env' is empty; set password_env to the name "
                          "of an environment variable (e.g. \"LOOMWATCH_SMTP_PASSWORD\") and put the password there")
    password = os.environ.get(settings.password_env)
    if password is None:
        raise ConfigError(f"environment variable {settings.password_env} (named by 'email.password_env') is not set; "
                          f"export it where loomwatch runs (for cron, in the crontab or a wrapper script)")
    return password


def deliver(msg: EmailMessage, settings: EmailSettings, password: str | None) -> None:
    """Hand the message to the SMTP server for every recipient, or for none (then raise SendError).

    Recipients are offered one by one before the message: if the server refuses any of
    them, the transaction is reset and nobody gets the mail, so that the retry after
    fixing `recipients` does not mail the others twice."""
    server = f"SMTP server {settings.smtp_host}:{settings.smtp_port}"
    sender = parseaddr(settings.sender)[1]
    recipients = [parseaddr(r)[1] or r for r in settings.recipients]
    context = ssl.create_default_context()
    try:
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout)
    except ssl.SSLError as exc:
        raise SendError(_tls_problem(exc, server)) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"could not connect to {server}: {_reason(exc)}; check 'email.smtp_host', 'email.smtp_port' and "
                        f"'email.security', and that the server is running") from None
    try:
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, password or "")
        code, reply = smtp.mail(sender)
        if code != 250:
            raise SendError(f"{server} refused the sender {sender!r} ({code} {_text(reply)}); check 'email.sender'")
        refused = {}
        for recipient in recipients:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = f"{code} {_text(reply)}"
        if refused:
            smtp.rset()
            listed = "; ".join(f"{r} ({why})" for r, why in refused.items())
            raise SendError(f"{server} refused recipient{'s' if len(refused) > 1 else ''} {listed}; fix 'email.recipients'. "
                            "Nobody was mailed; the next run sends this digest again")
        smtp.data(msg.as_bytes(policy=SMTP_POLICY))
    except SendError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError(f"{server} refused the login of user {settings.username!r} ({exc.smtp_code} {_text(exc.smtp_error)}); "
                        f"check 'email.username' and the password in ${settings.password_env}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise SendError(f"{server}: {exc}; if the server has no STARTTLS or AUTH, check 'email.security' "
                        "(ssl for port 465, starttls for 587) and 'email.username'") from None
    except smtplib.SMTPResponseException as exc:
        raise SendError(f"{server} rejected the message ({exc.smtp_code} {_text(exc.smtp_error)})") from None
    except ssl.SSLError as exc:
        raise SendError(_tls_problem(exc, server)) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"{server} dropped the connection: {_reason(exc)}") from None
    finally:
        # Once DATA was accepted the mail is on its way: a failed QUIT must not make it look unsent.
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _tls_problem(exc: ssl.SSLError, server: str) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the TLS certificate of {server} could not be verified ({exc.verify_message}); the server needs a certificate "
                "for this host name from an authority this machine trusts (check 'email.smtp_host': use the name on the certificate)")
    return f"TLS with {server} failed ({exc.reason or exc}); check 'email.security' (ssl for port 465, starttls for 587, none for a plain server)"


def _text(reply: bytes | str) -> str:
    return (reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)).replace("\n", " ").strip()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"host name not found ({exc.strerror})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def DigestLock(database: Path, wait: float) -> FileLock:  # noqa: N802 - used like a class
    """One digest mailer per database: a flock on `<database>.digest.lock`, released when its process dies."""
    return FileLock(
        Path(f"{database}.digest.lock"),
        wait,
        f"{database}.digest.lock: another `loomwatch digest --send` is mailing from this archive ({{holder}}); "
        "it was still busy after waiting, so this run sent nothing; run again later",
        error=DigestBusy,
    )


# --- the job -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What `run_digest` did. status: sent, rendered (files only), nothing_new, already_sent."""

    status: str
    digest: Digest
    files: list[Path] = field(default_factory=list)
    subject: str = ""
    message_id: str = ""
    recipients: tuple[str, ...] = ()
    digest_id: int | None = None
    note: str = ""


def run_digest(config: Config, *, send: bool = False, out: Path | None = None, day: dt.date | None = None,
               force: bool = False, now: dt.datetime | None = None) -> Outcome:
    """Build the digest, write its files, and with `send` mail it exactly once (see the module docstring).

    Raises ConfigError (bad settings), SendError (the mail did not go out; recorded as
    failed) and DigestBusy (another process is mailing)."""
    database = config.storage.database
    if not Path(database).exists():
        raise ConfigError(f"{database}: no archive here yet; run `loomwatch crawl` first, or check 'storage.database'")
    now = as_utc(now)
    password = None
    try:
        if send:
            if not config.email.recipients:
                raise ConfigError("key 'email.recipients' is empty; list the addresses to mail, e.g. recipients = [\"team@example.org\"]")
            password = smtp_password(config.email)
        subject_for(_empty_digest(config, now), config.email.subject)  # a bad template fails before anything is written
    except ConfigError as exc:
        raise ConfigError(f"{config.path or 'configuration'}: {exc}") from None
    db = open_database(database, busy_timeout=config.storage.busy_timeout)
    try:
        if not send:
            return _render_only(db, config, out, day, force, now)
        with DigestLock(database, wait=config.email.timeout):
            for row in store.close_interrupted(db, db_time(now)):
                log.warning("digest #%s (window %s – %s) was interrupted while being mailed; it may have arrived. Sending it again",
                            row["id"], row["window_start"], row["window_end"])
            return _send(db, config, out, day, force, now, password)
    finally:
        db.close()


def _empty_digest(config: Config, now: dt.datetime) -> Digest:
    return Digest("new", config.timezone, now, now, now, None, None, 0, [], [], {})


def _render_only(db: sqlite_utils.Database, config: Config, out: Path | None, day: dt.date | None, force: bool, now: dt.datetime) -> Outcome:
    digest = build_digest(db, config, now=now, day=day, force=force)
    html, text = render(digest)
    msg = compose(digest, config.email, html, text)
    files = write_files(out or config.digest.output_dir, digest, html, text, msg)
    digest_id = store.record_digest(db, _row(digest, "rendered", msg, files, config.email.recipients))
    return Outcome("rendered", digest, files, msg["Subject"], msg["Message-ID"], config.email.recipients, digest_id)


def _send(db: sqlite_utils.Database, config: Config, out: Path | None, day: dt.date | None, force: bool,
          now: dt.datetime, password: str | None) -> Outcome:
    digest = build_digest(db, config, now=now, day=day, force=force)
    if day is not None and not force:
        sent = store.day_sent(db, db_time(digest.window_start))
        if sent:
            return Outcome("already_sent", digest, note=f"the digest of {day.isoformat()} was mailed already "
                                                        f"(digest #{sent['id']}, {sent['sent']} UTC); pass --force to mail it again")
    if not digest.stories and not force:
        note = _why_not_empty(db, config, digest)
        if note:
            return Outcome("nothing_new", digest, note=note)
    html, text = render(digest)
    msg = compose(digest, config.email, html, text)
    files = write_files(out or config.digest.output_dir, digest, html, text, msg)
    digest_id = store.record_digest(db, _row(digest, "sending", msg, files, config.email.recipients))
    try:
        deliver(msg, config.email, password)
    except SendError as exc:
        store.update_digest(db, digest_id, status="failed", error=str(exc))
        raise
    store.update_digest(db, digest_id, status="sent", sent=db_time(now), error=None)
    log.info("digest #%s mailed to %s", digest_id, ", ".join(config.email.recipients))
    return Outcome("sent", digest, files, msg["Subject"], msg["Message-ID"], config.email.recipients, digest_id)


def _why_not_empty(db: sqlite_utils.Database, config: Config, digest: Digest) -> str:
    """Why an empty digest is not mailed ('' = mail it): send_empty is off, or one went out today already."""
    if not config.email.send_empty:
        since = "the last digest" if digest.previous_sent else "the last 24 hours"
        return f"nothing new since {since}; no mail sent ('email.send_empty' is off)"
    last = store.last_sent(db)
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
        "files": [str(f) for f in files],
    }


def describe(outcome: Outcome) -> str:
    """Two lines for the terminal: what the digest holds, and its window."""
    d = outcome.digest
    c = d.counts
    return (f"digest {d.date.isoformat()}: {c['stories']} stor{'ies' if c['stories'] != 1 else 'y'} in {c['clusters']} "
            f"cluster{'s' if c['clusters'] != 1 else ''} from {c['sources']} source{'s' if c['sources'] != 1 else ''}\n"
            f"{d.window_label}")


__all__ = ["Digest", "DigestBusy", "DigestError", "Outcome", "SendError", "build_digest", "compose", "deliver",
           "describe", "render", "run_digest", "write_files"]
