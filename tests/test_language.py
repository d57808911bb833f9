"""Language detection: by script for Chinese, Japanese and Korean, langdetect for the rest."""

from __future__ import annotations

import pytest

from loomwatch.pipelines.language import detect_language, script_language

SIMPLIFIED = "柯桥区今年新建的印染园区已有十二家企业入驻，园区负责人说，这些企业的废水将统一处理后再排放。"
TRADITIONAL = "柯橋區今年新建的印染園區已有十二家企業進駐，園區負責人說，這些企業的廢水將統一處理後再排放。"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SIMPLIFIED, "zh-cn"),
        (TRADITIONAL, "zh-tw"),
        # Traditional text uses 了, 台 and 里 too: they must not tip it to Simplified.
        ("我們到了台北，住在城里的旅館，這裡的紡織展覽會很熱鬧。", "zh-tw"),
        # English words and figures inside a Chinese story do not make it English.
        ("南通家纺城发布2026年1-10月数据：B2B平台GMV同比增长18%，跨境电商订单来自TikTok Shop与Amazon。" * 3, "zh-cn"),
        ("東京の繊維メーカーは、新しい工場を来年建設すると発表した。生産量は二倍になる見込みだ。", "ja"),
        ("한국 섬유 업계는 내년에 새로운 공장을 건설할 계획이라고 밝혔다.", "ko"),
    ],
)
def test_east_asian_scripts_decide_without_langdetect(text: str, expected: str) -> None:
    assert script_language(text) == expected
    assert detect_language(text) == expected


def test_short_chinese_texts_that_langdetect_took_for_korean() -> None:
    # langdetect answers "ko" for some short Chinese texts (seen on our labelled set).
    text = "萧山区新塘街道两条主干道拓宽改造工程近日启动，将新增公交专用道。工程预计年底完工。"
    assert detect_language(text) == "zh-cn"


def test_other_scripts_go_to_langdetect() -> None:
    english = ("Buyers from Turkey and Vietnam filled the fabric market in Keqiao (柯桥) this week, "
               "and traders said spring orders had come in earlier than usual. ") * 4
    assert script_language(english) is None
    assert detect_language(english) == "en"
    portuguese = ("Os compradores encheram o mercado de tecidos esta semana e os comerciantes disseram "
                  "que as encomendas da primavera chegaram mais cedo do que o habitual. ") * 3
    assert detect_language(portuguese) == "pt"


def test_no_letters_falls_back_to_the_sources_language() -> None:
    assert detect_language("2026-11-23 12:00 ... 100%", "zh-cn") == "zh-cn"
    assert detect_language("", "") == "und"
