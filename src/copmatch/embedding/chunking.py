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

from copmatch.embedding.chunk_cache import ONE_WINDOW, ChunkCache

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
        cache: ChunkCache | None = None,
    ) -> None:
        if overlap_tokens >= passage_tokens // 2:
            raise ValueError("overlap_tokens must be under half of passage_tokens")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.passage_tokens = passage_tokens
        self.overlap_tokens = overlap_tokens
        self.title_tokens = title_tokens
        self.cache = cache  # where bodies were cut before (embedding/chunk_cache.py), if kept

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
        prefixes: dict[str, tuple[str, int]] = {}
        for title, t_enc in zip(distinct, self.tokenizer.encode_batch(distinct, add_special_tokens=False)):
            prefix_tokens = min(len(t_enc), self.title_tokens)
            # Slack: a window cut inside a word re-tokenises its first piece as a word start.
            window = min(self.passage_tokens, self.max_tokens - SPECIAL_TOKENS - prefix_tokens - WINDOW_SLACK)
            prefixes[title] = (_cut(title, t_enc, self.title_tokens), window)
        windows = [prefixes[title][1] for title in titles]
        spans = self._spans(bodies, windows)
        passages: list[Passage] = []
        for row, (title, body, cuts) in enumerate(zip(titles, bodies, spans), start=first_row):
            prefix = prefixes[title][0]
            head = f"{prefix}\n" if prefix else ""
            if cuts == ONE_WINDOW:
                passages.append(Passage(row, 0, (head + body).strip(), 0, len(body)))
            else:
                passages.extend(Passage(row, seq, head + body[a:b], a, b) for seq, (a, b) in enumerate(cuts))
        return passages

    def _spans(self, bodies: Sequence[str], windows: list[int]) -> list[tuple[tuple[int, int], ...]]:
        """Each body's (start, end) character spans, or ONE_WINDOW: from the cache where it has
        them, else tokenised (and then kept in the cache)."""
        keys = [ChunkCache.key(body, window) for body, window in zip(bodies, windows)] if self.cache else []
        found = self.cache.get_many(keys) if self.cache else {}
        missing = [i for i in range(len(bodies)) if not keys or keys[i] not in found]
        encodings = self.tokenizer.encode_batch([bodies[i] for i in missing], add_special_tokens=False)
        fresh = {i: self._cuts(encoding, windows[i]) for i, encoding in zip(missing, encodings)}
        if self.cache and fresh:
            self.cache.put_many([(keys[i], cuts) for i, cuts in fresh.items()])
        return [fresh[i] if i in fresh else found[keys[i]] for i in range(len(bodies))]

    def query_windows(self, texts: Sequence[str]) -> list[list[str]]:
        """Each query text as windows the model can read whole (one window for most questions):
        a long question or a pasted abstract is split like a document, never truncated."""
        grouped: list[list[str]] = [[] for _ in texts]
        for passage in self.split([""] * len(texts), list(texts)):
            grouped[passage.document_row].append(passage.text)
        return [windows or [text] for windows, text in zip(grouped, texts)]

    def _cuts(self, encoding: Encoding, window: int) -> tuple[tuple[int, int], ...]:
        # Most documents fit one window: their offsets (a tuple per word piece) are never built.
        if len(encoding) <= window:
            return ONE_WINDOW
        offsets = encoding.offsets
        out = []
        step = window - self.overlap_tokens
        for first in range(0, len(offsets), step):
            last = min(first + window, len(offsets)) - 1
            out.append((offsets[first][0], offsets[last][1]))
            if last == len(offsets) - 1:
                break
        return tuple(out)


def _cut(text: str, encoding: Encoding, max_tokens: int) -> str:
    if len(encoding) <= max_tokens:
        return text.strip()
    return text[: encoding.offsets[max_tokens - 1][1]].strip()
