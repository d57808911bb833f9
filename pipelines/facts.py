"""The facts of a report that survive rewriting and translation (run in the worker processes).

A rewrite or a translation of a press release keeps its facts and changes its words:
221.1亿元 becomes "22.11 billion yuan", 11月20—22日 "November 20 to 22", 中国纺织工业联合会
"China National Textile and Apparel Council". `extract_facts` reads a report's title and
story lines (page furniture and junk link lists left out, as for near-duplicate
signatures) and returns its facts as short language-independent strings:

- `cny:2.211e+10`, `usd:…`, `eur:…` money, `pct:7.3` percentages, `n:4e+04` other figures
  (counts, areas, tonnes), each normalised (万, 亿, thousand, million, billion; "8,000",
  "8000余");
- `md:11-20` a month and day (English, German, Danish, French and Chinese forms, ranges
  give both ends), `y:2024` a year, `ord:27` an edition (第27届, "27th ... fair", 首届);
- `e:cntac` an organisation, place, event or medium of the glossary, `c:humen` a cluster
  of the gazetteer (both languages), `p:sun ruizhe` a person: named in Latin script with
  a Chinese surname ("Sun Ruizhe"), or in Chinese after a title (会长孙瑞哲), written in
  pinyin from a table of the GB 2312 characters (`pipelines/data/pinyin.txt`).

`weight` says how much sharing a fact says about two reports being one story: a
four-digit yuan figure much, a round count or a country little. The story decision
(loomwatch.pipelines.stories) compares facts; nothing here depends on other articles.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable
from importlib import resources

import ahocorasick

from loomwatch.pipelines.dedup import BOILERPLATE, MIN_LINE_WEIGHT, normalise
from loomwatch.pipelines.gazetteer import Gazetteer, load_gazetteer
from loomwatch.pipelines.hanzi import pinyin_readings

# How much one shared fact of a kind counts (see `weight`).
KIND_WEIGHT = {"org": 1.0, "event": 1.0, "cluster": 0.8, "person": 1.5, "place": 0.4, "media": 0.3, "country": 0.3}
DATE_WEIGHT = 1.5
YEAR_WEIGHT = 0.3
EDITION_WEIGHT = 1.0
# Figures by significant digits (1, 2, 3 or more): "8,000" says less than "8,315".
MONEY_WEIGHT = (1.0, 1.5, 2.5)
PERCENT_WEIGHT = (0.7, 1.0, 2.0)
COUNT_WEIGHT = (0.5, 1.0, 2.0)
SMALL_COUNT_WEIGHT = 0.2  # counts below 10: "three forums", "5 projects"
FIGURE_KINDS = ("cny", "usd", "eur", "pct", "n")
# Characters of story text read: the title and lead carry what versions of a report share;
# the rest of a long article adds background that a shorter version leaves out.
MAX_CHARS = 3000

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan", "januar", "janvier"),
            ("february", "feb", "februar", "février", "fevrier"),
            ("march", "mar", "märz", "marz", "marts", "mars"),
            ("april", "apr", "avril"),
            ("may", "mai", "maj"),
            ("june", "jun", "juni", "juin"),
            ("july", "jul", "juli", "juillet"),
            ("august", "aug", "août", "aout"),
            ("september", "sep", "sept", "septembre"),
            ("october", "oct", "oktober", "octobre"),
            ("november", "nov", "novembre"),
            ("december", "dec", "dezember", "décembre", "decembre"),
        ),
        1,
    )
    for name in names
}
_MONTH = "(" + "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th|\.)?"
_RANGE = r"(?:\s*(?:-|–|—|~|to|and|bis|til)\s*" + _DAY + ")?"
_YEAR_AFTER = r"(?:,?\s*((?:1\d|20)\d\d))?"
_CN_NUM = "零〇一二两三四五六七八九十百千"
_ZH_DATE = re.compile(
    r"(?:((?:1\d|20)\d\d)\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*(?:日|号)?"
    r"(?:\s*(?:-|–|—|~|至|到)\s*(?:(\d{1,2})\s*月\s*)?(\d{1,2})\s*(?:日|号))?"
)
_EN_DATE = re.compile(r"(?<![a-z])" + _MONTH + r"\s+" + _DAY + _RANGE + _YEAR_AFTER + r"(?![a-z0-9])")
_EU_DATE = re.compile(r"(?<![a-z0-9])" + _DAY + _RANGE + r"\s+(?:of\s+)?" + _MONTH + _YEAR_AFTER + r"(?![a-z])")
_ANY_MONTH = re.compile(r"(?<![a-z])(?:jan|feb|f[ée]v|m[aä]r|apr|avr|ma[iyj]|jui?[nl]|aug|ao[uû]|sep|o[ck]t|nov|d[eé][cz])")
_ISO_DATE = re.compile(r"(?<!\d)(?:19|20)\d\d[-/.]\d{1,2}[-/.]\d{1,2}(?:\s+\d{1,2}:\d\d(?::\d\d)?)?")  # page furniture: dropped
_TIME = re.compile(r"(?<!\d)\d{1,2}:\d\d(?::\d\d)?(?!\d)")

_ORDINAL_WORDS = {
    w: n
    for n, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
        "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split(),
        1,
    )
}
_EVENT_NOUNS = r"(?:session|edition|congress|conference|convention|fair|expo|exhibition|festival|forum|summit|show|week|games|meeting|contest|competition|awards?)"
_EN_EDITION = re.compile(
    r"(?<![a-z0-9])(\d{1,3}(?:st|nd|rd|th)|" + "|".join(_ORDINAL_WORDS) + r")\s+(?:[\w()'&-]+\s+){0,5}?" + _EVENT_NOUNS + r"\b"
)
_ANY_ORDINAL = re.compile(r"\d(?:st|nd|rd|th)\b|(?:first|second|third|th)\s")
_ZH_EDITION = re.compile(f"(?:第\\s*(\\d{{1,3}}|[{_CN_NUM}]+)|(首))\\s*届")

_SCALE = {
    "万亿": 1e12, "亿": 1e8, "万": 1e4, "千": 1e3, "thousand": 1e3, "million": 1e6, "mln": 1e6, "billion": 1e9, "bn": 1e9,
    "trillion": 1e12, "milliarden": 1e9, "milliarde": 1e9, "milliarder": 1e9, "milliard": 1e9, "mrd": 1e9, "mia": 1e9,
    "millionen": 1e6, "millioner": 1e6, "mio": 1e6,
}
# The pattern starts with its digits (the regex engine then skips to digits quickly); a
# currency sign before them and what may not precede a number are checked in code.
_NUMBER = re.compile(
    r"(\d{1,3}(?:,\d{3})+(?!\d)|\d+)([.,]\d{1,2}(?!\d)|\.\d+)?"
    r"(?!\d)(?:\s*(?:余|多|几|\+))?"
    r"(?:\s*(万亿|亿|万|千|thousand|million|mln|billion|bn|trillion|milliarde[nr]?|milliard|mrd|millionen|millioner|mio|mia)(?![a-z]))?"
    r"(?:\s*(?:余|多))?"
    r"(\s*(?:%|percent|per cent|pct\b|个百分点|percentage points?|美元|欧元|元|u\.?s\.? dollars|dollars|usd\b|euros?\b|yuan\b|rmb\b))?"
    r"(?![a-z])"
)
_CN_AMOUNT = re.compile(f"(?<![{_CN_NUM}])([{_CN_NUM}]+)\\s*(万亿|亿|万)?\\s*(?:余|多)?\\s*(元|美元|欧元|家|个|人|名|件|吨|台|套|项|场|亩|平方米|倍)")
# A Japanese figure written 30億1000万: hundreds of millions and ten-thousands together.
_CN_COMPOUND = re.compile(r"(?<!\d)(\d+)\s*亿\s*(\d{1,4})\s*万\s*(元|美元)?")

# Pinyin glosses that some scraped copies put after characters: 產(chan) 業(ye).
_GLOSS = re.compile("(?<=[\u3400-\u9fff])\\s?\\([a-z]{1,6}\\)")
# Common Chinese surnames, and the readings they take as surnames where that is not
# their first reading (曾 Zeng, not Ceng).
_HAN_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢"
    "安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游"
    "辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应"
    "臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝洪"
)
_SURNAME_READING = {"曾": "zeng", "单": "shan", "解": "xie", "查": "zha", "仇": "qiu", "覃": "qin", "翟": "zhai", "缪": "miao",
                    "乐": "yue", "盖": "ge", "朴": "piao", "华": "hua", "葛": "ge", "卜": "bu", "车": "che", "牟": "mou",
                    "沈": "shen", "柏": "bai", "任": "ren", "石": "shi", "宁": "ning", "万": "wan", "贾": "jia", "长": "chang",
                    "重": "chong", "尉": "yu", "区": "ou", "种": "chong", "秘": "bi", "员": "yun", "冼": "xian", "繁": "po"}
# Titles a Chinese report puts before a person's name (会长孙瑞哲, 市长王明元), and what may follow the name.
_TITLES = ("名誉会长|执行会长|副会长|会长|秘书长|理事长|董事长|总经理|副总裁|总裁|副市长|市长|副区长|区长|副县长|县长|副镇长|镇长|"
           "副书记|书记|副主任|主任|副局长|局长|厅长|部长|省长|副主席|主席|院长|所长|处长|总监|经理|教授|专家|记者|负责人|"
           "创始人|发言人|主持人|设计师")
_AFTER_NAME = r"(?=[\s\d,.;:()、，。；：（）“”\"]|表示|介绍|说|指出|称|认为|强调|透露|提出|出席|主持|致辞|在|等|和|与|发布|参加|一行|$)"
_CN_PERSON = re.compile(f"(?:{_TITLES})([{_HAN_SURNAMES}][\u4e00-\u9fff]{{1,2}}){_AFTER_NAME}")
# Two capitalised words (overlapping matches: "Mayor Wang Mingyuan" holds "Wang Mingyuan").
_PERSON = re.compile(r"(?<![A-Za-z])(?=([A-Z][a-z]{0,5})[ \u00a0]([A-Z][a-z]{1,5}(?:-?[a-z]{1,6})?)(?![A-Za-z]))")


def extract_facts(title: str, text: str, gazetteer: Gazetteer | None = None) -> list[str]:
    """The sorted, distinct facts of a report (see the module docstring)."""
    whole = f"{title or ''}\n{text or ''}"
    raw_lines = _first_chars(story_lines(_GLOSS.sub("", whole) if "(" in whole else whole), MAX_CHARS)
    lines = "\n".join(normalise(line) for line in raw_lines)
    facts: set[str] = set()
    lines = _take_dates(lines, facts)
    lines = _ISO_DATE.sub(" ", lines)
    lines = _TIME.sub(" ", lines)
    lines = _take_editions(lines, facts)
    _take_figures(lines, facts)
    facts.update(_entities(gazetteer)(lines))
    facts.update(_people(raw_lines, lines))
    return sorted(facts)


def _people(raw_lines: list[str], normalised: str) -> set[str]:
    """People as `p:surname given` in pinyin: Latin names with a Chinese surname, and
    Chinese names after a title."""
    readings, surnames = _pinyin()
    found = set()
    for line in raw_lines:
        for surname, given in _PERSON.findall(line):
            if surname.lower() in surnames and given.lower() not in surnames | _NOT_GIVEN:
                found.add(f"p:{surname.lower()} {given.lower().replace('-', '')}")
    for name in _CN_PERSON.findall(normalised):
        given = [readings.get(char) for char in name[1:]]
        if all(given):
            found.add(f"p:{_SURNAME_READING.get(name[0]) or readings[name[0]]} {''.join(given)}")  # type: ignore[arg-type]
    return found


@functools.lru_cache(maxsize=1)
def _pinyin() -> tuple[dict[str, str], frozenset[str]]:
    """The toneless reading of each GB 2312 character, and the surnames' readings."""
    readings = pinyin_readings()
    return readings, frozenset(_SURNAME_READING.get(c) or readings[c] for c in _HAN_SURNAMES)


# Capitalised words that follow a surname-like word without being a given name.
_NOT_GIVEN = frozenset("city town county district province street road park group news daily the and of in".split())


def story_lines(text: str) -> list[str]:
    """The lines of a text that can be story (the line filter of the near-duplicate
    signature): at least MIN_LINE_WEIGHT words, a Han character counting half, and no
    disclaimer or footer wording; the whole text when that keeps under 30 % of it."""
    lines = text.split("\n")
    kept = [line for line in lines if _line_weight(line) >= MIN_LINE_WEIGHT and not BOILERPLATE.search(line.lower())]
    if sum(map(len, kept)) < 0.3 * len(text):
        return lines
    # The title is short but it is the story: keep it whatever its length.
    return kept if not lines or not lines[0] or lines[0] in kept else [lines[0], *kept]


_WORDS = re.compile(r"[^\W\d_\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+|\d+")
_HAN = re.compile("[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def _first_chars(lines: list[str], limit: int) -> list[str]:
    kept, size = [], 0
    for line in lines:
        if size >= limit:
            break
        kept.append(line[: limit - size])
        size += len(line) + 1
    return kept


def _line_weight(line: str) -> float:
    if line.isascii():  # most lines of English pages: words split on spaces are near enough
        return len(line.split())
    return len(_WORDS.findall(line)) + len(_HAN.findall(line)) / 2


def _take_dates(text: str, facts: set[str]) -> str:
    """Add the dates of `text` to `facts`; return the text with them blanked out."""

    def add(year: str | None, month: str, day: str, month2: str | None, day2: str | None) -> str:
        _add_date(facts, year, month, day)
        if day2:
            _add_date(facts, year, month2 or month, day2)
        return " "

    if "月" in text:
        text = _ZH_DATE.sub(lambda m: add(m[1], m[2], m[3], m[4], m[5]), text)
    if _ANY_MONTH.search(text):  # the month names' alternation is slow to try at every position
        text = _EN_DATE.sub(lambda m: add(m[4], str(_MONTHS[m[1]]), m[2], None, m[3]), text)  # October 14(-16)(, 2025)
        text = _EU_DATE.sub(lambda m: add(m[4], str(_MONTHS[m[3]]), m[1], None, m[2]), text)  # 14(-16) October (2025)
    return text


def _add_date(facts: set[str], year: str | None, month: str, day: str) -> None:
    m, d = int(month), int(day)
    if 1 <= m <= 12 and 1 <= d <= 31:
        facts.add(f"md:{m:02d}-{d:02d}")
    if year:
        facts.add(f"y:{year}")


def _take_editions(text: str, facts: set[str]) -> str:
    """Add the editions of `text` (第27届, "27th ... fair") to `facts`; return the text
    without the Chinese ones (their number is no count)."""
    if "届" not in text and not _ANY_ORDINAL.search(text):
        return text
    for number, first in _ZH_EDITION.findall(text):
        value = 1 if first else (int(number) if number.isdigit() else chinese_number(number))
        if value:
            facts.add(f"ord:{value}")
    for word in _EN_EDITION.findall(text):
        value = _ORDINAL_WORDS.get(word) or int(re.sub(r"\D", "", word) or 0)
        if value:
            facts.add(f"ord:{value}")
    return _ZH_EDITION.sub(" ", text)


def _take_figures(text: str, facts: set[str]) -> None:
    for m in _CN_COMPOUND.finditer(text) if "亿" in text else ():
        value = int(m.group(1)) * 1e8 + int(m.group(2)) * 1e4
        facts.add(_figure({"元": "cny", "美元": "usd"}.get(m.group(3) or "", "n"), value))
    if "亿" in text:
        text = _CN_COMPOUND.sub(" ", text)
    for m in _NUMBER.finditer(text):
        start = m.start()
        if start and text[start - 1] in _NOT_BEFORE_NUMBER:
            continue
        integer, decimals, scale, unit = m.groups(default="")
        currency = _CURRENCY_BEFORE.search(text, max(0, start - 5), start)
        currency = currency.group(1) if currency else ""
        digits = integer.replace(",", "") + decimals[1:]
        if len(digits) > 12:  # a phone, ID or registration number
            continue
        value = float(integer.replace(",", "") + decimals.replace(",", "."))  # 3,01 Milliarden: a decimal comma
        unit = unit.strip()
        if not scale and not unit and not currency and not decimals and "," not in integer and _is_year(text, m, value):
            facts.add(f"y:{int(value)}")
            continue
        value *= _SCALE.get(scale, 1)
        kind = _unit_kind(currency.strip(), unit)
        if value == 0 or (kind == "n" and not scale and value < 2):
            continue
        facts.add(_figure(kind, value))
    for number, scale, unit in _CN_AMOUNT.findall(text):
        value = chinese_number(number) * _SCALE.get(scale, 1)
        if value >= 10 or scale:
            kind = {"元": "cny", "美元": "usd", "欧元": "eur"}.get(unit, "n")
            facts.add(_figure(kind, value))


_NOT_BEFORE_NUMBER = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.,")
_CURRENCY_BEFORE = re.compile(r"(us\$|\$|¥|€|rmb|usd|cny)\s*$")
_MEASURE = re.compile("\\s*[家个人名件吨台套项场次条倍户多余万亿千]")
_YEAR_BEFORE = re.compile(r"(?:\b(?:in|since|from|to|by|until|of|year|before|after)|[在于自从到至])\s*$")


def _is_year(text: str, m: re.Match[str], value: float) -> bool:
    """A bare four-digit number is a year when 年 follows it, when it lies in 1900-2099
    and no Chinese measure word follows (2024家 is a count), or after "in", "since"...
    (in 1839)."""
    if not 1000 <= value <= 2099 or len(m.group(1)) != 4:
        return False
    after = text[m.end(): m.end() + 3]
    if after.lstrip().startswith("年"):
        return True
    if _MEASURE.match(after):
        return False
    return value >= 1900 or bool(_YEAR_BEFORE.search(text[max(0, m.start() - 8): m.start()]))


def _unit_kind(currency: str, unit: str) -> str:
    if unit in ("%", "percent", "per cent", "pct", "个百分点") or unit.startswith("percentage point"):
        return "pct"
    if unit in ("元", "yuan", "rmb") or currency in ("¥", "rmb", "cny"):
        return "cny"
    if unit in ("美元", "dollars", "usd") or "dollars" in unit or currency in ("$", "us$", "usd"):
        return "usd"
    if unit in ("欧元", "euro", "euros") or currency == "€":
        return "eur"
    return "n"


def _figure(kind: str, value: float) -> str:
    # Exact as written (six significant digits absorb float noise): 221.1亿 and 22.11
    # billion agree, this week's 105.36 points and last week's 105.41 do not.
    return f"{kind}:{value:.6g}"


def _significant(shown: str) -> int:
    """Significant digits of a figure as the facts show it: 8e+03 one, 8.32e+03 three."""
    mantissa = shown.partition("e")[0].replace(".", "").replace("-", "").strip("0")
    return max(1, min(3, len(mantissa)))


def chinese_number(text: str) -> int:
    """A Chinese numeral below 10,000: 三 3, 十五 15, 二十 20, 一百二十 120, 千 1000."""
    digits = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
    units = {"十": 10, "百": 100, "千": 1000}
    total, digit = 0, None
    for char in text:
        if char in digits:
            digit = digits[char]
        elif char in units:
            total += (1 if digit is None else digit) * units[char]
            digit = None
    return total + (digit or 0)


@functools.lru_cache(maxsize=1 << 16)
def weight(fact: str) -> float:
    """How much two reports sharing this fact says that they are one story."""
    kind, _, rest = fact.partition(":")
    if kind in FIGURE_KINDS:
        significant = _significant(rest)
        if kind == "n":
            return SMALL_COUNT_WEIGHT if float(rest) < 10 else COUNT_WEIGHT[significant - 1]
        return (PERCENT_WEIGHT if kind == "pct" else MONEY_WEIGHT)[significant - 1]
    if kind == "md":
        return DATE_WEIGHT
    if kind == "y":
        return YEAR_WEIGHT
    if kind == "ord":
        return EDITION_WEIGHT if rest != "1" else EDITION_WEIGHT / 2
    if kind == "c":
        return KIND_WEIGHT["cluster"]
    if kind == "p":
        return KIND_WEIGHT["person"]
    if kind == "e":
        return KIND_WEIGHT[_entity_kinds().get(rest, "place")]
    return 0.0


# --- names ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _glossary() -> tuple[dict, ...]:
    data = tomllib.loads(resources.files("loomwatch.pipelines.data").joinpath("glossary.toml").read_text(encoding="utf-8"))
    return tuple(data["entity"])


@functools.lru_cache(maxsize=1)
def _entity_kinds() -> dict[str, str]:
    return {entry["id"]: entry["kind"] for entry in _glossary()}


_NOT_HAN_NAME = re.compile("[^\u3400-\u9fff\uf900-\ufaff]+")


class _Names:
    """Aho-Corasick automata over the normalised names of the glossary and the gazetteer:
    Latin names on word bounds, Han names in the text without its punctuation and spaces
    (中国（虎门）国际服装交易会 holds 虎门国际服装交易会)."""

    def __init__(self, gazetteer: Gazetteer):
        names: dict[str, str] = {}
        for entry in _glossary():
            for name in (*entry.get("en", ()), *entry.get("zh", ())):
                names[normalise(name)] = f"e:{entry['id']}"
        for cluster in gazetteer:
            for name in cluster.names():
                names[normalise(name)] = f"c:{cluster.id}"  # a cluster's name wins over the glossary's
        self.latin, self.han = ahocorasick.Automaton(), ahocorasick.Automaton()
        for name, fact in names.items():
            if name.isascii():
                self.latin.add_word(name, (len(name), fact))
            elif _NOT_HAN_NAME.sub("", name) == name:
                self.han.add_word(name, (len(name), fact))
        self.latin.make_automaton()
        self.han.make_automaton()

    def __call__(self, text: str) -> set[str]:
        found: set[str] = set()
        for end, (length, fact) in self.latin.iter_long(text):
            start = end - length + 1
            if (start > 0 and _latin_letter(text[start - 1])) or (end + 1 < len(text) and _latin_letter(text[end + 1])):
                continue
            found.add(fact)
        squeezed = _NOT_HAN_NAME.sub("", text)
        found.update(fact for _, (_, fact) in self.han.iter_long(squeezed))
        return found


def _latin_letter(char: str) -> bool:
    return char.isascii() and char.isalnum()


_names: tuple[Gazetteer | None, _Names] | None = None


def load_names(gazetteer: Gazetteer | None) -> None:
    """Build the name automaton of a gazetteer and read the pinyin table ahead of the
    first article (worker start-up)."""
    _entities(gazetteer)
    _pinyin()


def _entities(gazetteer: Gazetteer | None) -> _Names:
    """The name automaton of a gazetteer (the packaged one when None), built once."""
    global _names
    if _names is None or _names[0] is not gazetteer:
        _names = (gazetteer, _Names(gazetteer if gazetteer is not None else load_gazetteer()))
    return _names[1]


def blocking_keys(facts: Iterable[str], limit: int) -> list[str]:
    """The facts worth looking a report up by: the `limit` weightiest that say something
    on their own (weight at least 1), and its clusters."""
    ranked = sorted((f for f in facts if weight(f) >= 1.0 or f.startswith("c:")), key=lambda f: (-weight(f), f))
    return ranked[:limit]


