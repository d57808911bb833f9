"""Deciding stories beyond copies: facts, comparison, the decision, `loomwatch stories` and `restory`.

Every text here is invented for these tests (an autumn fabric expo in Keqiao, a Nantong
bedding fair, a weekly price index). They imitate how real syndication looks: a release
in Chinese, its English version, a Traditional-script repost, a rewrite with a new
headline, and the traps that must stay apart: next year's edition of the same expo, the
expo's closing report, next week's price report with other figures.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from loomwatch.crawler.cli import main
from loomwatch.crawler.config import Config, StorySettings
from loomwatch.crawler.restory import fold_texts, restory
from loomwatch.pipelines import dedup
from loomwatch.pipelines.facts import extract_facts, weight
from loomwatch.pipelines.stories import Newcomer, Report, StoredReports, compare, stored_reports
from loomwatch.storage import CrawlLock, open_database
from loomwatch.storage.articles import insert_article
from loomwatch.storage.settings import StorageSettings

EXPO_ZH = ("2025柯桥秋季纺博会开幕 首日成交34.2亿元",
           "10月14日，2025中国绍兴柯桥国际纺织品博览会（秋季）在柯桥国际会展中心开幕。本届展会由中国纺织工业联合会指导，"
           "来自18个国家和地区的1236家展商带来最新面料和辅料。\n据主办方统计，展会首日成交额达34.2亿元，同比增长6.8%，"
           "到场专业采购商约2.3万人次。展会将持续至10月16日，期间还将举办流行趋势发布会和面料设计大赛等活动。")
EXPO_EN = ("Keqiao autumn textile expo opens with 3.42 billion yuan of first-day deals",
           "The 2025 China Shaoxing Keqiao International Textile Expo (Autumn) opened on October 14 at the Keqiao International "
           "Exhibition Center, with guidance from the China National Textile and Apparel Council.\n"
           "Organisers said 1,236 exhibitors from 18 countries and regions brought their newest fabrics and accessories. "
           "Deals on the first day reached 3.42 billion yuan, up 6.8 percent year on year, and about 23,000 professional "
           "buyers visited. The expo runs until October 16 with trend shows and a fabric design contest.")
EXPO_HANT = ("柯橋秋季紡博會開幕",
             "2025中國紹興柯橋國際紡織品博覽會（秋季）10月14日在柯橋國際會展中心開幕。主辦方介紹，本屆展會共有1236家展商參展，"
             "來自18個國家和地區。\n首日成交額34.2億元，比去年同期增長6.8%。展會至10月16日結束，期間舉辦趨勢發布和設計大賽。")
EXPO_REWRITE = ("面料商扎堆柯桥：秋季纺博会首日成交逾34亿",
                "记者从柯桥区获悉，被业内称为面料风向标的柯桥秋季纺博会于10月14日拉开帷幕，来自18个国家和地区的1236家展商带来最新面料和辅料。"
                "展会首日成交额达34.2亿元，同比增长6.8%。一位来自越南的采购商说，今年的功能性面料明显更多。\n"
                "本次展会为期三天，10月16日闭幕。")  # a trade portal's rewrite keeps a sentence or two of the release
# Traps: the same expo a year earlier, its closing report, and a different event of the same week.
EXPO_LAST_YEAR = ("2024柯桥秋季纺博会开幕",
                  "10月15日，2024中国绍兴柯桥国际纺织品博览会（秋季）在柯桥国际会展中心开幕。来自16个国家和地区的1180家展商参展，"
                  "展会首日成交额达32.6亿元，同比增长5.1%。\n展会将持续至10月17日，期间举办流行趋势发布会和面料设计大赛。")
EXPO_CLOSING = ("柯桥秋季纺博会闭幕 三天成交98.7亿元",
                "10月16日，为期三天的2025中国绍兴柯桥国际纺织品博览会（秋季）在柯桥国际会展中心闭幕。展会自10月14日开幕以来，"
                "1236家展商共实现成交额98.7亿元，同比增长7.2%，累计接待专业采购商8.6万人次。\n主办方表示，明年展会将进一步扩大国际展区。")
# A weekly index from one template: next week's report differs only in its figures.
INDEX_WEEK_1 = ("轻纺城价格指数周评",
                "本周中国轻纺城面料价格指数收于105.36点，环比上涨0.12%。其中化纤面料指数收于103.28点，环比上涨0.21%，"
                "涤纶长丝报价每吨7850元。\n市场人士认为，秋冬面料订单逐步释放，市场成交量小幅增加，预计下周价格以稳为主。")
INDEX_WEEK_2 = ("轻纺城价格指数周评",
                "本周中国轻纺城面料价格指数收于105.41点，环比上涨0.05%。其中化纤面料指数收于103.19点，环比下跌0.09%，"
                "涤纶长丝报价每吨7900元。\n市场人士认为，秋冬面料订单逐步释放，市场成交量小幅增加，预计下周价格以稳为主。")


def facts(title: str, text: str) -> frozenset[str]:
    return frozenset(extract_facts(title, text))


def fold(*texts: tuple[str, str], rules: StorySettings | None = None) -> list[object]:
    records = [{"id": n, "title": title, "text": text} for n, (title, text) in enumerate(texts)]
    return [r["story"] for r in fold_texts(Config(stories=rules or StorySettings()), records)]


# --- facts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, fact", [
    ("出口额221.1亿元", "cny:2.211e+10"),
    ("exports of 22.11 billion yuan", "cny:2.211e+10"),
    ("新增就业4万人", "n:40000"),
    ("some 40,000 new jobs", "n:40000"),
    ("增长7.3%", "pct:7.3"),
    ("rose 7.3 percent", "pct:7.3"),
    ("销售1.52万件", "n:15200"),
    ("产值逾千亿元", "cny:1e+11"),
    ("an output of over 100 billion yuan", "cny:1e+11"),
    ("about 13.9 billion U.S. dollars", "usd:1.39e+10"),
    ("Umsatz von 3,01 Milliarden Yuan", "cny:3.01e+09"),
    ("第27届服装交易会", "ord:27"),
    ("the 27th Humen fashion fair", "ord:27"),
    ("the third member congress", "ord:3"),
    ("11月20—22日在虎门举行", "md:11-22"),
    ("from November 20th to 22nd", "md:11-22"),
    ("on 14 October 2025", "md:10-14"),
    ("2025年10月14日", "y:2025"),
    ("中国纺织工业联合会主办", "e:cntac"),
    ("hosted by the China National Textile and Apparel Council", "e:cntac"),
    ("在中國輕紡城", "c:keqiao"),
    ("Zhang Weiming, who runs a dye house, said", "p:zhang weiming"),
    ("Mayor Wang Lihua opened the fair", "p:wang lihua"),
    ("绍兴市副市长王丽华致辞", "p:wang lihua"),      # a Chinese name after a title, in pinyin
    ("協會會長曾曉東表示", "p:zeng xiaodong"),         # Traditional script; 曾 read as a surname
])
def test_facts_are_normalised_across_units_scripts_and_languages(text: str, fact: str) -> None:
    assert fact in facts("", text)


def test_furniture_times_and_phone_numbers_are_not_facts() -> None:
    found = facts("", "发布时间：2025-10-14 09:30:12  浏览次数：\n咨询电话 057584123456\n"
                      "本届展会共有1236家展商参展，首日成交额达34.2亿元，比去年同期增长6.8个百分点。")
    assert not any(f.startswith(("md:", "y:")) for f in found), found  # the date line is page furniture
    assert "n:5.75841e+10" not in found and "n:1236" in found


def test_the_english_and_chinese_versions_share_their_figures_and_dates() -> None:
    shared = facts(*EXPO_ZH) & facts(*EXPO_EN)
    assert {"cny:3.42e+09", "pct:6.8", "n:1236", "md:10-14", "md:10-16", "e:cntac", "c:keqiao"} <= shared
    assert weight("cny:3.42e+09") > weight("n:18") > weight("n:3")  # precise figures say more than round ones


# --- comparing two reports ------------------------------------------------------------------------


def test_a_translation_matches_by_its_facts() -> None:
    result = compare(Report.of(facts(*EXPO_ZH), None), Report.of(facts(*EXPO_EN), None))
    assert result.veto is None and result.matches(StorySettings())


def test_next_weeks_price_report_is_vetoed_by_its_figures_despite_the_same_words() -> None:
    a, b = INDEX_WEEK_1, INDEX_WEEK_2
    assert dedup.similarity(dedup.signature(a[1]), dedup.signature(b[1])) > 0.7  # one template: a near copy by its words
    result = compare(Report.of(facts(*a), dedup.signature(a[1])), Report.of(facts(*b), dedup.signature(b[1])))
    assert result.veto and "pct" in result.veto and not result.matches(StorySettings())


def test_another_years_edition_and_the_closing_report_do_not_match() -> None:
    for other in (EXPO_LAST_YEAR, EXPO_CLOSING):
        result = compare(Report.of(facts(*EXPO_ZH), dedup.signature(EXPO_ZH[1])), Report.of(facts(*other), dedup.signature(other[1])))
        assert not result.matches(StorySettings()), other[0]


# --- the decision, through `loomwatch stories`' code -------------------------------------------


def test_versions_rewrites_and_a_traditional_repost_fold_into_one_story() -> None:
    assert fold(EXPO_ZH, EXPO_EN, EXPO_HANT, EXPO_REWRITE) == [0, 0, 0, 0]
    assert fold(EXPO_EN, EXPO_REWRITE, EXPO_HANT, EXPO_ZH) == [0, 0, 0, 0]  # whichever arrives first leads


def test_the_traps_stay_stories_of_their_own() -> None:
    assert fold(EXPO_ZH, EXPO_LAST_YEAR, EXPO_CLOSING, EXPO_EN, INDEX_WEEK_1, INDEX_WEEK_2) == [0, 1, 2, 0, 4, 5]


def test_a_near_copy_with_other_figures_leads_a_story_of_its_own(tmp_path: Path) -> None:
    records = [{"id": n, "title": title, "text": text} for n, (title, text) in enumerate((INDEX_WEEK_1, INDEX_WEEK_2))]
    assert [r["story"] for r in fold_texts(Config(), records, tmp_path / "kept.db")] == [0, 1]
    with sqlite3.connect(tmp_path / "kept.db") as conn:  # near-duplicate detection still calls it a copy
        assert conn.execute("SELECT id, duplicate_of, story_id FROM articles ORDER BY id").fetchall() == [(1, None, 1), (2, 1, 2)]


def test_in_one_language_shared_facts_without_shared_wording_are_not_enough() -> None:
    # A news item and a history page: the same date and person, otherwise nothing in common.
    news = ("Shengze opens a silk museum hall", "A new hall about the merchant Chen Baoshan welcomed visitors at the "
            "Shengze museum on Tuesday, 150 years after he built the town's earliest mechanised reeling mill on May 18, "
            "1874. Guests can try a restored machine and browse order books kept by export houses.")
    history = ("History corner: the first filature", "On May 18, 1874, Chen Baoshan opened the first steam filature "
               "in Shengze. Within two decades dozens of workshops along the canal had copied his machines, and "
               "merchants shipped raw silk to Shanghai every week.")
    news_report = Report.of(facts(*news), dedup.signature(news[1]), "en")
    history_report = Report.of(facts(*history), dedup.signature(history[1]), "en")
    result = compare(news_report, history_report)
    assert result.shared >= StorySettings().min_shared_facts and result.share >= StorySettings().min_fact_share
    assert result.same_language and result.text < StorySettings().min_same_language_text and not result.matches(StorySettings())
    assert fold(news, history) == [0, 1]


def test_a_story_does_not_grow_by_chaining() -> None:
    # B is a round-up that reports both A's release and C's; C shares nothing with A.
    a = ("Nantong bedding fair", "The Nantong autumn bedding fair opened on September 3 with 812 exhibitors. "
         "Orders on the first day reached 1.27 billion yuan, up 4.6 percent on last year, the organisers said.")
    b = ("Home textile week round-up", "The Nantong autumn bedding fair opened on September 3 with 812 exhibitors and "
         "first-day orders of 1.27 billion yuan, up 4.6 percent. In Haining, the warp knitting association met on "
         "September 5; 346 member firms reported exports of 2.18 billion yuan in the first eight months, up 9.3 percent.")
    c = ("Warp knitters meet in Haining", "Members of the warp knitting association met in Haining on September 5. "
         "Its 346 member firms exported goods worth 2.18 billion yuan in the first eight months, 9.3 percent more than a year earlier.")
    stories = fold(a, b, c)
    assert stories[:2] == [0, 0] and stories[2] == 2


def test_thresholds_are_settings() -> None:
    strict = StorySettings(min_shared_facts=20.0, min_text_similarity=1.0)
    assert fold(EXPO_ZH, EXPO_EN, rules=strict) == [0, 1]


# --- the crawl's store step, restory and the commands -----------------------------------------


def write_archive(path: Path, texts: list[tuple[str, str]]) -> list[int]:
    """An archive whose articles were stored before stories were decided: each its own story."""
    db = open_database(path)
    ids = []
    with db.atomic():
        for n, (title, text) in enumerate(texts):
            ids.append(insert_article(db, {"url": f"https://site{n}.example/a.html", "source": f"site{n}", "title": title,
                                           "text": text, "lang": "en" if text.isascii() else "zh-cn", "first_seen": f"2025-10-{14 + n // 3} 08:00:00",
                                           "published": None, "relevant": 1, "relevance": 0.9}, clusters=[("keqiao", 1.0)]))
            dedup.index(db, ids[-1], dedup.signature(text))
    db.close()
    return ids


TEXTS = [EXPO_ZH, EXPO_LAST_YEAR, EXPO_EN, INDEX_WEEK_1, EXPO_HANT, INDEX_WEEK_2, EXPO_REWRITE, EXPO_CLOSING]


def story_ids(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT story_id FROM articles ORDER BY id")]


def coverage_stories(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT sum(stories) FROM coverage_weekly").fetchone()[0]


def test_restory_folds_an_existing_archive_and_the_weekly_coverage_follows(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    ids = write_archive(path, TEXTS)
    assert coverage_stories(path) == len(TEXTS)
    report = restory(Config(storage=StorageSettings(database=path)), batch=3)
    expo = ids[0]
    assert story_ids(path) == [expo, ids[1], expo, ids[3], expo, ids[5], expo, ids[7]]
    assert (report.articles, report.moved, report.stories, report.resumed) == (8, 3, 5, False)
    assert coverage_stories(path) == 5  # the weekly counts now count stories
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT reports, languages FROM stories WHERE id = ?", [expo]).fetchone() == (4, '["en","zh-cn"]')
        assert conn.execute("SELECT count(*) FROM story_facts").fetchone()[0] == 8
        assert conn.execute("SELECT count(*) FROM story_restory").fetchone()[0] == 0


def test_a_killed_restory_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    write_archive(path, TEXTS)
    config = Config(storage=StorageSettings(database=path))

    def die(done: int) -> None:
        if done >= 3:
            raise KeyboardInterrupt  # after the first batch was committed

    with pytest.raises(KeyboardInterrupt):
        restory(config, batch=3, progress=die)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT last_article_id FROM story_restory").fetchone() == (3,)
    report = restory(config, batch=3)
    assert report.resumed and (report.articles, report.moved) == (8, 3)
    fresh = tmp_path / "fresh.db"
    write_archive(fresh, TEXTS)
    restory(Config(storage=StorageSettings(database=fresh)), batch=100)
    assert story_ids(path) == story_ids(fresh)


def test_restory_with_other_rules_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    write_archive(path, TEXTS)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO story_restory (id, rules, last_article_id, started) VALUES (1, '{}', 6, '2025-10-20 00:00:00')")
    report = restory(Config(storage=StorageSettings(database=path)))
    assert not report.resumed and report.articles == 8


def test_stories_command_prints_one_line_per_input_in_order(tmp_path: Path) -> None:
    lines = [{"id": "zh", "title": EXPO_ZH[0], "text": EXPO_ZH[1], "published": "2025-10-14", "lang": "zh-cn"},
             {"id": "other", "title": INDEX_WEEK_1[0], "text": INDEX_WEEK_1[1]},
             {"id": "en", "title": EXPO_EN[0], "text": EXPO_EN[1], "published": "2025-10-15", "lang": ""},
             {"id": "undated", "title": EXPO_HANT[0], "text": EXPO_HANT[1], "published": ""}]  # dated today: outside the window
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["stories", str(source)])
    assert result.exit_code == 0, result.output
    assert [json.loads(x) for x in result.output.splitlines()] == [
        {"id": "zh", "story": "zh"}, {"id": "other", "story": "other"}, {"id": "en", "story": "zh"},
        {"id": "undated", "story": "undated"}]
    from_stdin = CliRunner().invoke(main, ["stories"], input=source.read_text(encoding="utf-8"))
    assert from_stdin.output == result.output


def test_stories_command_names_a_bad_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "text": "x"}\n[1, 2]\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["stories", str(source)])
    assert result.exit_code == 2
    assert result.output.strip().startswith(f"loomwatch: {source}: line 2: not a JSON object") and "Traceback" not in result.output


def test_restory_command_reports_and_waits_for_no_crawl(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    write_archive(path, TEXTS)
    config = tmp_path / "loomwatch.toml"
    config.write_text(f'[storage]\ndatabase = "{path}"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["-q", "restory", "--config", str(config)])
    assert result.exit_code == 0 and result.output == ""
    result = CliRunner().invoke(main, ["restory", "--config", str(config), "--keep-facts"])
    assert result.exit_code == 0 and "re-decided the stories of 8 articles; 0 changed story; 5 stories" in result.output
    with CrawlLock(path):
        locked = CliRunner().invoke(main, ["restory", "--config", str(config)])
    assert locked.exit_code == 3 and "another loomwatch crawl is running" in locked.output


def test_retag_decides_the_story_of_a_newly_relevant_article(tmp_path: Path) -> None:
    from loomwatch.crawler.retag import retag
    from loomwatch.storage.stories import forget_facts, set_story

    path = tmp_path / "archive.db"
    first, second = write_archive(path, [EXPO_ZH, EXPO_EN])
    config = Config(storage=StorageSettings(database=path))
    restory(config)
    db = open_database(path)
    with db.atomic():  # as if an older gazetteer had found the English version off-topic
        db.execute("UPDATE articles SET relevant = 0, relevance = 0.1 WHERE id = ?", [second])
        set_story(db, second, None)
        forget_facts(db, second)
    db.close()
    assert story_ids(path) == [first, None]
    retag(config)
    assert story_ids(path) == [first, first]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM story_facts WHERE article_id = ?", [second]).fetchone() == (1,)


def test_the_store_steps_cache_gives_what_the_archive_has_until_cleared(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    ids = write_archive(path, TEXTS)
    restory(Config(storage=StorageSettings(database=path)))  # records every article's facts
    db = open_database(path)
    cache = StoredReports()
    asked = [ids[5], ids[0], 10**6, ids[2]]  # out of order, one unknown id
    found = cache.of(db, asked)
    assert [(i, s) for i, s, _ in found] == [(ids[0], ids[0]), (ids[2], ids[0]), (ids[5], ids[5])]
    assert found == stored_reports(db, asked)  # as read without a cache
    with db.atomic():
        db.execute("DELETE FROM story_facts")
    assert cache.of(db, asked) == found  # kept: the store step never changes a stored article's facts
    cache.clear()
    assert cache.of(db, asked) == []
    db.close()


def test_an_article_the_store_step_keeps_is_what_reading_it_back_gives(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    ids = write_archive(path, TEXTS)
    restory(Config(storage=StorageSettings(database=path)))
    db = open_database(path)
    (_, story, read), = stored_reports(db, [ids[2]])
    cache = StoredReports()
    title, text = TEXTS[2]
    newcomer = Newcomer({"facts": reversed(extract_facts(title, text)), "signature": dedup.signature(text), "lang": "en"})
    cache.add(ids[2], story, newcomer.report)
    (_, kept_story, kept), = cache.of(db, [ids[2]])
    assert kept_story == story == ids[0]
    # The same facts in the same order: sums over them give the same floating-point values.
    assert list(kept.specific.items()) == list(read.specific.items()) and kept.specific_weight == read.specific_weight
    assert (kept.figures, kept.language) == (read.figures, read.language)
    assert kept.signature.tobytes() == read.signature.tobytes()
    db.close()


def test_a_batch_that_cannot_be_written_clears_the_store_steps_cache(tmp_path: Path) -> None:
    from loomwatch.pipelines.store import Counters, StorePipeline
    from loomwatch.storage import ArchiveError

    config = Config(storage=StorageSettings(database=tmp_path / "archive.db"))
    pipeline = StorePipeline(config.pipelines, None, Counters())
    pipeline.open_spider()
    pipeline.story_reports.known[1] = None
    failed = {"source": "site", "url": "https://site.example/a.html", "failure": {"reason": "http", "detail": "500"}}

    def full_disk(db: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(ArchiveError):
        pipeline.write([failed], also=full_disk)
    assert pipeline.story_reports.known == {}  # rolled back: its ids may be given to other articles
    pipeline.close_spider()
