"""The analysts' archive: Datasette over the loomwatch database, read-only, while crawls write.

`build_datasette` makes the Datasette instance (tests use it through `ds.client`);
`serve` runs it under uvicorn for `loomwatch serve`. The archive is opened the way
Datasette opens any mutable file, `mode=ro`, never `immutable=1`: a crawl may commit at
any moment, and WAL lets readers see each commit without blocking the writer. The
plugin (crawler/archive/plugin.py) additionally sets every archive connection to
`query_only`.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
from contextlib import closing
from importlib.resources import files
from pathlib import Path
from typing import Any

import sqlite_utils
from datasette.app import Datasette
from datasette.database import Database
from datasette.plugins import pm
from datasette.utils import parse_metadata

from loomwatch.crawler.archive import dashboard, plugin
from loomwatch.crawler.archive.plugin import ARCHIVE
from loomwatch.pipelines.gazetteer import load_gazetteer
from loomwatch.storage import ArchiveError, open_database
from loomwatch.storage.db import check_database, migrations

log = logging.getLogger(__name__)

# Datasette settings that suit an archive that grows for months: searches and facets over
# tens of thousands of articles get more than Datasette's default time; long texts are cut
# short in HTML (JSON and CSV keep them whole); the file is not offered for download,
# because a copy of a live WAL database can miss its latest commits.
SETTINGS: dict[str, Any] = {
    "sql_time_limit_ms": 5000,
    "facet_time_limit_ms": 1000,
    "truncate_cells_html": 120,
    "default_page_size": 50,
    "allow_download": False,
}


class ServeError(RuntimeError):
    """The archive cannot be served; the message names the file and what to do."""


def load_metadata() -> dict[str, Any]:
    metadata = parse_metadata(files("loomwatch.crawler.archive").joinpath("datasette/metadata.yaml").read_text(encoding="utf-8"))
    metadata.setdefault("plugins", {})["datasette-dashboards"] = dashboard.plugin_settings()
    return metadata


def register_plugin() -> None:
    # Datasette's plugin manager is process-wide: register once, however many instances are built.
    if not pm.is_registered(plugin):
        pm.register(plugin, name="loomwatch")


def prepare_archive(path: Path) -> None:
    """Check that `path` is an archive, and apply pending migrations (the analysts' views) if any."""
    if not path.is_file():
        raise ServeError(f"{path}: no archive there yet; run `loomwatch crawl` (or `loomwatch demo`) first, "
                         f"or point [storage] database in the configuration at the archive")
    check_database(path, write=False)  # not an archive, or a newer one's: ArchiveError
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        pending = [m.name for m in migrations.pending(sqlite_utils.Database(conn))]
    if not pending:
        return  # the usual case: a crawl already brought the schema up to date, nothing is written
    log.info("%s: applying schema updates %s before serving", path, ", ".join(pending))
    try:
        db = open_database(path)
        try:
            if "0012_dashboard" in pending:
                place_clusters(db)
        finally:
            db.close()
    except ArchiveError as exc:
        raise ArchiveError(f"{exc} (the schema updates {', '.join(pending)} must be applied before serving: "
                           "run `loomwatch crawl` or `loomwatch serve` once as a user who may write the archive)") from None


def place_clusters(db: sqlite_utils.Database) -> None:
    """Give the archive's clusters the packaged gazetteer's places, for the dashboard's map until
    the next crawl writes the configured gazetteer (clusters a configuration adds wait for it)."""
    with db.atomic():
        db.conn.executemany("UPDATE clusters SET lat = ?, lon = ? WHERE id = ? AND lat IS NULL",
                            [(c.lat, c.lon, c.id) for c in load_gazetteer() if c.lat is not None])


def build_datasette(path: Path, *, settings: dict[str, Any] | None = None, feeds: Path | None = None) -> Datasette:
    """A Datasette serving the archive at `path` as /loomwatch, with loomwatch's metadata and
    plugin, and the Atom feeds in the folder `feeds` (written by `loomwatch digest`) at /-/feeds/."""
    register_plugin()
    metadata = load_metadata()
    if feeds is not None:
        metadata.setdefault("plugins", {}).setdefault("loomwatch", {})["feeds"] = str(feeds)
    # The template folder holds the article page (row-loomwatch-articles.html).
    ds = Datasette(files=[], metadata=metadata, settings={**SETTINGS, **(settings or {})},
                   template_dir=str(files("loomwatch.crawler.archive").joinpath("datasette")))
    ds.remove_database("_memory")  # added whenever no files are given; analysts have no use for it
    ds.add_database(Database(ds, path=str(path), is_mutable=True), name=ARCHIVE)
    return ds


def serve(path: Path, host: str = "127.0.0.1", port: int = 8001, *, access_log: bool = False, feeds: Path | None = None) -> None:
    """Serve the archive until interrupted. Raises ServeError before listening if it cannot."""
    import uvicorn

    prepare_archive(path)
    check_port(host, port)
    ds = build_datasette(path, feeds=feeds)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s: anyone who can reach this address can read the archive "
                    "(there is no login); put it behind a proxy with authentication if that is not intended", host)
    log.info("serving %s read-only at http://%s:%d/%s (Ctrl-C to stop)", path, host, port, ARCHIVE)
    if feeds is not None:
        log.info("Atom feeds from %s at http://%s:%d/-/feeds/", feeds, host, port)
    uvicorn.run(ds.app(), host=host, port=port, log_level="info" if access_log else "warning", lifespan="on", workers=1)


def check_port(host: str, port: int) -> None:
    # uvicorn would only log the bind error; failing here gives the message a fix.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror}); another server (an earlier "
                             f"`loomwatch serve`?) may be using it: stop it or pass another --port") from None
