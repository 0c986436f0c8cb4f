"""A large, realistic community re-combined from the development dumps, and vectors for it.

The six dumps hold 13,839 passages; a million-passage community re-uses their text ~70 times,
so documents are re-combined at the sentence level: each thread takes a real question's
title, a question body mostly from that real question's sentences and answers mostly from
its real answers', mixed with sentences of other posts of the same dump (same topic). Members
have a home dump (their expertise), a silo correlated with it, Zipf-skewed activity (a small
core answers most), bios from the dumps' Users.xml for some; dates grow towards the present.

Encoding a million passages takes ~16 hours here, so index-side figures use
``RecombinedVectors`` instead of the model: a passage's vector is the length-weighted mean of
the real (cached, all-MiniLM-L6-v2) vectors of the passages its sentences came from, plus a
little deterministic noise, renormalised. The vectors live in the model's own space (queries
are encoded by the real model and land near the right passages), at ~50k passages/s. It
reports the real encoder's identity, so the snapshot is queried with the real ONNX encoder.
"""

from __future__ import annotations

import json
import re
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.lib.results import SHARED_DUMPS
from copmatch.embedding.cache import text_hash
from copmatch.embedding.chunking import Chunker, load_tokenizer
from copmatch.embedding.encoder import Embedder, EncoderIdentity, bundled_model_path
from copmatch.ingest.stackexchange import read_dump
from copmatch.progress import Advance
from copmatch.ranking.corpus import display_titles

DUMPS = ("beer", "coffee", "history-meta", "cardano", "music-meta", "bicycles-meta")
PREWARMED_CACHE = Path("/work/cache/embeddings.sqlite")
SENTENCE = re.compile(r"(?<=[.!?])\s+")
NOISE_ROWS = 4096
NOISE_SCALE = 0.25
SILOS = 12
MIN_SENTENCE_CHARS = 25


@dataclass
class Thread:
    dump: int
    title: str
    question: list[int]  # sentence ids
    answers: list[list[int]]
    tags: tuple[str, ...]


@dataclass
class SourcePool:
    """Real sentences with the vector row of the real passage each came from."""

    sentences: list[str] = field(default_factory=list)
    sentence_row: list[int] = field(default_factory=list)
    sentence_dump: list[int] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    title_row: dict[str, int] = field(default_factory=dict)
    threads: list[Thread] = field(default_factory=list)
    bios: list[str] = field(default_factory=list)
    tags_by_dump: list[list[str]] = field(default_factory=list)


def cached_vectors(hashes: Sequence[str], cache: Path = PREWARMED_CACHE) -> dict[str, np.ndarray]:
    conn = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(hashes), 500):
        chunk = list(hashes[start : start + 500])
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT text_hash, vector FROM vectors WHERE text_hash IN ({marks})", chunk)
        found.update((h, np.frombuffer(blob, dtype=np.float32)) for h, blob in rows)
    conn.close()
    return found


def passage_vectors(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """The real vectors of the dumps' passages, by text hash.

    From the machine's prewarmed cache where there is one; otherwise from the benchmarks'
    shared embedding cache, encoding what it lacks with the bundled model's ONNX export (once:
    13,839 passages, about 5 minutes here), so the benchmark runs on a fresh machine too and the
    other benchmarks' data dirs reuse the vectors."""
    if PREWARMED_CACHE.exists():
        return cached_vectors([text_hash(t) for t in texts])
    from benchmarks.lib.communities import SHARED_CACHE
    from copmatch import Settings
    from copmatch.cli.render import progress_bars
    from copmatch.embedding.cache import EmbeddingCache, encode_cached
    from copmatch.embedding.choice import build_encoder

    settings = Settings()
    SHARED_CACHE.mkdir(parents=True, exist_ok=True)
    encoder = build_encoder(SHARED_CACHE.parent, settings.model_id, "fp32", settings.encode_batch_size)
    cache = EmbeddingCache(SHARED_CACHE / "embeddings.sqlite", encoder.cache_key)
    try:
        with progress_bars() as progress:
            vectors, _ = encode_cached(encoder, cache, texts, progress.task("Encoding the dumps' passages", len(texts)))
    finally:
        cache.close()
    return {text_hash(t): v for t, v in zip(texts, vectors)}


def load_pool(dumps: Sequence[str] = DUMPS) -> SourcePool:
    """Sentences of every real passage of the dumps, with its vector."""
    pool = SourcePool()
    chunker = Chunker(load_tokenizer(bundled_model_path()))
    for dump_no, name in enumerate(dumps):
        batch = read_dump(SHARED_DUMPS / name)
        docs = [
            {"id": d.id, "title": d.title, "body": d.body, "parent_id": d.parent_id, "kind": d.kind}
            for d in batch.documents
        ]
        titles = display_titles(docs)
        passages = chunker.split(titles, [d["body"] for d in docs])
        vectors = passage_vectors([p.text for p in passages])
        by_doc: dict[int, list[int]] = {}
        for p in passages:
            vector = vectors.get(text_hash(p.text))
            if vector is None:
                continue
            row = len(pool.vectors)
            pool.vectors.append(vector)
            if p.seq == 0 and docs[p.document_row]["kind"] == "question":
                pool.title_row.setdefault(titles[p.document_row], row)
            for sentence in SENTENCE.split(docs[p.document_row]["body"][p.start : p.end]):
                if len(sentence) >= MIN_SENTENCE_CHARS:
                    by_doc.setdefault(p.document_row, []).append(len(pool.sentences))
                    pool.sentences.append(sentence.strip())
                    pool.sentence_row.append(row)
                    pool.sentence_dump.append(dump_no)
        answers: dict[str, list[int]] = {}
        for i, d in enumerate(docs):
            if d["kind"] == "answer" and d["parent_id"] and i in by_doc:
                answers.setdefault(d["parent_id"], []).append(i)
        tag_counts: dict[str, int] = {}
        for i, d in enumerate(batch.documents):
            for tag in d.tags:
                tag_counts[tag] = tag_counts.get(tag, 0) + 1
            if d.kind == "question" and i in by_doc and titles[i] in pool.title_row:
                pool.threads.append(
                    Thread(dump_no, titles[i], by_doc[i], [by_doc[a] for a in answers.get(d.id, [])], d.tags)
                )
        pool.tags_by_dump.append(sorted(tag_counts, key=lambda t: -tag_counts[t])[:60])
        pool.bios += [m.bio for m in batch.members if len(m.bio) >= 40]
    return pool


@dataclass(frozen=True)
class CommunityShape:
    """How many of what, and how skewed."""

    threads: int
    members: int
    answers_per_thread: float = 1.8
    practice_share: float = 0.04
    bio_share: float = 0.35
    zipf_answerers: float = 1.1
    zipf_askers: float = 0.7
    home_loyalty: float = 0.85
    first_day: str = "2016-01-01"
    days: int = 3650


class Generator:
    def __init__(self, pool: SourcePool, shape: CommunityShape, seed: int = 0) -> None:
        self.pool, self.shape = pool, shape
        self.rng = np.random.default_rng(seed)
        n_dumps = len(pool.tags_by_dump)
        self.sentence_dump = np.array(pool.sentence_dump)
        self.dump_sentences = [np.flatnonzero(self.sentence_dump == d) for d in range(n_dumps)]
        self.dump_threads = [[t for t in pool.threads if t.dump == d] for d in range(n_dumps)]
        sizes = np.array([len(s) for s in self.dump_sentences], dtype=float)
        self.dump_weight = sizes / sizes.sum()
        rng, m = self.rng, shape.members
        self.home = rng.choice(n_dumps, m, p=self.dump_weight)
        # Zipf activity: rank r answers with weight 1 / r**s, ranks shuffled across members.
        self.answer_weight = 1.0 / rng.permutation(np.arange(1, m + 1)) ** shape.zipf_answerers
        self.ask_weight = 1.0 / rng.permutation(np.arange(1, m + 1)) ** shape.zipf_askers
        self.home_members = [np.flatnonzero(self.home == d) for d in range(n_dumps)]
        self.home_cdf = [np.cumsum(self.answer_weight[ms]) / self.answer_weight[ms].sum() for ms in self.home_members]
        self.answer_cdf = np.cumsum(self.answer_weight) / self.answer_weight.sum()
        self.ask_cdf = np.cumsum(self.ask_weight) / self.ask_weight.sum()
        self.start = np.datetime64(shape.first_day, "s")

    def members(self) -> Iterator[dict]:
        rng, pool = self.rng, self.pool
        dump_silos = [rng.choice(SILOS, 2, replace=False) for _ in pool.tags_by_dump]
        for i in range(self.shape.members):
            home = int(self.home[i])
            silo = int(rng.choice(dump_silos[home])) if rng.random() < 0.8 else int(rng.integers(SILOS))
            member = {"id": f"m{i}", "name": f"Member {i}", "silo": f"Department {silo + 1}"}
            if rng.random() < self.shape.bio_share and pool.bios:
                member["bio"] = pool.bios[int(rng.integers(len(pool.bios)))]
            elif rng.random() < 0.5:
                tags = pool.tags_by_dump[home]
                member["skills"] = [str(t) for t in rng.choice(tags, min(3, len(tags)), replace=False)]
            yield member

    def documents(self, first_thread: int = 0, threads: int | None = None) -> Iterator[dict]:
        rng, shape = self.rng, self.shape
        for g in range(first_thread, first_thread + (threads if threads is not None else shape.threads)):
            dump = int(rng.choice(len(self.dump_weight), p=self.dump_weight))
            source = self.dump_threads[dump][int(rng.integers(len(self.dump_threads[dump])))]
            day = self.start + np.timedelta64(int(shape.days * rng.random() ** 0.6 * 86400), "s")
            tags = list(source.tags)
            if rng.random() < shape.practice_share:
                body = self._body(dump, source.question + sum(source.answers, []), int(rng.integers(15, 45)))
                author = self._answerer(dump)
                title = f"Practice note: {source.title}"
                yield _doc(f"p{g}", "practice", title, body, [author], tags, day)
                continue
            asker = f"m{int(np.searchsorted(self.ask_cdf, rng.random()))}"
            body = self._body(dump, source.question, 1 + int(rng.poisson(3)))
            yield _doc(f"q{g}", "question", source.title, body, [asker], tags, day)
            n_answers = int(rng.poisson(shape.answers_per_thread))
            accepted = int(rng.integers(n_answers)) if n_answers and rng.random() < 0.6 else -1
            for j in range(n_answers):
                real = source.answers[j % len(source.answers)] if source.answers else source.question
                long = rng.random() < 0.08
                size = int(rng.integers(12, 40)) if long else 2 + int(rng.poisson(4))
                answered = day + np.timedelta64(int(rng.exponential(3 * 86400)), "s")
                doc = _doc(
                    f"a{g}-{j}", "answer", "", self._body(dump, real, size), [self._answerer(dump)], [], answered
                )
                doc |= {"parent_id": f"q{g}", "accepted": j == accepted}
                yield doc

    def _answerer(self, dump: int) -> str:
        rng = self.rng
        if rng.random() < self.shape.home_loyalty and len(self.home_members[dump]):
            members = self.home_members[dump]
            return f"m{int(members[np.searchsorted(self.home_cdf[dump], rng.random())])}"
        return f"m{int(np.searchsorted(self.answer_cdf, rng.random()))}"

    def _body(self, dump: int, own: list[int], size: int) -> str:
        """``size`` sentences: a run of the real post's own (up to 70%, in order), the rest
        drawn from its dump and placed at random between them."""
        rng = self.rng
        n_own = min(len(own), round(0.7 * size))
        start = int(rng.integers(len(own))) if own else 0
        picked = [own[(start + k) % len(own)] for k in range(n_own)]
        sentences = self.dump_sentences[dump]
        for _ in range(size - n_own):
            picked.insert(int(rng.integers(len(picked) + 1)), int(sentences[int(rng.integers(len(sentences)))]))
        return " ".join(self.pool.sentences[i] for i in picked)


def _doc(doc_id: str, kind: str, title: str, body: str, authors: list[str], tags: list, day: np.datetime64) -> dict:
    return {
        "id": doc_id,
        "kind": kind,
        "title": title,
        "body": body,
        "authors": authors,
        "tags": tags,
        "created_at": str(day) + "Z",
    }


def write_jsonl(path: Path, records: Iterator[dict]) -> int:
    count = 0
    with open(path, "w") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


class RecombinedVectors:
    """Stands in for the encoder on re-combined text (see the module docstring); Encoder protocol."""

    def __init__(self, pool: SourcePool, batch_size: int = 16) -> None:
        real = Embedder(batch_size=batch_size)  # for its paths and identity only: no model load
        self.model_path = real.model_path
        self.model_id = real.model_id
        self._identity = real.identity
        self._dimension = real.dimension
        self._max_tokens = real.max_tokens
        self.batch_size = batch_size
        self.vectors = np.stack(pool.vectors).astype(np.float32)  # (n_real_passages, dim)
        self.sentence_row = dict(zip(pool.sentences, pool.sentence_row))
        self.title_row = pool.title_row
        noise = np.random.default_rng(7).standard_normal((NOISE_ROWS, self._dimension)).astype(np.float32)
        self.noise = NOISE_SCALE * noise / np.linalg.norm(noise, axis=1, keepdims=True)

    @property
    def identity(self) -> EncoderIdentity:
        return self._identity

    @property
    def cache_key(self) -> str:
        return self.model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def encode(
        self, texts: Sequence[str], batch_size: int | None = None, progress: Advance | None = None
    ) -> np.ndarray:
        from scipy.sparse import csr_matrix

        rows, cols, weights = [], [], []
        fallback = 0
        for i, text in enumerate(texts):
            title, _, body = text.partition("\n") if "\n" in text else ("", "", text)
            found = False
            for sentence in SENTENCE.split(body):
                row = self.sentence_row.get(sentence.strip())
                if row is not None:
                    rows.append(i)
                    cols.append(row)
                    weights.append(len(sentence))
                    found = True
            row = self.title_row.get(title.strip(), self.title_row.get(text.strip()))
            if row is not None or not found:
                rows.append(i)
                cols.append(row if row is not None else fallback)
                weights.append(40.0)
        mix = csr_matrix((weights, (rows, cols)), shape=(len(texts), len(self.vectors)), dtype=np.float32)
        out = np.asarray(mix @ self.vectors)  # (n, dim)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        out += self.noise[[zlib.crc32(t.encode()) % NOISE_ROWS for t in texts]]
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        if progress:
            progress(len(texts))
        return out.astype(np.float32)
