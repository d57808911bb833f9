"""The loomwatch configuration: one TOML file, resolved once into an immutable `Config`.

Every setting is declared exactly once, as a dataclass field below with its default
and a `doc` string; validation, the documentation test and `loomwatch init` all read
these declarations. Layering: defaults → file → environment (`LOOMWATCH_DATABASE`)
→ command-line flags (applied by the CLI with `dataclasses.replace`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
import typing
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loomwatch.pipelines.settings import (
    DedupSettings,
    PipelineSettings,
    SourceHints,
    StorySettings,
    TaggingSettings,
)
from loomwatch.storage.health import HealthSettings
from loomwatch.storage.settings import StorageSettings, setting

if TYPE_CHECKING:
    from loomwatch.pipelines.gazetteer import Gazetteer

DEFAULT_PATH = "loomwatch.toml"
ENV_CONFIG = "LOOMWATCH_CONFIG"
ENV_DATABASE = "LOOMWATCH_DATABASE"


class ConfigError(ValueError):
    """A configuration problem; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class CrawlSettings:
    user_agent: str = setting("loomwatch/0.1 (+https://example.org/contact)", "User-Agent sent with every request; put a contact URL or address in it.")
    concurrency_per_domain: int = setting(2, "Requests in flight to one host at most.", minimum=1)
    download_delay: float = setting(1.0, "Seconds between requests to one host (randomised 0.5–1.5×, raised by AutoThrottle when a host slows down).", minimum=0)
    timeout: float = setting(30.0, "Seconds before a request is abandoned (and retried).", minimum=1)
    retries: int = setting(2, "Extra attempts on 5xx, 429, timeouts and connection resets, with exponential backoff.", minimum=0)
    retry_backoff: float = setting(2.0, "Seconds before the first retry; doubled for each further attempt (a Retry-After header wins, up to 5 minutes).", minimum=0)
    max_page_bytes: int = setting(5_000_000, "Responses larger than this are dropped and counted as errors.", minimum=1000)
    obey_robots: bool = setting(True, "Obey robots.txt: never request a disallowed path.")
    autothrottle: bool = setting(True, "Adapt the delay to each host's response times (Scrapy AutoThrottle).")
    workers: int = setting(0, "Worker processes for extraction, language detection and tagging; 0 = one per CPU core.", minimum=0)
    analysis_timeout: float = setting(60.0, "Seconds a worker process may spend on one page (extraction, language detection, tagging); a page that takes longer is recorded as a failure (skipped_pages reason `too_slow`), its worker is stopped and the crawl goes on. It is tried again by the next two crawls, then no more.", minimum=1)
    max_duration: float = setting(3600.0, "Seconds after which a crawl stops itself, storing what it has; 0 = no limit.", minimum=0)


@dataclass(frozen=True)
class DigestSettings:
    max_age_days: int = setting(7, "Only articles published within this many days go into a digest (undated ones count from when they were first stored).", minimum=1)
    output_dir: Path = setting(Path("digests"), "Where `loomwatch digest` writes its .html, .txt and .eml files.", path=True)
    language: str = setting("en", "Language of the headline each story is shown under (en, zh-cn, zh-tw, zh, ...): its first report in that language, else its first report. The others are listed as \"also reported by\".")
    feeds: bool = setting(True, "Write Atom feeds (all stories, each cluster, each subscription) to `feeds/` in the output folder on every `loomwatch digest` and after every crawl that stored something; `loomwatch serve` serves them.")


@dataclass(frozen=True)
class EmailSettings:
    smtp_host: str = setting("localhost", "SMTP server host name.")
    smtp_port: int = setting(25, "SMTP server port (587 for starttls, 465 for ssl are usual).", minimum=1, maximum=65535)
    security: str = setting("none", "Connection security: none, starttls or ssl.", choices=("none", "starttls", "ssl"))
    username: str = setting("", "SMTP login name; empty for no login.")
    password_env: str = setting("", "Name of the environment variable that holds the SMTP password (never the password itself).")
    sender: str = setting("loomwatch@localhost", "From address of the digest.")
    recipients: tuple[str, ...] = setting([], "Addresses the digest is mailed to.")
    subject: str = setting("loomwatch digest {date}: {stories} new textile-cluster stories", "Subject template; fields: {date}, {stories}, {clusters}, {sources}.")
    send_empty: bool = setting(False, "Mail a digest even when there is nothing new (at most one such mail a day).")
    timeout: float = setting(60.0, "Seconds to wait for the SMTP server (and for another `digest --send` on the same archive to finish).", minimum=1)


@dataclass(frozen=True)
class ScheduleSettings:
    crawl: str = setting("0 */4 * * *", "When to crawl: a 5-field cron expression, or an interval such as 20s, 15m, 4h, 1d; empty = never.")
    digest: str = setting("30 7 * * *", "When to build and mail the digest (cron or interval); empty = never.")
    crawl_timeout: float = setting(7200.0, "Seconds after which a scheduled crawl is stopped and recorded as failed.", minimum=1)
    shutdown_grace: float = setting(60.0, "Seconds a running crawl may take to finish after SIGTERM before it is stopped.", minimum=0)
    log_file: str = setting("", "Rotating log file for `loomwatch schedule` (relative to the config file); empty = stderr only.")


@dataclass(frozen=True)
class FleetSettings:
    redis_url: str = setting("", "Redis server of a fleet (`loomwatch worker`, `crawl --fleet`), e.g. \"redis://host:6379/0\"; empty = no fleet. No password here: see password_env.")
    password_env: str = setting("", "Name of the environment variable that holds the Redis password (never the password itself); empty = no password.")
    prefix: str = setting("loomwatch", "Prefix of every Redis key: archives that share one Redis server need different prefixes.")
    timeout: float = setting(60.0, "Seconds `crawl --fleet` waits for a worker to take its work (or, later, for any progress) before it fails.", minimum=1)
    lease_timeout: float = setting(30.0, "Seconds after which the hosts (and unfinished pages) of a worker that stopped answering go to another worker.", minimum=1)
    hosts_per_worker: int = setting(16, "Hosts one worker crawls at once at most; each host is crawled by one worker at a time.", minimum=1)
    scheduled: bool = setting(False, "`loomwatch schedule` runs its crawls as `crawl --fleet`.")


@dataclass(frozen=True)
class Source:
    name: str = setting("", "Unique slug; stored in the `source` column.", required=True)
    start_urls: tuple[str, ...] = setting([], "Listing pages to start from.")
    article_urls: tuple[str, ...] | None = setting(None, "Regexes (searched in the URL) for links that are articles; unset = built-in shapes.", regex=True)
    follow_urls: tuple[str, ...] | None = setting(None, "Regexes for listing pages to follow (pagination); unset = built-in shapes; [] = none.", regex=True)
    feeds: tuple[str, ...] = setting([], "RSS or Atom feed URLs.")
    sitemaps: tuple[str, ...] = setting([], "Sitemap or sitemap-index URLs, or a robots.txt URL to read Sitemap: lines from.")
    max_depth: int = setting(3, "Link hops from a start URL.", minimum=0)
    max_requests: int = setting(500, "Requests for this source per run at most.", minimum=1)
    language: str = setting("", "Language hint (en, zh-cn, ...) used when detection is unsure.")
    clusters: tuple[str, ...] = setting([], "Cluster ids this source mostly covers; raises their scores, never tags an off-topic article.")


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Subscription:
    name: str = setting("", "Unique slug; names the subscription's digest files, its feed and its rows in `digests`.", required=True)
    recipients: tuple[str, ...] = setting([], "Addresses mailed this subscription's digests or alerts; [] = a feed only, never mailed.")
    schedule: str = setting("daily", "daily: a digest at every `loomwatch digest --send` ([schedule] digest); weekly: one digest a week, at the first such run on or after `weekday`; immediate: an alert after each crawl.", choices=("daily", "weekly", "immediate"))
    weekday: str = setting("monday", "The day a weekly digest is due.", choices=WEEKDAYS)
    clusters: tuple[str, ...] = setting([], "Cluster ids (`loomwatch clusters`); a cluster includes the clusters inside it. [] with no provinces = any story, clustered or not.")
    provinces: tuple[str, ...] = setting([], "Provinces (\"Zhejiang\" or \"浙江\"): stories about any cluster in them. With clusters too, a story about either matches.")
    languages: tuple[str, ...] = setting([], "Stories with a report in one of these languages (en, zh = zh-cn and zh-tw, zh-cn, zh-tw); [] = any.")
    keywords: tuple[str, ...] = setting([], "Words or phrases looked for in the title and text of every report: English as whole words, case ignored (`dye*` for any ending), Chinese as substrings; [] = any story.")
    match: str = setting("any", "Whether a story needs any one of `keywords` or all of them.", choices=("any", "all"))
    exclude_keywords: tuple[str, ...] = setting([], "A story in which any of these occurs is left out (matched like `keywords`).")
    min_relevance: float = setting(0.0, "Only stories whose textile relevance reaches this (0..1; every story already passed [tagging] relevance_threshold).", minimum=0, maximum=1)
    language: str = setting("", "Language of the headline each story is shown under; \"\" = [digest] language.")
    subject: str = setting("", "Subject template: [email] subject's fields plus {subscription}; \"\" = \"[name] \" before [email] subject (alerts: \"loomwatch alert [name]: ...\").")
    send_empty: bool = setting(False, "Mail a digest even when nothing new matched (at most one such mail a day).")
    alert_limit: int = setting(20, "immediate: at most this many stories alerted a day (local date); the alert that reaches it says so, and later matches that day are not mailed (they are in the subscription's feed).", minimum=1)


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    timezone: str = setting("Asia/Shanghai", "IANA time zone for schedules and digest dates.")
    storage: StorageSettings = field(default_factory=StorageSettings)
    crawl: CrawlSettings = field(default_factory=CrawlSettings)
    tagging: TaggingSettings = field(default_factory=TaggingSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    fleet: FleetSettings = field(default_factory=FleetSettings)
    stories: StorySettings = field(default_factory=StorySettings)
    sources: tuple[Source, ...] = ()
    clusters: tuple[dict, ...] = ()  # validated by loomwatch.pipelines.gazetteer
    subscriptions: tuple[Subscription, ...] = ()

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def pipelines(self) -> PipelineSettings:
        """What the pipelines (and the fleet's writer, `retag`, `restory`) take from this configuration."""
        return PipelineSettings(storage=self.storage, tagging=self.tagging, dedup=self.dedup, stories=self.stories,
                                clusters=self.clusters, origin=str(self.path or "<defaults>"), workers=self.crawl.workers,
                                analysis_timeout=self.crawl.analysis_timeout,
                                sources={s.name: SourceHints(tuple(s.clusters), s.language) for s in self.sources})

    def gazetteer(self) -> Gazetteer:
        """The packaged gazetteer with this configuration's [[clusters]] applied (raises GazetteerError)."""
        # Imported here: the gazetteer loads package data, not needed to parse settings.
        from loomwatch.pipelines.gazetteer import load_gazetteer

        return load_gazetteer(list(self.clusters), origin=str(self.path or "<defaults>"))

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(f"{self.path or 'config'}: no source named {name!r}; known sources: {', '.join(s.name for s in self.sources) or 'none'}")


SECTIONS: dict[str, type] = {
    "storage": StorageSettings,
    "crawl": CrawlSettings,
    "tagging": TaggingSettings,
    "dedup": DedupSettings,
    "digest": DigestSettings,
    "email": EmailSettings,
    "schedule": ScheduleSettings,
    "health": HealthSettings,
    "fleet": FleetSettings,
    "stories": StorySettings,
}
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def default_path() -> Path:
    return Path(os.environ.get(ENV_CONFIG) or DEFAULT_PATH)


def load_config(path: str | os.PathLike | None = None, *, required: bool = True) -> Config:
    """Read and validate a config file. With required=False a missing file gives the defaults."""
    path = Path(path) if path is not None else default_path()
    if not path.exists():
        if required:
            raise ConfigError(f"{path}: no such configuration file; create one with `loomwatch init {path}` or pass --config PATH")
        return _apply_environment(Config(path=None))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # -sig: editors on Windows save UTF-8 with a BOM
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax at that line") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a configuration file; name the file itself with --config PATH "
                          f"(or ${ENV_CONFIG})") from None
    except OSError as exc:  # unreadable: permissions, a disk not mounted
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror}); fix its permissions or pass --config PATH") from None
    return parse_config(data, path)


def parse_config(data: dict, path: Path) -> Config:
    path = path.resolve()
    where = str(path)
    known = {"timezone", "sources", "clusters", "subscriptions", *SECTIONS}
    _reject_unknown(data, known, where, "")
    values: dict[str, Any] = {"path": path}
    if "timezone" in data:
        tz = data["timezone"]
        try:
            zoneinfo.ZoneInfo(tz) if isinstance(tz, str) else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            tz = None
        if not isinstance(tz, str):
            raise ConfigError(f"{where}: key 'timezone': {data['timezone']!r} is not an IANA time zone; use a name such as \"Asia/Shanghai\"")
        values["timezone"] = tz
    for section, cls in SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{section}] must be a table, e.g. [{section}] on a line of its own")
        values[section] = _build(cls, table, where, f"{section}.", path.parent)
    sources = data.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, dict) for s in sources):
        raise ConfigError(f"{where}: key 'sources' must be a list of [[sources]] tables")
    built = []
    seen: set[str] = set()
    for index, table in enumerate(sources, 1):
        label = f"[[sources]] #{index}" + (f" ({table['name']})" if isinstance(table.get("name"), str) else "")
        source = _build(Source, table, where, "", path.parent, label=label)
        if not SLUG.match(source.name):
            raise ConfigError(f"{where}: {label} key 'name': {source.name!r} is not a slug; use lower-case letters, digits, '-' and '_'")
        if source.name in seen:
            raise ConfigError(f"{where}: {label} key 'name': duplicate source name {source.name!r}; every source needs a unique name")
        seen.add(source.name)
        if not (source.start_urls or source.feeds or source.sitemaps):
            raise ConfigError(f"{where}: {label}: a source needs at least one of start_urls, feeds or sitemaps")
        for key in ("start_urls", "feeds", "sitemaps"):
            for url in getattr(source, key):
                if not re.match(r"^https?://[^/\s]+", url):
                    raise ConfigError(f"{where}: {label} key '{key}': {url!r} is not an absolute http(s) URL; write it as https://host/path")
        built.append(source)
    values["sources"] = tuple(built)
    clusters = data.get("clusters", [])
    if not isinstance(clusters, list) or not all(isinstance(c, dict) for c in clusters):
        raise ConfigError(f"{where}: key 'clusters' must be a list of [[clusters]] tables")
    values["clusters"] = tuple(clusters)
    values["subscriptions"] = _subscriptions(data.get("subscriptions", []), where, path.parent)
    _check_addresses([values["email"].sender], f"{where}: key 'email.sender'")
    _check_addresses(values["email"].recipients, f"{where}: key 'email.recipients'")
    _check_fleet(values["fleet"], where)
    config = _apply_environment(Config(**values))
    _check_clusters(config)
    return config


def _subscriptions(tables: Any, where: str, base: Path) -> tuple[Subscription, ...]:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{where}: key 'subscriptions' must be a list of [[subscriptions]] tables")
    built: list[Subscription] = []
    for index, table in enumerate(tables, 1):
        label = f"[[subscriptions]] #{index}" + (f" ({table['name']})" if isinstance(table.get("name"), str) else "")
        sub = _build(Subscription, table, where, "", base, label=label)
        if not SLUG.match(sub.name):
            raise ConfigError(f"{where}: {label} key 'name': {sub.name!r} is not a slug; use lower-case letters, digits, '-' and '_'")
        if sub.name in {s.name for s in built}:
            raise ConfigError(f"{where}: {label} key 'name': duplicate subscription name {sub.name!r}; every subscription needs a unique name")
        for key in ("keywords", "exclude_keywords"):
            for word in getattr(sub, key):
                if not word.strip() or word.strip().strip("*") == "" or "*" in word.strip()[:-1]:
                    raise ConfigError(f"{where}: {label} key '{key}': {word!r} is not a keyword; write a word or phrase, "
                                      "with at most one '*' at its end (\"dye*\" matches dyes, dyeing)")
        _check_addresses(sub.recipients, f"{where}: {label} key 'recipients'")
        for code in sub.languages:
            if not re.fullmatch(r"[a-z]{2,3}(-[a-z]{2,4})?", code):
                raise ConfigError(f"{where}: {label} key 'languages': {code!r} is not a language code; use e.g. \"en\", \"zh\", \"zh-cn\"")
        built.append(sub)
    return tuple(built)


def _check_addresses(addresses: Iterable[str], label: str) -> None:
    # Two addresses in one string would be mailed to the first only, yet count as sent to both.
    for address in addresses:
        found = getaddresses([address])
        if len(found) != 1 or not re.fullmatch(r"[^@\s]+@[^@\s]+", found[0][1]):
            raise ConfigError(f"{label}: {address!r} is not one e-mail address; write one address per string, "
                              "e.g. \"ana@example.org\" or \"Ana <ana@example.org>\"")


def _check_clusters(config: Config) -> None:
    from loomwatch.pipelines import gazetteer

    try:
        gaz = config.gazetteer()
    except gazetteer.GazetteerError as exc:
        raise ConfigError(str(exc)) from None
    for source in config.sources:
        _check_cluster_ids(source.clusters, gaz, f"{config.path}: [[sources]] {source.name}")
    known = sorted({c.province for c in gaz if c.province})
    for sub in config.subscriptions:
        label = f"{config.path}: [[subscriptions]] {sub.name}"
        _check_cluster_ids(sub.clusters, gaz, label)
        for province in sub.provinces:
            if gazetteer.province_name(province, known) is None:
                close = difflib.get_close_matches(province, known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"the gazetteer's provinces are {', '.join(known)}"
                raise ConfigError(f"{label} key 'provinces': no cluster lies in {province!r}; {hint}")


def _check_cluster_ids(cluster_ids: Iterable[str], gaz: Any, label: str) -> None:
    for cluster_id in cluster_ids:
        if cluster_id not in gaz:
            close = difflib.get_close_matches(cluster_id, list(gaz.ids()), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; see `loomwatch clusters` for the ids"
            raise ConfigError(f"{label} key 'clusters': unknown cluster id {cluster_id!r}{hint}")


def _check_fleet(fleet: FleetSettings, where: str) -> None:
    from urllib.parse import urlsplit

    if not fleet.redis_url:
        if fleet.scheduled:  # else `loomwatch schedule` would start, and every crawl of it exit 2
            raise ConfigError(f"{where}: key 'fleet.scheduled' is true but 'fleet.redis_url' is empty; set redis_url to the "
                              "fleet's Redis server, e.g. \"redis://host:6379/0\", or set scheduled = false")
        return
    parts = urlsplit(fleet.redis_url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"{where}: key 'fleet.redis_url': {fleet.redis_url!r} is not a Redis URL; write it as \"redis://host:6379/0\"")
    if parts.password is not None:
        raise ConfigError(f"{where}: key 'fleet.redis_url' holds a password; remove it from the URL, put it in an environment "
                          "variable and name that variable in 'fleet.password_env'")


def _apply_environment(config: Config) -> Config:
    database = os.environ.get(ENV_DATABASE)
    if database:
        config = dataclasses.replace(config, storage=dataclasses.replace(config.storage, database=Path(database).resolve()))
    elif not config.storage.database.is_absolute():
        config = dataclasses.replace(config, storage=dataclasses.replace(config.storage, database=(config.base_dir / config.storage.database).resolve()))
    if not config.digest.output_dir.is_absolute():
        config = dataclasses.replace(config, digest=dataclasses.replace(config.digest, output_dir=(config.base_dir / config.digest.output_dir).resolve()))
    return config


def _reject_unknown(table: dict, known: set[str], where: str, prefix: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(known))}"
            raise ConfigError(f"{where}: unknown key '{prefix}{key}'; {hint}")


def _build(cls: type, table: dict, where: str, prefix: str, base: Path, label: str | None = None) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if label:
        for key in table:
            if key not in fields:
                close = difflib.get_close_matches(key, sorted(fields), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(fields))}"
                raise ConfigError(f"{where}: {label}: unknown key '{key}'; {hint}")
    else:
        _reject_unknown(table, set(fields), where, prefix)
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        key = f"{label} key '{name}'" if label else f"key '{prefix}{name}'"
        if name not in table:
            if f.metadata.get("required"):
                raise ConfigError(f"{where}: {key} is required")
            continue
        values[name] = _convert(table[name], hints[name], f.metadata, where, key, base)
    return cls(**values)


def _convert(value: Any, hint: Any, meta: dict, where: str, key: str, base: Path) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {key}: expected {expected}, got {value!r}")

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":  # `X | None`
        inner = [a for a in args if a is not type(None)][0]
        return _convert(value, inner, meta, where, key, base)
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail("a list of strings, e.g. [\"a\", \"b\"]")
        if meta.get("regex"):
            for pattern in value:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(f"{where}: {key}: '{pattern}' is not a valid regular expression ({exc}); write regexes in single quotes, e.g. '/\\d{{4}}-\\d{{2}}/c_\\d+\\.htm$'") from None
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("a whole number")
    elif hint is float:
        # nan and inf pass every minimum and would switch a time limit off unnoticed
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise fail("a number")
        value = float(value)
    elif hint is str:
        if not isinstance(value, str):
            raise fail("a string in quotes")
        if "choices" in meta and value not in meta["choices"]:
            raise fail("one of " + ", ".join(meta["choices"]))
    elif hint is Path:
        if not isinstance(value, str) or not value:
            raise fail("a path in quotes")
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base / path).resolve()
    if "minimum" in meta and value < meta["minimum"]:
        raise fail(f"a value of at least {meta['minimum']}")
    if "maximum" in meta and value > meta["maximum"]:
        raise fail(f"a value of at most {meta['maximum']}")
    return value


def documented_keys() -> list[str]:
    """Every key a config file may contain, as `section.key` — for the docs test."""
    keys = ["timezone"]
    for section, cls in SECTIONS.items():
        keys += [f"{section}.{f.name}" for f in dataclasses.fields(cls)]
    keys += [f"sources.{f.name}" for f in dataclasses.fields(Source)]
    keys += [f"subscriptions.{f.name}" for f in dataclasses.fields(Subscription)]
    return keys


def reference_markdown() -> str:
    """The configuration reference tables of docs/configuration.md, generated from the fields above."""

    def default_text(f: dataclasses.Field) -> str:
        if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            value: Any = list(f.default_factory())  # type: ignore[misc]
        else:
            value = f.default
        if f.metadata.get("required"):
            return "required"
        if value is None:
            return "built-in"
        if isinstance(value, Path):
            value = str(value)
        if isinstance(value, bool):
            return "`true`" if value else "`false`"
        if isinstance(value, str):
            return f'`"{value}"`'
        if isinstance(value, list):
            return "`[" + ", ".join(f'"{v}"' for v in value) + "]`"
        return f"`{value}`"

    def table(cls: type) -> list[str]:
        lines = ["| key | default | meaning |", "|---|---|---|"]
        for f in dataclasses.fields(cls):
            doc = f.metadata["doc"]
            if "choices" in f.metadata:
                doc += " One of: " + ", ".join(f"`{c}`" for c in f.metadata["choices"]) + "."
            lines.append(f"| `{f.name}` | {default_text(f)} | {doc} |")
        return lines

    top = next(f for f in dataclasses.fields(Config) if f.name == "timezone")
    out = ["### Top level", "", "| key | default | meaning |", "|---|---|---|", f"| `timezone` | {default_text(top)} | {top.metadata['doc']} |", ""]
    for section, cls in SECTIONS.items():
        out += [f"### [{section}]", "", *table(cls), ""]
    out += ["### [[sources]] (one table per source)", "", *table(Source), ""]
    out += ["### [[subscriptions]] (one table per reader or desk; none = one digest of everything to [email] recipients)", "",
            *table(Subscription), ""]
    return "\n".join(out)
