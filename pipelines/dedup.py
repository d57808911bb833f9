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
`bands` index seeks, whatever the size of the archive. New articles' rows go to the small
`dedup_bands_recent` first and join `dedup_bands` in key order, a key range per batch,
while there are `RECENT_ROWS` of them (`settle`); a lookup reads both, merged in id order. Buckets are read at most
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
from dataclasses import dataclass

import numpy as np
import sqlite_utils

from loomwatch.pipelines.hanzi import HAN_BMP, SIMPLIFIED, TRADITIONAL_RUNS, without_pinyin_notes
from loomwatch.storage.pending import Pending

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
RECENT_ROWS = 1 << 18  # new band rows kept in dedup_bands_recent before they begin to join dedup_bands (see settle)
SETTLE_ROWS = 1 << 15  # rows one step of settle moves, about



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
_HAN_CLASS = "\u3040-\u30ff" + HAN_BMP + "\U00020000-\U0003134f"
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
BOILERPLATE = re.compile(
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
    """The form a text is shingled in: mojibake repaired, pinyin notes dropped, NFKC,
    case-folded, Simplified characters."""
    if text.isascii():
        return text.lower()
    text = without_pinyin_notes(text)
    text = _MOJIBAKE.sub(_repair, text)
    # Full-width punctuation would be a separator after NFKC too; blanking it first lets
    # most Chinese texts skip NFKC (a third of a millisecond on 5 kB) as already normal.
    text = _WIDE_PUNCTUATION.sub(" ", text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return TRADITIONAL_RUNS.sub(_simplify, text.casefold())


def _simplify(match: re.Match[str]) -> str:
    return match.group().translate(SIMPLIFIED)


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
        if len(line_words) + len(line_han) / 2 >= MIN_LINE_WEIGHT and not BOILERPLATE.search(line):
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


def band_keys_of(signature: bytes, params: Params) -> list[int]:
    """The index entries (band keys) of one stored signature."""
    return list(_keys_of(signature, params.bands, params.rows))


def article_band_keys(article: dict, params: Params) -> list[int] | None:
    """An analysed article's band keys for `params`: as its worker worked them out
    (pipelines.analyse.lookup_keys) if for these parameters, else from its signature
    (None without one)."""
    if article.get("bands") == [params.bands, params.rows]:
        return article.get("band_keys")
    return band_keys_of(article["signature"], params) if article.get("signature") is not None else None


@functools.lru_cache(maxsize=4096)  # the store step looks an article up, then indexes it (a batch later when decided ahead)
def _keys_of(signature: bytes, bands: int, rows: int) -> tuple[int, ...]:
    return tuple(band_keys(_values(signature)[None, :], bands, rows)[0].tolist())


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


_LOOKUP_SQL: dict[tuple[int, bool], str] = {}


def _lookup_sql(bands: int, numbered: bool = False) -> str:
    # One bounded index range per band key in each band table, merged in id order (both are
    # ordered by it, so SQLite merges without sorting): the earliest articles first, flat cost
    # even for a hot key. `numbered`: each row with its key's place in the list (0, 1, ...).
    if (bands, numbered) not in _LOOKUP_SQL:
        def bucket(n: int) -> str:
            return (f"SELECT article_id FROM dedup_bands WHERE band_key = ?{n} UNION ALL SELECT article_id FROM "
                    f"dedup_bands_recent WHERE band_key = ?{n} ORDER BY article_id LIMIT {BUCKET_LIMIT}")
        _LOOKUP_SQL[bands, numbered] = " UNION ALL ".join(f"SELECT {f'{n}, ' if numbered else ''}article_id FROM ({bucket(n + 1)})"
                                                          for n in range(bands))
    return _LOOKUP_SQL[bands, numbered]


def prepare(db: sqlite_utils.Database, threshold: float) -> Params:
    """The index's parameters for `threshold` (rebuilding the index first if it needs others),
    for the `params` of a batch's lookups and entries: the recorded ones are then read once."""
    return _current(db, threshold)


def find_near_duplicate(db: sqlite_utils.Database, signature: bytes | None, threshold: float, params: Params | None = None,
                        pending: Pending | None = None, keys: list[int] | None = None) -> int | None:
    """The original of the earliest stored article whose estimated Jaccard similarity is ≥ threshold
    (`params`: what `prepare` returned for it in this transaction; `pending`: see storage.pending;
    `keys`: the signature's band keys for `params`, when worked out already)."""
    if signature is None:
        return None
    params = params or _current(db, threshold)
    values = _values(signature)
    keys = keys if keys is not None else band_keys_of(signature, params)
    if pending and not pending.bands.keys().isdisjoint(keys):
        # A bucket holds its earliest articles: pending ones (the latest) fill what the stored leave.
        buckets: list[list[int]] = [[] for _ in keys]
        for n, article_id in db.execute(_lookup_sql(params.bands, numbered=True), keys):
            buckets[n].append(article_id)
        for key, bucket in zip(keys, buckets):
            bucket += pending.bands.get(key, [])[: max(BUCKET_LIMIT - len(bucket), 0)]
        hits = Counter(article_id for bucket in buckets for article_id in bucket)
    else:
        hits = Counter(row[0] for row in db.execute(_lookup_sql(params.bands), keys))
    if not hits:
        return None
    candidates = sorted(hits, key=lambda a: (-hits[a], a))[:MAX_VERIFY]
    # duplicate_of from an index that holds it: in the row it comes after the text, whose
    # overflow pages SQLite would walk (4 instead of 16 µs a candidate at a million articles).
    rows = db.execute(
        "SELECT s.article_id, s.signature, a.duplicate_of FROM dedup_signatures s "
        "JOIN articles a INDEXED BY articles_facts ON a.id = s.article_id "
        f"WHERE s.article_id IN ({', '.join('?' * len(candidates))})",
        candidates,
    ).fetchall()
    if pending:
        rows += [(a.id, a.signature, a.duplicate_of) for a in map(pending.articles.get, candidates) if a and a.signature]
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
    return _original(db, article_id, duplicate_of, pending)


def _original(db: sqlite_utils.Database, article_id: int, duplicate_of: int | None, pending: Pending | None = None) -> int:
    seen = {article_id}
    while duplicate_of is not None and duplicate_of not in seen:  # stored duplicates point at originals: one step
        seen.add(duplicate_of)
        if pending and duplicate_of in pending.articles:
            article_id, duplicate_of = duplicate_of, pending.articles[duplicate_of].duplicate_of
            continue
        row = db.execute("SELECT duplicate_of FROM articles INDEXED BY articles_facts WHERE id = ?", [duplicate_of]).fetchone()
        if row is None:  # the original was deleted: the copy stands in for it
            break
        article_id, duplicate_of = duplicate_of, row[0]
    return article_id


def index(db: sqlite_utils.Database, article_id: int, signature: bytes | None, params: Params | None = None,
          keys: list[int] | None = None) -> None:
    """Add a stored article to the index (in the caller's transaction; commits nothing;
    `keys`: the signature's band keys for `params`, when worked out already)."""
    if signature is None:
        return
    params = params or _current(db, None)
    keys = keys if keys is not None else band_keys_of(signature, params)
    old = db.execute("SELECT signature FROM dedup_signatures WHERE article_id = ?", [article_id]).fetchone()
    if old is not None and len(old[0]) == SIGNATURE_BYTES:  # re-indexed: drop the old entries
        old_keys = band_keys(_values(old[0])[None, :], params.bands, params.rows)[0].tolist()
        for table in ("dedup_bands", "dedup_bands_recent"):
            db.conn.executemany(f"DELETE FROM {table} WHERE band_key = ? AND article_id = ?", [(k, article_id) for k in old_keys])
    db.execute("INSERT OR REPLACE INTO dedup_signatures (article_id, signature) VALUES (?, ?)", [article_id, signature])
    db.conn.executemany("INSERT OR IGNORE INTO dedup_bands_recent (band_key, article_id) VALUES (?, ?)",
                        [(k, article_id) for k in keys])


def settle(db: sqlite_utils.Database, after: int | None = None) -> int | None:
    """Once `dedup_bands_recent` holds RECENT_ROWS rows, move about SETTLE_ROWS of them into
    `dedup_bands` (in the caller's transaction): those of the next keys above `after` (None:
    from the lowest), in key order. Returns the last key moved, for the next step to go on
    from (None once the highest key is reached: begin again). Inserted one article at a
    time, new rows' random keys dirtied a page of the big table each (at a million articles,
    14 of the 25 pages a stored article wrote); a key range moved in key order dirties each
    page of its part of the table once, and a step at a time no batch pays for all of it."""
    if db.execute(f"SELECT count(*) FROM (SELECT 1 FROM dedup_bands_recent LIMIT {RECENT_ROWS})").fetchone()[0] < RECENT_ROWS:
        return after
    low = -(1 << 31) - 1 if after is None else after  # band keys are signed 32-bit
    row = db.execute("SELECT band_key FROM dedup_bands_recent WHERE band_key > ? ORDER BY band_key LIMIT 1 OFFSET ?",
                     [low, SETTLE_ROWS]).fetchone()
    high = row[0] if row else 1 << 31
    db.execute("INSERT OR IGNORE INTO dedup_bands (band_key, article_id) SELECT band_key, article_id FROM dedup_bands_recent "
               "WHERE band_key > ? AND band_key <= ? ORDER BY band_key, article_id", [low, high])
    db.execute("DELETE FROM dedup_bands_recent WHERE band_key > ? AND band_key <= ?", [low, high])
    return high if row else None


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
        db.execute("DELETE FROM dedup_bands_recent")
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
        "band_rows": db.execute("SELECT (SELECT count(*) FROM dedup_bands) + (SELECT count(*) FROM dedup_bands_recent)").fetchone()[0],
        "bands": recorded[0].bands if recorded else None,
        "rows": recorded[0].rows if recorded else None,
        "threshold": recorded[1] if recorded else None,
        "scheme": recorded[0].scheme if recorded else None,
    }


# Densification: for every bin, a fixed pseudo-random sequence of bins to borrow from.
# 512 probes: MIN_SHINGLES distinct shingles fill about 18 of the 128 bins, and the chance
# that 512 probes all meet empty bins is then about 1e-34.
_PROBES = (
    _mix(_BIN_IDS[:, None] * np.uint64(_constant("probe-bin") | 1) + np.arange(512, dtype=np.uint64)[None, :] * np.uint64(_constant("probe-step") | 1))
    >> np.uint64(_BIN_SHIFT)
).astype(np.intp)
