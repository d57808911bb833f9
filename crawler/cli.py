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


# Libraries that are chatty at INFO: their warnings show, their INFO and DEBUG only with -vv.
LIBRARY_LOGGERS = ("scrapy", "twisted", "trafilatura", "htmldate", "courlan", "charset_normalizer", "asyncio",
                   "datasette", "apscheduler", "py.warnings")


class _LibraryFilter(logging.Filter):
    def __init__(self, minimum: int):
        super().__init__()
        self.minimum = minimum

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.minimum or not record.name.startswith(LIBRARY_LOGGERS)


def setup_logging(verbose: int, quiet: bool) -> None:
    # Levels are set on the handler, not on loggers: Scrapy resets its loggers' levels when
    # a crawl starts, and a handler-side filter survives that.
    level = logging.ERROR if quiet else (logging.DEBUG if verbose else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(level)
    handler.addFilter(_LibraryFilter(logging.DEBUG if verbose > 1 else max(level, logging.WARNING)))
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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    path.write_text(files("loomwatch.crawler").joinpath("starter.toml").read_text(encoding="utf-8"), encoding="utf-8")
    click.echo(f"wrote {path}: review the sources, then run `loomwatch sources check` and `loomwatch crawl`")


@main.command()
@config_option()
@click.option("--source", "-s", "sources", multiple=True, metavar="NAME", help="Crawl only this source (repeatable).")
def crawl(config: Config, sources: tuple[str, ...]) -> None:
    """Crawl all (or the named) sources once and store new articles."""
    report = run_crawl(config, sources)
    if report.failed:
        sys.exit(EXIT_SOURCE_FAILED)


def run_crawl(config: Config, sources: tuple[str, ...] = ()) -> Any:
    from loomwatch.crawler import run
    from loomwatch.storage import LockedError

    try:
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
            record.update(title=None, text=None, published=None, author=None, lang=None, error="no article text found")
        else:
            record.update(title=found.title, text=found.text, published=found.published, author=found.author,
                          lang=detect_language(found.text))
        click.echo(json.dumps(record, ensure_ascii=False))


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("loomwatch-demo"),
              show_default=True, help="Where the demo writes its configuration and database.")
def demo(directory: Path) -> None:
    """Crawl the bundled offline example sites into a fresh database (no network needed)."""
    from loomwatch.crawler.demo import run_demo

    try:
        run_demo(directory)
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
    from loomwatch.crawler.retag import tagger_for

    try:
        hints = config.source(source).clusters if source else ()
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    tagger = tagger_for(config)
    for record in json_lines(file, '"title" and "text"'):
        result = tagger.tag(record.get("title") or "", record.get("text") or "", hints)
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))


@main.command()
@config_option()
@click.option("--batch", default=500, show_default=True, help="Articles per transaction.")
def retag(config: Config, batch: int) -> None:
    """Re-apply the current gazetteer and thresholds to the whole archive (no re-crawl)."""
    from loomwatch.crawler.retag import retag as run_retag

    total, changed = run_retag(config, batch)
    if not is_quiet():
        click.echo(f"re-tagged {total} articles; {changed} changed")


@main.command("clusters")
@config_option(required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per cluster.")
def clusters_command(config: Config, as_json: bool) -> None:
    """List the clusters loomwatch knows (packaged gazetteer plus [[clusters]])."""
    from loomwatch.crawler.gazetteer import load_gazetteer

    for row in load_gazetteer(list(config.clusters), origin=str(config.path or "<defaults>")).rows():
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"{row['id']:<22} {row['name']:<28} {row['name_zh'] or '':<10} {row['province'] or ''} {row['city'] or ''}")

# --- digest (issue 4) ------------------------------------------------------------------------


@main.command()
@config_option()
@click.option("--send", is_flag=True, help="Mail the digest to [email] recipients (once per window).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the .html, .txt and .eml files here [default: [digest] output_dir].")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD", callback=lambda ctx, param, value: _iso_date(value),
              help="The archive view of one calendar day (configured time zone) instead of what is new.")
@click.option("--force", is_flag=True, help="Mail even if this window (or day) was mailed already.")
def digest(config: Config, send: bool, out_dir: Path | None, day: datetime.date | None, force: bool) -> None:
    """Build the digest of what is new since the last one, write it to files, and with --send mail it.

    Without --send nothing is mailed and the window does not move: the files show what the
    next --send would mail. Exit 1 when the mail could not be sent (the next run retries).
    """
    from loomwatch.crawler.digest import DigestBusy, SendError, describe, run_digest

    try:
        outcome = run_digest(config, send=send, out=out_dir, day=day, force=force)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    except SendError as exc:
        raise Failure(f"digest not sent: {exc}") from None
    except DigestBusy as exc:
        click.echo(f"loomwatch: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    if is_quiet():
        return
    if outcome.status in ("nothing_new", "already_sent"):
        click.echo(f"{describe(outcome)}\n{outcome.note}")
        return
    click.echo(describe(outcome))
    click.echo(f"wrote {', '.join(str(f) for f in outcome.files)}")
    if outcome.status == "sent":
        click.echo(f"mailed to {', '.join(outcome.recipients)}: {outcome.subject}")
    else:
        click.echo("not mailed: pass --send to mail it")


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

    from loomwatch.storage.db import parse_db_time

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
    from loomwatch.storage.health import UNHEALTHY, source_status

    database = config.storage.database
    # Reading must not create an archive: a missing one shows every source as never run.
    db = open_database(database) if database.exists() else sqlite_utils.Database(memory=True)
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
    from loomwatch.crawler.serve import ServeError
    from loomwatch.crawler.serve import serve as serve_archive

    try:
        serve_archive(config.storage.database, host, port, access_log=ctx.find_root().obj["verbose"] > 0)
    except ServeError as exc:
        raise ConfigProblem(str(exc)) from None


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

    quiet = is_quiet()
    try:
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
