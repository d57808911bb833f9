"""A digest as HTML and plain text (jinja2 templates in `templates/`): excerpts that fit,
subjects filled from their templates."""

from __future__ import annotations

import re
import string
import zoneinfo
from importlib.resources import files
from typing import Any

import jinja2
import markupsafe

from loomwatch.crawler.config import (
    Config,
    ConfigError,
    Subscription,
)
from loomwatch.crawler.digest.model import DAYS, WIDE_CHARS, Digest, short_time, width


# --- rendering -----------------------------------------------------------------------------


def _template(name: str) -> tuple[str, str, Any]:
    text = files("loomwatch.crawler.digest").joinpath("templates", name).read_text(encoding="utf-8")
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
# A line never starts with these: a closing mark stays with the character before it.
_NO_LINE_START = set("。，、；：？！）」』》〉】”’…,.;:?!)]")
_UNITS = re.compile(rf"\s+|[{WIDE_CHARS}]|[^\s{WIDE_CHARS}]+")  # a space, a wide character, or a run of others


def wrap(text: str, indent: str = "", columns: int = 76) -> str:
    """Text filled to `columns` display columns (a Han character takes two) for the plain-text
    digest. Chinese has no spaces to break at: it breaks between characters, never before a
    closing mark; Latin words are never split."""
    lines: list[str] = []
    line, used = "", width(indent)
    for unit in _UNITS.findall(text):
        if unit.isspace():
            unit = " "
            if not line:
                continue
        size = width(unit)
        if line and used + size > columns and not unit.isspace() and unit[0] not in _NO_LINE_START:
            lines.append(line.rstrip())
            line, used = "", width(indent)
        line += unit
        used += size
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(indent + line for line in lines)


_ENV.filters["wrap"] = wrap


def render(digest: Digest) -> tuple[str, str]:
    """The HTML and plain-text bodies."""
    context = {"d": digest, "generated": short_time(digest.now.astimezone(zoneinfo.ZoneInfo(digest.timezone)))}
    return render_template("digest.html", **context), render_template("digest.txt", **context)


def render_template(name: str, **context: Any) -> str:
    """One of the templates in `templates/` (digest.html, digest.txt, alert.txt)."""
    return _ENV.get_template(name).render(context)


def subject_for(digest: Digest, template: str, key: str = "key 'email.subject'") -> str:
    values = {"date": digest.date.isoformat(), **digest.counts}
    if digest.subscription:
        values["subscription"] = digest.subscription
    return fill_subject(template, key, values)


def fill_subject(template: str, key: str, values: dict[str, Any]) -> str:
    """A subject from its template; ConfigError (naming `key`) for a field not in `values`."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"{key}: {template!r} is not a valid template ({exc}); write fields as {{date}}, and a literal brace as {{{{") from None
    unknown = names - set(values)
    if unknown:
        raise ConfigError(f"{key}: unknown field {{{sorted(unknown)[0]}}}; the fields are " + ", ".join(f"{{{f}}}" for f in values))
    try:
        subject = template.format(**values)
    except ValueError as exc:  # a format spec or conversion the value does not take: {date:%d %b}, {date!z}
        raise ConfigError(f"{key}: {template!r} is not a valid template ({exc}); write fields as plain {{date}}, "
                          "without ':' or '!'") from None
    return " ".join(subject.split())  # no line breaks in a header


def subject_template(sub: Subscription, config: Config) -> tuple[str, str]:
    """A subscription's subject template, and how to name it in an error."""
    if not sub.name:
        return config.email.subject, "key 'email.subject'"
    if sub.subject:
        return sub.subject, f"[[subscriptions]] {sub.name} key 'subject'"
    return "[{subscription}] " + config.email.subject, "key 'email.subject'"
