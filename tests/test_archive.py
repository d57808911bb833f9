"""Operators' faults with the archive file, each made to happen for real.

Every command that opens the archive answers a fault with one line naming the file, what
is wrong and what to do, exit 2 (a full disk: 1), and leaves the file as it was: not one
byte of a file that is not a loomwatch archive is written, and no file is made beside it.
Permission faults run the command in a process without root's power to override file
permissions (setpriv) when the tests run as root. docs/operations.md lists the faults.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, nullcontext
from pathlib import Path

import pytest
from click.testing import CliRunner

from loomwatch.crawler.cli import main
from loomwatch.storage import open_database

ROOT = os.geteuid() == 0


def write_config(directory: Path, database: Path, busy_timeout: float = 1) -> Path:
    config = directory / "loomwatch.toml"
    config.write_text(f"""
[storage]
database = "{database}"
busy_timeout = {busy_timeout}

[[sources]]
name = "nowhere"
start_urls = ["http://127.0.0.1:9/"]
""", encoding="utf-8")
    return config


def commands(tmp_path: Path) -> dict[str, list[str]]:
    """Every command that opens the archive, with the arguments it needs."""
    return {"crawl": ["crawl"], "digest": ["digest", "--out", str(tmp_path / "digests")], "status": ["status"],
            "serve": ["serve"], "retag": ["retag"], "check": ["check"], "backup": ["backup", str(tmp_path / "copy.db")],
            "schedule": ["schedule"]}


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file in `folder` with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def invoke(config: Path, args: list[str]):
    return CliRunner().invoke(main, [args[0], "--config", str(config), *args[1:]])


def run_without_root_powers(config: Path, args: list[str]) -> subprocess.CompletedProcess:
    """The command as a user to whom file permissions apply (root keeps its uid, loses the override)."""
    drop = (["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]
            if ROOT else [])
    return subprocess.run([*drop, sys.executable, "-m", "loomwatch.crawler", args[0], "--config", str(config), *args[1:]],
                          capture_output=True, text=True, timeout=120)


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("loomwatch: ")]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def archive_with_a_story(path: Path) -> None:
    from loomwatch.storage.articles import content_hash, insert_article

    db = open_database(path)
    with db.atomic():
        insert_article(db, {"url": "http://kq.example/1.html", "source": "kq", "title": "Keqiao dyeing upgrade",
                            "text": "Dyeing mills in Keqiao finished their upgrade.", "content_hash": content_hash("x"),
                            "first_seen": "2026-11-20 08:00:00"})
    db.close()


# --- files that are not this loomwatch's archive ----------------------------------------------


def not_sqlite(path: Path) -> None:
    path.write_text('[storage]\ndatabase = "loomwatch.db"\n', encoding="utf-8")  # a configuration given as the archive


def foreign_sqlite(path: Path) -> None:
    """Another program's database, with an `articles` table of its own, in WAL mode."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE articles (id INTEGER PRIMARY KEY, headline TEXT)")
        conn.execute("INSERT INTO articles (headline) VALUES ('Spring fabric fair')")
    conn.close()


def foreign_sqlite_rollback_journal(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.close()


def newer_archive(path: Path) -> None:
    """An archive a later loomwatch has brought to a schema this version does not know."""
    archive_with_a_story(path)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE story_threads (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                     "VALUES ('loomwatch', '0099_story_threads', '2027-06-01 00:00:00')")
    conn.close()


FAULTS = {
    "not SQLite": (not_sqlite, "not an SQLite database, so not a loomwatch archive"),
    "another program's SQLite": (foreign_sqlite, "an SQLite database of another program, not a loomwatch archive (its tables: articles)"),
    "another program's, rollback journal": (foreign_sqlite_rollback_journal, "an SQLite database of another program"),
    "newer loomwatch": (newer_archive, "written by a newer loomwatch (schema updates 0099_story_threads are unknown"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_file_that_is_not_this_versions_archive_is_left_untouched_by_every_command(tmp_path: Path, fault: str) -> None:
    make, message = FAULTS[fault]
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "loomwatch.db"
    make(path)
    before = fingerprint(folder)
    config = write_config(tmp_path, path)
    for name, args in commands(tmp_path).items():
        result = invoke(config, args)
        assert result.exit_code == 2, (name, result.output)
        line = one_line(result.output)
        assert line.startswith(f"loomwatch: {path}: ") and message in line, (name, line)
        assert fingerprint(folder) == before, name  # not a byte changed, no lock, -wal or -shm file made beside it
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "digests").exists()


def test_a_folder_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "mnt" / "archive-disk" / "loomwatch.db"  # a disk that is not mounted
    config = write_config(tmp_path, path)
    for name, args in commands(tmp_path).items():
        result = invoke(config, args)
        assert result.exit_code == 2, (name, result.output)
        line = one_line(result.output)
        if name not in ("digest", "serve", "check", "backup"):  # these say there is no archive there yet
            assert f"the folder {path.parent} does not exist" in line and f"mkdir -p {path.parent}" in line, (name, line)
        assert str(path) in line
    assert not (tmp_path / "mnt").exists()


def test_an_archive_locked_by_another_program_past_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "loomwatch.db"
    archive_with_a_story(path)
    config = write_config(tmp_path, path, busy_timeout=1)
    # Another program: a script that began a write transaction and sits in it.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN IMMEDIATE'); "
        "c.execute(\"UPDATE articles SET title = 'held' WHERE id = 1\"); print('holding', flush=True); sys.stdin.read()"),
        str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        for name in ("crawl", "digest", "retag", "status", "schedule"):
            started = time.monotonic()
            result = invoke(config, commands(tmp_path)[name])
            assert result.exit_code == 2, (name, result.output)
            line = one_line(result.output)
            assert f"{path}: locked by another program for longer than 1 s" in line and f"fuser {path}" in line, line
            assert time.monotonic() - started >= 1  # it waited for the lock first
        assert invoke(config, ["check"]).exit_code == 0  # readers are not blocked by a writer (WAL)
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM crawl_runs").fetchone() == (0,)  # no command got to write
        assert conn.execute("SELECT title FROM articles").fetchall() == [("Keqiao dyeing upgrade",)]  # the other program rolled back


# --- permissions and read-only disks ------------------------------------------------------------


WRITERS = ("crawl", "digest", "retag", "status")


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_archive_or_folder_stops_writers_and_is_read_by_readers(tmp_path: Path, what: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "loomwatch.db"
    archive_with_a_story(path)
    config = write_config(tmp_path, path)
    (path if what == "file" else folder).chmod(0o444 if what == "file" else 0o555)
    try:
        before = fingerprint(folder)
        for name in WRITERS:
            result = run_without_root_powers(config, commands(tmp_path)[name])
            assert result.returncode == 2, (name, result.stdout + result.stderr)
            line = one_line(result.stderr)
            expected = (f"{path}: is read-only for this user, so the archive cannot be written" if what == "file" else
                        f"{path}: the folder {folder} is not writable for this user, so the archive cannot be written")
            assert line.startswith(f"loomwatch: {expected}; run loomwatch as"), line
        assert fingerprint(folder) == before
        check = run_without_root_powers(config, ["check"])
        assert check.returncode == 0 and "articles: 1 " in check.stdout, check.stderr
        backup = run_without_root_powers(config, ["backup", str(tmp_path / "copy.db")])
        assert backup.returncode == 0, backup.stderr
    finally:
        (path if what == "file" else folder).chmod(0o644 if what == "file" else 0o755)
    assert open_database(tmp_path / "copy.db").execute("SELECT count(*) FROM articles").fetchone() == (1,)


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A small file system of its own, mounted for the test (root only). 16 MB: the crawl that
    completes after a full disk stores 200 pages, a write-ahead log of up to 3 MB and a feed per
    cluster (about 0.8 MB); at 4 MB that crawl filled the disk again on some runs."""
    if not ROOT:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_a_file_system_mounted_read_only(tmp_path: Path, tmpfs: Path) -> None:
    path = tmpfs / "loomwatch.db"
    archive_with_a_story(path)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)  # as the kernel does after disk errors
    config = write_config(tmp_path, path)
    before = fingerprint(tmpfs)
    for name in WRITERS:
        result = invoke(config, commands(tmp_path)[name])
        assert result.exit_code == 2, (name, result.output)
        assert f"{path}: the file system of {tmpfs} is mounted read-only" in one_line(result.output), name
    assert fingerprint(tmpfs) == before
    assert invoke(config, ["check"]).exit_code == 0


# --- a full disk ---------------------------------------------------------------------------------

WORDS = ("loom weaver mill fabric yarn dyeing printing cluster market order export price cotton silk polyester "
         "township workshop buyer trader quilt bedding denim knitting spinning warehouse freight season winter "
         "output capacity upgrade wastewater machine shuttle jacquard sample designer brand wholesale").split()


def make_mill_site(root: Path, count: int) -> None:
    """A site with `count` reports of about 5 kB of text each (made-up words, each report different)."""
    import random

    site = root / "mill"
    (site / "news").mkdir(parents=True)
    links = "".join(f'<li><a href="/news/{i}.html">Mill report {i}</a></li>' for i in range(count))
    (site / "index.html").write_text(f"<html><head><title>Mill news</title></head><body><ul>{links}</ul></body></html>")
    words = random.Random(15)
    for i in range(count):
        paragraphs = "".join("<p>" + " ".join(words.choice(WORDS) for _ in range(90)).capitalize() + ".</p>" for _ in range(10))
        (site / "news" / f"{i}.html").write_text(f"<html><head><title>Mill report {i}</title></head><body><article>"
                                                 f"<h1>Mill report {i}</h1>{paragraphs}</article></body></html>")


def free_bytes(folder: Path) -> int:
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


@pytest.mark.slow
def test_a_crawl_that_fills_the_disk_stops_cleanly_and_the_next_one_completes(tmp_path: Path, tmpfs: Path) -> None:
    from loomwatch.crawler.demo.sitefarm import SiteFarm

    make_mill_site(tmp_path / "sites", 200)
    path = tmpfs / "loomwatch.db"

    def crawl(max_requests: int) -> subprocess.CompletedProcess:
        config = tmpfs / "loomwatch.toml"
        config.write_text(f"""[storage]\ndatabase = "loomwatch.db"\n[crawl]\ndownload_delay = 0\nautothrottle = false\nworkers = 1
[[sources]]\nname = "mill"\nstart_urls = ["{farm.url('mill', '/')}"]\narticle_urls = ['/news/']\nmax_requests = {max_requests}\n""")
        return subprocess.run([sys.executable, "-m", "loomwatch.crawler", "crawl", "--config", str(config)],
                              capture_output=True, text=True, timeout=300)

    def stored(conn: sqlite3.Connection | None = None) -> set[str]:
        with closing(sqlite3.connect(path)) if conn is None else nullcontext(conn) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            return {row[0] for row in conn.execute("SELECT url FROM articles")}

    with SiteFarm(tmp_path / "sites") as farm:
        first = crawl(max_requests=31)  # the listing and 30 reports
        assert first.returncode == 0, first.stderr
        # A reader of the archive stays open meanwhile (Datasette, an analyst's shell): the crawl
        # that fills the disk is not the last to close the archive.
        reader = sqlite3.connect(path)
        before = stored(reader)
        assert len(before) == 30
        ballast = tmpfs / "ballast"  # everything else on the disk, but for 300 kB
        ballast.write_bytes(b"\0" * (free_bytes(tmpfs) - 300_000))

        full = crawl(max_requests=1000)
        assert full.returncode == 1, full.stdout + full.stderr
        line = one_line(full.stderr)
        assert line.startswith(f"loomwatch: {path}: the disk is full (") and "free space on it" in line, line
        assert "mill                     ok" in full.stdout  # the summary line as always
        during = stored()  # consistent, and nothing stored before is lost
        assert before <= during and len(during) < 200
        reader.close()
        with closing(sqlite3.connect(path)) as conn:
            run = conn.execute("SELECT status, message FROM crawl_runs WHERE id = 2").fetchone()
        assert run[0] in ("failed", "running") and (run[1] is None or "the disk is full" in run[1])

        ballast.unlink()  # space freed
        again = crawl(max_requests=1000)
        assert again.returncode == 0, again.stderr
        assert len(stored()) == 200 and during < stored()


def fill(folder: Path) -> None:
    """Take every free byte of the file system of `folder`."""
    fd = os.open(folder / "ballast", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_commands_started_on_a_disk_already_full_say_so(tmp_path: Path, tmpfs: Path) -> None:
    # The disk filled between runs (by the archive, or by anything else on it). The crawl's
    # lock note could not be written (a traceback), and SQLite's failure to make the archive's
    # -shm file (SQLITE_IOERR_SHMSIZE) read "the disk reported an error ... check the disk".
    path = tmpfs / "loomwatch.db"
    archive_with_a_story(path)
    Path(f"{path}.lock").write_bytes(b"")  # as an earlier crawl left it
    fill(tmpfs)
    config = write_config(tmp_path, path)
    before = fingerprint(tmpfs)
    for name in WRITERS:
        result = invoke(config, commands(tmp_path)[name])
        assert result.exit_code == 1, (name, result.output)
        assert one_line(result.output).startswith(f"loomwatch: {path}: the disk is full ("), name
    assert fingerprint(tmpfs)["loomwatch.db"] == before["loomwatch.db"]  # nothing stored before is lost
    (tmpfs / "ballast").unlink()
    assert invoke(config, ["retag"]).exit_code == 0  # space freed: the next run works


# --- backup and check ----------------------------------------------------------------------------


def count(path: Path, sql: str = "SELECT count(*) FROM articles") -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.mark.slow
def test_a_backup_taken_while_a_crawl_writes_and_datasette_reads_is_consistent(tmp_path: Path) -> None:
    import httpx

    from loomwatch.crawler.demo.sitefarm import SiteFarm

    make_mill_site(tmp_path / "sites", 80)
    (tmp_path / "sites" / "mill" / "_site.toml").write_text('[[rule]]\nmatch = "^/news/"\ndelay = 0.2\n')
    path = tmp_path / "loomwatch.db"
    with SiteFarm(tmp_path / "sites") as farm:
        config = tmp_path / "loomwatch.toml"
        config.write_text(f"""[storage]\ndatabase = "loomwatch.db"\n[crawl]\ndownload_delay = 0\nautothrottle = false\nworkers = 1
concurrency_per_domain = 1\n[[sources]]\nname = "mill"\nstart_urls = ["{farm.url('mill', '/')}"]\narticle_urls = ['/news/']\n""")
        loomwatch = [sys.executable, "-m", "loomwatch.crawler"]
        crawl = subprocess.Popen([*loomwatch, "crawl", "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        serve = None
        try:
            deadline = time.monotonic() + 60
            while not (path.exists() and count(path, "SELECT count(*) FROM sqlite_master") and count(path) >= 5):
                assert time.monotonic() < deadline and crawl.poll() is None, "the crawl stored nothing"
                time.sleep(0.2)
            with socket_port() as port:
                serve = subprocess.Popen([*loomwatch, "serve", "--config", str(config), "--port", str(port)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            base = f"http://127.0.0.1:{port}/loomwatch/articles.json?_shape=array&_size=max"
            while True:  # Datasette answers while the crawl writes
                try:
                    served = len(httpx.get(base, timeout=10).json())
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and serve.poll() is None, serve.stderr.read()
                    time.sleep(0.2)
            started = count(path)
            backup = subprocess.run([*loomwatch, "backup", "--config", str(config), str(tmp_path)], capture_output=True, text=True, timeout=60)
            assert backup.returncode == 0, backup.stderr
            assert crawl.poll() is None, "the crawl must still be running during the backup"
            assert len(httpx.get(base, timeout=10).json()) >= served  # and Datasette still reading
            assert crawl.wait(timeout=120) == 0, crawl.stderr.read()
        finally:
            crawl.kill()
            if serve is not None:
                serve.terminate()
                serve.wait(timeout=20)
    copy = next(tmp_path.glob("loomwatch-*.db"))
    assert backup.stdout.startswith(f"backed up {path} to {copy} (")
    assert [p.name for p in tmp_path.glob(".loomwatch-*")] == []  # no partial file left
    assert started <= count(copy) < count(path) == 80  # the archive at one moment during the crawl
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # a single file, no -wal to carry
    checked = subprocess.run([*loomwatch, "check", "--config", str(config)], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "LOOMWATCH_DATABASE": str(copy)})
    assert checked.returncode == 0 and checked.stdout.startswith(f"{copy}: integrity ok ("), checked.stderr
    assert f"articles: {count(copy)} " in checked.stdout and "last crawl: #1 " in checked.stdout and ", running, " in checked.stdout


class socket_port:  # noqa: N801 - a context manager that hands out a free local port
    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        pass


def test_backup_refuses_to_overwrite_or_to_write_where_it_cannot(tmp_path: Path) -> None:
    path = tmp_path / "loomwatch.db"
    archive_with_a_story(path)
    config = write_config(tmp_path, path)
    target = tmp_path / "copy.db"
    assert invoke(config, ["backup", str(target)]).exit_code == 0
    again = invoke(config, ["backup", str(target)])
    assert again.exit_code == 2 and one_line(again.output) == f"loomwatch: {target}: already exists; pass --force to replace it, or give a folder to get a dated file name"
    assert invoke(config, ["backup", str(target), "--force"]).exit_code == 0
    itself = invoke(config, ["backup", str(path), "--force"])
    assert itself.exit_code == 2 and "is the archive itself" in one_line(itself.output)
    nowhere = invoke(config, ["backup", str(tmp_path / "mnt" / "copy.db")])
    assert nowhere.exit_code == 2 and f"the folder {tmp_path / 'mnt'} does not exist" in one_line(nowhere.output)
    assert count(target) == 1


def test_a_backup_into_a_folder_this_user_cannot_write_names_that_folder(tmp_path: Path) -> None:
    # The copy could not be made there; the message named the archive as the file that
    # "cannot be opened", sending the operator to a file that is fine.
    path = tmp_path / "loomwatch.db"
    archive_with_a_story(path)
    config = write_config(tmp_path, path)
    shelf = tmp_path / "backups"
    shelf.mkdir(mode=0o555)
    try:
        result = run_without_root_powers(config, ["backup", str(shelf)])
    finally:
        shelf.chmod(0o755)
    assert result.returncode == 2, result.stderr
    line = one_line(result.stderr)
    assert line.startswith(f"loomwatch: {shelf}/loomwatch-") and "cannot be opened" in line, line
    assert list(shelf.iterdir()) == []


def test_a_backup_onto_a_full_disk_leaves_no_partial_file(tmp_path: Path, tmpfs: Path) -> None:
    path = tmp_path / "loomwatch.db"
    archive_with_a_story(path)
    (tmpfs / "ballast").write_bytes(b"\0" * (free_bytes(tmpfs) - 20_000))  # less room than the archive needs
    result = invoke(write_config(tmp_path, path), ["backup", str(tmpfs)])
    assert result.exit_code == 1
    assert one_line(result.output).startswith(f"loomwatch: {tmpfs}/loomwatch-") and "the disk is full" in result.output
    assert sorted(p.name for p in tmpfs.iterdir()) == ["ballast"]


def test_check_reports_a_damaged_archive(tmp_path: Path) -> None:
    path = tmp_path / "loomwatch.db"
    archive_with_a_story(path)
    config = write_config(tmp_path, path)
    healthy = invoke(config, ["check"])
    assert healthy.exit_code == 0 and "integrity ok" in healthy.output and "articles: 1 (" in healthy.output
    assert "schema: 0" in healthy.output and "none pending" in healthy.output and "last crawl: none yet" in healthy.output
    with closing(sqlite3.connect(path)) as conn:  # a disk error: garbage over the page of an index of the articles
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'articles_first_seen'").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as file:
        file.seek((page - 1) * size + 8)
        file.write(b"\xff\x07" * 200)
    damaged = invoke(config, ["check"])
    assert damaged.exit_code == 2, damaged.output
    assert one_line(damaged.output) == (f"loomwatch: {path}: damaged: PRAGMA integrity_check found the problems above; keep a "
                                        "copy of the file for diagnosis and restore the last backup (docs/operations.md, \"Backups\")")
    assert damaged.output.startswith("  ")  # SQLite's findings, listed first


def test_the_operations_guide_lists_every_archive_fault() -> None:
    guide = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    for message in [m for _, m in FAULTS.values()] + ["the folder ... does not exist", "is read-only for this user",
                                                       "is mounted read-only", "locked by another program for longer than",
                                                       "the disk is full", "damaged ("]:
        assert message.split(" (")[0].split("...")[0] in guide, message
