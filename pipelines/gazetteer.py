"""The cluster gazetteer: China's textile and apparel clusters and the names they go by.

The packaged `data/clusters.toml` is the one source of truth; its header documents
every key. Users add or override clusters with `[[clusters]]` tables in their
configuration, which `load_gazetteer` applies on top of the packaged entries:

- an entry whose `id` exists overrides the keys it gives; `aliases`, `ambiguous`,
  `firms` and `exclude` are added to the packaged lists, every other key replaces its value;
  `remove_aliases = [...]` drops packaged aliases; `enabled = false` drops the cluster
  (its children then hang from its parent);
- an entry with a new `id` adds a cluster and must give `name` and `name_zh`.

Every problem raises `GazetteerError` naming the file, the entry, the key and the fix.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from loomwatch.pipelines.hanzi import variants

log = logging.getLogger(__name__)

PACKAGE_ORIGIN = "clusters.toml (package data)"

# Keys of a cluster, in the order of the `Cluster` fields.
TEXT_KEYS = ("id", "name", "name_zh", "kind", "province", "city", "parent")
LIST_KEYS = ("specialty", "aliases", "ambiguous", "firms", "exclude", "titles", "sources")
# Where the cluster is on the dashboard's map, in degrees (as the map's outlines: GCJ-02, within half a kilometre of WGS84).
PLACE_KEYS = ("lat", "lon")
PLACE_RANGE = {"lat": (-90.0, 90.0), "lon": (-180.0, 180.0)}
# Lists of names that an override adds to instead of replacing.
ADDITIVE_KEYS = ("aliases", "ambiguous", "firms", "exclude")
# Keys that only make sense in a user's override.
CONFIG_KEYS = ("enabled", "remove_aliases")

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

# Folding keeps string length, so that match offsets in folded text are offsets in
# the original: full-width letters and digits (Ｋｅｑｉａｏ) become ASCII, curly
# apostrophes (Hai’an) straight ones, no-break and ideographic spaces plain spaces.
# Full-width punctuation (，) is left alone: it separates words either way.
_FOLD = {chr(cp): chr(cp - 0xFEE0) for r in ((0xFF10, 0xFF1A), (0xFF21, 0xFF3B), (0xFF41, 0xFF5B)) for cp in range(*r)}
_FOLD.update({c: "'" for c in "\u2018\u2019\u02bc\u2032\u00b4"})
_FOLD.update({"\u00a0": " ", "\u3000": " ", "\u2010": "-", "\u2011": "-", "\u2013": "-"})
# Pinyin's tone marks (Kēqiáo, Shèngzé, Lǚ) are dropped: English pages and encyclopedias
# write names with them. Only the vowels pinyin marks, so "Keqiaoâ€™s" (mojibake) still ends at "â".
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü"
_FOLD.update({c: unicodedata.normalize("NFD", c)[0] for c in _TONED + _TONED.upper()})
# A regex finds the few characters to fold much faster than str.translate walks all.
_FOLDABLE = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u2018\u2019\u02bc\u2032\u00b4\u00a0\u3000\u2010\u2011\u2013"
                       + _TONED + _TONED.upper() + "]")


def fold(text: str) -> str:
    """Lower-case and normalise `text` for matching, keeping its length."""
    if text.isascii():
        return text.lower()
    text = _FOLDABLE.sub(lambda m: _FOLD[m.group()], text)
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # A few characters lower-case to two (İ); keep those as they are.
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


class GazetteerError(ValueError):
    """A cluster entry is invalid; the message names where, what, and the fix."""


@dataclass(frozen=True)
class Cluster:
    id: str
    name: str
    name_zh: str = ""
    kind: str = ""
    province: str = ""
    city: str = ""
    parent: str | None = None
    specialty: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    firms: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None

    def names(self) -> tuple[str, ...]:
        """Names that identify the cluster on their own (ambiguous ones left out)."""
        ambiguous = {fold(a) for a in self.ambiguous}
        seen: dict[str, str] = {}
        for name in (self.name, self.name_zh, *self.aliases):
            if name and fold(name) not in ambiguous:
                seen.setdefault(fold(name), name)
        return tuple(seen.values())


class Gazetteer:
    """Clusters by id, in file order. Iterating yields `Cluster` objects."""

    def __init__(self, clusters: Iterable[Cluster]):
        self._by_id: dict[str, Cluster] = {c.id: c for c in clusters}

    def __iter__(self) -> Iterator[Cluster]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, cluster_id: object) -> bool:
        return cluster_id in self._by_id

    def __getitem__(self, cluster_id: str) -> Cluster:
        return self._by_id[cluster_id]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Gazetteer) and list(self) == list(other)

    def get(self, cluster_id: str) -> Cluster | None:
        return self._by_id.get(cluster_id)

    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def ancestors(self, cluster_id: str) -> tuple[str, ...]:
        """Parent, grandparent, ... of a cluster (load_gazetteer has ruled out cycles)."""
        chain = []
        parent = self._by_id[cluster_id].parent
        while parent:
            chain.append(parent)
            parent = self._by_id[parent].parent
        return tuple(chain)

    def rows(self) -> list[dict[str, Any]]:
        """Rows for the `clusters` table in SQLite."""
        return [
            {
                "id": c.id,
                "name": c.name,
                "name_zh": c.name_zh,
                "province": c.province,
                "city": c.city,
                "specialty": ", ".join(c.specialty),
                "aliases": json.dumps(list(c.aliases), ensure_ascii=False),
                "parent": c.parent,
                "lat": c.lat,
                "lon": c.lon,
            }
            for c in self
        ]


def load_gazetteer(extra: Iterable[Mapping[str, Any]] = (), origin: str = "<config>") -> Gazetteer:
    """The packaged gazetteer with the user's `[[clusters]]` entries from `origin` applied."""
    clusters = dict(_packaged())
    blame: dict[str, str] = {}  # cluster id -> the user entry that last touched it
    seen: dict[str, int] = {}
    parent_given: set[str] = set()
    for number, entry in enumerate(extra, start=1):
        where = f"{origin}: [[clusters]] #{number}"
        if not isinstance(entry, Mapping):
            raise GazetteerError(f"{where}: must be a table with at least an 'id' key")
        values, enabled, remove = _validate(entry, where, config=True)
        cluster_id = values["id"]
        where = f"{where} (id {cluster_id!r})"
        if cluster_id in seen:
            raise GazetteerError(f"{where}: id already given by [[clusters]] #{seen[cluster_id]}; merge the two entries")
        seen[cluster_id] = number
        blame[cluster_id] = where
        if "parent" in values:
            parent_given.add(cluster_id)
        if not enabled:
            if clusters.pop(cluster_id, None) is not None:
                log.info("%s: cluster %r disabled", origin, cluster_id)
            continue
        if cluster_id in clusters:
            clusters[cluster_id] = _override(clusters[cluster_id], values, remove, where)
        else:
            clusters[cluster_id] = _new_cluster(values, remove, where)
    _relink_orphans(clusters, blame, parent_given, origin)
    _check_names(clusters, blame)
    return Gazetteer(clusters.values())


@functools.cache
def _packaged() -> tuple[tuple[str, Cluster], ...]:
    text = resources.files("loomwatch.pipelines").joinpath("data/clusters.toml").read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GazetteerError(f"{PACKAGE_ORIGIN}: not valid TOML: {exc}") from None
    unknown = set(data) - {"cluster"}
    if unknown:
        raise GazetteerError(f"{PACKAGE_ORIGIN}: unknown top-level key {sorted(unknown)[0]!r}; entries are [[cluster]] tables")
    clusters: dict[str, Cluster] = {}
    for number, entry in enumerate(data.get("cluster", []), start=1):
        where = f"{PACKAGE_ORIGIN}: [[cluster]] #{number}"
        values, _, _ = _validate(entry, where, config=False)
        where = f"{where} (id {values['id']!r})"
        if values["id"] in clusters:
            raise GazetteerError(f"{where}: duplicate id; ids must be unique")
        clusters[values["id"]] = _new_cluster(values, (), where)
    _relink_orphans(clusters, {}, set(), PACKAGE_ORIGIN)
    _check_names(clusters, {cid: f"{PACKAGE_ORIGIN}: [[cluster]] id {cid!r}" for cid in clusters})
    return tuple(clusters.items())


def _validate(entry: Mapping[str, Any], where: str, config: bool) -> tuple[dict[str, Any], bool, tuple[str, ...]]:
    """Check one entry's keys and value types; return (values, enabled, remove_aliases)."""
    cluster_id = entry.get("id")
    if "id" not in entry:
        raise GazetteerError(f"{where}: key 'id' is missing; every entry needs an id, a slug such as 'shengze'")
    if not isinstance(cluster_id, str) or not _SLUG.match(cluster_id):
        raise GazetteerError(
            f"{where}: key 'id' must be a slug of lower-case letters, digits and '-' (such as 'shengze'); got {cluster_id!r}"
        )
    where = f"{where} (id {cluster_id!r})"
    allowed = TEXT_KEYS + LIST_KEYS + PLACE_KEYS + (CONFIG_KEYS if config else ())
    values: dict[str, Any] = {}
    for key, value in entry.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(allowed)}"
            raise GazetteerError(f"{where}: unknown key {key!r}; {hint}")
        if key in TEXT_KEYS:
            if not isinstance(value, str):
                raise GazetteerError(f'{where}: key {key!r} must be a string, e.g. {key} = "..."; got {value!r}')
            values[key] = value.strip()
        elif key in LIST_KEYS or key == "remove_aliases":
            if isinstance(value, str):
                raise GazetteerError(f'{where}: key {key!r} must be a list of strings; write {key} = ["{value}"]')
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise GazetteerError(f'{where}: key {key!r} must be a list of non-empty strings, e.g. {key} = ["a", "b"]')
            values[key] = tuple(v.strip() for v in value)
        elif key in PLACE_KEYS:
            low, high = PLACE_RANGE[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise GazetteerError(f"{where}: key {key!r} must be a number of degrees from {low:g} to {high:g} "
                                     f"(e.g. lat = 30.0, lon = 120.5); got {value!r}")
            values[key] = float(value)
        elif key == "enabled" and not isinstance(value, bool):
            raise GazetteerError(f"{where}: key 'enabled' must be true or false; got {value!r}")
    for key in ("name", "name_zh"):
        if key in values and not values[key]:
            raise GazetteerError(f"{where}: key {key!r} must not be empty")
    for key in ("aliases", "ambiguous", "firms", "exclude"):
        for name in values.get(key, ()):
            if len(fold(name.strip("*"))) < 2:
                raise GazetteerError(f"{where}: key {key!r}: {name!r} is too short to match reliably; use the full name")
    if values.get("parent") == cluster_id:
        raise GazetteerError(f"{where}: key 'parent' names the cluster itself; give the enclosing cluster's id or \"\"")
    return values, entry.get("enabled", True), values.pop("remove_aliases", ())


def _new_cluster(values: dict[str, Any], remove: tuple[str, ...], where: str) -> Cluster:
    for key, what in (("name", "its English name"), ("name_zh", "its Chinese name")):
        if key not in values:
            raise GazetteerError(f"{where}: a new cluster needs key {key!r} ({what}); or fix the id if you meant to override a packaged cluster")
    if remove:
        raise GazetteerError(f"{where}: key 'remove_aliases' only applies to packaged clusters; leave the names out of 'aliases' instead")
    if ("lat" in values) != ("lon" in values):
        raise GazetteerError(f"{where}: give both 'lat' and 'lon' (the cluster's place on the map), or neither")
    values = {**values, "parent": values.get("parent") or None}
    return Cluster(**values)


def _override(cluster: Cluster, values: dict[str, Any], remove: tuple[str, ...], where: str) -> Cluster:
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key in ADDITIVE_KEYS:
            value = tuple(dict.fromkeys(getattr(cluster, key) + value))
        elif key == "parent":
            value = value or None
        changes[key] = value
    if remove:
        aliases = changes.get("aliases", cluster.aliases)
        folded = {fold(a) for a in remove}
        missing = [r for r in remove if fold(r) not in {fold(a) for a in aliases}]
        if missing:
            raise GazetteerError(
                f"{where}: key 'remove_aliases': {missing[0]!r} is not an alias of this cluster; its aliases are {', '.join(aliases)}"
            )
        changes["aliases"] = tuple(a for a in aliases if fold(a) not in folded)
    return replace(cluster, **changes)


def _relink_orphans(clusters: dict[str, Cluster], blame: Mapping[str, str], parent_given: set[str], origin: str) -> None:
    """Check parents exist and form no cycle; children of a disabled cluster move up."""
    packaged = dict(_packaged()) if origin != PACKAGE_ORIGIN else {}
    for cluster_id, cluster in list(clusters.items()):
        parent = cluster.parent
        # A parent missing because the user disabled it: climb to the next one that exists.
        while parent and parent not in clusters and parent in packaged and cluster_id not in parent_given:
            parent = packaged[parent].parent
        if parent and parent not in clusters:
            where = blame.get(cluster_id, f"{origin}: [[cluster]] id {cluster_id!r}")
            if parent in packaged:
                raise GazetteerError(f"{where}: key 'parent': cluster {parent!r} is disabled; give another parent or \"\"")
            close = difflib.get_close_matches(parent, list(clusters), n=1)
            hint = f"did you mean {close[0]!r}?" if close else 'give an existing id or ""'
            raise GazetteerError(f"{where}: key 'parent': unknown cluster id {parent!r}; {hint}")
        if parent != cluster.parent:
            clusters[cluster_id] = replace(cluster, parent=parent)
    for cluster_id in clusters:
        chain = [cluster_id]
        parent = clusters[cluster_id].parent
        while parent:
            if parent in chain:
                where = blame.get(cluster_id, f"{origin}: [[cluster]] id {cluster_id!r}")
                loop = " -> ".join([*chain, parent])
                raise GazetteerError(f"{where}: key 'parent' makes a cycle ({loop}); a cluster cannot enclose its own ancestor")
            chain.append(parent)
            parent = clusters[parent].parent


def _check_names(clusters: Mapping[str, Cluster], blame: Mapping[str, str]) -> None:
    """A name (or ambiguous name, or firm) must point at one cluster, or tags would be guesses."""
    owner: dict[str, str] = {}
    for cluster in clusters.values():
        # The tagger also matches each name's Traditional and Japanese spellings (柯橋 for 柯桥).
        for name, spelling in ((n, s) for n in (*cluster.names(), *cluster.ambiguous, *cluster.firms) for s in (n, *variants(n))):
            key = fold(spelling)
            other = owner.setdefault(key, cluster.id)
            if other == cluster.id:
                continue
            # Blame the entry the user wrote, if either side is one.
            culprit, victim = (cluster.id, other) if cluster.id in blame or other not in blame else (other, cluster.id)
            where = blame.get(culprit, f"{PACKAGE_ORIGIN}: [[cluster]] id {culprit!r}")
            raise GazetteerError(
                f"{where}: name {name!r} also names cluster {victim!r}; a name must belong to one cluster: "
                f"drop it here, or remove it there with [[clusters]] id = {victim!r}, remove_aliases = [{name!r}]"
            )


PROVINCES_ZH = {
    "安徽": "Anhui", "北京": "Beijing", "重庆": "Chongqing", "福建": "Fujian", "甘肃": "Gansu", "广东": "Guangdong",
    "广西": "Guangxi", "贵州": "Guizhou", "海南": "Hainan", "河北": "Hebei", "黑龙江": "Heilongjiang", "河南": "Henan",
    "湖北": "Hubei", "湖南": "Hunan", "内蒙古": "Inner Mongolia", "江苏": "Jiangsu", "江西": "Jiangxi", "吉林": "Jilin",
    "辽宁": "Liaoning", "宁夏": "Ningxia", "青海": "Qinghai", "陕西": "Shaanxi", "山东": "Shandong", "上海": "Shanghai",
    "山西": "Shanxi", "四川": "Sichuan", "天津": "Tianjin", "西藏": "Tibet", "新疆": "Xinjiang", "云南": "Yunnan",
    "浙江": "Zhejiang",
}


def province_name(given: str, known: Iterable[str]) -> str | None:
    """The province among `known` (English names) that `given` names, in English or Chinese (浙江, 浙江省)."""
    given = given.strip()
    english = PROVINCES_ZH.get(given.removesuffix("省").removesuffix("市"), given)
    return next((p for p in known if p.casefold() == english.casefold()), None)
