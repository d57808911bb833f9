"""The configuration file: defaults, validation messages, exit code 2, and its documentation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from loomwatch.crawler.cli import main
from loomwatch.crawler.config import ConfigError, documented_keys, load_config, reference_markdown

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
timezone = "Asia/Shanghai"
[storage]
database = "data/archive.db"
[crawl]
download_delay = 0.5
concurrency_per_domain = 1
[[sources]]
name = "nantong-en"
start_urls = ["https://en.nantong.gov.cn/"]
article_urls = ['/\\d{4}-\\d{2}/\\d{2}/c_\\d+\\.htm$']
follow_urls = ['/index_\\d+\\.htm$']
clusters = ["dieshiqiao"]
[[sources]]
name = "garments"
feeds = ["https://garments.example/feed/"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "loomwatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_resolves_paths_and_defaults(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.storage.database == (tmp_path / "data" / "archive.db").resolve()
    assert config.crawl.download_delay == 0.5
    assert config.crawl.retries == 2  # default
    nantong, garments = config.sources
    assert nantong.follow_urls == (r"/index_\d+\.htm$",)
    assert garments.article_urls is None and garments.follow_urls is None  # unset → built-in shapes
    assert garments.max_requests == 500


def test_database_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOMWATCH_DATABASE", str(tmp_path / "other.db"))
    assert load_config(write(tmp_path, GOOD)).storage.database == tmp_path / "other.db"


def test_config_path_from_environment(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("LOOMWATCH_CONFIG", str(path))
    assert load_config().path == path.resolve()


@pytest.mark.parametrize(
    "text, message",
    [
        (GOOD.replace("download_delay", "download_dealy"), r"unknown key 'crawl\.download_dealy'; did you mean 'download_delay'\?"),
        (GOOD.replace("concurrency_per_domain = 1", 'concurrency_per_domain = "two"'), r"key 'crawl\.concurrency_per_domain': expected a whole number, got 'two'"),
        (GOOD.replace("concurrency_per_domain = 1", "concurrency_per_domain = 0"), r"key 'crawl\.concurrency_per_domain': expected a value of at least 1"),
        (GOOD.replace(r"'/index_\d+\.htm$'", "'/index_(\\d+\\.htm$'"), r"\[\[sources\]\] #1 \(nantong-en\) key 'follow_urls': '/index_\(\\d\+\\.htm\$' is not a valid regular expression"),
        (GOOD.replace('name = "garments"', 'name = "nantong-en"'), r"\[\[sources\]\] #2 \(nantong-en\) key 'name': duplicate source name 'nantong-en'"),
        (GOOD.replace('feeds = ["https://garments.example/feed/"]', ""), r"\[\[sources\]\] #2 \(garments\): a source needs at least one of start_urls, feeds or sitemaps"),
        (GOOD.replace('start_urls = ["https://en.nantong.gov.cn/"]', 'start_url = ["https://en.nantong.gov.cn/"]'), r"unknown key 'start_url'; did you mean 'start_urls'\?"),
        (GOOD.replace('"https://en.nantong.gov.cn/"', '"en.nantong.gov.cn"'), r"'en\.nantong\.gov\.cn' is not an absolute http\(s\) URL"),
        (GOOD.replace('timezone = "Asia/Shanghai"', 'timezone = "China/Beijing"'), r"key 'timezone': 'China/Beijing' is not an IANA time zone"),
        (GOOD.replace('clusters = ["dieshiqiao"]', 'clusters = ["dieshiqao"]'), r"key 'clusters': unknown cluster id 'dieshiqao'; did you mean 'dieshiqiao'\?"),
        (GOOD + "\n[crawl\n", r"not valid TOML"),
        (GOOD.replace("download_delay = 0.5", "download_delay = nan"), r"key 'crawl\.download_delay': expected a number, got nan"),
        (GOOD + "\n[schedule]\ncrawl_timeout = inf\n", r"key 'schedule\.crawl_timeout': expected a number, got inf"),
        (GOOD + "\n[fleet]\nscheduled = true\n", r"key 'fleet\.scheduled' is true but 'fleet\.redis_url' is empty"),
    ],
)
def test_bad_files_name_file_key_and_fix(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(str(path.resolve()) + ":") or str(info.value).startswith(str(path) + ":")
    assert re.search(message, str(info.value)), str(info.value)


def test_bad_config_exits_2_and_crawls_nothing(tmp_path):
    path = write(tmp_path, GOOD.replace("download_delay", "download_dealy"))
    result = CliRunner().invoke(main, ["crawl", "--config", str(path)])
    assert result.exit_code == 2
    assert "unknown key 'crawl.download_dealy'" in result.output
    assert not (tmp_path / "data").exists()  # no database was created


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "soon"])
def test_a_worker_refuses_an_until_idle_that_is_not_seconds(tmp_path, value):
    # nan or inf would never end the worker, as they would switch off a limit in the file.
    path = write(tmp_path, GOOD + '\n[fleet]\nredis_url = "redis://127.0.0.1:9/0"\n')  # nothing listens: a worker would exit 1
    result = CliRunner().invoke(main, ["worker", "--until-idle", value, "--config", str(path)])
    assert result.exit_code == 2
    assert result.output == (f"loomwatch: --until-idle: {value!r} is not a number of seconds; "
                             "give a number of 0 or more, e.g. --until-idle 600\n")


def test_missing_config_says_how_to_create_one(tmp_path):
    result = CliRunner().invoke(main, ["crawl", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "no such configuration file; create one with `loomwatch init" in result.output


def test_init_writes_a_valid_starter(tmp_path):
    path = tmp_path / "loomwatch.toml"
    result = CliRunner().invoke(main, ["init", str(path)])
    assert result.exit_code == 0, result.output
    config = load_config(path)
    names = {s.name for s in config.sources}
    assert {"nantong-en", "chinagarments", "ctei"} <= names
    assert "UNVERIFIED" in path.read_text()
    again = CliRunner().invoke(main, ["init", str(path)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert reference_markdown() in doc, "docs/configuration.md is out of date: run scripts/gen_config_docs.py"
    for key in documented_keys():
        section, _, name = key.rpartition(".")
        assert f"`{name}`" in doc, key


def test_a_config_path_that_is_a_folder_is_one_line(tmp_path, monkeypatch):
    # Through $LOOMWATCH_CONFIG (or a folder named loomwatch.toml) click's own check of --config does not apply.
    monkeypatch.setenv("LOOMWATCH_CONFIG", str(tmp_path))
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 2, result.output
    assert f"{tmp_path}: is a folder, not a configuration file" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_init_into_a_missing_folder_is_one_line(tmp_path):
    path = tmp_path / "no-such-folder" / "loomwatch.toml"
    result = CliRunner().invoke(main, ["init", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}: cannot write (No such file or directory); create its folder first" in result.output


def test_a_file_saved_with_a_byte_order_mark_loads(tmp_path):
    # Notepad saves "UTF-8" with a BOM; TOML parsers reject it as an invalid statement at line 1.
    path = tmp_path / "loomwatch.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode("utf-8"))
    assert [s.name for s in load_config(path).sources] == ["nantong-en", "garments"]
