"""Stage 2: the article's language, as an ISO code (en, zh-cn, zh-tw, ja, ko, ...).

Most of what loomwatch reads is Chinese or English. A text written mostly in Han
characters is Chinese by its script alone, and whether it is Traditional (zh-tw) or
Simplified (zh-cn) shows in which forms of the characters that have two it uses; kana
make it Japanese, Hangul Korean. Only texts in other scripts (Latin, Cyrillic, ...) go to
langdetect, on a prefix: its cost grows with the text and with each random trial, and on
Chinese text it spent ~8 ms per article to say what the script already said
(benchmarks/eval_language.py).
"""

from __future__ import annotations

import re

from langdetect import DetectorFactory, LangDetectException, detector_factory

from loomwatch.pipelines.hanzi import HAN_BMP, SIMPLIFIED

DetectorFactory.seed = 0  # langdetect samples at random; a fixed seed makes the same text get the same answer
PREFIX_CHARS = 2000  # the script count reads this much
DETECT_CHARS = 500  # langdetect reads this much: on the texts of benchmarks/eval_language.py 300 gave the same answers as 2,000
# langdetect averages 7 random trials by default. On the 361 texts in Latin and Cyrillic
# script at hand (English, Portuguese, Russian, Italian, Indonesian, German, Swedish) one
# trial on 500 characters gives the same answers as 7 on the whole text, in 1.9 ms instead
# of 3.4 with 3 trials (benchmarks/eval_language.py).
TRIALS = 1

_HAN = re.compile(f"[{HAN_BMP}]")
_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def _forms(chars: set[str], missing_from: str) -> re.Pattern[str]:
    only = sorted(c for c in chars if not _encodes(c, missing_from))
    return re.compile("[" + "".join(only) + "]")


def _encodes(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


# Characters written one way in Traditional and another in Simplified Chinese: a form
# that GB 2312 (the Simplified set) lacks is Traditional, one that Big5 (the Traditional
# set) lacks is Simplified. Pairs whose Simplified form is also a Traditional character of
# its own (了 for 瞭, 后 for 後, 台 for 臺) count for neither side.
_TRADITIONAL_FORMS = _forms(set(map(chr, SIMPLIFIED)), "gb2312")
_SIMPLIFIED_FORMS = _forms(set(SIMPLIFIED.values()), "big5")


def detect_language(text: str, hint: str = "") -> str:
    """ISO code of the text's language; the hint (a source's `language`) when it cannot be told."""
    sample = text[:PREFIX_CHARS]
    by_script = script_language(sample)
    if by_script:
        return by_script
    detector_factory.init_factory()  # langdetect's `detect()` offers no way to set the trials
    detector = detector_factory._factory.create()
    detector.n_trial = TRIALS
    detector.append(sample[:DETECT_CHARS])
    try:
        return detector.detect()
    except LangDetectException:
        return hint or "und"


def script_language(sample: str) -> str | None:
    """zh-cn, zh-tw, ja or ko when the sample is mostly written in that script, else None."""
    han = len(_HAN.findall(sample))
    kana = len(_KANA.findall(sample))
    hangul = len(_HANGUL.findall(sample))
    letters = len(_LETTER.findall(sample))
    if hangul > letters / 2:
        return "ko"
    if kana and kana + han > letters / 2 and kana >= han / 10:
        return "ja"  # Japanese prose is a fifth to a half kana; Chinese has none (or a stray one)
    if han <= letters / 2:
        return None
    traditional = len(_TRADITIONAL_FORMS.findall(sample))
    simplified = len(_SIMPLIFIED_FORMS.findall(sample))
    return "zh-tw" if traditional > simplified else "zh-cn"
