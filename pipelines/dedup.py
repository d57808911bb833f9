"""Stage 4: near-duplicate detection with MinHash and a banded LSH index kept in SQLite.

Exact copies are caught by `content_hash` in storage; this module catches the rest of
syndication: a press release reposted with other page furniture, a dropped paragraph,
an appended "reproduced from ..." / "转载自..." line, a lightly reworded or
machine-translated copy, a Traditional-character or Latin-1-mojibake copy.

How a text is signed (`signature`, run in the analysis worker processes):

1. Repair UTF-8 read as cp1252/Latin-1 ("worldâ€™s" → "world’s"), then NFKC, case-fold,
   and map Traditional characters to Simplified (a character table generated from the
   Unicode Han database, so "產業" and "产业" are the same shingle).
2. Keep the lines that can be story (`story_tokens`): lines of at least 12 words (a Han
   character counts half) that are not disclaimers, reproduction notices, editor or ICP
   footers. What one copy has and another lacks is mostly such furniture, and on a
   300-word story a breadcrumb, a "Related reading" list and a disclaimer are enough to
   pull the Jaccard similarity of two copies of one text below 0.7.
3. Two token streams, punctuation dropped: Han characters and kana one token each
   (Chinese has no spaces to find words by), and words of every other script, numbers
   included (two weekly price reports with different figures stay apart), with
   function words dropped (English "the/of/which", Chinese 的/了/在): machine translation
   and light rewording change those freely.
4. Shingles: content-word 2-grams and Han character 3-grams, each stream on its own, so
   a mixed-language page is signed continuously (no switch of scheme at 50 % Chinese).
   With function words gone a content-word pair spans about three running words, like
   a plain word 3-gram, but a changed content word breaks two shingles, not three: on
   the labelled set this lifts machine-translated copies from 0.52 to 0.71 while the
   closest template near-miss stays at 0.37. A Chinese word is about 1.5 characters, so
   a character 3-gram spans about two words; 4-grams lost Traditional copies with
   Taiwan wording (數位/数字) and light rewrites without separating near-misses better.
5. MinHash with `NUM_PERM` = 128 values, by one-permutation hashing (see `signature`):
   one 64-bit hash per shingle (CRC-32 word ids and code points, mixed by SplitMix64
   with constants derived from BLAKE2b), so the same text gives the same signature in
   every process, run and platform, and 5 kB of text signs in well under 2 ms. Each
   value is kept as 16 bits: 256 bytes per article; two different values agree by
   chance 1 time in 65,536, negligible beside the sampling error of 128 values (±0.04
   at a Jaccard similarity of 0.7).

How an article is found (`find_near_duplicate`, in the store process, inside the
article's transaction): the signature is cut into `bands` bands of `rows` values (17
bands of 4 at the default threshold of 0.7); each band is hashed to a 32-bit key, and
`dedup_bands` (key, article_id) is a WITHOUT ROWID table keyed on both, so a lookup is
`bands` index seeks, whatever the size of the archive. Buckets are read at most
`BUCKET_LIMIT` deep (earliest articles first), the candidates that share the most
bands are verified against their stored signatures (`dedup_signatures`), and only an
estimated Jaccard similarity at or above the threshold counts: stories that merely
share a template or boilerplate meet in a band now and then, but their full
signatures disagree. The earliest match is followed along `duplicate_of` to the
original. `index` adds an article in the caller's transaction. Per article the index
holds about 525 bytes (274 of signature, 250 of band rows at 17 bands).

`bands` and `rows` follow from the threshold (`band_parameters`) and are recorded in
`dedup_params`; when `[dedup] threshold` changes so that they change, the band table is
rebuilt from the stored signatures (`rebuild`, about 70 s per million articles) on the
first lookup. Signatures do not depend on the threshold; if the signing scheme itself
changes (`SCHEME`), `rebuild` re-signs the stored article texts.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import sqlite_utils

log = logging.getLogger(__name__)

NUM_PERM = 128
WORD_SHINGLE = 2
HAN_SHINGLE = 3
MIN_SHINGLES = 20  # below this a text is a caption or a stub: its similarity means little
MIN_LINE_WEIGHT = 12  # words (a Han character counts half) in a line that can be part of the story
DEFAULT_THRESHOLD = 0.7
# Anything that changes the signature of a text must change SCHEME: stored signatures
# are then re-signed from the article texts by `rebuild`.
SCHEME = f"minhash-w{WORD_SHINGLE}-h{HAN_SHINGLE}-l{MIN_LINE_WEIGHT}-p{NUM_PERM}-b16-v1"
SIGNATURE_BYTES = NUM_PERM * 2

MISS_PROBABILITY = 0.01  # chance that a pair exactly at the threshold shares no band
BUCKET_LIMIT = 50  # earliest article ids read per band key: bounds the cost of a hot key
MAX_VERIFY = 100  # candidates verified per lookup, those sharing the most bands first



def _constant(label: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"loomwatch-dedup:{label}".encode(), digest_size=8).digest(), "little")


# One-permutation MinHash: bin = the top 7 bits of a shingle hash.
assert NUM_PERM & (NUM_PERM - 1) == 0, "NUM_PERM must be a power of two"
_BIN_SHIFT = 64 - NUM_PERM.bit_length() + 1
_BIN_IDS = np.arange(NUM_PERM, dtype=np.uint64)
_BIN_STARTS = _BIN_IDS << np.uint64(_BIN_SHIFT)
# Position multipliers that turn an n-gram of token ids into one 64-bit number.
_POSITION = [np.uint64(_constant(f"position{j}") | 1) for j in range(max(WORD_SHINGLE, HAN_SHINGLE))]
_STREAM_SALT = {"word": np.uint64(_constant("word")), "han": np.uint64(_constant("han"))}
_BAND_SALT = np.uint64(_constant("band"))
_BAND_MULTIPLIER = np.uint64(_constant("band-multiplier") | 1)
_WORD_ID_OFFSET = 1 << 32  # keeps word ids (CRC-32) apart from Han ids (code points)

# Han ideographs (with extensions and compatibility forms) and kana: written without spaces.
_HAN_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_NOT_HAN = re.compile(f"[^{_HAN_CLASS}]+")
_WORD = re.compile(f"[^\\W_{_HAN_CLASS}]+")
_ASCII_WORD = re.compile("[a-z0-9]+")  # the same on an ASCII line, several times faster
_WIDE_PUNCTUATION = re.compile("[\u3000-\u3004\u3008-\u3020\u3030\u303d-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]")

# Function words that a rewording or another translation changes freely ("the town's" /
# "of the town", 的/了/在): left out of shingles, so that word pairs span content words.
_STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but as is are was were be been being has have had "
    "it its this that these those which who whom whose there their they them he she his her we our you "
    "your i my not no so than then also will would can could may might must should shall do does did "
    "into over under about after before up down out more most very such just only same other all any each".split()
)
_HAN_STOPWORDS = str.maketrans("", "", "的了着是在和与及等也都就而并将已为对把被其这那之于以")
# Lines of furniture whose wording gives them away (matched on the normalised text).
_BOILERPLATE = re.compile(
    r"disclaimer|all rights reserved|copyright (?:\d|©|belongs)|reproduced (?:please|from)|"
    r"do(?:es)? not represent (?:the views|.{0,6}position)|infringes? |icp[ 备]|"
    r"免责声明|版权(?:归|所有)|转载自|本文转载|如有侵权|公网安备|主办单位|承办单位|责任编辑|原标题"
)


def _mojibake_alphabet() -> dict[str, int]:
    """What each byte 0x80–0xFF looks like when UTF-8 is decoded as cp1252 (Latin-1 where cp1252 has a hole)."""
    table = {}
    for byte in range(0x80, 0x100):
        try:
            table[bytes([byte]).decode("cp1252")] = byte
        except UnicodeDecodeError:
            table[chr(byte)] = byte
    return table


_MOJIBAKE_BYTE = _mojibake_alphabet()
_LEAD = "".join(re.escape(c) for c, b in _MOJIBAKE_BYTE.items() if 0xC2 <= b <= 0xF4)
_CONTINUATION = "".join(re.escape(c) for c, b in _MOJIBAKE_BYTE.items() if b < 0xC0)
_MOJIBAKE = re.compile(f"[{_LEAD}][{_CONTINUATION}]{{1,3}}")


def _repair(match: re.Match[str]) -> str:
    try:
        return bytes(_MOJIBAKE_BYTE[c] for c in match.group()).decode("utf-8")
    except UnicodeDecodeError:  # a real accented letter followed by a symbol: leave it
        return match.group()


def normalise(text: str) -> str:
    """The form a text is shingled in: mojibake repaired, NFKC, case-folded, Simplified characters."""
    if text.isascii():
        return text.lower()
    text = _MOJIBAKE.sub(_repair, text)
    # Full-width punctuation would be a separator after NFKC too; blanking it first lets
    # most Chinese texts skip NFKC (a third of a millisecond on 5 kB) as already normal.
    text = _WIDE_PUNCTUATION.sub(" ", text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _TRADITIONAL.sub(_simplify, text.casefold())


def _simplify(match: re.Match[str]) -> str:
    return match.group().translate(_SIMPLIFIED)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every input bit affects every output bit."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _ngrams(ids: np.ndarray, n: int, salt: np.uint64) -> np.ndarray:
    count = len(ids) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    z = np.full(count, salt, dtype=np.uint64)
    for j in range(n):
        z += ids[j : j + count] * _POSITION[j]
    return _mix(z)


def story_tokens(text: str) -> tuple[list[str], str]:
    """The words and the Han characters of the lines of a normalised text that can be story.

    Furniture that one copy has and another lacks (breadcrumbs, date and source lines,
    share links, related-article titles, photo credits, disclaimers, reproduction
    notices, ICP footers) is what lowers the similarity of syndicated copies most.
    Most of it sits in short lines; the rest is recognised by its wording. If that
    would leave less than 30 % of the text (a text of short lines, such as a price
    table), the whole text is used.
    """
    words: list[str] = []
    han: list[str] = []
    all_words: list[str] = []
    all_han: list[str] = []
    kept = 0
    for line in text.split("\n"):
        if line.isascii():
            line_words, line_han = _ASCII_WORD.findall(line), ""
        else:
            line_words, line_han = _WORD.findall(line), _NOT_HAN.sub("", line)
        all_words += line_words
        all_han.append(line_han)
        if len(line_words) + len(line_han) / 2 >= MIN_LINE_WEIGHT and not _BOILERPLATE.search(line):
            words += line_words
            han.append(line_han)
            kept += len(line)
    if kept < 0.3 * len(text):
        words, han = all_words, all_han
    return [w for w in words if w not in _STOPWORDS], "".join(han).translate(_HAN_STOPWORDS)


def shingles(text: str) -> np.ndarray:
    """64-bit hashes of the text's content-word 2-grams and Han character 3-grams (with repeats)."""
    words, han = story_tokens(normalise(text))
    crc = zlib.crc32
    word_ids = np.fromiter((crc(w.encode()) for w in words), dtype=np.uint64, count=len(words)) + np.uint64(_WORD_ID_OFFSET)
    han_ids = np.frombuffer(han.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return np.concatenate(
        [_ngrams(word_ids, WORD_SHINGLE, _STREAM_SALT["word"]), _ngrams(han_ids, HAN_SHINGLE, _STREAM_SALT["han"])]
    )


def signature(text: str) -> bytes | None:
    """The MinHash signature of a text (`SIGNATURE_BYTES` bytes), or None if it is too short to sign.

    One-permutation MinHash: the top 7 bits of a shingle's hash pick one of the 128
    bins, and each bin keeps the smallest hash that falls in it; a bin that nothing
    fell in copies the bin that a fixed probe sequence reaches first ("optimal
    densification", Shrivastava 2017). Two texts agree in a bin with probability equal
    to the Jaccard similarity of their shingle sets, as with 128 separate hash
    functions, at the cost of one hash per shingle instead of 128.
    """
    ordered = np.unique(shingles(text or ""))  # sorted: each bin's minimum comes first
    if len(ordered) < MIN_SHINGLES:
        return None
    starts = np.searchsorted(ordered, _BIN_STARTS)
    filled = starts < len(ordered)
    filled[filled] = (ordered[starts[filled]] >> np.uint64(_BIN_SHIFT)) == _BIN_IDS[filled]
    values = np.zeros(NUM_PERM, dtype=np.uint64)
    values[filled] = ordered[starts[filled]]
    empty = np.flatnonzero(~filled)
    if len(empty):
        probes = _PROBES[empty]  # (empty bins, probe sequence)
        first = filled[probes].argmax(axis=1)
        values[empty] = values[probes[np.arange(len(empty)), first]]
    return (values & np.uint64(0xFFFF)).astype("<u2").tobytes()


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures."""
    return float(np.mean(_values(a) == _values(b)))


def _values(sig: bytes) -> np.ndarray:
    if len(sig) != SIGNATURE_BYTES:
        raise ValueError(f"a near-duplicate signature has {SIGNATURE_BYTES} bytes, not {len(sig)} (signed by another version?)")
    return np.frombuffer(sig, dtype="<u2")


# --- the LSH index ---------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    scheme: str
    num_perm: int
    bands: int
    rows: int


def band_parameters(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) for a similarity threshold.

    The most rows per band (so that dissimilar articles rarely meet in a bucket: fewer
    candidates, whatever the archive's size) such that a pair exactly at the threshold
    still shares at least one band with probability 1 - MISS_PROBABILITY, within
    num_perm values. Pairs above the threshold are missed far less often (0.01 % at
    0.8 for the default 0.7).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"near-duplicate threshold must be in (0, 1], not {threshold}")
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        p_band = threshold**rows
        if p_band >= 1:
            bands = 1
        else:
            bands = math.ceil(math.log(MISS_PROBABILITY) / math.log1p(-p_band))
        if bands * rows > num_perm:
            break
        best = (bands, rows)
    return best


@functools.lru_cache(maxsize=16)
def params_for(threshold: float) -> Params:
    bands, rows = band_parameters(threshold)
    return Params(SCHEME, NUM_PERM, bands, rows)


def band_keys(values: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Signed 32-bit bucket keys, one per band, for an (articles × NUM_PERM) uint16 array.

    A band's values are packed four to a 64-bit word and mixed with the band's number,
    so a band of up to 4 rows costs one mixing round. Changing this changes every key:
    bump SCHEME with it.
    """
    v = values[:, : bands * rows].reshape(len(values), bands, rows)
    pad = -rows % 4
    if pad:
        v = np.concatenate([v, np.zeros((len(values), bands, pad), dtype=v.dtype)], axis=2)
    words = np.ascontiguousarray(v, dtype="<u2").view("<u8")  # (articles, bands, ceil(rows / 4))
    z = np.arange(bands, dtype=np.uint64) * _BAND_MULTIPLIER + _BAND_SALT
    for chunk in range(words.shape[2]):
        z = _mix(z ^ words[:, :, chunk])
    return (z >> np.uint64(32)).astype(np.int64) - (1 << 31)


_last_keys: tuple[bytes, int, int, list[int]] = (b"", 0, 0, [])


def _keys_of(signature: bytes, params: Params) -> list[int]:
    """Band keys of one signature; `index` reuses those that `find_near_duplicate` just made."""
    global _last_keys
    sig, bands, rows, keys = _last_keys
    if (sig, bands, rows) != (signature, params.bands, params.rows):
        keys = band_keys(_values(signature)[None, :], params.bands, params.rows)[0].tolist()
        _last_keys = (signature, params.bands, params.rows, keys)
    return keys


def _recorded(db: sqlite_utils.Database) -> tuple[Params, float] | None:
    row = db.execute("SELECT scheme, num_perm, bands, rows, threshold FROM dedup_params WHERE id = 1").fetchone()
    return (Params(*row[:4]), row[4]) if row else None


def _record(db: sqlite_utils.Database, params: Params, threshold: float) -> None:
    db.execute(
        "INSERT INTO dedup_params (id, scheme, num_perm, bands, rows, threshold) VALUES (1, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET scheme = excluded.scheme, num_perm = excluded.num_perm, "
        "bands = excluded.bands, rows = excluded.rows, threshold = excluded.threshold",
        [params.scheme, params.num_perm, params.bands, params.rows, threshold],
    )


def _current(db: sqlite_utils.Database, threshold: float | None) -> Params:
    """The index's parameters, rebuilding the index first if `threshold` needs others."""
    recorded = _recorded(db)
    if recorded is None:
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        if db.execute("SELECT EXISTS (SELECT 1 FROM dedup_signatures)").fetchone()[0]:
            return rebuild(db, threshold)
        params = params_for(threshold)
        _record(db, params, threshold)
        return params
    params, recorded_threshold = recorded
    if threshold is None:
        if params.scheme != SCHEME:
            return rebuild(db, recorded_threshold)
        return params
    wanted = params_for(threshold)
    if wanted != params:
        return rebuild(db, threshold)
    if threshold != recorded_threshold:
        _record(db, params, threshold)
    return params


_LOOKUP_SQL: dict[int, str] = {}


def _lookup_sql(bands: int) -> str:
    # One bounded index range per band key, earliest articles first: flat cost even for a hot key.
    if bands not in _LOOKUP_SQL:
        part = f"SELECT article_id FROM (SELECT article_id FROM dedup_bands WHERE band_key = ? ORDER BY article_id LIMIT {BUCKET_LIMIT})"
        _LOOKUP_SQL[bands] = " UNION ALL ".join([part] * bands)
    return _LOOKUP_SQL[bands]


def find_near_duplicate(db: sqlite_utils.Database, signature: bytes | None, threshold: float) -> int | None:
    """The original of the earliest stored article whose estimated Jaccard similarity is ≥ threshold."""
    if signature is None:
        return None
    params = _current(db, threshold)
    values = _values(signature)
    keys = _keys_of(signature, params)
    hits = Counter(row[0] for row in db.execute(_lookup_sql(params.bands), keys))
    if not hits:
        return None
    candidates = sorted(hits, key=lambda a: (-hits[a], a))[:MAX_VERIFY]
    rows = db.execute(
        "SELECT s.article_id, s.signature, a.duplicate_of FROM dedup_signatures s JOIN articles a ON a.id = s.article_id "
        f"WHERE s.article_id IN ({', '.join('?' * len(candidates))})",
        candidates,
    ).fetchall()
    rows = [r for r in rows if len(r[1]) == SIGNATURE_BYTES]
    if not rows:
        return None
    stored = np.frombuffer(b"".join(r[1] for r in rows), dtype="<u2").reshape(len(rows), NUM_PERM)
    agree = (stored == values).sum(axis=1)
    needed = math.ceil(threshold * NUM_PERM - 1e-9)
    matches = [(r[0], r[2]) for r, n in zip(rows, agree.tolist()) if n >= needed]
    if not matches:
        return None
    article_id, duplicate_of = min(matches)
    return _original(db, article_id, duplicate_of)


def _original(db: sqlite_utils.Database, article_id: int, duplicate_of: int | None) -> int:
    seen = {article_id}
    while duplicate_of is not None and duplicate_of not in seen:  # stored duplicates point at originals: one step
        seen.add(duplicate_of)
        row = db.execute("SELECT duplicate_of FROM articles WHERE id = ?", [duplicate_of]).fetchone()
        if row is None:  # the original was deleted: the copy stands in for it
            break
        article_id, duplicate_of = duplicate_of, row[0]
    return article_id


def index(db: sqlite_utils.Database, article_id: int, signature: bytes | None) -> None:
    """Add a stored article to the index (in the caller's transaction; commits nothing)."""
    if signature is None:
        return
    params = _current(db, None)
    keys = _keys_of(signature, params)
    old = db.execute("SELECT signature FROM dedup_signatures WHERE article_id = ?", [article_id]).fetchone()
    if old is not None and len(old[0]) == SIGNATURE_BYTES:  # re-indexed: drop the old entries
        old_keys = band_keys(_values(old[0])[None, :], params.bands, params.rows)[0].tolist()
        db.conn.executemany("DELETE FROM dedup_bands WHERE band_key = ? AND article_id = ?", [(k, article_id) for k in old_keys])
    db.execute("INSERT OR REPLACE INTO dedup_signatures (article_id, signature) VALUES (?, ?)", [article_id, signature])
    db.conn.executemany("INSERT OR IGNORE INTO dedup_bands (band_key, article_id) VALUES (?, ?)", [(k, article_id) for k in keys])


def rebuild(db: sqlite_utils.Database, threshold: float, *, batch: int = 100_000) -> Params:
    """Recompute the band table for `threshold` from the stored signatures.

    Re-signs every stored article text first if the signatures were made by another
    signing scheme. Runs in one transaction (a savepoint if the caller holds one).
    """
    params = params_for(threshold)
    with db.atomic():
        recorded = _recorded(db)
        if recorded is not None and recorded[0].scheme != SCHEME:
            _resign(db)
        count = db.execute("SELECT count(*) FROM dedup_signatures").fetchone()[0]
        log.info(
            "rebuilding the near-duplicate index of %d articles for threshold %s (%d bands of %d rows)",
            count, threshold, params.bands, params.rows,
        )
        db.execute("DELETE FROM dedup_bands")
        all_keys, all_ids = [], []
        last = 0
        while True:
            rows = db.execute(
                "SELECT article_id, signature FROM dedup_signatures WHERE article_id > ? ORDER BY article_id LIMIT ?", [last, batch]
            ).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            rows = [r for r in rows if len(r[1]) == SIGNATURE_BYTES]
            if not rows:
                continue
            values = np.frombuffer(b"".join(r[1] for r in rows), dtype="<u2").reshape(len(rows), NUM_PERM)
            all_keys.append(band_keys(values, params.bands, params.rows).ravel())
            all_ids.append(np.repeat(np.array([r[0] for r in rows], dtype=np.int64), params.bands))
        if all_keys:
            _insert_bands(db, np.concatenate(all_keys), np.concatenate(all_ids))
        _record(db, params, threshold)
    return params


def _insert_bands(db: sqlite_utils.Database, keys: np.ndarray, ids: np.ndarray) -> None:
    """Bulk insert in key order: appending to the B-tree is many times faster than random inserts."""
    order = np.lexsort((ids, keys))
    keys, ids = keys[order], ids[order]
    step = 500_000
    for start in range(0, len(keys), step):
        db.conn.executemany(
            "INSERT OR IGNORE INTO dedup_bands (band_key, article_id) VALUES (?, ?)",
            zip(keys[start : start + step].tolist(), ids[start : start + step].tolist()),
        )


def _resign(db: sqlite_utils.Database) -> None:
    log.warning("near-duplicate signatures were made by another version: re-signing the stored articles")
    db.execute("DELETE FROM dedup_signatures")
    last = 0
    while True:
        rows = db.execute("SELECT id, text FROM articles WHERE id > ? ORDER BY id LIMIT 1000", [last]).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        signed = [(article_id, signature(text)) for article_id, text in rows]
        db.conn.executemany(
            "INSERT INTO dedup_signatures (article_id, signature) VALUES (?, ?)", [(a, s) for a, s in signed if s is not None]
        )


def stats(db: sqlite_utils.Database) -> dict[str, int | float | str | None]:
    """What the index holds (counts every band row: about a second at a million articles)."""
    recorded = _recorded(db)
    return {
        "signatures": db.execute("SELECT count(*) FROM dedup_signatures").fetchone()[0],
        "band_rows": db.execute("SELECT count(*) FROM dedup_bands").fetchone()[0],
        "bands": recorded[0].bands if recorded else None,
        "rows": recorded[0].rows if recorded else None,
        "threshold": recorded[1] if recorded else None,
        "scheme": recorded[0].scheme if recorded else None,
    }


def _pairs(table: Iterable[str]) -> dict[int, str]:
    joined = "".join(table)
    return {ord(joined[i]): joined[i + 1] for i in range(0, len(joined), 2)}


# Traditional → Simplified, character by character: every Big5 character whose
# kSimplifiedVariant in the Unicode Han database (Unihan 15.0) is a GB 2312 character,
# plus 週→周. It is only used to canonicalise before shingling (both copies go through
# it), so where a Traditional character has several Simplified forms any one will do.
_TRADITIONAL_TO_SIMPLIFIED = (
    "丟丢並并亂乱亞亚佇伫併并來来侖仑侶侣俁俣係系俠侠倀伥倆俩倉仓個个們们倫伦偉伟側侧偵侦偽伪傑杰傖伧傘伞備备傢家傭佣傯偬傳传傴伛債债傷伤傾倾僂偻僅仅僉佥僑侨僕仆僥侥"
    "僨偾價价儀仪儂侬億亿儈侩儉俭儐傧儔俦儕侪儘尽償偿優优儲储儷俪儺傩儻傥儼俨兌兑兒儿兗兖內内兩两冊册冪幂凈净凍冻凜凛凱凯別别刪删剄刭則则剋克剎刹剛刚剝剥剮剐剴剀創创"
    "劃划劇剧劉刘劊刽劌刿劍剑劑剂勁劲動动務务勛勋勝胜勞劳勢势勱劢勵励勸劝勻匀匭匦匯汇匱匮區区協协卻却厙厍厭厌厲厉厴厣參参叢丛吒咤吳吴吶呐呂吕咼呙員员唄呗唚吣問问啞哑"
    "啟启喚唤喪丧喬乔單单喲哟嗆呛嗇啬嗎吗嗚呜嗩唢嗶哔嘆叹嘍喽嘔呕嘖啧嘗尝嘜唛嘩哗嘮唠嘯啸嘰叽嘵哓嘸呒噓嘘噠哒噥哝噦哕噯嗳噲哙噴喷噸吨噹当嚀咛嚇吓嚌哜嚕噜嚙啮嚦呖嚨咙"
    "嚳喾嚴严嚶嘤囀啭囁嗫囂嚣囅冁囈呓囑嘱囪囱圇囵國国圍围園园圓圆圖图團团垵埯埡垭埰采執执堅坚堊垩堝埚堯尧報报場场塊块塋茔塏垲塒埘塗涂塢坞塤埙塵尘塹堑墊垫墜坠墮堕墳坟"
    "墾垦壇坛壓压壘垒壙圹壚垆壞坏壟垄壢坜壩坝壯壮壺壶壽寿夠够夢梦夾夹奐奂奧奥奩奁奪夺奮奋奼姹妝妆姍姗姦奸娛娱婁娄婦妇婭娅媧娲媯妫媼媪媽妈嫗妪嫵妩嫻娴嬈娆嬋婵嬌娇嬙嫱"
    "嬡嫒嬤嬷嬪嫔嬰婴嬸婶孌娈孫孙學学孿孪宮宫寢寝實实寧宁審审寫写寬宽寵宠寶宝將将專专尋寻對对導导尷尴屆届屍尸屜屉屢屡層层屨屦屬属岡冈峴岘島岛峽峡崍崃崗岗崢峥嵐岚嶁嵝"
    "嶄崭嶇岖嶗崂嶠峤嶧峄嶴岙嶸嵘嶺岭嶼屿巋岿巒峦巔巅巰巯帥帅師师帳帐帶带幀帧幃帏幗帼幘帻幟帜幣币幫帮幬帱幹干幾几庫库廁厕廂厢廄厩廈厦廚厨廝厮廟庙廠厂廡庑廢废廣广廩廪"
    "廬庐廳厅弒弑弳弪張张強强彈弹彌弥彎弯彙汇彥彦後后徑径從从徠徕復复徹彻恆恒恥耻悅悦悵怅悶闷惡恶惱恼惲恽惻恻愛爱愜惬愨悫愴怆愷恺愾忾慄栗態态慍愠慘惨慚惭慟恸慣惯慪怄"
    "慫怂慮虑慳悭慶庆憂忧憊惫憐怜憑凭憒愦憚惮憤愤憫悯憮怃憲宪憶忆懇恳應应懌怿懍懔懞蒙懟怼懣懑懨恹懲惩懶懒懷怀懸悬懺忏懼惧懾慑戀恋戇戆戔戋戠只戧戗戩戬戰战戲戏戶户拋抛"
    "挾挟捨舍捫扪捲卷掃扫掄抡掙挣掛挂採采揀拣揚扬換换揮挥損损搖摇搗捣搶抢摑掴摜掼摟搂摯挚摳抠摶抟摻掺撈捞撐撑撓挠撟挢撣掸撥拨撫抚撲扑撳揿撻挞撾挝撿捡擁拥擄掳擇择擊击"
    "擋挡擔担據据擠挤擬拟擯摈擰拧擱搁擲掷擴扩擷撷擺摆擻擞擼撸擾扰攄摅攆撵攏拢攔拦攖撄攙搀攛撺攜携攝摄攢攒攣挛攤摊攪搅攬揽敗败敘叙敵敌數数斂敛斃毙斕斓斬斩斷断於于時时"
    "晉晋晝昼暈晕暉晖暢畅暫暂曄晔曆历曇昙曉晓曏向曖暧曠旷曬晒書书會会朧胧東东柵栅桿杆梔栀條条梟枭棄弃棖枨棗枣棟栋棧栈棲栖椏桠楊杨楓枫楨桢業业極极榪杩榮荣榿桤構构槍枪"
    "槧椠槨椁槳桨樁桩樂乐樅枞樓楼標标樞枢樣样樸朴樹树樺桦橈桡橋桥機机橢椭橫横檁檩檉柽檔档檜桧檢检檣樯檯台檳槟檸柠檻槛櫃柜櫓橹櫚榈櫛栉櫝椟櫞橼櫟栎櫥橱櫧槠櫨栌櫪枥櫫橥"
    "櫬榇櫱蘖櫳栊櫸榉櫻樱欄栏權权欏椤欒栾欖榄欞棂欽钦歐欧歟欤歡欢歲岁歷历歸归歿殁殘残殞殒殤殇殫殚殮殓殯殡殲歼殺杀殼壳毀毁毆殴毿毵氂牦氈毡氌氇氣气氫氢氬氩氳氲決决沒没"
    "沖冲況况洶汹浹浃涇泾涼凉淚泪淥渌淪沦淵渊淶涞淺浅渙涣減减渦涡測测渾浑湊凑湞浈湯汤溈沩準准溝沟溫温滄沧滅灭滌涤滎荥滬沪滯滞滲渗滸浒滾滚滿满漁渔漚沤漢汉漣涟漬渍漲涨"
    "漵溆漸渐漿浆潁颍潑泼潔洁潛潜潤润潯浔潰溃潷滗潿涠澀涩澆浇澇涝澗涧澠渑澤泽澩泶澮浍澱淀濁浊濃浓濕湿濘泞濛蒙濟济濤涛濫滥濰潍濱滨濺溅濼泺濾滤瀅滢瀆渎瀉泻瀋沈瀏浏瀕濒"
    "瀘泸瀝沥瀟潇瀠潆瀦潴瀧泷瀨濑瀲潋瀾澜灃沣灄滠灑洒灕漓灘滩灝灏灠漤灣湾灤滦災灾為为烏乌烴烃無无煉炼煒炜煙烟煢茕煥焕煩烦煬炀熒荧熗炝熱热熾炽燁烨燈灯燒烧燙烫燜焖營营"
    "燦灿燭烛燴烩燼烬燾焘爍烁爐炉爛烂爭争爺爷爾尔牆墙牘牍牽牵犖荦犢犊犧牺狀状狹狭狽狈猙狰猶犹猻狲獄狱獅狮獎奖獨独獪狯獫猃獰狞獲获獵猎獷犷獸兽獺獭獻献獼猕玀猡現现琺珐"
    "琿珲瑋玮瑣琐瑤瑶瑩莹瑪玛璉琏璣玑璦瑷環环璽玺瓊琼瓏珑瓔璎瓚瓒甌瓯產产畝亩畢毕畫画異异當当疇畴疊叠痙痉痾疴瘋疯瘍疡瘓痪瘞瘗瘡疮瘧疟瘺瘘療疗癆痨癇痫癉瘅癘疠癟瘪癢痒"
    "癤疖癥症癩癞癬癣癭瘿癮瘾癰痈癱瘫癲癫發发皚皑皰疱皸皲皺皱盜盗盞盏盡尽監监盤盘盧卢盪荡眥眦眾众睏困睜睁睞睐瞞瞒瞭了瞼睑矇蒙矚瞩矯矫硃朱硤硖硨砗硯砚碩硕碭砀確确碼码"
    "磚砖磣碜磧碛磯矶磽硗礎础礙碍礦矿礪砺礫砾礬矾礱砻祿禄禍祸禎祯禦御禪禅禮礼禰祢禱祷禿秃秈籼稅税稈秆稟禀種种稱称穀谷穌稣積积穎颖穡穑穢秽穩稳穫获穭稆窩窝窪洼窮穷窯窑"
    "窶窭窺窥竄窜竅窍竇窦竊窃競竞筆笔筍笋筧笕箋笺箏筝節节範范築筑篋箧篤笃篩筛篳筚簀箦簍篓簞箪簡简簣篑簫箫簽签簾帘籃篮籌筹籜箨籟籁籠笼籩笾籪簖籬篱籮箩籲吁粵粤糝糁糞粪"
    "糧粮糲粝糴籴糶粜糾纠紀纪紂纣約约紅红紆纡紇纥紈纨紉纫紋纹納纳紐纽紓纾純纯紕纰紗纱紙纸級级紛纷紜纭紡纺細细紱绂紲绁紳绅紹绍紺绀紼绋紿绐絀绌終终組组絆绊絎绗結结絕绝"
    "絛绦絞绞絡络絢绚給给絨绒統统絲丝絳绛絹绢綁绑綃绡綆绠綈绨綏绥經经綜综綞缍綠绿綢绸綣绻綬绶維维綰绾綱纲網网綴缀綸纶綹绺綺绮綻绽綽绰綾绫綿绵緄绲緇缁緊紧緋绯緒绪緗缃"
    "緘缄緙缂線线緝缉緞缎締缔緡缗緣缘緦缌編编緩缓緬缅緯纬緱缑緲缈練练緶缏緹缇緻致縈萦縉缙縊缢縋缒縐绉縑缣縛缚縝缜縞缟縟缛縣县縫缝縭缡縮缩縱纵縲缧縵缦縶絷縷缕縹缥總总"
    "績绩繃绷繅缫繆缪繒缯織织繕缮繚缭繞绕繡绣繢缋繩绳繪绘繫系繭茧繯缳繰缲繳缴繹绎繼继繽缤繾缱纈缬纊纩續续纍累纏缠纓缨纔才纖纤纘缵纜缆缽钵罈坛罌罂罰罚罵骂罷罢羅罗羆罴"
    "羈羁羋芈羥羟義义習习翹翘耬耧聖圣聞闻聯联聰聪聲声聳耸聵聩聶聂職职聹聍聽听聾聋肅肃脅胁脈脉脛胫脫脱脹胀腎肾腡脶腦脑腫肿腳脚腸肠膃腽膚肤膠胶膩腻膽胆膾脍膿脓臉脸臍脐"
    "臏膑臘腊臚胪臟脏臠脔臨临臺台與与興兴舉举舊旧艙舱艤舣艦舰艫舻艱艰艷艳芻刍苧苎茲兹荊荆莊庄莖茎莢荚莧苋華华萇苌萊莱萬万萵莴葉叶葒荭葦苇葷荤蒔莳蒞莅蒼苍蓀荪蓋盖蓮莲"
    "蓯苁蓴莼蓽荜蔔卜蔞蒌蔣蒋蔥葱蔦茑蔭荫蕁荨蕆蒇蕎荞蕓芸蕕莸蕘荛蕢蒉蕩荡蕪芜蕭萧蕷蓣薈荟薊蓟薌芗薑姜薔蔷薟莶薦荐薩萨薺荠藍蓝藎荩藝艺藥药藪薮藶苈藹蔼藺蔺蘄蕲蘆芦蘇苏"
    "蘊蕴蘋苹蘚藓蘞蔹蘢茏蘭兰蘺蓠蘿萝處处虛虚虜虏號号虧亏虯虬蛺蛱蛻蜕蜆蚬蝕蚀蝟猬蝦虾蝸蜗螄蛳螞蚂螢萤螻蝼蟄蛰蟈蝈蟣虮蟬蝉蟯蛲蟲虫蟶蛏蟻蚁蠅蝇蠆虿蠐蛴蠑蝾蠟蜡蠣蛎蠱蛊"
    "蠶蚕蠻蛮衊蔑術术衕同衚胡衛卫衝冲袞衮裊袅補补裝装裡里製制複复褲裤褳裢褸褛褻亵襖袄襝裣襠裆襤褴襪袜襯衬襲袭見见規规覓觅視视覘觇覡觋覦觎親亲覬觊覯觏覲觐覷觑覺觉覽览"
    "覿觌觀观觴觞觶觯觸触訂订訃讣計计訊讯訌讧討讨訐讦訓训訕讪訖讫記记訛讹訝讶訟讼訣诀訥讷訪访設设許许訴诉訶诃診诊註注詁诂詆诋詎讵詐诈詒诒詔诏評评詘诎詛诅詞词詠咏詡诩"
    "詢询詣诣試试詩诗詫诧詬诟詭诡詮诠詰诘話话該该詳详詵诜詼诙詿诖誄诔誅诛誆诓誇夸誌志認认誑诳誒诶誕诞誘诱誚诮語语誠诚誡诫誣诬誤误誥诰誦诵誨诲說说誰谁課课誶谇誹诽誼谊"
    "調调諂谄諄谆談谈諉诿請请諍诤諏诹諑诼諒谅論论諗谂諛谀諜谍諞谝諢诨諤谔諦谛諧谐諫谏諭谕諮谘諱讳諳谙諶谌諷讽諸诸諺谚諼谖諾诺謀谋謁谒謂谓謄誊謅诌謊谎謎谜謐谧謔谑謖谡"
    "謗谤謙谦謚谥講讲謝谢謠谣謨谟謫谪謬谬謳讴謹谨謾谩證证譎谲譏讥譖谮識识譙谯譚谭譜谱譫谵譯译議议譴谴護护譽誉譾谫讀读變变讎雠讒谗讓让讕谰讖谶讜谠讞谳豈岂豎竖豐丰豬猪"
    "貓猫貝贝貞贞負负財财貢贡貧贫貨货販贩貪贪貫贯責责貯贮貰贳貲赀貳贰貴贵貶贬買买貸贷貺贶費费貼贴貽贻貿贸賀贺賁贲賂赂賃赁賄贿賅赅資资賈贾賊贼賑赈賒赊賓宾賕赇賚赉賜赐"
    "賞赏賠赔賡赓賢贤賣卖賤贱賦赋賧赕質质賬账賭赌賴赖賺赚賻赙購购賽赛賾赜贄贽贅赘贈赠贊赞贍赡贏赢贐赆贓赃贖赎贗赝贛赣趕赶趙赵趨趋趲趱跡迹踐践踴踊蹌跄蹕跸蹣蹒蹤踪蹺跷"
    "躉趸躊踌躋跻躍跃躑踯躒跞躓踬躕蹰躚跹躡蹑躥蹿躦躜躪躏軀躯車车軋轧軌轨軍军軒轩軔轫軛轭軟软軫轸軸轴軹轵軺轺軻轲軼轶軾轼較较輅辂輇辁載载輊轾輒辄輓挽輔辅輕轻輛辆輜辎"
    "輝辉輞辋輟辍輥辊輦辇輩辈輪轮輯辑輳辏輸输輻辐輾辗輿舆轂毂轄辖轅辕轆辘轉转轍辙轎轿轔辚轟轰轡辔轢轹轤轳辦办辭辞辮辫辯辩農农迴回逕迳這这連连進进運运過过達达違违遙遥"
    "遜逊遞递遠远適适遲迟遷迁選选遺遗遼辽邁迈還还邇迩邊边邏逻邐逦郟郏郵邮鄆郓鄉乡鄒邹鄔邬鄖郧鄧邓鄭郑鄰邻鄲郸鄴邺鄶郐鄺邝酈郦醜丑醞酝醫医醬酱釀酿釁衅釃酾釅酽釋释釐厘"
    "釓钆釔钇釕钌釗钊釘钉釙钋針针釣钓釤钐釧钏釩钒釵钗釷钍釹钕鈀钯鈁钫鈄钭鈉钠鈍钝鈐钤鈑钣鈔钞鈕钮鈞钧鈣钙鈥钬鈦钛鈧钪鈮铌鈰铈鈳钶鈴铃鈷钴鈸钹鈹铍鈺钰鈽钸鈾铀鈿钿鉀钾"
    "鉅钜鉈铊鉉铉鉍铋鉑铂鉗钳鉚铆鉛铅鉞钺鉤钩鉦钲鉬钼鉭钽鉸铰鉺铒鉻铬鉿铪銀银銃铳銅铜銑铣銓铨銖铢銘铭銚铫銜衔銠铑銣铷銥铱銦铟銨铵銩铥銪铕銫铯銬铐銳锐銷销銻锑銼锉鋁铝"
    "鋃锒鋅锌鋇钡鋌铤鋏铗鋒锋鋝锊鋟锓鋤锄鋦锔鋨锇鋪铺鋮铖鋯锆鋰锂鋱铽鋸锯鋼钢錁锞錄录錆锖錈锩錐锥錒锕錕锟錘锤錙锱錚铮錛锛錟锬錠锭錢钱錦锦錨锚錫锡錮锢錯错錳锰錶表錸铼"
    "鍆钔鍇锴鍋锅鍍镀鍔锷鍘铡鍛锻鍤锸鍥锲鍬锹鍰锾鍵键鍶锶鍺锗鍾钟鎂镁鎊镑鎖锁鎘镉鎢钨鎣蓥鎦镏鎧铠鎩铩鎪锼鎬镐鎮镇鎰镒鎳镍鎵镓鏃镞鏇旋鏈链鏌镆鏍镙鏑镝鏗铿鏘锵鏜镗鏝镘"
    "鏞镛鏟铲鏡镜鏢镖鏤镂鏨錾鏵铧鏷镤鏹镪鏽锈鐃铙鐋铴鐐镣鐒铹鐓镦鐔镡鐘钟鐙镫鐠镨鐨镄鐫镌鐮镰鐲镯鐳镭鐵铁鐸铎鐺铛鐿镱鑄铸鑊镬鑌镔鑒鉴鑠铄鑣镳鑭镧鑰钥鑲镶鑷镊鑼锣鑽钻"
    "鑾銮鑿凿長长門门閂闩閃闪閆闫閉闭開开閌闶閎闳閏闰閑闲閒闲間间閔闵閘闸閡阂閣阁閤合閥阀閨闺閩闽閫阃閬阆閭闾閱阅閶阊閹阉閻阎閼阏閽阍閾阈閿阌闃阒闆板闈闱闊阔闋阕闌阑"
    "闐阗闔阖闕阙闖闯關关闞阚闡阐闢辟闥闼阪坂陘陉陝陕陣阵陰阴陳陈陸陆陽阳隉陧隊队階阶隕陨際际隨随險险隱隐隴陇隸隶隻只雋隽雖虽雙双雛雏雜杂雞鸡離离難难雲云電电霧雾霽霁"
    "靂雳靄霭靈灵靚靓靜静靦腼靨靥鞀鼗鞏巩鞝绱鞦秋韁缰韃鞑韆千韉鞯韋韦韌韧韓韩韙韪韜韬韞韫韻韵響响頁页頂顶頃顷項项順顺頇顸須须頊顼頌颂頎颀頏颃預预頑顽頒颁頓顿頗颇領领"
    "頜颌頡颉頤颐頦颏頭头頰颊頷颔頸颈頹颓頻频顆颗題题額额顎颚顏颜顓颛願愿顙颡顛颠類类顢颟顥颢顧顾顫颤顯显顰颦顱颅顳颞顴颧風风颮飑颯飒颱台颳刮颶飓颼飕飄飘飆飙飛飞飢饥"
    "飩饨飪饪飫饫飭饬飯饭飲饮飴饴飼饲飽饱飾饰餃饺餅饼餉饷養养餌饵餑饽餒馁餓饿餘余餚肴餛馄餞饯餡馅館馆餱糇餳饧餼饩餾馏餿馊饃馍饅馒饈馐饉馑饋馈饌馔饒饶饗飨饜餍饞馋馬马"
    "馭驭馮冯馱驮馳驰馴驯駁驳駐驻駑驽駒驹駔驵駕驾駘骀駙驸駛驶駝驼駟驷駢骈駭骇駱骆駿骏騁骋騅骓騍骒騎骑騏骐騖骛騙骗騫骞騭骘騮骝騰腾騶驺騷骚騸骟騾骡驀蓦驁骜驂骖驃骠驄骢"
    "驅驱驊骅驍骁驏骣驕骄驗验驚惊驛驿驟骤驢驴驤骧驥骥驪骊骯肮髏髅髒脏體体髕髌髖髋髮发鬆松鬍胡鬚须鬢鬓鬥斗鬧闹鬩阋鬮阄鬱郁魎魉魘魇魚鱼魯鲁魴鲂魷鱿鮐鲐鮑鲍鮒鲋鮚鲒鮞鲕"
    "鮪鲔鮫鲛鮭鲑鮮鲜鯀鲧鯁鲠鯇鲩鯉鲤鯊鲨鯔鲻鯖鲭鯗鲞鯛鲷鯡鲱鯢鲵鯤鲲鯧鲳鯨鲸鯪鲮鯫鲰鯰鲶鯽鲫鰈鲽鰉鳇鰍鳅鰒鳆鰓鳃鰣鲥鰥鳏鰨鳎鰩鳐鰭鳍鰱鲢鰲鳌鰳鳓鰷鲦鰹鲣鰻鳗鰾鳔鱈鳕"
    "鱉鳖鱒鳟鱔鳝鱖鳜鱗鳞鱘鲟鱟鲎鱧鳢鱭鲚鱷鳄鱸鲈鱺鲡鳥鸟鳧凫鳩鸠鳳凤鳴鸣鳶鸢鴆鸩鴇鸨鴉鸦鴕鸵鴛鸳鴝鸲鴟鸱鴣鸪鴦鸯鴨鸭鴯鸸鴰鸹鴻鸿鴿鸽鵂鸺鵑鹃鵒鹆鵓鹁鵜鹈鵝鹅鵠鹄鵡鹉"
    "鵪鹌鵬鹏鵯鹎鵲鹊鶇鸫鶉鹑鶘鹕鶚鹗鶩鹜鶯莺鶴鹤鶻鹘鶼鹣鷂鹞鷓鹧鷗鸥鷙鸷鷚鹨鷥鸶鷦鹪鷯鹩鷲鹫鷳鹇鷸鹬鷹鹰鷺鹭鸕鸬鸚鹦鸛鹳鸝鹂鸞鸾鹵卤鹹咸鹺鹾鹼硷鹽盐麗丽麥麦麩麸麵面"
    "麼么黃黄黌黉點点黨党黲黪黴霉黷黩黽黾黿鼋鼉鼍鼕冬鼴鼹齊齐齋斋齎赍齏齑齒齿齔龀齙龅齜龇齟龃齠龆齡龄齣出齦龈齪龊齬龉齲龋齶腭齷龌龍龙龐庞龔龚龕龛龜龟週周"
)
_SIMPLIFIED = _pairs(_TRADITIONAL_TO_SIMPLIFIED)
_TRADITIONAL = re.compile("[" + "".join(map(chr, _SIMPLIFIED)) + "]+")
# Densification: for every bin, a fixed pseudo-random sequence of bins to borrow from.
# 512 probes: MIN_SHINGLES distinct shingles fill about 18 of the 128 bins, and the chance
# that 512 probes all meet empty bins is then about 1e-34.
_PROBES = (
    _mix(_BIN_IDS[:, None] * np.uint64(_constant("probe-bin") | 1) + np.arange(512, dtype=np.uint64)[None, :] * np.uint64(_constant("probe-step") | 1))
    >> np.uint64(_BIN_SHIFT)
).astype(np.intp)
