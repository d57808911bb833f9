"""A digest as a mail and as files, and sending it: the SMTP conversation, its errors as one
line each, and the file lock that keeps two digest processes from mailing one window twice."""

from __future__ import annotations

import datetime as dt
import os
import smtplib
import socket
import ssl
import zoneinfo
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from loomwatch.crawler.config import (
    ConfigError,
    EmailSettings,
)
from loomwatch.crawler.digest.model import Digest
from loomwatch.crawler.digest.render import subject_for
from loomwatch.storage.lock import FileLock, LockedError


class DigestError(Exception):
    """The digest could not be made or mailed; the message says why and what to do."""


class SendError(DigestError):
    """The SMTP server could not be reached or did not accept the message. Nothing was marked sent."""


class DigestBusy(DigestError, LockedError):
    """Another digest process holds this database's digest lock."""




def compose(digest: Digest, settings: EmailSettings, html: str, text: str, *, subject: str | None = None,
            recipients: tuple[str, ...] | None = None) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML preferred by clients that show it."""
    msg = machine_mail(settings, subject or subject_for(digest, settings.subject), settings.recipients if recipients is None else recipients,
                       digest.now, digest.timezone, f"digest.{digest.slug}")
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def machine_mail(settings: EmailSettings, subject: str, recipients: tuple[str, ...], now: dt.datetime, timezone: str,
                 id_left: str) -> EmailMessage:
    """A message's headers: Subject, From, To, Date, Message-ID, and those that keep auto-replies away."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.sender
    msg["To"] = ", ".join(recipients) if recipients else "undisclosed-recipients:;"
    msg["Date"] = format_datetime(now.astimezone(zoneinfo.ZoneInfo(timezone)))
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "loomwatch.localhost"
    msg["Message-ID"] = make_msgid(id_left, domain=domain)
    # Machine mail: vacation responders should not answer it (RFC 3834; Outlook's header).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    return msg


def write_files(directory: Path, digest: Digest, html: str, text: str, msg: EmailMessage) -> list[Path]:
    """Write <slug>.html, .txt and .eml, each replaced whole (a reader never sees half a file)."""
    return write_whole(directory, digest.slug, {"html": html.encode(), "txt": text.encode(),
                                                "eml": msg.as_bytes(policy=SMTP_POLICY)}, "digest")


def write_whole(directory: Path, stem: str, parts: dict[str, bytes], what: str) -> list[Path]:
    """Write <stem>.<suffix> for each part, each replaced whole; ConfigError naming the folder when it cannot."""
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for suffix, data in parts.items():
            path = directory / f"{stem}.{suffix}"
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            written.append(path)
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot write the {what} files ({exc.strerror or exc}); "
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
    # Python's SMTP client sends the login as ASCII: anything else would escape as a UnicodeEncodeError mid-send.
    if not (settings.username + password).isascii():
        what = "user name" if not settings.username.isascii() else f"password in ${settings.password_env}"
        raise ConfigError(f"cannot log in as user {settings.username!r}: the {what} has non-ASCII characters, which "
                          "Python's SMTP client cannot send; use an ASCII one")
    return password


def deliver(msg: EmailMessage, settings: EmailSettings, password: str | None, recipients: tuple[str, ...] | None = None,
            recipients_key: str = "'email.recipients'") -> None:
    """Hand the message to the SMTP server for every recipient (default: [email]
    recipients), or for none (then raise SendError).

    Recipients are offered one by one before the message: if the server refuses any of
    them, the transaction is reset and nobody gets the mail, so that the retry after
    fixing `recipients` does not mail the others twice."""
    server = f"SMTP server {settings.smtp_host}:{settings.smtp_port}"
    sender = parseaddr(settings.sender)[1]
    recipients = [parseaddr(r)[1] or r for r in (settings.recipients if recipients is None else recipients)]
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
        # smtplib sends commands as ASCII: without SMTPUTF8 a non-ASCII address would escape as a UnicodeEncodeError.
        wide = next((a for a in (sender, *recipients) if not a.isascii()), None)
        if wide is not None and not smtp.has_extn("smtputf8"):
            key = "'email.sender'" if wide == sender else recipients_key
            raise SendError(f"{server} cannot take the address {wide!r}: it has non-ASCII characters and the server does not "
                            f"offer SMTPUTF8; fix {key} (write the domain in its ASCII form, xn--...)")
        code, reply = smtp.mail(sender, ["SMTPUTF8"] if wide is not None else [])
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
            raise SendError(f"{server} refused recipient{'s' if len(refused) > 1 else ''} {listed}; fix {recipients_key}. "
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
    except OSError as exc:  # smtplib's exceptions are OSErrors too
        if isinstance(exc, smtplib.SMTPException) and not isinstance(exc, smtplib.SMTPServerDisconnected):
            # Only login() raises it bare: none of the server's AUTH mechanisms is one smtplib speaks.
            offered = smtp.esmtp_features.get("auth", "").strip() or "none"
            raise SendError(f"{server} offers no login method loomwatch can use (AUTH {offered}; it logs in with CRAM-MD5, "
                            f"PLAIN or LOGIN): {exc} Check 'email.username', or use a relay that takes one of these") from None
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
