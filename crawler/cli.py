"""The `loomwatch` command: a thin shell over the library.

Each command loads the configuration, calls one library function and turns library errors
into messages that say what to do. Exit codes: 0 all well; 1 some source failed (or a
digest could not be sent); 2 bad configuration or usage; 3 another crawl holds the lock.
"""

from __future__ import annotations

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


class ConfigProblem(click.ClickException):
    exit_code = EXIT_CONFIG

    def show(self, file: Any = None) -> None:
        click.echo(f"loomwatch: {self.message}", err=True)


class Failure(click.ClickException):
    """A failure that is not the user's input: exit 1."""

    exit_code = EXIT_SOURCE_FAILED

    def show(self, file: Any = None) -> None:
        click.echo(f"loomwatch: {self.message}", err=True)


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Scrapy and Twisted are chatty at INFO; show their warnings, or everything with -vv.
    for name in ("scrapy", "twisted", "trafilatura", "htmldate", "courlan", "charset_normalizer", "asyncio", "datasette", "apscheduler"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose > 1 else max(level, logging.WARNING))


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

# --- digest (issue 4) ------------------------------------------------------------------------

# --- unattended operation: schedule, status, sources check (issue 5) -------------------------

# --- archive: serve (issue 6) ----------------------------------------------------------------


if __name__ == "__main__":
    main()
