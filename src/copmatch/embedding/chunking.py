"""Split documents into passages that fit the model's window, never truncating.

all-MiniLM-L6-v2 reads 256 word pieces including [CLS] and [SEP]. Each passage is the
document's (shortened) title followed by a window of the body; consecutive windows
overlap so a sentence cut at a boundary is whole in one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Encoding, Tokenizer

#: [CLS] and [SEP] take two places in the model's window.
SPECIAL_TOKENS = 2
WINDOW_SLACK = 4
DOCUMENTS_PER_BATCH = 10_000


@dataclass(frozen=True)
class Passage:
    document_row: int
    seq: int
    text: str
    #: Character span of the body window inside the document body, for snippets.
    start: int
    end: int


def load_tokenizer(model_path: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


class Chunker:
    def __init__(
        self,
        tokenizer: Tokenizer,
        max_tokens: int = 256,
        passage_tokens: int = 240,
        overlap_tokens: int = 32,
        title_tokens: int = 24,
    ) -> None:
        if overlap_tokens >= passage_tokens // 2:
            raise ValueError("overlap_tokens must be under half of passage_tokens")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.passage_tokens = passage_tokens
        self.overlap_tokens = overlap_tokens
        self.title_tokens = title_tokens

    def split(self, titles: Sequence[str], bodies: Sequence[str]) -> list[Passage]:
        """Passages for documents given as parallel title/body lists (batched tokenisation).

        Tokenised ``DOCUMENTS_PER_BATCH`` at a time: a tokenizer Encoding keeps ~100 bytes per
        word piece, so a million documents tokenised at once held ~15 GB."""
        passages: list[Passage] = []
        for start in range(0, len(titles), DOCUMENTS_PER_BATCH):
            end = start + DOCUMENTS_PER_BATCH
            passages += self._split(titles[start:end], bodies[start:end], start)
        return passages

    def _split(self, titles: Sequence[str], bodies: Sequence[str], first_row: int) -> list[Passage]:
        # Answers share their question's title: each distinct title is tokenised once.
        distinct = list(dict.fromkeys(titles))
        by_title = dict(zip(distinct, self.tokenizer.encode_batch(distinct, add_special_tokens=False)))
        body_encodings = self.tokenizer.encode_batch(list(bodies), add_special_tokens=False)
        passages: list[Passage] = []
        prefixes: dict[str, tuple[str, int]] = {}
        for row, (title, body, b_enc) in enumerate(zip(titles, bodies, body_encodings), start=first_row):
            if title not in prefixes:
                t_enc = by_title[title]
                prefixes[title] = (_cut(title, t_enc, self.title_tokens), min(len(t_enc), self.title_tokens))
            prefix, prefix_tokens = prefixes[title]
            # Slack: a window cut inside a word re-tokenises its first piece as a word start.
            window = min(self.passage_tokens, self.max_tokens - SPECIAL_TOKENS - prefix_tokens - WINDOW_SLACK)
            passages.extend(self._windows(row, prefix, body, b_enc, window))
        return passages

    def query_windows(self, texts: Sequence[str]) -> list[list[str]]:
        """Each query text as windows the model can read whole (one window for most questions):
        a long question or a pasted abstract is split like a document, never truncated."""
        grouped: list[list[str]] = [[] for _ in texts]
        for passage in self.split([""] * len(texts), list(texts)):
            grouped[passage.document_row].append(passage.text)
        return [windows or [text] for windows, text in zip(grouped, texts)]

    def _windows(self, row: int, prefix: str, body: str, encoding: Encoding, window: int) -> list[Passage]:
        head = f"{prefix}\n" if prefix else ""
        # Most documents fit one window: their offsets (a tuple per word piece) are never built.
        if len(encoding) <= window:
            return [Passage(row, 0, (head + body).strip(), 0, len(body))]
        offsets = encoding.offsets
        out = []
        step = window - self.overlap_tokens
        for seq, first in enumerate(range(0, len(offsets), step)):
            last = min(first + window, len(offsets)) - 1
            start, end = offsets[first][0], offsets[last][1]
            out.append(Passage(row, seq, head + body[start:end], start, end))
            if last == len(offsets) - 1:
                break
        return out


def _cut(text: str, encoding: Encoding, max_tokens: int) -> str:
    if len(encoding) <= max_tokens:
        return text.strip()
    return text[: encoding.offsets[max_tokens - 1][1]].strip()
