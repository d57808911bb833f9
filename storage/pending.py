"""Articles being stored that a reading connection cannot see yet.

A fleet's writer decides the pages of one batch (duplicates, stories) on a read-only
connection of its own while the batch before is still being written on the writing
connection (crawler/fleet/writer.py). The decisions must be the ones a single connection
would make, which sees every article stored before, committed or not. So the deciding
side keeps here the articles it has decided and whose batch it cannot see committed yet,
and each lookup the decisions make (`articles.known_of`, `articles.exact_duplicates`,
`pipelines.dedup.find_near_duplicate`, `stories.candidates`, `stories.members`,
`stories.default_story`) adds them exactly where the same query would find them once
written. Pending articles always have larger ids than every visible one.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class PendingArticle:
    id: int
    urls: frozenset[str]  # every URL it is stored under
    content_hash: str
    duplicate_of: int | None
    story_id: int | None
    signature: bytes | None
    band_keys: tuple[int, ...]  # its near-duplicate index entries
    day: int  # its story_keys day
    keys: tuple[int, ...]  # its story_keys (fact keys); empty when it records no facts


class Pending:
    def __init__(self) -> None:
        self.articles: dict[int, PendingArticle] = {}
        self.visible: int | None = None  # the last article the reading connection sees, once told (visible_up_to)
        # Story-key buckets as the reading connection sees them up to `visible` (storage.stories.candidates):
        # (key, first day, last day) -> [(day, article id)]; read again once it sees more.
        self.stored_buckets: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
        self._index()

    def __bool__(self) -> bool:
        return bool(self.articles)

    def add(self, article: PendingArticle) -> None:
        self.articles[article.id] = article
        self._add_to_index(article)

    def visible_up_to(self, last_id: int) -> None:
        """The reading connection now sees every article up to `last_id`: forget those."""
        if last_id != self.visible:
            self.visible = last_id
            self.stored_buckets.clear()
        if self.articles and next(iter(self.articles)) <= last_id:  # added in the order of their ids
            self.articles = {i: a for i, a in self.articles.items() if i > last_id}
            self._index()

    def clear(self) -> None:
        self.articles.clear()
        self.stored_buckets.clear()
        self._index()

    def bucket(self, key: int, first_day: int, last_day: int, before_id: int, limit: int) -> list[tuple[int, int]]:
        """(day, id) of the articles indexed under a story key (storage.stories.candidates)
        dated from `first_day` to `last_day`, with an id below `before_id`: the latest
        `limit`, the latest first."""
        entries = self.keys.get(key)
        if not entries:
            return []
        end = bisect.bisect_right(entries, (last_day, before_id))
        if before_id > self.last_id:  # every pending article is below the bound: the bucket is a slice
            start = max(bisect.bisect_left(entries, (first_day,)), end - limit)
            return entries[start:end][::-1]
        found = []
        for n in range(end - 1, -1, -1):
            entry_day, article_id = entries[n]
            if entry_day < first_day or len(found) == limit:
                break
            if article_id < before_id:
                found.append((entry_day, article_id))
        return found

    @property
    def last_id(self) -> int:
        return next(reversed(self.articles), 0)  # added in the order of their ids

    def _index(self) -> None:
        self.urls: set[str] = set()
        self.hashes: dict[str, int] = {}  # content hash -> the original of its first article
        self.bands: dict[int, list[int]] = defaultdict(list)  # band key -> article ids, ascending
        self.keys: dict[int, list[tuple[int, int]]] = defaultdict(list)  # fact key -> (day, article id), ascending
        self.members: dict[int, list[int]] = defaultdict(list)  # story -> article ids, ascending
        self.copies: dict[int, list[int]] = defaultdict(list)  # original -> its copies' ids, ascending
        for article in sorted(self.articles.values(), key=lambda a: a.id):
            self._add_to_index(article)

    def _add_to_index(self, a: PendingArticle) -> None:
        self.urls.update(a.urls)
        self.hashes.setdefault(a.content_hash, a.duplicate_of or a.id)
        for key in a.band_keys:
            self.bands[key].append(a.id)
        for key in a.keys:
            bisect.insort(self.keys[key], (a.day, a.id))
        if a.story_id is not None:
            self.members[a.story_id].append(a.id)
        if a.duplicate_of is not None:
            self.copies[a.duplicate_of].append(a.id)
