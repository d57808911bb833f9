"""Stage 2: the article's language, as an ISO code (en, zh-cn, zh-tw, ...)."""

from __future__ import annotations

from langdetect import DetectorFactory, LangDetectException, detect

DetectorFactory.seed = 0  # langdetect samples at random; a fixed seed makes the same text get the same answer
PREFIX_CHARS = 2000  # the first 2,000 characters decide as well as the whole text, at a fraction of the cost


def detect_language(text: str, hint: str = "") -> str:
    """ISO code of the text's language; the hint (a source's `language`) when detection cannot tell."""
    sample = text[:PREFIX_CHARS]
    try:
        return detect(sample)
    except LangDetectException:
        return hint or "und"
