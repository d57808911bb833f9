"""The `loomwatch` command: a thin shell over the library.

Each command loads the configuration, calls one library function and turns library errors
into messages that say what to do. Exit codes: 0 all well; 1 some source failed (or a
digest could not be sent); 2 bad configuration or usage; 3 another crawl holds the lock.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from loomwatch.crawler.config import Config, ConfigError, default_path, load_config

EXIT_SOURCE_FAILED = 1
EXIT_CONFIG = 2
EXIT_LOCKED = 3


class Problem(click.ClickException):
    """An error shown as `loomwatch: message` on stderr (click prefixes "Error: ")."""

    def show(self, file: Any = None) -> None:
        click.echo(f"loomwatch: {self.message}", err=True)


class ConfigProblem(Problem):
    """Bad configuration or usage: exit 2."""

    exit_code = EXIT_CONFIG


class Failure(Problem):
    """A failure that is not the user's input: exit 1."""

    exit_code = EXIT_SOURCE_FAILED


def archive_problem(exc: Exception) -> Problem:
    """An archive fault (loomwatch.storage.archive) as the CLI reports it: a full disk exits 1
    (the next run completes once there is space), everything else 2 (fix the set-up)."""
    from loomwatch.storage.archive import ArchiveFull

    return Failure(str(exc)) if isinstance(exc, ArchiveFull) else ConfigProblem(str(exc))


class Commands(click.Group):
    """Every command that opens the archive reports its faults the same way."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            # Only a command that opened the archive has imported the module of its errors.
            archive = sys.modules.get("loomwatch.storage.archive")
            if archive is not None and isinstance(exc, archive.ArchiveError):
                raise archive_problem(exc) from None
            raise


# Libraries that are chatty at INFO: their warnings show, their INFO and DEBUG only with -vv.
LIBRARY_LOGGERS = ("scrapy", "twisted", "trafilatura", "htmldate", "courlan", "charset_normalizer", "asyncio",
                   "datasette", "apscheduler", "py.warnings")


# Scrapy's records of failures that loomwatch reports itself, one line naming the source
# (the spider for a page that could not be fetched, spiders.middlewares for robots.txt):
# shown with -v, where they come with their tracebacks.
REPORTED_BY_LOOMWATCH = ("scrapy.downloadermiddlewares.retry", "scrapy.downloadermiddlewares.robotstxt")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _LibraryFilter(logging.Filter):
    def __init__(self, minimum: int, verbose: int = 0):
        super().__init__()
        self.minimum = minimum
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.verbose and record.name.startswith(REPORTED_BY_LOOMWATCH):
            return False
        return record.levelno >= self.minimum or not record.name.startswith(LIBRARY_LOGGERS)


class OneLineFormatter(logging.Formatter):
    """A record in one line: a traceback shrinks to its exception's type and message (the
    whole traceback is logged with -v)."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        exc = record.exc_info[1] if record.exc_info else None
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            line = super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        if exc is not None and str(exc) not in line:
            line += f" ({type(exc).__name__}: {exc})" if str(exc) else f" ({type(exc).__name__})"
        return " | ".join(line.splitlines())


def setup_logging(verbose: int, quiet: bool) -> None:
    # Levels are set on the handler, not on loggers: Scrapy resets its loggers' levels when
    # a crawl starts, and a handler-side filter survives that.
    level = logging.ERROR if quiet else (logging.DEBUG if verbose else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter((logging.Formatter if verbose else OneLineFormatter)(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(level)
    handler.addFilter(_LibraryFilter(logging.DEBUG if verbose > 1 else max(level, logging.WARNING), verbose))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def config_option(required: bool = True) -> Callable:
    """--config, shared by every command that reads the configuration; passes `config`."""

    def decorator(fn: Callable) -> Callable:
        @click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                      help=f"Configuration file [default: ${'{'}LOOMWATCH_CONFIG{'}'} or ./{default_path().name}].")
        @functools.wraps(fn)
        def wrapper(*args: Any, config_path: Path | None, **kwargs: Any) -> Any:
            try:
                config = load_config(config_path, required=required)
            except ConfigError as exc:
                raise ConfigProblem(str(exc)) from None
            return fn(*args, config=config, **kwargs)

        return wrapper

    return decorator


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", count=True, help="More log output (-vv: also Scrapy's).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing unless something failed (for cron).")
@click.version_option(package_name="loomwatch")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """loomwatch: news monitoring for China's textile and apparel industry clusters."""
    setup_logging(verbose, quiet)
    ctx.obj = {"quiet": quiet, "verbose": verbose}


def is_quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().obj and ctx.find_root().obj.get("quiet"))


# --- core: init, crawl, extract, demo (issue 2) ---------------------------------------------


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default=None, required=False)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path | None, force: bool) -> None:
    """Write a commented starter configuration (default ./loomwatch.toml)."""
    from importlib.resources import files

    path = path or default_path()
    if path.exists() and not force:
        raise ConfigProblem(f"{path}: already exists; pass --force to overwrite it, or give another PATH")
    try:
        path.write_text(files("loomwatch.crawler").joinpath("starter.toml").read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as exc:  # a folder that does not exist or cannot be written
        raise ConfigProblem(f"{path}: cannot write ({exc.strerror}); create its folder first, or give another PATH") from None
    click.echo(f"wrote {path}: review the sources, then run `loomwatch sources check` and `loomwatch crawl`")


@main.command()
@config_option()
@click.option("--source", "-s", "sources", multiple=True, metavar="NAME", help="Crawl only this source (repeatable).")
@click.option("--fleet", is_flag=True, help="Let the fleet's workers fetch (see `loomwatch worker`); store here.")
def crawl(config: Config, sources: tuple[str, ...], fleet: bool) -> None:
    """Crawl all (or the named) sources once and store new articles; then refresh the
    feeds and mail the immediate subscriptions' alerts."""
    report = run_crawl(config, sources, fleet=fleet)
    alerts_failed = after_crawl(config, sum(r.new_articles for r in report.results))
    if report.failed or report.problem or alerts_failed:
        sys.exit(EXIT_SOURCE_FAILED)


def run_crawl(config: Config, sources: tuple[str, ...] = (), *, fleet: bool = False) -> Any:
    from loomwatch.crawler import run
    from loomwatch.storage import LockedError

    try:
        if fleet:
            from loomwatch.crawler.fleet.protocol import FleetError
            from loomwatch.crawler.fleet.writer import crawl_fleet

            try:
                report = crawl_fleet(config, sources)
            except FleetError as exc:
                raise Failure(str(exc)) from None
        else:
            report = run.crawl(config, sources)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    except LockedError as exc:
        click.echo(f"loomwatch: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    quiet = is_quiet()
    for r in report.results:
        line = (f"{r.source:<24} {r.status:<6} pages {r.pages_fetched:>4}  links {r.article_links:>4}  new {r.new_articles:>4}"
                f"  duplicates {r.duplicates:>3}  errors {r.errors:>3}")
        if r.status != "ok" or not quiet:
            click.echo(line + (f"  last error: {r.last_error}" if r.last_error and (r.status != "ok" or r.errors) else ""),
                       err=r.status != "ok" and quiet)
    if report.problem:
        click.echo(f"loomwatch: {report.problem}", err=True)
    if report.archive_error:
        raise archive_problem(report.archive_error)
    return report


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", default=None, help="The page's original URL (helps date and link resolution).")
@click.option("--content-type", default=None, help="The Content-Type header it was served with, if known.")
def extract(paths: tuple[Path, ...], url: str | None, content_type: str | None) -> None:
    """Extract saved HTML files as the crawl does; print one JSON object per file."""
    from loomwatch.pipelines.extract import decode_html, extract_article
    from loomwatch.pipelines.language import detect_language

    for path in paths:
        html, encoding = decode_html(path.read_bytes(), content_type)
        found = extract_article(html, url)
        record: dict[str, Any] = {"file": str(path), "encoding": encoding}
        if found is None:
            record.update(title=None, text=None, published=None, author=None, credit=None, lang=None, error="no article text found")
        else:
            record.update(title=found.title, text=found.text, published=found.published, author=found.author,
                          credit=found.credit, lang=detect_language(found.text))
        click.echo(json.dumps(record, ensure_ascii=False))


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("loomwatch-demo"),
              show_default=True, help="Where the demo writes its configuration and database.")
def demo(directory: Path) -> None:
    """Crawl the bundled offline example sites into a fresh database (no network needed)."""
    from loomwatch.crawler.demo import run_demo

    try:
        run_demo(directory, run_crawl)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None


# --- cluster intelligence: tag, retag, clusters (issue 3) ------------------------------------


def json_lines(file: Any, keys: str) -> Any:
    """The JSON objects of a JSON Lines file, blank lines skipped; a bad line is a usage error naming it."""
    for number, line in enumerate(file, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            for key in ("title", "text"):
                if not isinstance(record.get(key) or "", str):
                    raise ValueError(f"{key!r} is {type(record[key]).__name__}, not a string")
        except ValueError as exc:
            raise ConfigProblem(f"{file.name}: line {number}: not a JSON object with {keys} ({exc})") from None
        yield record


@main.command()
@config_option(required=False)
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-", required=False)
@click.option("--source", default=None, metavar="NAME", help="Apply this configured source's cluster hints.")
def tag(config: Config, file: Any, source: str | None) -> None:
    """Tag JSON Lines of {"title", "text"} (stdin when no FILE) as the crawl would.

    Prints one {"relevance", "relevant", "clusters"} object per input line.
    """
    from loomwatch.pipelines.clusters import tagger_for

    try:
        hints = config.source(source).clusters if source else ()
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    tagger = tagger_for(config.pipelines)
    for record in json_lines(file, '"title" and "text"'):
        result = tagger.tag(record.get("title") or "", record.get("text") or "", hints)
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))


@main.command()
@config_option()
@click.option("--batch", default=500, show_default=True, help="Articles per transaction.")
def retag(config: Config, batch: int) -> None:
    """Re-apply the current gazetteer and thresholds to the whole archive (no re-crawl)."""
    from loomwatch.crawler.retag import retag as run_retag
    from loomwatch.storage.archive import archive_errors

    with archive_errors(config.storage.database, config.storage.busy_timeout):  # a full disk, a lock held too long
        total, changed = run_retag(config, batch)
    if not is_quiet():
        click.echo(f"re-tagged {total} articles; {changed} changed")


@main.command("clusters")
@config_option(required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per cluster.")
def clusters_command(config: Config, as_json: bool) -> None:
    """List the clusters loomwatch knows (packaged gazetteer plus [[clusters]])."""
    for row in config.gazetteer().rows():
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"{row['id']:<22} {row['name']:<28} {row['name_zh'] or '':<10} {row['province'] or ''} {row['city'] or ''}")

# --- digest (issue 4) ------------------------------------------------------------------------


@main.command()
@config_option()
@click.option("--send", is_flag=True, help="Mail each subscription's digest that is due (once per window).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the .html, .txt and .eml files here [default: [digest] output_dir].")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD", callback=lambda ctx, param, value: _iso_date(value),
              help="The archive view of one calendar day (configured time zone) instead of what is new.")
@click.option("--force", is_flag=True, help="Mail even if this window (or day) was mailed already, or a weekly one is not due.")
@click.option("--subscription", "names", multiple=True, metavar="NAME", help="Only this subscription (repeatable).")
def digest(config: Config, send: bool, out_dir: Path | None, day: datetime.date | None, force: bool, names: tuple[str, ...]) -> None:
    """Build each subscription's digest of what is new since its last one, write it to
    files, and with --send mail it; rewrite the Atom feeds.

    Without --send nothing is mailed and the window does not move: the files show what the
    next --send would mail. Exit 1 when a mail could not be sent (the next run retries it).
    """
    from loomwatch.crawler.digest.mail import DigestBusy
    from loomwatch.crawler.digest.run import describe, run_digests

    try:
        outcomes = run_digests(config, send=send, out=out_dir, day=day, force=force, names=names or None)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    except DigestBusy as exc:
        click.echo(f"loomwatch: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    failed = [o for o in outcomes if o.status == "failed"]
    for outcome in outcomes:
        if outcome.status == "failed" or is_quiet():
            continue
        if outcome.status in ("nothing_new", "already_sent", "not_due", "feed_only"):
            click.echo(f"{describe(outcome)}\n{outcome.note}")
            continue
        click.echo(describe(outcome))
        click.echo(f"wrote {', '.join(str(f) for f in outcome.files)}")
        if outcome.status == "sent":
            click.echo(f"mailed to {', '.join(outcome.recipients)}: {outcome.subject}")
        else:
            click.echo("not mailed: pass --send to mail it")
    for outcome in failed:
        name = f" {outcome.digest.subscription}" if outcome.digest.subscription else ""
        click.echo(f"loomwatch: digest{name} not sent: {outcome.note}", err=True)
    if failed:
        sys.exit(EXIT_SOURCE_FAILED)


def _iso_date(value: str | None) -> datetime.date | None:
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-20") from None


# --- unattended operation: schedule, status, sources check (issue 5) -------------------------


@main.command()
@config_option()
def schedule(config: Config) -> None:
    """Crawl and mail the digest at the [schedule] times until stopped (SIGTERM or Ctrl-C).

    Each job runs `loomwatch crawl` or `loomwatch digest --send` as a child process; a
    digest or crawl missed while this was not running is made up once at start-up."""
    from loomwatch.crawler.scheduler import Daemon

    root = click.get_current_context().find_root().obj or {}
    flags = ["-q"] if root.get("quiet") else ["-v"] * min(root.get("verbose", 0), 2)
    try:
        daemon = Daemon(config, child_flags=flags)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    handler = _schedule_log_file(config)
    try:
        sys.exit(daemon.run())
    finally:
        if handler:
            logging.getLogger().removeHandler(handler)
            handler.close()


def _schedule_log_file(config: Config) -> logging.Handler | None:
    """The rotating `schedule.log_file`; it gets INFO even when stderr is quiet (-q)."""
    from logging.handlers import RotatingFileHandler

    if not config.schedule.log_file:
        return None
    path = Path(config.schedule.log_file).expanduser()
    path = path if path.is_absolute() else config.base_dir / path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=10_000_000, backupCount=5, encoding="utf-8")
    except OSError as exc:
        raise ConfigProblem(f"{config.path}: key 'schedule.log_file': cannot write {path} ({exc.strerror}); "
                            "fix the path or its permissions") from None
    root = logging.getLogger()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(root.level)  # INFO, or DEBUG with -v: the root logger's level (see setup_logging)
    handler.addFilter(_LibraryFilter(logging.WARNING))
    root.addHandler(handler)
    return handler


def _local_time(utc_text: str | None, timezone: str) -> str:
    import zoneinfo

    from loomwatch.storage.clock import parse_db_time

    if not utc_text:
        return "never"
    return parse_db_time(utc_text).astimezone(zoneinfo.ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


@main.command()
@config_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per source instead of the table.")
def status(config: Config, as_json: bool) -> None:
    """Show each source's health; exit 1 when any source is unhealthy (for monitoring)."""
    import sqlite_utils

    from loomwatch.storage import open_database
    from loomwatch.storage.db import check_database
    from loomwatch.storage.health import UNHEALTHY, source_status

    database = config.storage.database
    # Reading must not create an archive: a missing one shows every source as never run
    # (a missing folder, though, is a fault: a disk not mounted, a typing error).
    check_database(database, write=False, busy_timeout=config.storage.busy_timeout)
    db = open_database(database, busy_timeout=config.storage.busy_timeout) if database.exists() else sqlite_utils.Database(memory=True)
    try:
        rows = source_status(db, config.health, [s.name for s in config.sources])
    finally:
        db.close()
    unhealthy = [r for r in rows if r["health"] == UNHEALTHY]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
    elif unhealthy or not is_quiet():
        if not database.exists():
            click.echo(f"{database}: no archive yet; run `loomwatch crawl` first")
        click.echo(f"{'source':<24} {'last success (' + config.timezone + ')':<30} {'failures':>8} {'7 days':>7}  health")
        for r in rows:
            health = f"UNHEALTHY: {r['reason']}" if r["health"] == UNHEALTHY else r["health"]
            click.echo(f"{r['name']:<24} {_local_time(r['last_success_at'], config.timezone):<30} "
                       f"{r['consecutive_failures']:>8} {r['articles_7d']:>7}  {health}")
            if r["health"] == UNHEALTHY and r["last_error"]:
                click.echo(f"{'':<73}last error: {r['last_error']}")
    if unhealthy:
        sys.exit(EXIT_SOURCE_FAILED)


@main.group()
def sources() -> None:
    """Inspect the configured sources."""


@sources.command("check")
@config_option()
@click.option("--source", "-s", "names", multiple=True, metavar="NAME", help="Check only this source (repeatable).")
def sources_check(config: Config, names: tuple[str, ...]) -> None:
    """Read each source's start pages, feeds and sitemaps once and count the article links
    they yield. Fetches no articles and writes nothing to the archive; exit 1 when a source
    could not be read or yields no article links."""
    from loomwatch.crawler import run

    try:
        checks = run.check_sources(config, names)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    quiet = is_quiet()
    for c in checks:
        if not c.ok or not quiet:
            verdict = "ok" if c.ok else ("FAILED: nothing could be read" if not c.read else
                                         "NO ARTICLE LINKS: check article_urls / follow_urls")
            click.echo(f"{c.source:<24} read {c.read}/{c.entry_points}  article links {c.article_links:>4}  {verdict}")
            for url in c.sample:
                click.echo(f"{'':<26}e.g. {url}")
            if c.last_error and not c.ok:
                click.echo(f"{'':<26}last error: {c.last_error}")
    if not all(c.ok for c in checks):
        sys.exit(EXIT_SOURCE_FAILED)


# --- archive: serve (issue 6) ----------------------------------------------------------------


@main.command()
@config_option()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", "-p", type=click.IntRange(1, 65535), default=8001, show_default=True, help="Port to listen on.")
@click.pass_context
def serve(ctx: click.Context, config: Config, host: str, port: int) -> None:
    """Serve the archive in Datasette, read-only: search, facets, canned queries, charts."""
    from loomwatch.crawler.archive.serve import ServeError
    from loomwatch.crawler.archive.serve import serve as serve_archive

    try:
        serve_archive(config.storage.database, host, port, access_log=ctx.find_root().obj["verbose"] > 0,
                      feeds=config.digest.output_dir / "feeds")
    except ServeError as exc:
        raise ConfigProblem(str(exc)) from None


# --- subscriptions: alerts, subscriptions (issue 18) ------------------------------------------


def after_crawl(config: Config, stored: int) -> bool:
    """Refresh the feeds and mail the immediate subscriptions' alerts after a crawl; True when an alert failed."""
    from loomwatch.crawler.digest.alerts import after_crawl as run_after_crawl
    from loomwatch.crawler.digest.alerts import describe_outcome

    try:
        outcomes = run_after_crawl(config, stored=stored)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    for outcome in outcomes:
        if outcome.status == "failed":
            click.echo(f"loomwatch: alert {outcome.subscription} not sent: {outcome.note}", err=True)
        elif outcome.status in ("sent", "skipped") and not is_quiet():
            click.echo(describe_outcome(outcome))
    return any(o.status == "failed" for o in outcomes)


@main.command()
@config_option()
@click.option("--send", is_flag=True, help="Mail them (what every crawl does); without it only write the files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the .txt and .eml files to DIR/alerts [default: [digest] output_dir].")
@click.option("--subscription", "names", multiple=True, metavar="NAME", help="Only this subscription (repeatable).")
def alerts(config: Config, send: bool, out_dir: Path | None, names: tuple[str, ...]) -> None:
    """Show (or with --send mail) the alerts of the immediate subscriptions now.

    Every `loomwatch crawl` mails them when it is done; without --send this writes what the
    next alert would say and does not use its stories up. Exit 1 when an alert could not be sent."""
    from loomwatch.crawler.digest.alerts import describe_outcome, run_alerts
    from loomwatch.crawler.digest.mail import DigestBusy

    try:
        outcomes = run_alerts(config, send=send, out=out_dir, names=names or None)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    except DigestBusy as exc:
        click.echo(f"loomwatch: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    if not outcomes and not is_quiet():
        click.echo("no immediate subscription: add one with schedule = \"immediate\" (see `loomwatch subscriptions`)")
    for outcome in outcomes:
        if outcome.status == "failed":
            click.echo(f"loomwatch: alert {outcome.subscription} not sent: {outcome.note}", err=True)
        elif not is_quiet():
            click.echo(describe_outcome(outcome))
    if any(o.status == "failed" for o in outcomes):
        sys.exit(EXIT_SOURCE_FAILED)


@main.command("subscriptions")
@config_option()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per subscription.")
def subscriptions_command(config: Config, as_json: bool) -> None:
    """List the subscriptions: schedule, recipients, filters, stories matched in the last week, last mailed."""
    from loomwatch.crawler.digest.run import overview

    try:
        rows = overview(config)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        mailed = _local_time(row["last_mailed"], config.timezone)
        click.echo(f"{row['name'] or '(all stories)':<24} {row['schedule']:<18} {row['last_week']:>4} matched in the last 7 days"
                   f"  last mailed {mailed}")
        click.echo(f"{'':<4}to {', '.join(row['recipients']) or 'nobody (a feed only)'}")
        click.echo(f"{'':<4}{row['filters'] or 'every relevant story'}; feed {row['feed']}")


# --- archive upkeep: backup, check (issue 15) -------------------------------------------------


@main.command()
@config_option()
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace DEST if it is an existing file.")
def backup(config: Config, dest: Path, force: bool) -> None:
    """Write a consistent copy of the archive to DEST (a file, or a folder: a dated file in it).

    Safe while crawls run and Datasette serves; restore as docs/operations.md says."""
    from loomwatch.storage.maintenance import backup as backup_archive

    written = backup_archive(config.storage.database, dest, replace=force, busy_timeout=config.storage.busy_timeout)
    if not is_quiet():
        click.echo(f"backed up {config.storage.database} to {written} ({written.stat().st_size / 1e6:.1f} MB)")


@main.command()
@config_option()
def check(config: Config) -> None:
    """Check the archive (PRAGMA integrity_check) and report its schema, counts and last run.

    Reads only. Exit 2 when the archive is damaged (the message says how to restore it)."""
    from loomwatch.storage.archive import RESTORE, ArchiveError
    from loomwatch.storage.maintenance import check as check_archive

    report = check_archive(config.storage.database, busy_timeout=config.storage.busy_timeout)
    if not report.ok:
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
        raise ArchiveError(f"{report.path}: damaged: PRAGMA integrity_check found the problems above; keep a copy of the "
                           f"file for diagnosis and {RESTORE}")
    if is_quiet():
        return
    counts, run, sent = report.counts, report.last_run, report.last_digest
    pending = f"{len(report.pending)} pending, applied by the next crawl: {', '.join(report.pending)}" if report.pending else "none pending"
    click.echo(f"{report.path}: integrity ok ({report.size / 1e6:.1f} MB)")
    click.echo(f"schema: {report.applied[-1] if report.applied else 'none'} ({len(report.applied)} updates applied; {pending})")
    click.echo(f"articles: {counts['articles']} ({counts['relevant']} relevant, {counts['copies']} copies of other stories) "
               f"from {counts['sources']} sources")
    if run:
        click.echo(f"last crawl: #{run['id']} started {_local_time(run['started'], config.timezone)}, "
                   f"{run['status']}, {run['new_articles'] or 0} new articles ({counts['crawl_runs']} runs in all)"
                   + (f"; {run['message']}" if run["message"] else ""))
    else:
        click.echo("last crawl: none yet")
    click.echo(f"digests mailed: {counts['digests_sent']}" + (f", last {_local_time(sent['sent'], config.timezone)}" if sent else ""))


# --- fleet: worker, fleet status (issue 16) -----------------------------------------------


@main.command()
@config_option()
@click.option("--until-idle", default=None, metavar="SECONDS", callback=lambda ctx, param, value: _seconds("--until-idle", value),
              help="Exit 0 after this many seconds without work (default: run until SIGTERM).")
def worker(config: Config, until_idle: float | None) -> None:
    """Fetch, extract and tag pages for the fleet's `crawl --fleet` runs, taken from Redis.

    Needs the same configuration file as the archive's machine ([fleet] redis_url); never
    opens the archive. SIGTERM stops it cleanly: its unfinished pages go back to the queue."""
    from loomwatch.crawler.fleet.protocol import FleetError
    from loomwatch.crawler.fleet.worker import run_worker

    try:
        run_worker(config, until_idle)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    except FleetError as exc:
        raise Failure(str(exc)) from None


def _seconds(option: str, value: str | None) -> float | None:
    """A number of seconds given on the command line: finite and not negative (nan and inf
    would pass any comparison and switch the limit off unnoticed, as in the configuration)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigProblem(f"{option}: {value!r} is not a number of seconds; give a number of 0 or more, e.g. {option} 600")
    return seconds


@main.group()
def fleet() -> None:
    """Inspect the fleet of `loomwatch worker` machines."""


@fleet.command("status")
@config_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the tables.")
def fleet_status(config: Config, as_json: bool) -> None:
    """Workers seen, pages waiting per host, pages in flight, results waiting to be stored."""
    import dataclasses

    from loomwatch.crawler.fleet.protocol import FleetError
    from loomwatch.crawler.fleet.writer import fleet_status as read_status

    try:
        state = read_status(config)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    except FleetError as exc:
        raise Failure(str(exc)) from None
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(state), ensure_ascii=False))
        return
    writer = json.loads(state.run.get("writer") or "{}") if state.run else {}
    run = f"run {state.run['id']} of {writer.get('archive')} (host {writer.get('host')}, pid {writer.get('pid')})" if state.run else "no run"
    click.echo(f"{state.redis}, prefix {state.prefix}: {run}; {state.pending} pages queued or in flight, "
               f"{state.results_waiting} results waiting to be stored")
    click.echo(f"\n{'worker host':<24} {'pid':>8} {'last heartbeat':<20} {'hosts':>5} {'pages':>7}")
    for w in state.workers:
        seen = datetime.datetime.fromtimestamp(w["seen"]).strftime("%Y-%m-%d %H:%M:%S")
        note = "  REFUSES this run: its configuration differs" if w.get("refused") else ""
        click.echo(f"{w['host']:<24} {w['pid']:>8} {seen:<20} {len(w['hosts']):>5} {w['settled']:>7}{note}")
    if not state.workers:
        click.echo("(none: start `loomwatch worker` on a machine with this configuration)")
    click.echo(f"\n{'host':<36} {'queued':>7} {'in flight':>9}  worker")
    for h in state.hosts:
        click.echo(f"{h['host']:<36} {h['queued']:>7} {h['in_flight']:>9}  {h['holder'] or '-'}")


# --- stories: restory, stories (issue 14) ----------------------------------------------------


@main.command()
@config_option()
@click.option("--batch", default=500, show_default=True, help="Articles per transaction.")
@click.option("--keep-facts", is_flag=True, help="Reuse the stored facts of each article (when only [stories] thresholds changed).")
def restory(config: Config, batch: int, keep_facts: bool) -> None:
    """Decide every article's story again with the current [stories] rules (no re-crawl).

    Resumable: a restory that was killed continues where it stopped when run again.
    """
    from loomwatch.crawler.restory import restory as run_restory
    from loomwatch.storage import LockedError
    from loomwatch.storage.archive import archive_errors

    quiet = is_quiet()
    try:
        with archive_errors(config.storage.database, config.storage.busy_timeout):  # a full disk, a lock held too long
            report = run_restory(config, batch, keep_facts,
                                 progress=lambda n: None if quiet else click.echo(f"  {n} articles", err=True))
    except LockedError as exc:
        click.echo(f"loomwatch: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    if not quiet:
        click.echo(f"re-decided the stories of {report.articles} articles{' (resumed)' if report.resumed else ''}; "
                   f"{report.moved} changed story; {report.stories} stories")


@main.command()
@config_option(required=False)
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-", required=False)
@click.option("--db", "database", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Keep the archive the texts are stored in here (default: a temporary one).")
def stories(config: Config, file: Any, database: Path | None) -> None:
    """Fold JSON Lines of {"id", "title", "text", "published", "lang"} (stdin when no FILE) into stories.

    Prints one {"id", "story"} object per input line, in order; lines with the same
    "story" (the id of its first line) are one story. The texts go through the crawl's own
    analysis and store step, each treated as relevant; "published" and "lang" may be
    missing (the language is then detected).
    """
    from loomwatch.crawler.restory import fold_texts

    if database is not None and database.exists():
        raise ConfigProblem(f"{database}: exists already; name a new file for --db")
    records = list(json_lines(file, '"id", "title" and "text"'))  # all read first: a bad line stops before any work
    for result in fold_texts(config, records, database):
        click.echo(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
