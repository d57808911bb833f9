"""Page furniture: the lines around an article that are not the article.

Chinese government and news CMSes print the same furniture on every page: a breadcrumb
(当前位置：首页 > 新闻中心), an information line (发布时间：… 来源：… 作者：… 浏览次数：…
字号：[大 中 小]), tool buttons (【打印本页】【关闭窗口】, 分享到：), the neighbours
(上一篇：<another article's title>), lists of other stories under a heading (相关阅读,
相关新闻), the editor's signature ((责任编辑：…)) and the site's footer (主办单位：…,
…ICP备…号, 版权所有). `clean_lines` drops them from extracted text, whichever extractor
produced it; `byline` reads the source (credit) and author they name, which are kept as metadata.
The patterns cover Simplified and Traditional spellings and English equivalents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A label followed by a colon, as information lines print them: 来源：新华社, 作者:李明.
_COLON = r"\s*[:：]"

# Labels of an information line (发布时间：… 来源：… 作者：… 浏览次数：…).
_META_LABELS = (
    "来源|來源|稿源|信息来源|信息來源|文章来源|文章來源|新闻来源|新聞來源|消息来源|出处|出處|"
    "作者|撰稿人?|撰文|记者|記者|通讯员|通訊員|摄影|攝影|图片|圖片|"
    "责任编辑|責任編輯|责编|責編|编辑|編輯|主编|主編|编审|編審|审核|審核|校对|校對|签发|簽發|"
    "发布时间|發布時間|發佈時間|发布日期|發布日期|發佈日期|发表时间|發表時間|发表日期|發表日期|"
    "更新时间|更新時間|成文日期|"
    "浏览次数|瀏覽次數|阅读次数|閱讀次數|点击数|點擊數|点击次数|點擊次數|访问次数|訪問次數|浏览|瀏覽|阅读|閱讀|点击|點擊|人气|"
    "字号|字號|字体|字體|发布机构|發布機構|发布者|發布者|信息提供|供稿|提供单位"
)
# An information line holds at least one "label：" at the start of a piece of text (so
# not "资金来源：…" inside a sentence); a date alone ("时间：2026-11-20 09:30") is one
# above the article's first sentence.
_META_FIELD = re.compile(rf"(?:^|(?<=[\s\[【(（|｜]))(?:{_META_LABELS}){_COLON}")
_DATE_ONLY = re.compile(
    r"^[\[【(（]?\s*(?:(?:时间|時間|日期)\s*[:：]\s*)?\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?"
    r"(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?\s*[\]】)）]?$"
)
_META_MAX_CHARS = 120  # an information line is short; a paragraph that starts "时间：" is not one
# ... and has no sentence in it: "记者：这次评级下调对股市有影响吗？" is an interview's question.
_SENTENCE = re.compile(r"[。，？！；?!]|[,;.] ")

# Tool buttons: a line made of nothing but these (and brackets, bars, spaces).
_TOOLS = re.compile(
    r"打印本页|打印本文|打印此页|打印文章|打印|列印本頁|列印|关闭窗口|关闭本页|關閉視窗|關閉窗口|关闭|關閉|"
    r"返回顶部|返回頂部|返回首页|返回|顶部|收藏本页|加入收藏|收藏|推荐给朋友|推薦給朋友|我要纠错|纠错|糾錯|"
    r"我要评论|我要評論|发表评论|發表評論|评论|評論|转发|轉寄|转载|复制链接|複製連結|保存本页|保存|"
    r"扫一扫在手机打开当前页|扫一扫在手机上查看当前页面|扫一扫|手机版|"
    r"字号|字號|字体|字體|大|中|小|默认|默認|T|Print|Close|Share|Email|Top|A\+|A-|A"
)
_TOOL_LEFTOVER = re.compile(r"[\s\[\]【】()（）|｜/:：,，、.·•>»\-_]+")
_SHARE = re.compile(r"^[\[【]?\s*(?:分享到|分享至|分享|轉貼到|转贴到|Share(?: this| on)?)\s*[:：]?")
_SHARE_MAX_CHARS = 60

# The neighbouring articles, with their titles: "上一篇：柯桥区召开…".
_NEIGHBOUR = re.compile(r"^[\[【]?\s*(?:上一篇|下一篇|上一条|下一条|上一則|下一則|上篇|下篇|前一篇|後一篇|后一篇|Previous|Next)(?:\s*(?:文章|新闻|新聞|article|post))?\s*[:：\]】>]", re.I)

# Breadcrumbs: "当前位置：首页 > 新闻中心 > 正文", or "首页 > 政务公开 > 通知公告" on its own.
_BREADCRUMB = re.compile(r"^(?:当前位置|當前位置|您的位置|你的位置|您现在的位置|您現在的位置|你现在的位置|所在位置|现在位置|位置|You are here)\s*[:：]", re.I)
_CRUMB_PATH = re.compile(r"^(?:首页|首頁|网站首页|網站首頁|主页|主頁|Home)\s*(?:[>»＞›→]|&gt;|-{1,2}>)", re.I)

# The site's footer: who runs the site, its licence numbers, its copyright.
_FOOTER = re.compile(
    r"主办单位|主辦單位|承办单位|承辦單位|主办：|主辦：|协办单位|技术支持[:：]|技術支持[:：]|网站标识码|網站標識碼|"
    r"ICP\s*[备備证證]|ICP[:：]?\s*\d|公网安备|公網安備|版权所有|版權所有|Copyright\s*(?:©|\(c\)|\d{4})|©\s*\d{4}|All Rights Reserved|"
    r"免责声明|免責聲明",
    re.I,
)
_FOOTER_MAX_CHARS = 200
# Footer links, furniture only on a short line of their own ("如有疑问请联系我们。" is text).
_FOOTER_LINKS = re.compile(r"网站地图|網站地圖|联系我们|聯繫我們|关于我们|關於我們|隐私声明|隱私聲明|使用帮助|Site ?map|Contact us|About us", re.I)

# A caption that is only an image's file name (图片5_副本.png, IMG_0412.JPG).
_IMAGE_NAME = re.compile(r"^\S{1,80}\.(?:jpe?g|png|gif|bmp|webp|tiff?)$", re.I)

# Headings of lists of other stories: the article ends there (sjfzxm's "Read the next
# article" is followed by the first paragraph of another story).
_TAIL_MARKER = re.compile(
    r"^\s*[\[【]?\s*(?:related (?:reading|stories|articles|news|posts|links)|read the next article|next article|previous article|"
    r"you may also like|recommended (?:reading|for you)|more (?:stories|news)|"
    r"相关阅读|相關閱讀|相关文章|相關文章|相关新闻|相關新聞|相关报道|相關報導|相关链接|相關連結|相关专题|相關專題|"
    r"延伸阅读|延伸閱讀|推荐阅读|推薦閱讀|热点推荐|熱點推薦|热门推荐|熱門推薦|猜你喜欢|猜你喜歡|更多新闻|更多新聞|"
    r"热点新闻|熱點新聞|最新新闻|最新新聞|今日推荐|今日推薦|精彩推荐|精彩推薦|相关稿件|相關稿件|"
    r"上一篇|下一篇)\s*[\]】]?\s*[:：]?",
    re.I,
)

# "来源：区经信局", "作者：李明" in the page's text: a label at the start of a piece of text
# (not "资金来源：财政拨款" inside a sentence) and a value up to the next space or label.
_CREDIT_LABELS = "来源|來源|稿源|信息来源|信息來源|文章来源|文章來源|新闻来源|新聞來源|消息来源|出处|出處"
_AUTHOR_LABELS = "作者|撰稿人?|撰文|记者|記者"
_BYLINE = re.compile(rf"(?:^|(?<=[\s\[【(（|｜]))({_CREDIT_LABELS}|{_AUTHOR_LABELS})\s*[:：]\s*"
                     rf"([^\s:：|｜/()（）\[\]【】<>,，。]{{2,30}}?)(?=$|[\s|｜/()（）\[\]【】<>,，。]|(?:{_META_LABELS})\s*[:：])")
_CREDIT = re.compile(_CREDIT_LABELS)


def _squeeze(line: str) -> str:
    return " ".join(line.split())


def _is_meta(line: str) -> bool:
    return (len(line) <= _META_MAX_CHARS and not _SENTENCE.search(line)
            and _META_FIELD.search(line) is not None)


def is_furniture(line: str) -> bool:
    """True for a line that belongs to the page, not to the article."""
    line = _squeeze(line)
    if not line:
        return True
    if _is_meta(line):
        return True
    if _BREADCRUMB.match(line) or _CRUMB_PATH.match(line) or _NEIGHBOUR.match(line) or _IMAGE_NAME.match(line):
        return True
    if len(line) <= _SHARE_MAX_CHARS and _SHARE.match(line):
        return True
    if len(line) <= _FOOTER_MAX_CHARS and _FOOTER.search(line):
        return True
    if len(line) <= 40 and _FOOTER_LINKS.search(line) and not _SENTENCE.search(line):
        return True
    # (责任编辑：王明) at the end of a paragraph-sized line is caught above only when
    # it stands alone; tool buttons are a line of button words and nothing else.
    return len(line) <= 40 and not _TOOL_LEFTOVER.sub("", _TOOLS.sub("", line))


def cut_tail(lines: list[str]) -> list[str]:
    """Drop everything from the first list-of-other-stories heading in the last two
    thirds of the text (a heading near the top is the site's menu, not the end)."""
    total = sum(map(len, lines)) or 1
    seen = 0
    for i, line in enumerate(lines):
        if seen > total / 3 and _TAIL_MARKER.match(line):
            return lines[:i]
        seen += len(line)
    return lines


def clean_lines(lines: Iterable[str]) -> list[str]:
    """The article's lines without furniture and without what follows its end. A date on
    a line of its own is the byline's above the first sentence, and the signature's (a
    notice's 落款) below it."""
    kept: list[str] = []
    for line in cut_tail([squeezed for line in lines if (squeezed := _squeeze(line))]):
        if is_furniture(line) or (_DATE_ONLY.match(line) and not any(_SENTENCE.search(k) for k in kept)):
            continue
        kept.append(line)
    return kept


def byline(text: str) -> tuple[str | None, str | None]:
    """(credit, author) that the page's information line names: 来源：区经信局, 作者：李明."""
    credit = author = None
    for label, value in _BYLINE.findall(text):
        if _CREDIT.fullmatch(label):
            credit = credit or value
        else:
            author = author or value
        if credit and author:
            break
    return credit, author
