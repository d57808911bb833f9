"""Stage 2: the article's language, as an ISO code (en, zh-cn, zh-tw, ...)."""

from __future__ import annotations

from langdetect import DetectorFactory, LangDetectException, detector_factory

DetectorFactory.seed = 0  # langdetect samples at random; a fixed seed makes the same text get the same answer
PREFIX_CHARS = 2000  # the first 2,000 characters decide as well as the whole text, at a fraction of the cost
# langdetect averages 7 random trials by default; on a news text of 2,000 characters 3 agree
# as well and cost 40 % less (benchmarks/README.md).
TRIALS = 3


def detect_language(text: str, hint: str = "") -> str:
    """ISO code of the text's language; the hint (a source's `language`) when detection cannot tell."""
    detector_factory.init_factory()  # langdetect's `detect()` offers no way to set the trials
    detector = detector_factory._factory.create()
    detector.n_trial = TRIALS
    detector.append(text[:PREFIX_CHARS])
    try:
        return detector.detect()
    except LangDetectException:
        return hint or "und"
