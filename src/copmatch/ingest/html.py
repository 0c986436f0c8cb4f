"""HTML to plain text for imported bodies and bios.

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
