"""`loomwatch demo` (the sites and demo.toml here are package data; see README.md).

`loomwatch demo`: serve the bundled example sites on 127.0.0.1 and crawl them.

No network, no configuration: the sites in `sites/` are our own writing, made to look and
behave like the real sources (a city portal in English, a WordPress trade blog with a feed,
a GBK-encoded government CMS, a sitemap-only index site).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import click

from loomwatch.crawler.config import Config, load_config


def write_config(directory: Path, site_urls: dict[str, str]) -> Path:
    """The demo configuration with the example sites' live addresses filled in."""
    template = files("loomwatch.crawler.demo").joinpath("demo.toml").read_text(encoding="utf-8")
    text = re.sub(r"\{\{site:([\w-]+)\}\}", lambda m: site_urls[m.group(1)], template)
    path = directory / "loomwatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def remove_database(database: Path) -> None:
    """The demo starts from an empty archive: drop the database and its WAL, locks and cache."""
    for old in database.parent.glob(database.name + "*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def _command(name: str = "loomwatch") -> str:
    """How to call a command installed beside this Python, so the printed commands work as
    typed: by name when it is on PATH, else by its path (.venv/bin/loomwatch after `make demo`)."""
    beside = Path(sys.executable).with_name(name)
    on_path = shutil.which(name)
    if not beside.exists() or (on_path and Path(on_path).resolve() == beside.resolve()):
        return name
    relative = os.path.relpath(beside)
    return str(beside) if relative.startswith("..") else relative


def run_demo(directory: Path, crawl: Callable[[Config], object]) -> None:
    """Serve the example sites and `crawl` them (the CLI passes its crawl, which prints the report) into a fresh archive."""
    from loomwatch.crawler.demo.sitefarm import DEMO_SITES, SiteFarm

    directory = directory.resolve()
    command = _command()
    directory.mkdir(parents=True, exist_ok=True)
    with SiteFarm(DEMO_SITES) as farm:
        config_path = write_config(directory, farm.sites)
        config = load_config(config_path)
        remove_database(config.storage.database)
        click.echo(f"serving {len(farm.sites)} example sites on 127.0.0.1; crawling them into {config.storage.database}")
        crawl(config)
    click.echo(
        f"\nThe archive is {config.storage.database}\n"
        "Next, try:\n"
        f"  {command} status --config {config_path}\n"
        f"  {command} subscriptions --config {config_path}\n"
        f"  {command} digest --config {config_path} --out {directory / 'digests'}    # each subscription's digest, and Atom feeds in digests/feeds\n"
        f"  {command} alerts --config {config_path} --out {directory / 'digests'}    # what the compliance alert mails after a crawl\n"
        f"  {command} serve --config {config_path}    # the dashboard at http://127.0.0.1:8001/-/dashboards/overview, feeds at /-/feeds/\n"
        f"  {_command('sqlite-utils')} {config.storage.database} \"select source, lang, title from articles\" --table\n"
        "(The example sites stop when the demo ends: the demo configuration is for exploring the archive, not for crawling again.)"
    )
