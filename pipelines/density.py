"""A density pass over the parsed tree: the element of the page that holds the article.

Chinese news and government pages put the article in one element (a <div> of the CMS's
editor, a <td> of a table layout) among menus, link lists, teasers and footers. One walk
over the tree counts, for every element, the characters under it of three kinds:

- sentences: text outside links with sentence punctuation (。，、；！？ or , . ; ! ?) that is
  not page furniture (an information line, a footer);
- links: text inside <a>;
- other: short text without punctuation (labels, menu items, dates).

The article's element is the one with the most sentence text net of its link text and,
at a lower weight, its other text: an element that takes in a menu or a list of other
stories pays for it, one that leaves out a paragraph loses it. A class or id such as
"content", "article" or "TRS_Editor" breaks near ties. The weights were chosen on one
half of the daniel-zh set (benchmarks/eval_extraction.py).

`article_lines` then reads that element line by line, leaving out link lists inside it.
It costs 2-4 ms a page, a fifth of a trafilatura pass.
"""

from __future__ import annotations

import re

import lxml.etree
import lxml.html

from loomwatch.pipelines.furniture import is_furniture

LINK_WEIGHT = 2.0  # a character of link text costs this many of sentence text
OTHER_WEIGHT = 0.3  # a character of unpunctuated text outside links costs this many
CLASS_BONUS = 0.2  # an element whose class or id names content scores this much more

# What holds no visible text of the article.
_SKIP = frozenset({
    "script", "style", "noscript", "iframe", "select", "option", "textarea", "button", "input", "head", "title",
    "meta", "link", "svg", "object", "embed", "template", "map", "canvas", "video", "audio", "nav",
})
# Elements that start a new line of text.
_BLOCKS = frozenset({
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "dt", "dd",
    "blockquote", "section", "article", "header", "footer", "center", "pre", "hr", "form", "main", "aside",
    "figure", "figcaption", "address", "tbody", "thead", "tfoot", "caption",
})
# Elements that can be the article's container.
_CONTAINERS = frozenset({
    "div", "td", "article", "section", "main", "body", "table", "tbody", "font", "span", "center", "form", "dd",
    "blockquote",
})
_PUNCTUATION = re.compile(r"[。，、；！？：,.;!?]")
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_CONTENT_NAME = re.compile(r"article|artibody|content|text|body|main|post|entry|detail|zw|zhengwen|con\b|txt|story|TRS_Editor", re.I)
_FURNITURE_CHECK_CHARS = 200  # furniture is short: longer text is not checked against its patterns


class Counts:
    __slots__ = ("sentence", "link", "other")

    def __init__(self) -> None:
        self.sentence = self.link = self.other = 0

    def add(self, other: Counts) -> None:
        self.sentence += other.sentence
        self.link += other.link
        self.other += other.other

    @property
    def score(self) -> float:
        return self.sentence - LINK_WEIGHT * self.link - OTHER_WEIGHT * self.other

    def is_link_list(self) -> bool:
        """Mostly links and hardly a sentence: a menu or a list of other stories."""
        return self.link > 0 and self.link >= self.sentence + self.other and self.sentence < 20


def _chars(text: str) -> int:
    return len(text) - sum(text.count(c) for c in " \n\t\r\u3000\xa0")


def _visible(element: lxml.html.HtmlElement) -> bool:
    tag = element.tag
    if not isinstance(tag, str) or tag in _SKIP:
        return False
    style = element.get("style")
    return style is None or _HIDDEN.search(style) is None


def _count(text: str, counts: Counts, in_link: bool) -> None:
    n = _chars(text)
    if not n:
        return
    if in_link:
        counts.link += n
    elif _PUNCTUATION.search(text) and (n > _FURNITURE_CHECK_CHARS or not is_furniture(text)):
        counts.sentence += n
    else:
        counts.other += n


def count_text(root: lxml.html.HtmlElement) -> dict[lxml.html.HtmlElement, Counts]:
    """Counts of every visible element under root (root included), in one walk."""
    counts: dict[lxml.html.HtmlElement, Counts] = {}
    stack: list[Counts] = []
    links = 0  # how many <a> elements we are inside
    walk = lxml.etree.iterwalk(root, events=("start", "end"))
    for event, element in walk:
        if event == "start":
            if element is not root and not _visible(element):
                walk.skip_subtree()
                continue
            own = Counts()
            stack.append(own)
            counts[element] = own
            if element.tag == "a":
                links += 1
            if element.text:
                _count(element.text, own, links > 0)
        else:
            if element not in counts:  # skipped: its tail still counts for its parent
                if stack and element.tail:
                    _count(element.tail, stack[-1], links > 0)
                continue
            own = stack.pop()
            if element.tag == "a":
                links -= 1
            if stack:
                stack[-1].add(own)
                if element.tail:
                    _count(element.tail, stack[-1], links > 0)
    return counts


def main_element(tree: lxml.html.HtmlElement) -> tuple[lxml.html.HtmlElement | None, dict[lxml.html.HtmlElement, Counts]]:
    """The element that holds the article, and the counts of every element."""
    body = tree.find("body") if tree.tag == "html" else None
    counts = count_text(body if body is not None else tree)
    best, best_score = None, 0.0
    for element, own in counts.items():
        if element.tag not in _CONTAINERS or own.sentence == 0:
            continue
        score = own.score
        names = f"{element.get('class') or ''} {element.get('id') or ''}"
        if score > 0 and names != " " and _CONTENT_NAME.search(names):
            score *= 1 + CLASS_BONUS
        if score > best_score:
            best, best_score = element, score
    return best, counts


def article_lines(tree: lxml.html.HtmlElement) -> list[str]:
    """The lines of text of the page's article element, link lists inside it left out."""
    element, counts = main_element(tree)
    if element is None:
        return []
    lines: list[str] = []
    parts: list[str] = []

    def flush() -> None:
        line = " ".join("".join(parts).split())
        if line:
            lines.append(line)
        parts.clear()

    walk = lxml.etree.iterwalk(element, events=("start", "end"))
    for event, child in walk:
        own = counts.get(child)
        if event == "start":
            if own is None or (child is not element and child.tag in _BLOCKS and own.is_link_list()):
                walk.skip_subtree()
                continue
            if child.tag in _BLOCKS:
                flush()
            if child.text:
                parts.append(child.text)
        else:
            if own is not None and child.tag in _BLOCKS:
                flush()
            if child is not element and child.tail:
                parts.append(child.tail)
    flush()
    return lines
