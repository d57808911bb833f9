"""Relevance and cluster tagging: is an article about the textile industry, and which clusters?

`Tagger` is built once from a `Gazetteer` and then tags many articles. Each article
costs two passes of Aho-Corasick automata over the folded title and text: one for the
textile vocabulary (relevance and local context) and the words that mark offices,
companies, credits and travel guides, one for cluster names. Both hold every Chinese word and name in
its Simplified, Traditional and Japanese spellings.

Relevance (0..1) weighs textile vocabulary in the title and its density in the body,
so that a marathon story that calls Nantong "a home-textile city" once stays below
the threshold; the words of travel guides, hotel reviews and place profiles (景区, 门票,
常住人口, "front desk") count against it, so that a guide to a cluster town that describes
its cloth market among its sights, or a review that praises a hotel's linen, is not
textile news either. A page stored as one short line and no title kept only its
headline, and is read as one. Off-topic articles get no cluster tags at all.

A cluster mention counts more in the title, in the lead and with textile words nearby, and
less near the end (but not in the last sentences of an excerpt cut off mid-sentence, with
textile words in its own sentence), after a "Related reading" marker and as a company's address
("Hangzhou-based", "based in Suzhou", 宁波某某有限公司; firms given as examples, 品牌如宁波博洋等,
"companies including Erdos"), a meeting's venue (会议在萧山召开), the home of a fair's visitors
("buyers from Humen"), a place named to compare with ("cities like Shantou", 与柯桥相比), one in
brackets that glosses where a thing is made ("socks (Zhuji)") or a neighbour in a sentence that
says what a place borders or lies near (西与杭州相依, "60 km from Hangzhou"). A cluster named
once, near the end of a page that has said other things first and away from other clusters'
names, is an aside (a price quoted from its market, where recruiters went) and is not tagged
unless a source hint names it.
Words that call places clusters (产业集群,
"industrial base", 産地) are context like textile words. Ambiguous names ("Datang") and pinyin
names split into syllables ("Ke-qiao", "Zhang Jia Gang", "Zhi Li Town") count only with
textile words or other cluster names nearby, and a big city's name (广州, "Dongguan": a
prefecture whose own name is ambiguous) only with textile words in its sentence, since it so
often just says where a place lies. A page that lists clusters line by line ("Key cities:
Guangzhou, Shenzhen", "3. Fujian Shishi kids' wear base: ...", 广东省东莞市：) is about each of them:
a name in a list line's first sentence counts with the textile words of its line or the next,
and without the decay near the end, since a list runs to its end; so does a name that opens a
numbered item with textile words ("7. 湖北省仙桃市 中国非织造布产业名城"), in a roll of such items
(at a line's start, or mid-line in a list that lost its line breaks).
Names that follow one another closely in one sentence ("They are Yaqian Town, Xiaoshan; Zhouquan
Town, Tongxiang; ...") share the textile context any of them has, when they name three clusters
or more. An ambiguous name
qualified by a place it does not lie in is that place's namesake (太仓市沙溪镇, "Shaxi Town,
Taicang": not Zhongshan's Shaxi). A big local firm's name ("Anta" for Jinjiang) counts like
an ambiguous name and half as much, like an address; excluded phrases ("Jinjiang Inn"), a
place's facilities, events and products
("Nantong airport", "Humen Bridge", 南通大学, 绍兴黄酒), government bodies ("Ningbo city hall",
宁波市经信局; but not a leader's title, 石狮市委书记), datelines (at a line's start), credit lines, a firm's contact
lines ("Add: ... Foshan City") and a site's bar of popular searches atop the page ("热搜: 盛泽
丝路柯桥") never count (but a line that holds only places' offices, 盛泽镇人民政府 桃源镇人民政府,
is a roll of awards and lists its places), and a cluster named only in firms' names and
addresses ("Suzhou Lanfeng Textile Co., Ltd") is not tagged: that is where the firms are
registered. A place a market report quotes a price from ("prices in Qianqing", 桐乡方面…9900元/吨)
counts like an address. A body's name reaches over no conjunction, list comma or verb (in 石狮和晋江市政府 only
晋江 is the body's). A cluster is tagged when its score is high enough and not far below the
best cluster's (a cluster named in passing is not what the story is about; a big city named
with its towns does not set that bar, nor is it tagged in place of its own town that misses
the bar, nor is any place tagged in place of its town named more than once); the ancestors of a tagged cluster (Shaoxing for Keqiao) are then folded into it,
so the story is tagged once. Source hints raise the score of their clusters (and their
children) that the text mentions; they never add a cluster the text does not name. Matching
is on UTF-8 bytes of the folded text: Latin names need word boundaries (a footnote number,
"Guangzhou1", does not join the word; a case ending does for a name that needs no context:
"Shaoxings", "v Humenu"), Chinese names match as substrings, and so do the Korean and Russian
names of clusters (커차오, Кэцяо); pinyin printed in brackets after characters (織(zhī)里, as
mirror sites do) is dropped first.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick

from loomwatch.pipelines.gazetteer import Cluster, Gazetteer, fold, load_gazetteer
from loomwatch.pipelines.hanzi import pinyin_readings, variants, without_pinyin_notes
from loomwatch.pipelines.settings import PipelineSettings

log = logging.getLogger(__name__)

# Textile vocabulary and its weight as evidence. Weight 0 marks phrases that contain a
# textile word but are not about textiles ("Silk Road", "optical fibre"): the automaton
# prefers the longest match, so they shadow the word inside them. Chinese words are
# written in Simplified characters; their Traditional and Japanese spellings are matched
# too (hanzi.variants). A "*" at either end of a Latin word drops the word boundary
# there, for inflections and compounds ("textil*": Textilien; "*kleidung": Bekleidung).
TERMS: dict[str, float] = {
    # English
    "textile": 1.0, "textiles": 1.0, "home textile": 1.2, "home textiles": 1.2,
    "apparel": 1.0, "garment": 1.0, "garments": 1.0, "clothing": 0.8, "clothes": 0.7,
    "fabric": 1.0, "fabrics": 1.0, "cloth": 0.7, "yarn": 1.0, "yarns": 1.0,
    "spinning": 0.8, "spinning mill": 1.0, "spindles": 0.8, "weaving": 0.9, "woven": 0.7,
    "loom": 0.8, "looms": 0.8, "knitting": 1.0, "knitted": 1.0, "knitwear": 1.0,
    "warp-knitted": 1.0, "warp knitting": 1.0, "hosiery": 1.0, "sock": 0.8, "socks": 0.9,
    "denim": 1.0, "jeans": 0.9, "silk": 0.8, "cashmere": 1.0, "sweater": 0.9, "sweaters": 0.9,
    # Sericulture is the raw side of silk, as cotton growing is of cotton; a lone "cocoon" is
    # as often a figure of speech.
    "sericulture": 0.8, "silkworm": 0.6, "silkworms": 0.6, "cocoon": 0.3, "cocoons": 0.6,
    "woollen": 0.8, "woolen": 0.8, "wool": 0.6, "cotton": 0.7, "polyester": 1.0, "nylon": 0.7,
    "spandex": 1.0, "viscose": 1.0, "chemical fibre": 1.0, "chemical fiber": 1.0,
    "chemical fibres": 1.0, "chemical fibers": 1.0, "fibre": 0.6, "fiber": 0.6,
    "fibres": 0.6, "fibers": 0.6, "printing and dyeing": 1.2, "dyeing": 1.0, "dyed": 0.6,
    "dyehouse": 1.0, "dyehouses": 1.0, "bedding": 0.9, "bed linen": 0.9, "duvet": 0.8,
    "duvets": 0.8, "quilt": 0.6, "quilts": 0.6, "pillowcases": 0.8, "curtains": 0.5,
    "towel": 0.6, "towels": 0.7, "embroidery": 0.8, "underwear": 0.9, "lingerie": 1.0,
    "swimwear": 1.0, "sportswear": 1.0, "menswear": 1.0, "womenswear": 1.0,
    "women's wear": 1.0, "children's wear": 1.0, "childrenswear": 1.0, "kidswear": 1.0, "kids' wear": 1.0, "kids wear": 1.0,
    "babywear": 1.0, "baby wear": 0.9, "infant wear": 1.0,
    "casual wear": 1.0, "outerwear": 1.0, "down jacket": 0.9, "down jackets": 0.9,
    "down garment": 1.0, "down garments": 1.0,
    "wedding dress": 0.9, "wedding dresses": 0.9, "shirts": 0.5, "trousers": 0.6,
    # The specialties clusters.toml lists that no word above names: Caoxian's hanfu and stage
    # costumes, the ramie of Fenyi and Xian'an, home wear. Not "blankets" or "pyjamas": a
    # hotel room has them; not "bras": French for arms.
    "hanfu": 1.0, "horse-face skirt": 1.0, "horse-faced skirt": 1.0, "horse-face skirts": 1.0,
    "horse-faced skirts": 1.0, "mamianqun": 1.0, "performance costumes": 1.0, "stage costumes": 0.9,
    "skirt": 0.4, "skirts": 0.5, "ramie": 0.9,
    "homewear": 0.8, "t-shirts": 0.6,
    "neckties": 0.9, "gloves": 0.4, "nonwoven": 1.0, "nonwovens": 1.0, "non-woven": 1.0,
    "jacquard": 1.0, "fashion week": 0.8, "fashion": 0.4, "sewing": 0.8, "tailoring": 0.6,
    "dress": 0.3, "dresses": 0.5, "cntac": 1.0, "clothing industry": 1.0,
    "scarf": 0.6, "scarves": 0.7, "hats": 0.6, "winter hats": 0.9, "caps": 0.2,
    "footwear": 0.8, "shoes": 0.5, "shoe": 0.4, "shoemaking": 0.8, "shoe-making": 0.8, "shoemakers": 0.7, "sneakers": 0.7, "sneaker": 0.6, "sports shoes": 0.8,
    "leather": 0.5, "fur": 0.3, "plush toys": 0.5, "cotton futures": 1.0, "workwear": 0.8,
    # Not about textiles although they contain a textile word.
    "silk road": 0.0, "maritime silk road": 0.0, "optical fibre": 0.0, "optical fiber": 0.0,
    "fibre optic": 0.0, "fiber optic": 0.0, "fibre-optic": 0.0, "fiber-optic": 0.0,
    "fibre broadband": 0.0, "fiber broadband": 0.0, "dietary fibre": 0.0, "dietary fiber": 0.0,
    "social fabric": 0.0, "fabric of society": 0.0, "close-knit": 0.0, "tightly knit": 0.0,
    "cotton candy": 0.0, "dress code": 0.0, "dress rehearsal": 0.0, "timely fashion": 0.0,
    "silk stocking": 0.0, "leather seats": 0.0, "fur seal": 0.0, "baseball caps": 0.2,
    # Chinese (Simplified)
    "纺织": 1.0, "纺织品": 1.0, "服装": 1.0, "服饰": 1.0, "鞋服": 0.8, "成衣": 1.0, "制衣": 1.0,
    "时装": 0.9, "女装": 1.0, "男装": 1.0, "童装": 1.0, "内衣": 0.9, "泳装": 1.0, "休闲装": 1.0,
    "运动服": 0.9, "西裤": 1.0, "衬衫": 0.9, "毛衫": 1.0, "羊毛衫": 1.0, "毛衣": 0.9, "针织": 1.0, "经编": 1.0,
    "纬编": 1.0, "织造": 1.0, "织机": 0.9, "纺纱": 1.0, "纱线": 1.0, "棉纺": 1.0, "毛纺": 1.0,
    "麻纺": 1.0, "坯布": 1.0, "布匹": 1.0, "布料": 1.0, "面料": 1.0, "面辅料": 1.0, "辅料": 0.4,
    "家纺": 1.2, "床上用品": 1.0, "床品": 0.9, "窗帘": 0.5, "布艺": 0.9, "毛巾": 0.6,
    "印染": 1.2, "染整": 1.2, "印花": 0.7, "染色": 0.5, "丝绸": 1.0, "真丝": 1.0, "蚕丝": 0.9,
    "缫丝": 0.9, "化纤": 1.0, "化学纤维": 1.0, "纤维": 0.6, "涤纶": 1.0, "锦纶": 1.0, "氨纶": 1.0,
    "粘胶": 0.8, "无纺布": 1.0, "非织造": 1.0, "轻纺": 1.0, "袜业": 1.0, "袜子": 0.9, "棉袜": 1.0,
    # The polyester chain's market notes: filament, staple, texturing mills (加弹, not 增加弹性).
    "涤丝": 1.0, "短纤": 0.8, "加弹机": 0.9, "加弹厂": 0.9,
    "袜": 0.7, "牛仔裤": 1.0, "牛仔布": 1.0, "牛仔服装": 1.0, "牛仔": 0.5, "羊绒": 1.0,
    "羽绒": 0.7, "羽绒服": 0.9, "皮草": 0.5, "领带": 0.8, "手套": 0.3, "婚纱": 0.9, "礼服": 0.6, "刺绣": 0.8,
    "缝纫": 0.9, "服企": 1.0, "纺企": 1.0, "纺机": 0.9, "棉花": 0.5,
    "绗缝": 1.0, "色织": 1.0, "呢绒": 1.0, "棉纱": 1.0, "棉布": 1.0, "郑棉": 1.0, "美棉": 1.0,
    "棉价": 0.8, "皮棉": 0.9, "籽棉": 0.7, "轧花": 0.8,
    "洗水": 0.6, "围巾": 0.6, "帽子": 0.6, "鞋": 0.5, "鞋业": 0.8, "运动鞋": 0.7, "制鞋": 0.7,
    "皮革": 0.4, "毛绒玩具": 0.5, "羊毛": 0.6, "漂染": 1.0, "帽业": 1.0, "制帽": 0.8,
    "汉服": 1.0, "马面裙": 1.0, "演出服": 1.0, "苎麻": 0.9, "文胸": 0.9,
    "家居服": 0.9, "连衣裙": 0.9,
    # The silk trade and its raw side in the words of local histories (绸市, 织绸), as in English.
    "丝织": 1.0, "绸缎": 1.0, "织绸": 1.0, "绸市": 1.0, "蚕桑": 0.8, "桑蚕": 0.8, "养蚕": 0.6, "蚕茧": 0.6,
    # A silk fabric named by its place (濮绸, 杭绸, 湖绸); not the idiom 未雨绸缪 ("to prepare in time")
    # nor the red cloth or ribbon of an unveiling (揭开红绸, 剪彩绸带).
    "绸": 0.5, "绸缪": 0.0, "红绸": 0.0, "绸带": 0.0,
    "丝绸之路": 0.0, "膳食纤维": 0.0, "光纤": 0.0, "染色体": 0.0,
    # French, German, Spanish, Portuguese, Italian, Danish and its neighbours, Bulgarian
    # and Russian, Malay: a few words each, for the textile pages our sources publish in
    # other languages.
    "textil*": 1.0, "habillement": 1.0, "vêtement*": 1.0, "prêt-à-porter": 1.0, "tissu": 0.8,
    "tissus": 0.9, "tricot*": 0.9, "bonneterie": 1.0, "filature*": 0.9, "tissage*": 1.0, "étoffe*": 0.9,
    "confection": 0.8, "teinturerie*": 0.9, "robes": 0.5, "manteaux": 0.5, "doudoune*": 0.7,
    "chaussettes": 0.9,
    "chaussures": 0.5, "chapeaux": 0.6, "écharpes": 0.6, "bonnets": 0.6, "gants": 0.3, "soie": 0.7, "coton": 0.7, "laine": 0.6, "cachemire": 1.0,
    "*kleidung": 1.0, "bekleidung*": 1.0, "stoffe": 0.6, "garne": 0.9, "strickwaren": 1.0,
    "weberei*": 1.0, "spinnerei*": 1.0, "färberei*": 0.9, "webmaschine*": 1.0, "strickmaschine*": 1.0,
    "stoffmarkt*": 1.0, "baumwollstoff*": 0.9, "polyesterstoff*": 0.9, "bettwäsche": 0.8, "modeindustrie": 0.8,
    "*mützen": 0.7, "*mütze": 0.6, "socken": 0.9, "seide": 0.7,
    "baumwolle": 0.7, "kaschmir": 1.0, "*textilien": 1.0, "strickerei*": 1.0, "näherei*": 0.9, "nähbetrieb*": 0.9,
    "*strümpfe": 0.9, "pullover": 0.8, "webstühle": 0.9, "kleider": 0.7,
    "couture": 0.6, "chemises": 0.6, "lainage": 0.9, "teinture": 0.8,
    "ropa": 0.8, "prendas": 0.7, "confección": 0.9, "indumentaria": 1.0, "vestimenta": 0.8,
    "tejido": 0.8, "tejidos": 0.9, "telas": 0.8, "hilados": 1.0, "algodón": 0.7, "calcetines": 0.9,
    "calzado": 0.5, "gorros": 0.6, "sombreros": 0.6, "cachemira": 1.0, "mezclilla": 1.0, "suéteres": 0.9,
    "jerséis": 0.9, "hilo": 0.5, "tintorería*": 0.8, "costura": 0.7, "maquila*": 0.8, "hilandería*": 1.0,
    "abrigos": 0.5, "bufandas": 0.6, "guantes": 0.3,
    # Silk and silk farming in Spanish and Portuguese: "seda" with its article or preposition, since
    # alone it is also Italian for "calms" ("la polizia seda la rissa").
    "de seda": 0.7, "da seda": 0.7, "la seda": 0.7, "sedas": 0.7, "sericultura": 0.8, "sericicultura": 0.8,
    # The fashion industry by name, as "modeindustrie" in German: "moda" alone is only a trend.
    "industria de la moda": 0.9, "negocio de la moda": 0.9, "sector de la moda": 0.9,
    "indústria da moda": 0.9, "setor da moda": 0.9, "industria della moda": 0.9, "industrie de la mode": 0.9,
    "têxtil": 1.0, "têxteis": 1.0, "vestuário": 1.0, "roupa": 0.8, "roupas": 0.8,
    "confecção": 1.0, "confecções": 1.0, "tecido": 0.8, "tecidos": 0.9, "fiação": 0.9,
    "algodão": 0.7, "meias": 0.5, "calçado": 0.5, "chapéus": 0.6, "malha": 0.7, "malharia*": 1.0,
    "vestidos": 0.6, "tinturaria": 0.8, "cachecóis": 0.6, "luvas": 0.3,
    "tessil*": 1.0, "abbigliamento": 1.0, "tessuti": 1.0, "tessuto": 0.9, "filati": 0.9,
    "maglieria": 1.0, "pronto moda": 1.0, "moda": 0.3, "calze": 0.8, "cappelli": 0.6,
    "tekstil*": 1.0, "tøj": 0.8, "beklædning": 1.0, "striktøj": 1.0, "strikket": 0.9, "garn": 0.7,
    "tørklæde*": 0.6, "strikkede": 0.9, "*handsker": 0.4, "hatte": 0.6, "huer": 0.5, "kläder": 0.8, "klær": 0.8,
    "текстил*": 1.0, "облекло": 1.0, "дрехи": 0.8, "трикотаж*": 1.0, "прежда": 0.9, "пряжа": 0.9,
    "шалове": 0.6, "ръкавици": 0.4, "плетен*": 0.9, "шапки": 0.6, "одежд*": 1.0, "тъкан*": 0.9, "ткан*": 0.8,
    "hüte": 0.6, "schals": 0.6, "*handschuhe": 0.4, "*kappen": 0.5,
    "pakaian": 0.8, "kaus kaki": 1.0, "kaos kaki": 1.0, "stoking": 0.8, "benang": 0.7, "garmen": 1.0,
    # What the garment trade is in Spanish, Portuguese and Italian beyond the word for clothes:
    # its sewing machines, fast fashion and the everyday garments, and shoes in Italian.
    "máquinas de coser": 0.9, "máquinas de costura": 0.9, "macchine da cucire": 0.9, "moda rápida": 0.8,
    "camisetas": 0.6, "pantalones": 0.6, "blusas": 0.6, "trajes de baño": 1.0, "calças": 0.6,
    "magliette": 0.6, "pantaloni": 0.6, "calzatur*": 0.8, "scarpe": 0.5,
    # Polish, Lithuanian and Latvian, Czech, Finnish and Estonian, Greek, Vietnamese: the word for
    # textiles and a few for cloth, clothes and socks, for the machine-translated copies trade sites publish in every language.
    "tekstyl*": 1.0, "odzież*": 1.0, "włókienn*": 1.0, "tkanin*": 0.9, "dzianin*": 1.0, "przędz*": 0.9,
    "skarpet*": 0.9, "pończoch*": 0.9, "drabuž*": 0.9, "audin*": 0.8, "kojinė*": 0.9, "kojinių": 0.9, "kojines": 0.9,
    "apģērb*": 1.0, "zeķ*": 0.8,
    "oděv*": 1.0, "tekstiil*": 1.0, "vaatte*": 0.8, "kankai*": 0.8,
    "κλωστοϋφαντουργ*": 1.0, "υφάσμα*": 0.9, "ρούχα": 0.8, "ένδυση*": 1.0,
    "dệt may": 1.0, "may mặc": 1.0, "hàng dệt": 1.0, "quần áo": 0.8,
    "швейн*": 1.0, "хлопчатобумаж*": 1.0,
    # Korean (Hangul): textiles (섬유, 방직 from 紡織), fabric, clothing and garment making. Not
    # 니트 (inside 유니트, "unit") nor 원단 (also New Year's Day); fibre in food, a cable or glass is none.
    # Weaving (직조, 織造) only in its compounds: alone it is inside 구직+조건 ("job-seeking terms").
    "섬유": 0.8, "섬유산업": 1.0, "방직": 1.0, "방적": 1.0, "직물": 1.0, "의류": 1.0, "의복": 0.8,
    "봉제": 1.0, "아동복": 1.0, "여성복": 1.0, "남성복": 1.0, "양말": 0.9, "청바지": 0.9, "날염": 1.0,
    "스웨터": 0.9, "속옷": 0.9, "직조 산업": 1.0, "직조업": 1.0, "직조기": 0.9, "패션": 0.4, "식이섬유": 0.0, "섬유질": 0.0, "광섬유": 0.0, "유리섬유": 0.0,
    # Japanese
    "繊維": 1.0, "紡績": 1.0, "衣料": 1.0, "衣類": 0.9, "衣服": 0.9, "アパレル": 1.0, "縫製": 1.0,
    "織物": 1.0, "生地": 0.7, "ニット": 1.0, "セーター": 0.9, "靴下": 0.9, "毛皮": 0.5, "シルク": 0.8,
    "デニム": 1.0, "ジーンズ": 0.9, "カシミヤ": 1.0, "下着": 0.8, "寝具": 0.8, "タオル": 0.6,
    "子供服": 1.0, "婦人服": 1.0, "紳士服": 1.0, "ファッション": 0.4, "ウール": 0.6,
    "テキスタイル": 1.0, "ファブリック": 0.8, "ソックス": 0.9, "ジャカード": 1.0, "捺染": 1.0, "染織": 1.0,
    "ぬいぐるみ": 0.5, "寝装": 0.9, "肌着": 0.8, "作業服": 0.8, "マフラー": 0.6, "手袋": 0.3,
    "スポーツウェア": 1.0, "フットウェア": 0.8, "シューズ": 0.5, "スニーカー": 0.7, "靴": 0.5,
    "合繊": 1.0, "ポリエステル": 1.0, "ナイロン": 0.7, "レーヨン": 1.0, "紡糸": 0.8, "綿糸": 1.0,
    "綿布": 1.0, "綿花": 0.5, "織布": 1.0, "編み物": 0.9, "不織布": 1.0, "製糸": 0.9, "生糸": 0.9,
    "水着": 1.0, "ランジェリー": 1.0, "アウター": 0.8, "ダウンジャケット": 0.9, "ベビー服": 1.0,
    "ウェディングドレス": 0.9, "シャツ": 0.5, "ネクタイ": 0.9, "ストッキング": 0.9, "スカーフ": 0.6,
    "レザー": 0.5, "カーテン": 0.5,
}

# Markers of the page furniture that follows the article: headlines of other stories.
# Mentions after them barely count, and their words are no evidence of relevance.
TAIL_MARKERS = (
    "related reading", "related articles", "related news", "related stories", "read the next article",
    "recommended reading", "you may also like", "more news", "previous article", "next article",
    # A site's keyword cloud ("Top keywords", then one search term a line, "Shengze Silk"
    # among cotton prices): the names in it are the site's, not the article's.
    "top keywords", "hot keywords", "popular keywords", "related keywords", "hot tags", "popular tags",
    "相关阅读", "相关文章", "相关新闻", "延伸阅读", "推荐阅读", "上一篇", "下一篇", "热门文章",
    "热门关键词", "相关关键词", "热门标签",
)
TAIL_MIN_POSITION = 0.4  # a marker earlier than this share of the text is body, not furniture

# Words that say the places beside them are industry clusters: "the four clusters visited
# were Haining, ...", 产业集群, 産地. They are context for a name, like textile words,
# but no evidence of relevance: clusters of other industries use them too. Not "capital
# of", "hub" or 名城: "Hangzhou, capital of Zhejiang" and 历史文化名城 say nothing of industry.
CLUSTER_WORDS = (
    "cluster", "clusters", "industrial cluster", "industrial clusters", "industrial base", "production base",
    "industrial park", "*cluster", "*clustern", "pôle", "pôles", "grappe", "grappes", "conglomerado", "conglomerados",
    "产业集群", "集群", "产业基地", "生产基地", "产业园", "工业园", "産地", "産業集積", "クラスター",
)

# Words of travel guides, hotel reviews and place profiles (景区, 门票, 常住人口, "scenic
# spot", "front desk"): a page about a cluster town that describes its trade among its
# sights, hotels and population, or a review that praises a hotel's towels and linen, is
# not textile news. Each distinct word counts once against relevance.
PROFILE_WORDS = (
    "scenic spot", "scenic spots", "scenic area", "tourist attraction", "tourist attractions", "sightseeing",
    "itinerary", "admission fee", "opening hours", "travel guide", "homestay", "homestays", "must-see",
    "population of", "square kilometers", "square kilometres",
    "check-in", "check-out", "front desk", "room service", "breakfast buffet", "hotel staff", "our stay",
    "景区", "风景区", "景点", "旅游景点", "门票", "开放时间", "民宿", "游玩", "前台", "退房", "客房",
    "常住人口", "户籍人口", "总人口", "行政村", "北纬", "东经", "气候", "下辖", "代管", "文物保护单位", "4a级", "5a级",
    # Question pages ("织里是哪个省哪个市"): where a place lies, not what it makes.
    "哪个省", "哪个市", "哪个县", "哪个区",
    # The fact boxes of encyclopedia pages in other languages (a town's postcode, density and time
    # zone), which mirror sites copy in every language: a town's entry, not its trade's news.
    "code postal", "démographie", "hab./km2", "hab./km²", "postleitzahl", "einwohnerdichte", "einw./km²",
    "código postal", "densidad de población", "densidade populacional", "huso horario", "fuso horário",
    "codice postale", "prefisso telefonico", "fuso orario", "ab./km²", "郵便番号", "人口密度",
)
PROFILE_FACTOR = 0.5  # evidence taken away per distinct profile word, from the second on
PROFILE_CAP = 3.0

# Relevance: evidence E -> relevance 1 - exp(-E).
HEADLINE_CHARS = 40  # a lone line this short, with no title, is a headline (a page that kept only it)
TITLE_TERM_FACTOR = 0.9  # per unit of title vocabulary weight, capped at TITLE_TERM_CAP
TITLE_TERM_CAP = 2.0
DENSITY_FACTOR = 0.35  # per weighted textile word per 100 words of body
COUNT_FACTOR = 0.12  # per weighted textile word, capped at COUNT_CAP: long articles need not be dense
COUNT_CAP = 8.0
SAME_TERM_CAP = 4  # a word repeated more often adds nothing: keyword-stuffed pages
MIN_UNITS = 100  # short texts are scored as if 100 words long, so one word is not "dense"

# Cluster scores: raw evidence R -> score 1 - exp(-R).
TITLE_MENTION = 1.2
BODY_MENTION = 0.4
NO_CONTEXT = 0.5  # body mention without textile words nearby
LEAD_SHARE, LEAD_BONUS = 0.15, 1.25  # the first sentences say what a story is about
END_SHARE, END_FACTOR = 0.75, 0.6  # falls linearly to END_FACTOR at the very end
TAIL_FACTOR = 0.2  # after a "Related reading" marker
ADDRESS_FACTOR = 0.5  # "Hangzhou-based": a company's address
REPEAT_DECAY = 0.7  # the k-th further mention of one cluster adds REPEAT_DECAY**k as much
ANCESTOR_SHARE = 0.5  # share of an absorbed ancestor's evidence added to its descendant
HINT_FACTOR = 1.5
MIN_SCORE = 0.25  # a lone passing mention without context stays below this
DOMINANCE = 0.35  # a cluster needs this share of the best cluster's evidence
# Context windows around a mention, in UTF-8 bytes (a sentence or so): 120 Latin
# letters, 50 Chinese characters.
WINDOW_LATIN = 120
WINDOW_CJK = 150

_TERM, _TAIL, _MARKER, _CREDIT, _CONTEXT, _PROFILE, _LIST, _VENUE, _NEIGHBOUR = 0, 1, 2, 3, 4, 5, 6, 7, 8
# What a name needs to count (kept with it in the names' automaton):
ANYWHERE = 0  # a cluster's name or alias
IN_CONTEXT = 1  # an ambiguous or split pinyin name: textile words or another cluster's name nearby
IN_SENTENCE = 2  # a big city's ambiguous name: textile words in its own sentence
FIRM = 3  # a firm's name: in context, like IN_CONTEXT, and weighed as an address
# Where a sentence ends, in the folded UTF-8 text read as Latin-1: 。！？, "! ", "? ", ". " and a line break.
SENTENCE_STOPS = ("\xe3\x80\x82", "\xef\xbc\x81", "\xef\xbc\x9f", "! ", "? ", ". ", "\n")
_EXCLUDED = -1


@dataclass(frozen=True)
class ClusterTag:
    id: str
    name: str
    score: float


@dataclass(frozen=True)
class Tagging:
    relevance: float
    relevant: bool
    clusters: tuple[ClusterTag, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict: {"relevance", "relevant", "clusters": [{"id", "name", "score"}]}."""
        return {
            "relevance": self.relevance,
            "relevant": self.relevant,
            "clusters": [{"id": c.id, "name": c.name, "score": c.score} for c in self.clusters],
        }


def _is_word_char(char: str) -> bool:
    # ASCII only: "Keqiaoâs" (mojibake) and "在Keqiao的" still end the word.
    return char.isascii() and char.isalnum()


def _key(text: str) -> str:
    """Folded text as UTF-8 bytes, one character per byte.

    pyahocorasick scans a trie node's children one by one; over Unicode, hundreds of
    Chinese first characters make every step slow. Over bytes, a Chinese character is
    three short steps, and Latin matching is unchanged (ASCII is one byte).
    """
    # A lone surrogate (from a JSON "\\ud83d" escape cut in half) cannot be UTF-8: kept as
    # its three bytes, it joins no name and raises nothing.
    return fold(text).encode("utf-8", "surrogatepass").decode("latin-1")


def _matches(automaton: ahocorasick.Automaton, doc: str) -> Iterator[tuple[int, Any]]:
    """(end, value) of the longest, leftmost matches in `doc`, as iter_long gives them.

    pyahocorasick's iter_long (2.3) drops a match that lies inside the unfinished start of a
    longer key when the input ends there: a text ending "...in Jiangsu Nantong" would lose
    Nantong to "Jiangsu Nantong International ...". A line break, in no key, ends it first.
    """
    return automaton.iter_long(doc + "\n")


def _word_prefix(automaton: ahocorasick.Automaton, doc: str, start: int, end: int) -> tuple[int, Any] | None:
    """(end, value) of the longest key that doc[start:end+1] begins with and that ends a word, if
    any: the longest key there runs into a longer word ("Jinjiang Inn" in "Jinjiang Innovation",
    "textile" in "Textilexporte"), and the name or word it begins with ("Jinjiang", "textil*")
    still counts."""
    for last in range(end - 1, start - 1, -1):
        value = automaton.get(doc[start : last + 1], None)
        if value is not None and _on_boundary(doc, start, last, value[3]):
            return last, value
    return None


# A name's case ending in the languages that write one onto a foreign name: the genitive s of
# German and the Nordic languages ("Shaoxings Textilindustrie"), the cases of Czech, Polish and
# Croatian ("v Humenu", "u Shaoxingu", "industrija Shaoxinga"), of Finnish ("Keqiaossa") and
# Hungarian. Only after a name that needs no context and is long enough that name and ending
# make no other word.
DECLENSION = re.compile(r"(?:s|a|u|e|ie|em|om|n|ssa|sta|iin|ban|ben)(?![a-z0-9\x80-\xff])", re.ASCII)
DECLINED_MIN = 5  # letters of a name that may take a case ending


def _declined(doc: str, start: int, end: int) -> bool:
    """Whether doc[start:end+1], a Latin name that runs into more letters, is the name with a
    case ending: a word of its own but for the ending, and no other pinyin word. An ending that
    lengthens the name's last syllable into another makes a different name: Shenhu + a is
    Shenhua (a coal firm, a football club), Jianhu + a the given name Jianhua, Zhili + n Zhilin."""
    if not _is_word_char(doc[end]) or start > 0 and _is_word_char(doc[start - 1]):
        return False
    ending = DECLENSION.match(doc, end + 1)
    if ending is None:
        return False
    syllables = _pinyin_syllables()
    last = next((doc[i : end + 1] for i in range(max(start, end - 5), end + 1) if doc[i : end + 1] in syllables), "")
    return last + ending.group() not in syllables


@functools.cache
def _pinyin_syllables() -> frozenset[str]:
    return frozenset(pinyin_readings().values())


def _edges(key: str) -> tuple[bool, bool]:
    """Whether a pattern starts and ends with a Latin letter or digit (needs a word boundary)."""
    return _is_word_char(key[0]), _is_word_char(key[-1])


def _on_boundary(doc: str, start: int, end: int, edges: tuple[bool, bool]) -> bool:
    """Whether doc[start:end+1] is not part of a longer Latin word.

    Digits right after a word are a footnote number, not part of it: sourcing blogs
    copied with their link markers read "Guangzhou1, Shenzhen2 and Dongguan3".
    """
    if edges[0] and start > 0 and _is_word_char(doc[start - 1]):
        return False
    after = end + 1
    if not (edges[1] and after < len(doc) and _is_word_char(doc[after])):
        return True
    while after < len(doc) and doc[after].isdigit():
        after += 1
    return after > end + 1 and not (after < len(doc) and _is_word_char(doc[after]))


# What a name stands for, read from the words around it. The patterns work on the
# tagger's folded UTF-8 bytes (see _key): _words() writes alternatives in that form and
# _HAN is one Chinese character. Those with \b are compiled with re.ASCII: else the first
# byte of a dash or a Chinese comma right after a word ("bureau—", read as "â") is a letter.
_HAN = "(?:[\xe3-\xe9][\x80-\xbf]{2})"


def _words(*words: str) -> str:
    """Alternatives matching `words` and their Traditional and Japanese spellings (縣, 來源, 政府)."""
    spellings = {s for w in words for s in (w, *variants(w))}
    return "(?:" + "|".join(re.escape(_key(w)) for w in sorted(spellings, key=len, reverse=True)) + ")"


# A page that lists clusters, each on a line of its own with its trade ("Key cities: Guangzhou,
# Shenzhen, Dongguan", "3. Fujian Shishi kids' wear base: ...", 广东省东莞市：), is about all of
# them. Such a line opens with a short label and a colon (after a bullet or a number, if any);
# the clusters named in the label or the sentence after it are listed when textile words are on
# the line or the next (an item's text may go on below it). Names in a plain sentence ("few
# places rival it, apart from Hangzhou, Ningbo and Shenzhen") are not listed, nor headlines in
# a bulleted list of other stories, which have no label.
LIST_MIN_CLUSTERS = 3  # a page lists clusters when its list lines name this many
LIST_MIN_LINES = 2  # on at least this many lines
LABEL_BYTES = 60  # the longest label: 60 Latin letters, 20 Chinese characters
LIST_MARKER = re.compile(
    r"[ \t]*(?:" + _words("-", "*", "•", "·", "▪", "●", "◆", "■") + r"|\d{1,2}(?:[.)]|" + _words("、", "）") + r")|"
    + _words("（") + r"\d{1,2}" + _words("）") + "|" + _words(*"一二三四五六七八九十") + "{1,2}" + _words("、") + r")?\s*"
)
COLONS = (":", "：")
# A roll of titled clusters, one a numbered item without a colon ("7. 湖北省仙桃市 中国非织造布产业名城"):
# the name opens the item, after at most its province and city. An item opens a line, or stands
# mid-line where a list lost its line breaks ("…基地市 2.江苏省常熟市 …") or a forum copy put
# noise before its number ("u1 }! X5 J2. 江苏省常熟市"); a number in a number (12.5, 2、3) opens none.
ROLL_NUMBERS = (  # two patterns, each with a first character the regex engine skips to quickly
    re.compile(r"[0-9][0-9]{0,2}(?:[.)]|" + _words("、", "．", "）") + r")(?![0-9])[ \t]*"),
    re.compile(_words("（") + r"\d{1,2}" + _words("）") + r"[ \t]*"),
)
ROLL_PREFIX_BYTES = 30  # ten Chinese characters: 浙江省杭州市萧山区
ROLL_NUMBER_BYTES = 8  # the number itself: "123. ", （12）
_HAN_ONLY = re.compile(_HAN + "*")
_NOT_IN_LABEL = ("\n", *(_key(stop) for stop in (". ", "! ", "? ", "。", "！", "？")))


# What follows a name:
# - a government body named after a place is not the place's industry: "Ningbo city
#   hall", "Suzhou Municipal Party Committee", "Jinjiang commerce bureau", 宁波市经信局,
#   常熟市梅李镇人民政府 (a place, its admin level, up to two lower units, a body);
# - a company's name gives its address: "宁波思梅化工机电有限公司", "Ningbo Fenghua
#   Textile Co., Ltd" (like "Hangzhou-based");
# - a dateline says where the story was filed: "新华社杭州4月7日电", "HANGZHOU, March 16".
# The body and company words are found in the same automaton pass as the textile
# vocabulary; the pattern is tried only on a name that has one of them close behind.
GOVERNMENT_WORDS = (
    "人民政府", "政府", "市委", "县委", "区委", "镇委", "党委", "人大", "政协", "纪委", "经信局", "经信委",
    "工信局", "商务局", "发改委", "发改局", "统计局", "科技局", "财政局", "税务局", "市场监管局", "人社局",
    "生态环境局", "环保局", "住建局", "交通局", "公安局", "教育局", "文旅局", "外事办", "宣传部",
    "government", "city hall", "party committee", "party school", "people's congress", "cppcc", "bureau",
)
COMPANY_WORDS = (
    "股份有限公司", "有限公司", "有限责任公司", "集团", "公司", "厂",
    "co., ltd", "co.,ltd", "co. ltd", "company limited", "co. limited", "corp.", "corporation", "inc.", "factory",
)
# A place's name directly before one of these is a facility, an event or a product named
# after the place, not its industry: "Humen Bridge", "Jinjiang Inn", "Datang Power",
# "Ningbo airport", 南通大学, 绍兴黄酒, 南通马拉松.
FACILITY_WORDS = (
    "hotel", "hotels", "inn", "inns", "bridge", "airport", "railway station", "train station", "station",
    "university", "hospital", "museum", "stadium", "power", "electric power", "metro", "subway",
    "marathon", "port", "zoo", "wine", "opera", "fc", "football club",
    "酒店", "大酒店", "宾馆", "饭店", "大饭店", "大桥", "机场", "火车站", "高铁站", "东站", "西站", "南站", "北站", "大学", "医院",
    "博物馆", "体育场", "体育馆", "电力", "电厂", "发电", "供电", "地铁", "轨道交通", "马拉松", "港口",
    "动物园", "黄酒", "电视台", "ホテル", "空港", "駅",
)
_ADMIN_ZH = _words("市", "县", "区", "镇", "乡", "省", "街道")
# A town's name before a comma and its county ("Shaxi Town, Taicang"), and what may stand
# between a county or city and a town right after it (太仓市沙溪镇, 太仓沙溪).
_TOWN_WORDS = (" township", " town")  # the longer first: the first that fits is taken
_COUNTY_SUFFIXES = {"", *(_key(v) for w in "市县区" for v in (w, *variants(w)))}
_JOINS = _words("的", "和", "与", "、", "及", "在")
# A character of a place's name: not a conjunction or CJK punctuation (、。), so that a
# body's name does not reach back over a list: in 石狮和晋江市政府 only 晋江 is the body's.
_NAME_HAN = "(?:(?!" + _JOINS + "|\xe3\x80)" + _HAN + ")"
# A word in an English body's name: not a verb or function word, so that "Keqiao said the
# statistics bureau" keeps Keqiao.
_NAME_WORD = r"(?!(?:the|a|an|said|says|told|to|in|at|on|with|by|from|for|is|was|are|were|has|had|that|which)\s)[a-z&,'-]+"
_ADMIN_EN = r"(?:\s(?:city|municipal|district|county|town|township|provincial|people's|communist))*"
# A name may end with its admin level ("Ningbo City", 宁波市): then the body's first word
# is already behind ("Ningbo City hall", 宁波市委; in every spelling: 柯橋區委).
_BEHIND = "|".join(dict.fromkeys(
    f"(?<={re.escape(_key(s[0]))}){re.escape(_key(s[1:]))}"
    for w in GOVERNMENT_WORDS if w[0] in "市县区镇" for s in (w, *variants(w))
)) + r"|(?<=city)\shall\b"
BODY_OR_COMPANY = re.compile(
    "(?P<facility>" + _ADMIN_ZH + r"?(?:\s(?:city|county|district|town))?\s?"
    + _words(*FACILITY_WORDS) + r"(?![a-z0-9]))|(?P<government>"
    + _ADMIN_ZH + "?(?:" + _NAME_HAN + "{1,4}?" + _ADMIN_ZH + "){0,2}"
    + _words(*(w for w in GOVERNMENT_WORDS if not w.isascii()))
    + "|" + _ADMIN_EN + r"\s(?:" + _words(*(w for w in GOVERNMENT_WORDS if w.isascii() and w != "bureau"))
    + "|(?:" + _NAME_WORD + r"\s){0,5}?bureau)\b|" + _BEHIND
    + ")|(?:(?!" + _JOINS + ")" + _HAN + "){0,8}"
    + _words(*(w for w in COMPANY_WORDS if not w.isascii()))
    + r"|(?:\s[a-z0-9&'.-]+){1,5}?\s" + _words(*(w for w in COMPANY_WORDS if w.isascii())),
    re.ASCII,
)
# "a garment maker based in Suzhou" gives an address like "Suzhou-based".
BASED_IN = ("based in ", "headquartered in ", "headquarters in ")
# "buyers from Humen", "wholesalers mainly from Humen": where a fair's or market's visitors come
# from is their home, like a firm's address, not what the story is about. Not "delegates from" or
# "traders from": a cluster's own people, who speak and sell for it.
VISITORS_FROM = re.compile(
    r"\b(?:buyers|visitors|wholesalers|customers|clients|shoppers|tourists)"
    r"(?:\s[a-z]+){0,2}?\sfrom\s(?:the\s)?\Z",
    re.ASCII,
)
VISITORS_REACH = 40  # bytes before a name within which "buyers ... from" is looked for
_FROM = ("from ", "from the ")
# "a global factory for socks (Zhuji) and shirts (Ningbo)": a Latin name alone in brackets after a
# thing, closing its phrase, glosses where the thing is made. Not an event's place ("China (Humen)
# International Fashion Fair"), which a word follows, nor a town after its city ("Dongguan (Humen)").
BRACKET_END = re.compile(r"\)(?:[.,;:]|\s(?:and|or)\s|\Z)")
# "西与杭州市余杭区紧紧相依", "毗邻深圳", "about 60 km from Hangzhou": the places a sentence says its place
# borders or lies near are landmarks, weighed like an address.
NEIGHBOUR_WORDS = ("毗邻", "紧邻", "相邻", "接壤", "相依", "相接", "km from", "kilometers from", "kilometres from", "away from", "bordering")
# "知名企业，如宁波博洋、绍兴金鹰等": the examples after firms or brands are firms' names (a place
# and a short name), which say where the firms are registered, like a company's full name.
FIRM_EXAMPLES = re.compile(
    _words("企业", "品牌", "公司", "厂家", "厂商") + "(?:" + _HAN + "){0,4}" + _words("，", ",", "：", ":") + "?"
    + _words("如", "例如", "比如", "诸如") + "(?:(?:(?!" + _words("。", "，") + ")" + _HAN + "){2,8}" + _words("、") + "){0,5}\\Z"
)
FIRM_EXAMPLES_REACH = 75  # bytes before a name: the list's head and up to a few firms before it
# The same in English: "the companies in the region, including Erdos and Kingdeer". The examples
# belong to the noun right before "including" or "such as": "firms in clusters such as Keqiao" lists places.
FIRM_EXAMPLES_EN = re.compile(
    r"\b(?:companies|firms|brands|enterprises|manufacturers|makers|producers)"
    r"(?:\sin\sthe\s(?:region|province|county|city|area|town))?,?\s(?:including|such\sas)\s"
    r"(?:[a-z][a-z'&-]*(?:\s[a-z][a-z'&-]*){0,2}(?:,\s|\sand\s))*\Z",
    re.ASCII,
)
_FIRM_LIST_BEFORE = ("including ", "such as ", ", ", " and ")


def _firm_example(doc: str, start: int) -> bool:
    """Whether a Latin name at doc[start], after "including", "such as" or a list's comma or "and",
    is one of the firms given as examples (FIRM_EXAMPLES_EN)."""
    low = max(start - FIRM_EXAMPLES_REACH, 0)
    if doc.find("including ", low, start) < 0 and doc.find("such as ", low, start) < 0:
        return False  # most lists are no examples of anything
    return FIRM_EXAMPLES_EN.search(doc, low, start) is not None


# "cities like Shantou", "cheaper than Keqiao", 与柯桥相比, 和柯桥一样: a place named to compare the
# subject with is weighed like an address, so that it alone tags nothing.
COMPARED_BEFORE = ("like ", "unlike ", "than ", "as in ", "compared with ", "compared to ", "similar to ")
_BEFORE_ASIDE = COMPARED_BEFORE + _FROM  # one look for both: most names have neither
# The character before a Chinese name that may open either: 与 (与柯桥相比), or 如 and 、 (如宁波博洋、绍兴金鹰).
_COMPARED_WITH = frozenset(_key(v) for w in "与和同跟" for v in (w, *variants(w)))
_BEFORE_ASIDE_ZH = _COMPARED_WITH | {_key(v) for w in "如、" for v in (w, *variants(w))}
COMPARED_AFTER = re.compile(_ADMIN_ZH + "?" + _words("相比", "一样", "相似", "类似", "相同", "不同"))
_SUCH_AS = _key("如")


def _aside(doc: str, start: int, end: int, latin: bool, previous_end: int | None, neighbours: list[int] | None) -> bool:
    """Whether the name at doc[start:end+1] is named as an aside, weighed like an address: a place
    compared with, where visitors come from, a firm given as an example, a bracketed gloss after
    a thing ("socks (Zhuji)."), a place the sentence says its place borders. `previous_end` is
    where the name before it ends (None: it is the first)."""
    if latin:
        if doc.endswith(_BEFORE_ASIDE, 0, start) and (
            not doc.endswith(_FROM, 0, start) or VISITORS_FROM.search(doc, max(start - VISITORS_REACH, 0), start)
        ):
            return True
        if doc.endswith(_FIRM_LIST_BEFORE, 0, start) and _firm_example(doc, start):
            return True
        # Not a town in brackets after its city: "Dongguan (Humen)".
        if doc.endswith(" (", 0, start) and BRACKET_END.match(doc, end + 1) and previous_end != start - 3:
            return True
    elif doc[start - 3 : start] in _COMPARED_WITH:
        if COMPARED_AFTER.match(doc, end + 1):
            return True
    elif doc[start - 3 : start] in _BEFORE_ASIDE_ZH:
        low = max(start - FIRM_EXAMPLES_REACH, 0)
        if doc.find(_SUCH_AS, low, start) >= 0 and FIRM_EXAMPLES.search(doc, low, start):
            return True
    return bool(neighbours) and _near(neighbours, start - WINDOW_CJK, end + WINDOW_CJK) and _near(
        neighbours, *_sentence(doc, start, end, WINDOW_LATIN if latin else WINDOW_CJK)
    )
MARKER_REACH = 60  # bytes after a name within which a body or company word is looked for
# A leader's title after the body ("石狮市委书记", "Jinjiang Municipal Party Committee
# secretary") names a person of the place, like "石狮市长": the place counts.
LEADER = re.compile(
    r"\s?(?:" + _words("书记", "副书记", "常委", "市长", "副市长", "县长", "副县长", "区长", "副区长", "镇长", "副镇长")
    + r"|(?:(?:deputy|vice|executive)\s)?(?:secretary|mayor)\b)",
    re.ASCII,
)
# A line that holds nothing but the offices of two places or more ("盛泽镇人民政府 桃源镇人民政府")
# is a roll of awards or titles given to the places, not a statement by an office: its places are
# listed like the clusters of a list line.
_BLANK = r"(?:[ \t]|\xe3\x80\x80)*"  # spaces, tabs and the full-width space
BODY_ROLL = re.compile(
    _BLANK + "(?:" + _HAN + "{1,10}?" + _words("人民政府", "政府") + _BLANK + r"){2,}(?:\n|\Z)", re.ASCII
)
# A dateline opens a story's first line ("HANGZHOU, June 3 (Xinhua) --", 新华社杭州6月3日电,
# 本报柯桥讯, the Korean edition's [신화망 항저우 11월18일], "HANGZHOU -- "); the same words mid-sentence are a
# place and a date ("held in Keqiao, March 16-18").
_DATELINE_START = frozenset(" ,0123456789" + _key("讯")[0])
DATELINE_REACH = 36  # bytes from its line's start within which a dateline's place stands: 12 Chinese characters
DATELINE = re.compile(
    r"\s?\d{1,2}\s?" + _words("月") + r"\s?\d{1,2}\s?" + _words("日") + "|" + _words("讯")
    + r"|\s?\d{1,2}\s?" + _words("월") + r"\s?\d{1,2}\s?" + _words("일")
    + r"|,?\s(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s\d{1,2}\b"
    + r"|(?:\s\(xinhua\))?\s--\s",  # "HANGZHOU -- In the factory of ...": a wire story's dateline without its date
    re.ASCII,
)
# A market report quotes prices by place ("local market prices in Qianqing", 桐乡方面，POY主流价为
# 9900元/吨): where a price comes from is weighed like a firm's address, so that alone it tags
# nothing; a story about a market names it elsewhere too, in its title or lead.
PRICES_IN = ("prices in ", "price in ", "quotes in ")
PRICE = re.compile(
    r"\d\s?(?:" + _words("元") + r"|yuan|rmb)\s?/\s?(?:" + _words("吨", "米", "公斤", "千克")
    + r"|t\b|mt\b|tons?\b|tonnes?\b|kg\b|m\b|meters?\b|metres?\b)",
    re.ASCII,
)
# "会议在萧山召开", "在江苏常熟召开座谈会": where a meeting was held, like a firm's address, is
# not what the story is about; a place that hosts its own event is named again as its subject.
VENUE_BEFORE = re.compile(_words("在") + "(?:" + _NAME_HAN + r"){0,4}\Z")  # 在, then a province or city
VENUE_REACH = 15  # bytes before a name where 在 is looked for: it and four Chinese characters
VENUE_WORDS = ("召开", "举行", "举办", "开幕", "闭幕")
# "确认江阴市等193个地区为试点地区", "柯桥等多个地区": a list cut to its first name and a count names
# that place in passing, as the head of many; weighed like an address, so it alone tags nothing.
# The last name of a list written out ("海虞镇、支塘镇、梅李镇等7镇") is no head: a join is before it.
HEAD_OF_LIST = re.compile(_ADMIN_ZH + "?" + _words("等") + r"(?:\d|" + _words(*"一二三四五六七八九十两几多数") + ")")
_DENG = _key("等")
_LIST_JOINS = tuple(_key(v) for w in ("、", "和", "与", "及", "，", ",") for v in (w, *variants(w)))
VENUE_GAPS = (1, 4, 7, 10, 13)  # bytes from a name's last to its verb's first: an admin word (3, 6), an adverb (6)
VENUE_AFTER = re.compile(_ADMIN_ZH + "?" + _words("隆重", "正式", "顺利", "盛大") + "?" + _words(*VENUE_WORDS))
# "来源：南通日报", "Source: Ningbo Daily", "[Photo/Nantong Daily]": a credit, not a subject;
# "Add: ... Foshan City", "地址：": a firm's contact block, where its site is registered.
CREDIT_LABELS = (
    "来源", "稿源", "编辑", "责任编辑", "作者", "供稿", "出处", "地址",
    "source", "editor", "photo", "credit", "add", "address",
)
CREDIT = re.compile(_words(*CREDIT_LABELS) + r"\s*(?::|/|" + _words("：") + ")")
CREDIT_REACH = 45  # bytes before a name on its line where a credit label is looked for
# A trade site's bar of popular search terms atop its pages ("热搜: 棉纱 盛泽 丝路柯桥", "Hot
# searches: ..."): a line of the site's own words, however far along it a place stands.
SEARCH_BAR_WORDS = ("热搜", "热门搜索", "搜索热词", "hot search", "hot searches", "popular searches")
SEARCH_BAR = re.compile(r"\s*" + _words(*SEARCH_BAR_WORDS) + r"\s*(?::|" + _words("：") + ")")
SEARCH_BAR_REACH = 600  # bytes back to the line's start that a search bar may fill
CREDIT_WORDS = CREDIT_LABELS + SEARCH_BAR_WORDS  # both kinds of label are found in one pass


def _spellings(word: str) -> list[tuple[str, tuple[bool, bool]]]:
    """Automaton keys for `word` and its Traditional and Japanese spellings, with the
    word boundaries each needs (a "*" at an end drops that one)."""
    bare = word.strip("*")
    keys = []
    for spelling in (bare, *variants(bare)):
        key = _key(spelling)
        start, end = _edges(key)
        keys.append((key, (start and not word.startswith("*"), end and not word.endswith("*"))))
    return keys


@functools.cache
def _term_automaton() -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for term, weight in TERMS.items():
        for key, edges in _spellings(term):
            automaton.add_word(key, (_TERM, weight, len(key), edges, _key(term.strip("*"))))
    for marker in TAIL_MARKERS:
        for key, edges in _spellings(marker):
            automaton.add_word(key, (_TAIL, 0.0, len(key), edges, key))
    for colon in COLONS:  # where a list line's label may end
        key = _key(colon)
        automaton.add_word(key, (_LIST, 0.0, len(key), (False, False), key))
    for kind, words in ((_MARKER, GOVERNMENT_WORDS + COMPANY_WORDS + FACILITY_WORDS), (_VENUE, VENUE_WORDS), (_NEIGHBOUR, NEIGHBOUR_WORDS), (_CREDIT, CREDIT_WORDS), (_CONTEXT, CLUSTER_WORDS),
                        (_PROFILE, PROFILE_WORDS)):
        for word in words:
            for key, edges in _spellings(word):
                automaton.add_word(key, (kind, 0.0, len(key), edges, key))
    automaton.make_automaton()
    return automaton


# What follows a place's name in English and makes two syllables apart a place ("Zhi Li
# Town"), not a person ("Zhou Quan").
PLACE_WORDS = ("town", "township", "county", "city", "district")


def _syllable_spellings(cluster: Cluster) -> tuple[str, ...]:
    """The cluster's pinyin name split into its syllables, as machine translations and
    trade portals write it: "Ke-qiao", "Zhang Jia Gang" (two syllables apart, "Zhou
    Quan", read as a person's name, so they count only with a place word after them:
    "Zhi Li Town"); () unless the name is the reading of its Chinese name (with or
    without the admin suffix: 沙溪镇 is "Shaxi")."""
    latin = fold(re.sub(r"\s*\(.*\)$", "", cluster.name)).replace("'", "")
    readings = pinyin_readings()
    for chinese in (cluster.name_zh, cluster.name_zh[:-1]):
        syllables = [readings.get(char, "") for char in chinese]
        if len(syllables) > 1 and all(syllables) and "".join(syllables) == latin:
            apart = " ".join(syllables)
            if len(syllables) > 2:
                return "-".join(syllables), apart
            return ("-".join(syllables), *(f"{apart} {word}" for word in PLACE_WORDS))
    return ()


def _name_automaton(gazetteer: Gazetteer) -> ahocorasick.Automaton | None:
    """Names and excluded phrases of all clusters; None when there are none."""
    automaton = ahocorasick.Automaton()
    # Split spellings first, so that an excluded phrase or a name written the same wins. They
    # count only in context, like ambiguous names: "Zhou Quan" may be a person.
    for index, cluster in enumerate(gazetteer):
        for spelling in _syllable_spellings(cluster):
            key = _key(spelling)
            automaton.add_word(key, (index, IN_CONTEXT, len(key), _edges(key)))
    # Exclusions first, so that a phrase that is also some cluster's name stays a name.
    for cluster in gazetteer:
        for phrase in cluster.exclude:
            for key, edges in _spellings(phrase):
                automaton.add_word(key, (_EXCLUDED, ANYWHERE, len(key), edges))
    for index, cluster in enumerate(gazetteer):
        # A big city's name (广州, "Dongguan") says where a place lies as often as it names a
        # cluster: only textile words in its sentence make it count, not other cluster names.
        vague = IN_SENTENCE if _big_city(cluster) else IN_CONTEXT
        for names, need in ((cluster.names(), ANYWHERE), (cluster.ambiguous, vague), (cluster.firms, FIRM)):
            for name in names:
                for key, edges in _spellings(name):
                    automaton.add_word(key, (index, need, len(key), edges))
    if not len(automaton):
        return None
    automaton.make_automaton()
    return automaton


def _near(positions: list[int], low: int, high: int, besides: int = -1) -> bool:
    """Whether a sorted list of positions has one in [low, high] other than `besides`."""
    i = bisect.bisect_left(positions, low)
    while i < len(positions) and positions[i] <= high:
        if positions[i] != besides:
            return True
        i += 1
    return False


# The commonest Chinese surnames in pinyin ("he", "shi" and "ma" left out: English words and
# syllables of place names).
SURNAMES = frozenset(
    "wang li zhang liu chen yang huang zhao wu zhou xu sun zhu hu guo lin gao luo zheng liang xie song "
    "tang han feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei su lu ding "
    "ren shen yao fu zhong jin qian dai fan fang qiu xia tan zou".split()
)


SURNAME_CHARS = max(map(len, SURNAMES))


def _after_surname(doc: str, start: int) -> bool:
    """Whether the word before doc[start] is a surname, one space apart."""
    if start < 2 or doc[start - 1] != " ":
        return False
    # Only as far back as the longest surname: a page may be megabytes without a space.
    low = max(start - 2 - SURNAME_CHARS, 0)
    before = doc[low : start - 1]
    cut = max(before.rfind(" "), before.rfind("\n"))
    if cut < 0 and low > 0:
        return False  # the word before is longer than any surname
    return before[cut + 1 :] in SURNAMES


def _big_city(cluster: Cluster) -> bool:
    """A prefecture whose own name is ambiguous: it counts only in textile context."""
    return cluster.kind == "prefecture" and fold(cluster.name) in {fold(a) for a in cluster.ambiguous}


def _sentence(doc: str, start: int, end: int, window: int) -> tuple[int, int]:
    """The part of doc[start - window : end + window] in the sentence of doc[start:end]."""
    low = max(doc.rfind(stop, max(start - window, 0), start) for stop in SENTENCE_STOPS)
    highs = [i for i in (doc.find(stop, end, end + window) for stop in SENTENCE_STOPS) if i >= 0]
    return max(low, start - window), min(highs, default=end + window)


# An enumeration of clusters in one sentence ("They are Yaqian Town, Xiaoshan; Zhouquan Town,
# Tongxiang; Ma'an Town, ..."; 衙前镇、洲泉镇、马鞍镇) outruns the context window: its middle names
# have no textile word near them, though the sentence is about all of them. Names that follow
# each other closely in one sentence form a run; a run that names this many clusters, one of
# them with textile words near, lends that context to its names (not to a big city's, which
# needs textile words in its own sentence, nor to a firm's).
ENUMERATION_MIN_CLUSTERS = 3
# An excerpt cut off mid-sentence (as a search index keeps a page's beginning) has no real end:
# a name in its last sentences with textile words in its own sentence is where the story goes
# on, not a closing aside, and is not weighed down near the end. Its last line is a paragraph
# that stops without a full stop; a whole page ends at a full stop, a credit or a footer, and
# a headline (a related story's) is shorter.
CUT_LINE_BYTES = 120  # 120 Latin letters, 40 Chinese characters
_SENTENCE_ENDS = tuple(_key(c) for c in (".", "!", "?", "\"", "。", "！", "？", "”", "…", ")", "）"))


def _cut_off(doc: str, tail_start: int) -> bool:
    """Whether the text is an excerpt cut off mid-sentence (and has no tail after a marker)."""
    text_end = len(doc.rstrip())
    line_start = doc.rfind("\n", 0, text_end) + 1
    return (
        tail_start == len(doc) and text_end - line_start > CUT_LINE_BYTES
        and not doc.endswith(_SENTENCE_ENDS, line_start, text_end)
    )


def _enumerated(doc: str, counted: list[tuple[int, int, int, int, int, float, bool]]) -> list[tuple]:
    """`counted` body mentions (start, end, index, need, window, address, context), with the
    names of an enumeration that has context given it."""
    runs: list[list[int]] = []
    previous = -len(doc)
    for number, (start, end, _, _, window, _, _) in enumerate(counted):
        gap = start - previous - 1
        if 0 <= gap <= window // 2 and not any(stop in doc[previous + 1 : start] for stop in SENTENCE_STOPS):
            runs[-1].append(number)
        else:
            runs.append([number])
        previous = end
    for run in runs:
        members = [counted[number] for number in run]
        if len({m[2] for m in members}) >= ENUMERATION_MIN_CLUSTERS and any(m[6] for m in members):
            for number in run:
                if counted[number][3] in (ANYWHERE, IN_CONTEXT):
                    counted[number] = (*counted[number][:6], True)
    return counted


def _at_line_start(doc: str, start: int) -> bool:
    """Whether doc[start] is within DATELINE_REACH bytes of its line's start, where a dateline stands."""
    low = max(start - DATELINE_REACH, 0)
    return low == 0 or doc.rfind("\n", low, start) >= 0


def _credited(doc: str, start: int, credits: list[int]) -> bool:
    """Whether a name at doc[start] follows a credit label on its line ("来源：") or stands on a
    line that a search bar's label opens ("热搜:")."""
    low = max(start - CREDIT_REACH, 0)
    low = max(doc.rfind("\n", low, start) + 1, low)  # not back to the line's start: a line may be megabytes long
    if _near(credits, low, start) and CREDIT.search(doc, low, start) is not None:
        return True
    # Or a search bar's label opens its line (after a few spaces at most).
    low = max(start - SEARCH_BAR_REACH, 0)
    if not _near(credits, low, start):
        return False
    newline = doc.rfind("\n", low, start)
    if newline < 0 and low > 0:
        return False  # a longer line is no search bar
    return _near(credits, newline + 1, newline + 13) and SEARCH_BAR.match(doc, newline + 1) is not None


def _quoted_price(doc: str, start: int, end: int) -> bool:
    """Whether the name at doc[start:end+1] says where a price is quoted: "prices in Qianqing",
    or a price per tonne or metre in its sentence (桐乡方面，POY主流价为9900元/吨)."""
    if doc.endswith(PRICES_IN, 0, start):
        return True
    if doc.find("/", max(start - WINDOW_CJK, 0), end + WINDOW_CJK) < 0:
        return False  # no "元/吨" near: most names are quoted with no price
    return PRICE.search(doc, *_sentence(doc, start, end, WINDOW_CJK)) is not None


def _line_starts(doc: str, positions: Sequence[int]) -> list[int]:
    """Where the line of each of the ascending `positions` starts: each stretch of doc is
    searched once, since a page without line breaks may hold thousands of names and colons."""
    starts, line_start, previous = [], 0, 0
    for position in positions:
        line_start = max(doc.rfind("\n", previous, position) + 1, line_start)
        previous = position
        starts.append(line_start)
    return starts


def _list_line(doc: str, line_start: int, colon: int, terms: list[int]) -> tuple[int, int]:
    """(start, end of the listed part) of the list line from `line_start` whose label the colon at
    `colon` ends, if textile words are on the line or the next (see LIST_MIN_CLUSTERS); else (-1, -1)."""
    label_start = LIST_MARKER.match(doc, line_start, colon).end()  # "3. Fujian Shishi ...:"
    if not 0 < colon - label_start <= LABEL_BYTES or any(s in doc[label_start:colon] for s in _NOT_IN_LABEL):
        return -1, -1
    line_end = doc.find("\n", colon)
    line_end = len(doc) if line_end < 0 else line_end
    next_end = doc.find("\n", line_end + 1)
    if not _near(terms, line_start, len(doc) if next_end < 0 else next_end):
        return -1, -1
    stops = (doc.find(stop, colon, line_end) for stop in SENTENCE_STOPS)
    return line_start, min((i for i in stops if i >= 0), default=line_end)


def _list_names(on_lines: list[tuple[int, int, int]]) -> set[int]:
    """Starts of the names of (start, cluster index, line start) if they make a list:
    LIST_MIN_CLUSTERS clusters on LIST_MIN_LINES lines; else none."""
    if (
        len({index for _, index, _ in on_lines}) < LIST_MIN_CLUSTERS
        or len({line for _, _, line in on_lines}) < LIST_MIN_LINES
    ):
        return set()
    return {start for start, _, _ in on_lines}


def _listed(
    doc: str, colons: Sequence[int], found: list[tuple], body_start: int, tail_start: int, terms: list[int]
) -> set[int]:
    """Starts of the names on list lines, if the page lists clusters (LIST_MIN_CLUSTERS on
    LIST_MIN_LINES lines); else none. `colons`: where the term automaton found a colon."""
    if len(colons) < LIST_MIN_LINES:
        return set()
    lines = {}  # line start -> end of its listed part
    for line_start, colon in zip(_line_starts(doc, colons), colons):
        start, end = _list_line(doc, line_start, colon, terms)
        if body_start <= start < tail_start:
            lines.setdefault(start, end)
    if len(lines) < LIST_MIN_LINES:
        return set()
    on_lines: list[tuple[int, int, int]] = []  # (start, cluster index, line start)
    for (start, end, index, *_), line_start in zip(found, _line_starts(doc, [mention[0] for mention in found])):
        if end < lines.get(line_start, -1):
            on_lines.append((start, index, line_start))
    return _list_names(on_lines)


def _headline(text: str) -> bool:
    """Whether a page's whole text is one short line with no full stop at its end: its headline."""
    line = text.strip()
    return 0 < len(line) <= HEADLINE_CHARS and "\n" not in line and not line.endswith(("。", ".", "！", "!"))


def _rolled(doc: str, found: list[tuple], body_start: int, tail_start: int, terms: list[int]) -> set[int]:
    """Starts of the names that open numbered items with textile words, if the page rolls
    clusters that way (LIST_MIN_CLUSTERS on LIST_MIN_LINES lines); else none."""
    if len({mention[2] for mention in found}) < LIST_MIN_CLUSTERS:
        return set()
    starts = [mention[0] for mention in found]  # ascending, as the automaton found them
    # Numbers are sought only from shortly before the body's first name to its last.
    first = bisect.bisect_left(starts, body_start)
    if first == len(starts):
        return set()
    low = max(starts[first] - ROLL_PREFIX_BYTES - ROLL_NUMBER_BYTES, body_start)
    high = min(starts[-1], tail_start)
    on_lines: list[tuple[int, int, int]] = []  # (start, cluster index, item's number)
    for pattern in ROLL_NUMBERS:
        for number in pattern.finditer(doc, low, high):
            if doc[number.start() - 1] in "0123456789.":
                continue  # the end of a longer number or of a figure (1234.5)
            i = bisect.bisect_left(starts, number.end())
            if i == len(starts) or starts[i] - number.end() > ROLL_PREFIX_BYTES:
                continue
            start = starts[i]
            if _HAN_ONLY.fullmatch(doc, number.end(), start) is None:
                continue  # the item opens with words, not with a place
            line_end = doc.find("\n", start)
            line_end = len(doc) if line_end < 0 else line_end
            opens = number.start()
            while doc[opens - 1] in " \t":
                opens -= 1
            if doc[opens - 1] != "\n":  # a mid-line item: its own words, not the rest of a flattened list
                line_end = min(line_end, start + WINDOW_CJK)
            if _near(terms, start, line_end):
                on_lines.append((start, found[i][2], number.start()))
    return _list_names(on_lines)


# Each byte of a `_key` string by what it begins: "a" an ASCII letter, "l" a letter of two
# UTF-8 bytes (accented Latin, Greek, Cyrillic), "k" a Hangul syllable (U+AC00-U+D7A3, three
# bytes), "w" another wide character (Chinese, kana); "." continues a character.
_BYTE_KINDS = bytes(
    ord("a" if b < 0x80 else "." if b < 0xC0 else "l" if b < 0xE0 else "k" if 0xEA <= b <= 0xED else "w")
    for b in range(256)
)


def _word_units(body: str) -> float:
    """Length in words of a `_key` string: words of ~6 letters in alphabets (Latin, Cyrillic,
    Greek: a letter of two bytes is one letter), Chinese ones of ~1.7 characters and Korean ones
    of ~3 Hangul syllables. Counted as Chinese characters, the two bytes of a Russian letter
    made a Russian page twice as long as it is and its textile words half as dense."""
    kinds = body.encode("latin-1").translate(_BYTE_KINDS)
    return (kinds.count(b"a") + kinds.count(b"l")) / 6 + kinds.count(b"w") / 1.7 + kinds.count(b"k") / 3


class Tagger:
    """Scores relevance and tags clusters; build once, call `tag` per article.

    Picklable (the automata are rebuilt from the gazetteer), so it can be sent to
    worker processes.
    """

    def __init__(self, gazetteer: Gazetteer, threshold: float = 0.5):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"relevance threshold must be between 0 and 1; got {threshold!r}")
        self.gazetteer = gazetteer
        self.threshold = threshold
        self._terms = _term_automaton()
        self._names = _name_automaton(gazetteer)
        self._ids = list(gazetteer.ids())
        self._ancestors = {c: gazetteer.ancestors(c) for c in self._ids}
        big_cities = {c.id for c in gazetteer if _big_city(c)}
        self._city_ancestors = {c: tuple(a for a in self._ancestors[c] if a in big_cities) for c in self._ids}
        self._children: dict[str, list[str]] = defaultdict(list)
        for cluster_id, ancestors in self._ancestors.items():
            for ancestor in ancestors:
                self._children[ancestor].append(cluster_id)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Tagger, (self.gazetteer, self.threshold))

    def tag(self, title: str | None, text: str | None, hints: Sequence[str] = ()) -> Tagging:
        # One string of title and text; offsets (in UTF-8 bytes) below body_start are the title.
        title, text = without_pinyin_notes(title or ""), without_pinyin_notes(text or "")
        if not title and _headline(text):
            title, text = text, ""  # a page that kept only its headline
        head, body = _key(title), _key(text)
        if len(body) <= len(head) + 2 and body.strip() == head.strip():
            body = ""  # a page of one line (a keyword page's question) says it once, not twice
        doc = f"{head}\n{body}"
        body_start = len(head) + 1
        tail_from = body_start + TAIL_MIN_POSITION * len(body)

        term_positions: list[int] = []
        title_weight = 0.0
        body_terms: list[tuple[int, str, float]] = []
        tail_start = len(doc)
        markers: list[int] = []  # government and company words
        credits: list[int] = []
        cluster_words: list[int] = []
        profile_words: set[str] = set()
        colons: list[int] = []  # where a list line's label may end
        venues: list[int] = []  # where a meeting's verb stands (召开)
        neighbours: list[int] = []  # where a word stands that says what a place borders (毗邻)
        # Where the words of each kind stand that matter only by their place.
        placed = {_MARKER: markers, _CREDIT: credits, _CONTEXT: cluster_words, _VENUE: venues, _NEIGHBOUR: neighbours, _LIST: colons}
        for end, (kind, weight, length, edges, key) in _matches(self._terms, doc):
            start = end - length + 1
            if not _on_boundary(doc, start, end, edges):
                # A phrase that is no textile word stays none inflected ("dress codes", "silk roads").
                shorter = None if kind == _TERM and weight <= 0 else _word_prefix(self._terms, doc, start, end)
                if shorter is None:
                    continue
                end, (kind, weight, length, edges, key) = shorter
            if kind == _TAIL:
                if start >= tail_from and tail_start == len(doc):
                    tail_start = start
                continue
            if kind in placed:
                placed[kind].append(start)
                continue
            if kind == _PROFILE:
                profile_words.add(key)
                continue
            if weight <= 0:
                continue
            term_positions.append(start)
            if start < body_start:
                title_weight += weight
            else:
                body_terms.append((start, key, weight))

        relevance = self._relevance(title_weight, body_terms, doc[body_start:tail_start], tail_start, len(profile_words))
        if relevance < self.threshold:
            return Tagging(relevance, False, ())
        if self._names is None:
            return Tagging(relevance, True, ())
        context = sorted(term_positions + cluster_words) if cluster_words else term_positions
        raw, asides = self._mentions(self._names, doc, body_start, tail_start, context, markers, credits, len(body), colons, venues, neighbours)
        return Tagging(relevance, True, self._select(raw, hints, asides))

    def _relevance(self, title_weight: float, body_terms: list[tuple[int, str, float]], body: str, tail_start: int,
                   profile_words: int = 0) -> float:
        counts: Counter[str] = Counter()
        evidence = 0.0
        for start, key, weight in body_terms:
            if start >= tail_start:
                break
            counts[key] += 1
            if counts[key] <= SAME_TERM_CAP:
                evidence += weight
        density = 100 * evidence / max(_word_units(body), MIN_UNITS)
        total = (
            TITLE_TERM_FACTOR * min(title_weight, TITLE_TERM_CAP)
            + DENSITY_FACTOR * density
            + COUNT_FACTOR * min(evidence, COUNT_CAP)
            - min(PROFILE_FACTOR * max(profile_words - 1, 0), PROFILE_CAP)
        )
        return round(1 - math.exp(-max(total, 0.0)), 3)

    def _mentions(
        self,
        names: ahocorasick.Automaton,
        doc: str,
        body_start: int,
        tail_start: int,
        terms: list[int],
        markers: list[int],
        credits: list[int],
        text_len: int,
        colons: Sequence[int] = (),
        venues: Sequence[int] = (),
        neighbours: list[int] | None = None,
    ) -> tuple[dict[int, float], set[int]]:
        """Raw evidence per cluster index from every name mention, and the clusters named only in an aside."""
        venue_ends = {v - gap for v in venues for gap in VENUE_GAPS}  # where a name before a verb ends
        found = []
        rolls: set[int] = set()  # names in a roll of offices (BODY_ROLL)
        roll_line = roll_searched = 0  # the line start of the last office's name, and how far doc was searched for it
        latin_ambiguous = False  # whether a name that needs context is a Latin word (may follow a surname)
        for end, (index, need, length, edges) in _matches(names, doc):
            start = end - length + 1
            if not _on_boundary(doc, start, end, edges):
                shorter = _word_prefix(names, doc, start, end)
                if shorter is not None:
                    end, (index, need, length, edges) = shorter
                elif not (need == ANYWHERE and length >= DECLINED_MIN and _declined(doc, start, end)):
                    continue
            if index == _EXCLUDED:
                continue
            near = markers and _near(markers, start, end + MARKER_REACH)
            after = BODY_OR_COMPANY.match(doc, end + 1) if near else None  # lastgroup: "facility", "government" or None (a company)
            if after and "\n" in after.group():
                after = None  # the next line's first words ("Hotel rooms were full"): the title's last name stays a place
            elif after and after.lastgroup == "government" and LEADER.match(doc, after.end()):
                after = None  # a leader of the place, not its office
            elif after and after.lastgroup == "government":
                # One of a roll of places' offices? Its line's start is sought from the last office's,
                # as in _line_starts: a page without line breaks may name many offices.
                roll_line = max(doc.rfind("\n", roll_searched, start) + 1, roll_line)
                roll_searched = max(roll_searched, start)
                if BODY_ROLL.match(doc, roll_line):
                    after = None
                    rolls.add(start)
            if (
                after and after.lastgroup
                or doc[end + 1 : end + 2] in _DATELINE_START and _at_line_start(doc, start) and DATELINE.match(doc, end + 1)
                or credits and _credited(doc, start, credits)
            ):
                continue  # a government body, a dateline or a credit names no cluster
            # A firm's name ("Anta") says where the firm is based, like "Jinjiang-based".
            venue = (  # a set lookup first: most names have no meeting's verb right after
                end in venue_ends
                and VENUE_AFTER.match(doc, end + 1)
                and VENUE_BEFORE.search(doc, max(start - VENUE_REACH, 0), start)
            ) or _quoted_price(doc, start, end)  # or the market a price is quoted from
            head = (
                doc.find(_DENG, end + 1, end + 7) >= 0 and HEAD_OF_LIST.match(doc, end + 1) and not doc.endswith(_LIST_JOINS, 0, start)
            )
            address = ADDRESS_FACTOR if (
                after or need == FIRM or doc.startswith("-based", end + 1) or doc.endswith(BASED_IN, 0, start) or venue or head
                or _aside(doc, start, end, edges[0], found[-1][1] if found else None, neighbours)
            ) else 1.0
            found.append((start, end, index, need, edges, address))
            latin_ambiguous = latin_ambiguous or need != ANYWHERE and edges[0]
        found = self._without_namesakes(doc, found)
        # "Zhang Yongan, vice mayor": after a surname, an ambiguous pinyin name is a person's.
        if latin_ambiguous:
            found = [m for m in found if m[3] == ANYWHERE or not m[4][0] or not _after_surname(doc, m[0])]
        # A cluster named only in firms' names and addresses ("Suzhou Gowell-Tex Co. Ltd",
        # "Hangzhou-based") is where firms are registered, not what the page is about: those
        # mentions count only beside one of the place itself. A big firm's name that stands
        # for its cluster ("Anta") is such a mention.
        placed = {index for _, _, index, need, _, address in found if address == 1.0 or need == FIRM}
        found = [mention for mention in found if mention[2] in placed]
        # Unambiguous names are context too: "Keqiao, Shengze, Xintang and Datang" is a list of clusters.
        plain = [start for start, _, _, need, _, _ in found if need == ANYWHERE]
        listed = _listed(doc, colons, found, body_start, tail_start, terms) | _rolled(doc, found, body_start, tail_start, terms) | rolls
        title_has_terms = bool(terms) and terms[0] < body_start
        # In the title as in the body, another cluster's plain name is context: "Datang, Zhuji".
        title_names = {start for start in plain if start < body_start}
        in_title: dict[int, float] = {}
        body: dict[int, list[float]] = defaultdict(list)
        counted: list[tuple[int, int, int, int, int, float, bool]] = []
        lonely = False  # whether a counted body mention has no textile words near
        for start, end, index, need, edges, address in found:
            if start < body_start:
                if title_has_terms or need == ANYWHERE or need != IN_SENTENCE and title_names - {start}:
                    in_title[index] = max(in_title.get(index, 0.0), TITLE_MENTION * address)
                continue
            window = WINDOW_LATIN if edges[0] or edges[1] else WINDOW_CJK
            if start in listed:
                context = True  # its list line has textile words
            elif need == IN_SENTENCE:
                context = _near(terms, *_sentence(doc, start, end, window))
            else:
                context = _near(terms, start - window, end + window)
            if need != ANYWHERE and not (
                context or need != IN_SENTENCE and _near(plain, start - window, end + window, besides=start)
            ):
                continue
            counted.append((start, end, index, need, window, address, context))
            lonely = lonely or not context
        if lonely and len({mention[2] for mention in counted}) >= ENUMERATION_MIN_CLUSTERS:
            counted = _enumerated(doc, counted)
        # A cluster named once, more than a context window into the body, near its end and away from other
        # clusters' names is an aside (a price quoted from its market, where recruiters went, a
        # closing comparison): it is not tagged, unless a source hint names it.
        asides: set[int] = set()
        cut = _cut_off(doc, tail_start)
        for number, (start, end, index, need, window, address, context) in enumerate(counted):
            share = (start - body_start) / max(text_len, 1)
            if (
                share > END_SHARE and start - body_start > window and start < tail_start and start not in listed
                and not (  # counted mentions are in order: the one before and the one after are the nearest
                    number > 0 and start - counted[number - 1][0] <= window
                    or number + 1 < len(counted) and counted[number + 1][0] - start <= window
                )
                and sum(mention[2] == index for mention in found) == 1  # its only mention, counted or not
            ):
                asides.add(index)
            weight = BODY_MENTION * (1.0 if context else NO_CONTEXT) * address
            if start >= tail_start:
                weight *= TAIL_FACTOR
            elif share < LEAD_SHARE:
                weight *= LEAD_BONUS
            elif share > END_SHARE and start not in listed and not (
                cut and context and _near(terms, *_sentence(doc, start, end, window))
            ):  # a list runs to its end; so does a cut excerpt (CUT_LINE_BYTES)
                weight *= 1 - (1 - END_FACTOR) * (share - END_SHARE) / (1 - END_SHARE)
            body[index].append(weight)
        raw: dict[int, float] = {}
        for index in in_title.keys() | body.keys():
            weights = sorted(body.get(index, ()), reverse=True)
            raw[index] = in_title.get(index, 0.0) + sum(
                w * REPEAT_DECAY**k for k, w in enumerate(weights)
            )
        return raw, asides

    def _without_namesakes(self, doc: str, found: list[tuple]) -> list[tuple]:
        """Drop an ambiguous name that another place's name qualifies: right before it
        (太仓市沙溪镇, 太仓沙溪: Taicang's Shaxi, not Zhongshan's) or after a town's name and a
        comma ("Shaxi Town, Taicang"), unless that place is its own county or city."""
        ends = {end: index for _, end, index, *_ in found}
        starts = {start: index for start, _, index, *_ in found}
        kept = []
        for mention in found:
            start, end, index, need = mention[:4]
            if need != ANYWHERE:
                before = [ends[e] for e in range(start - 4, start) if e in ends and doc[e + 1 : start] in _COUNTY_SUFFIXES]
                # "Shaxi Town, Taicang" (not a list: "Shenzhen, Guangzhou and Hangzhou")
                word = next((w for w in _TOWN_WORDS if doc.startswith(w, end + 1)), "")
                town = word or doc[start : end + 1].endswith(_TOWN_WORDS)
                comma = end + 1 + len(word)
                after = starts.get(comma + 2) if town and doc.startswith(", ", comma) else None
                other = before[-1] if before else after
                if other is not None and other != index and not self._kin(index, other):
                    continue
            kept.append(mention)
        return kept

    def _kin(self, a: int, b: int) -> bool:
        """Whether one of the two clusters (indices) lies in the other."""
        first, second = self._ids[a], self._ids[b]
        return first in self._ancestors[second] or second in self._ancestors[first]

    def _select(
        self, raw_by_index: dict[int, float], hints: Sequence[str], asides: frozenset[int] | set[int] = frozenset()
    ) -> tuple[ClusterTag, ...]:
        raw = {self._ids[i]: r for i, r in raw_by_index.items()}
        hinted: set[str] = set()
        for hint in hints:
            if hint in self._ancestors:
                hinted.add(hint)
                hinted.update(self._children.get(hint, ()))
            else:
                log.debug("ignoring unknown cluster hint %r", hint)
        for cluster_id in hinted & raw.keys():
            raw[cluster_id] *= HINT_FACTOR
        for cluster_id in {self._ids[i] for i in asides} - hinted:
            del raw[cluster_id]
        floor = -math.log(1 - MIN_SCORE)
        # A big city named with its clusters (Dongguan with Humen and Dalang) is where they
        # lie, not a rival: it does not set the bar the other clusters must reach.
        cities = {a for c in raw for a in self._city_ancestors[c]}
        best = max((r for c, r in raw.items() if c not in cities), default=0.0)
        tagged = {c for c, r in raw.items() if r >= floor and r >= DOMINANCE * best}
        # A prefecture folded into one of its tagged clusters is no rival of its others: in a
        # Shaoxing-wide story led by Keqiao, Zhuji meets the bar of the clusters left, not
        # that of Shaoxing, whose evidence they share.
        folded = {a for c in tagged for a in self._ancestors[c] if a in raw} - cities
        if folded and max(raw[a] for a in folded) >= best:
            rest = max((r for c, r in raw.items() if c not in cities and c not in folded), default=best)
            tagged |= {
                c for c, r in raw.items()
                if r >= floor and r >= DOMINANCE * rest and folded & set(self._ancestors[c])
            }
        # Nor does it take the place of its own district or town that another cluster's
        # story keeps below the bar (广州市增城区 in a Huarong delegation's visit): the one of
        # them with the most evidence above the floor is tagged instead, if no other is. Nor
        # does any tagged place take that of its town named more than once ("a fair opened in
        # Haimen ... Dieshiqiao is the biggest home textile market"): the town is the most
        # specific place of the story; a town named once is passing.
        for city in set(tagged):
            below = [c for c in raw if city in self._ancestors[c] and c not in tagged and raw[c] >= floor
                     and (city in cities or raw[c] > BODY_MENTION * LEAD_BONUS)]
            if below and not any(city in self._ancestors[c] for c in tagged):
                tagged.add(max(below, key=raw.__getitem__))
        # Most specific wins: an ancestor of a tagged cluster lends it evidence and goes.
        absorbed = {a for c in tagged for a in self._ancestors[c] if a in raw}
        tags = []
        for c in tagged - absorbed:
            evidence = raw[c] + ANCESTOR_SHARE * sum(raw[a] for a in self._ancestors[c] if a in absorbed)
            tags.append(ClusterTag(c, self.gazetteer[c].name, round(1 - math.exp(-evidence), 3)))
        return tuple(sorted(tags, key=lambda t: (-t.score, t.id)))


@functools.cache
def default_tagger(threshold: float = 0.5) -> Tagger:
    """A tagger on the packaged gazetteer, built once per process."""
    return Tagger(load_gazetteer(), threshold)


def tag_article(title: str | None, text: str | None, hints: Sequence[str] = (), threshold: float = 0.5) -> Tagging:
    """Module-level entry point for process pools that use the packaged gazetteer."""
    return default_tagger(threshold).tag(title, text, hints)


def tagger_for(settings: PipelineSettings) -> Tagger:
    """The tagger a crawl uses: the packaged gazetteer plus the configuration's own [[clusters]]."""
    return Tagger(load_gazetteer(list(settings.clusters), origin=settings.origin), settings.tagging.relevance_threshold)
