"""Why should these two meet? Human-readable reasons for a suggested introduction.

The reasons name the relation that scored highest (one asks about what the other knows,
or both work on the same things), the topics they share (common tags, else common key
terms) and one or two documents of each member that show it, with a snippet.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from copmatch.ranking.corpus import ASKER, OFFERING_CLASSES
from copmatch.ranking.retrieval import Searcher
from copmatch.ranking.snippets import focused_snippet
from copmatch.services.brokering.score import pair_terms
from copmatch.services.topics import MemberTopics, key_terms, member_tag_counts, shared_tags
from copmatch.settings import Settings
from copmatch.store.store import Store

ASKS, PEERS = "asks what the other knows", "work on the same topics"


class Explainer:
    def __init__(self, store: Store, searcher: Searcher, topics: MemberTopics, settings: Settings) -> None:
        self.searcher = searcher
        self.corpus = searcher.corpus
        self.topics = topics
        self.settings = settings
        self.doc_vectors = searcher.document_vectors()
        self.tags = member_tag_counts(store.document_facts(), store.contributions())

    def __call__(self, a: int, b: int, similarity: dict[str, float]) -> dict:
        t, ids = self.topics, self.corpus.member_ids
        id_a, id_b = str(ids[a]), str(ids[b])
        # The relation that added most to the pair's score is the one the reasons tell.
        terms = pair_terms(
            t,
            a,
            b,
            similarity["peer"],
            similarity["a_asks_b"],
            similarity["b_asks_a"],
            self.settings.intro_peer_weight,
            self.settings.intro_similarity_power,
        )
        strengths = dict(zip(("a_asks_b", "b_asks_a", "peer"), terms, strict=True))
        relation = max(strengths, key=lambda key: strengths[key])
        if relation == "peer":
            # Each member's documents closest to what the other works on: the common ground.
            docs = {id_a: self._documents(a, None, t.topic[b]), id_b: self._documents(b, None, t.topic[a])}
            summary = f"{id_a} and {id_b} {PEERS}"
        else:
            asker, knower = (a, b) if relation == "a_asks_b" else (b, a)
            docs = {
                str(ids[asker]): self._documents(asker, (ASKER,), t.expertise[knower]),
                str(ids[knower]): self._documents(knower, OFFERING_CLASSES, t.interest[asker]),
            }
            summary = f"{ids[asker]} {ASKS.replace('the other', str(ids[knower]))}"
        texts = self._passages(docs, t.topic[a] + t.topic[b])
        topics, source = shared_tags(self.tags.get(id_a, Counter()), self.tags.get(id_b, Counter()), 5), "tags"
        if not topics:
            own = {m: " ".join(f"{self.corpus.doc_titles[d]} {texts.get(d, '')}" for d in ds) for m, ds in docs.items()}
            topics, source = key_terms(own[id_a], own[id_b], 5), "key terms"
        return {
            "summary": summary + (f": {', '.join(topics)}" if topics else ""),
            "relation": PEERS if relation == "peer" else ASKS,
            "similarity": {key: round(float(value), 4) for key, value in similarity.items()},
            "shared_topics": topics,
            "topics_from": source,
            "evidence": {m: [self._evidence(m, d, texts.get(d, ""), topics) for d in ds] for m, ds in docs.items()},
        }

    def _documents(self, member: int, classes: tuple[int, ...] | None, direction: np.ndarray) -> list[int]:
        """The member's documents (of the given contribution classes) closest to ``direction``."""
        contrib = self.searcher.member_contributions(member)
        if classes is not None:
            contrib = contrib[np.isin(self.corpus.contrib_class[contrib], classes)]
        docs = self.corpus.contrib_doc[contrib].astype(np.int64)
        best = np.argsort(-(self.doc_vectors[docs] @ direction), kind="stable")
        return docs[best[: self.settings.intro_evidence_documents]].tolist()

    def _passages(self, docs: dict[str, list[int]], direction: np.ndarray) -> dict[int, str]:
        """Each document's passage closest to ``direction``, as text."""
        best: dict[int, int] = {}
        for doc in {d for ds in docs.values() for d in ds}:
            passages = self.searcher.document_passages(doc)
            if len(passages):
                scores = np.asarray(self.searcher.passage_vectors[passages]) @ direction
                best[doc] = int(passages[np.argmax(scores)])
        texts = self.searcher.passage_texts(sorted(best.values()))
        return {doc: texts.get(passage, "") for doc, passage in best.items()}

    def _evidence(self, member_id: str, doc: int, text: str, topics: list[str]) -> dict:
        corpus = self.corpus
        return {
            "document_id": str(corpus.doc_ids[doc]),
            "title": str(corpus.doc_titles[doc]),
            "kind": str(corpus.doc_kinds[doc]),
            "role": self.searcher.role_of(self.searcher.member_rows[member_id], doc),
            "snippet": focused_snippet(text, " ".join(topics), self.settings.snippet_chars),
        }
