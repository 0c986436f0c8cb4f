"""Plain-text helpers shared by ingest and evidence display.

Standard library only: HTML cleaning runs on every imported body, and a parser
dependency (lxml, bs4) would be a heavy install for what ``html.parser`` does well enough.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Tags that start a new line in the rendered text. Everything else is inline, so
# "a<b>b</b>c" stays one word, as a browser would show it.
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip

# Their content is never text a reader sees.
_HIDDEN_TAGS = frozenset({"script", "style", "template"})

_WHITESPACE = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        # convert_charrefs unescapes entities (&amp;, &#xA; ...) before handle_data.
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._pre_depth = 0
        self._hidden_depth = 0

    def _break(self) -> None:
        self.lines.append("".join(self._line))
        self._line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden_depth += 1
        elif tag in _BLOCK_TAGS:
            self._break()
            if tag == "pre":
                self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/> must break like <br>, but must not open a hidden/pre region it never closes.
        if tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._break()
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._hidden_depth:
            return
        if self._pre_depth:
            # Code keeps its line structure: one code line per text line reads far
            # better in evidence than a squashed one-liner.
            first, *rest = data.split("\n")
            self._line.append(first)
            for code_line in rest:
                self._break()
                self._line.append(code_line)
        else:
            # Outside <pre>, source newlines are layout, not content (browsers agree).
            self._line.append(data.replace("\n", " "))

    def text(self) -> str:
        self.close()
        self._break()
        cleaned = (_WHITESPACE.sub(" ", line).strip() for line in self.lines)
        return "\n".join(line for line in cleaned if line)


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML fragment.

    Block elements (paragraphs, list items, headings, ``<br>``) become line breaks,
    code keeps its text and lines, tags are dropped, entities unescaped, runs of
    whitespace collapse to one space, and blank lines are removed.
    """
    if not html:
        return ""
    parser = _TextExtractor()
    parser.feed(html)
    return parser.text()


def snippet(text: str, max_chars: int = 200) -> str:
    """``text`` on one line, cut to at most ``max_chars`` at a word boundary with "…"."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    flat = _WHITESPACE.sub(" ", text).strip()
    if len(flat) <= max_chars:
        return flat
    # Leave room for the ellipsis so the result never exceeds max_chars.
    cut = flat[: max_chars - 1]
    space = cut.rfind(" ")
    # A single very long token (a URL) has no usable boundary: cut it mid-word
    # rather than return almost nothing.
    if space > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


_ANGLE_TAG = re.compile(r"<([^<>]*)>")


def parse_tags(raw: str) -> tuple[str, ...]:
    """Tags from a StackExchange ``Tags`` field: ``<a><b>`` (older dumps) or ``|a|b|`` (newer).

    Order is kept and duplicates and blanks dropped.
    """
    raw = (raw or "").strip()
    parts = _ANGLE_TAG.findall(raw) if raw.startswith("<") else raw.split("|")
    tags = (part.strip() for part in parts)
    return tuple(dict.fromkeys(tag for tag in tags if tag))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\w\w+")


def focused_snippet(text: str, query: str, max_chars: int = 200) -> str:
    """A snippet that starts at the sentence sharing the most words with the query.

    A passage window can start mid-sentence and its best part may be at the end; showing
    the sentence that matches tells the reader *why* at a glance.
    """
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    if len(sentences) <= 1:
        return snippet(text, max_chars)
    query_words = set(_WORD.findall(query.lower()))
    overlap = [len(query_words.intersection(_WORD.findall(s.lower()))) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: (overlap[i], -i))
    start = best if overlap[best] else 0
    # A window cut mid-sentence leaves a fragment first; prefer the next full sentence.
    if start == 0 and text[:1].islower():
        start = 1
    # Only as many sentences as can show (evidence is built on every query).
    shown, size = [], 0
    for sentence in sentences[start:]:
        flat = _WHITESPACE.sub(" ", sentence).strip()
        shown.append(flat)
        size += len(flat) + 1
        if size > max_chars + 1:  # joined, longer than max_chars: the snippet is cut anyway
            break
    return snippet(" ".join(shown), max_chars)
