"""Why should these two meet, and why now? Reasons a broker can check in seconds.

For a pair, the relation that added most to its score (``score.pair_terms``) decides which
documents count: the asker's questions and the other's answers and documents, or all the
documents of two peers. The pair's *shared topic* is the direction of their two closest
such documents (one of each); each member's documents nearest it are the candidates; the
topic is named from them (``labels.Labeller.common``: a tag, else a key phrase, that a
document of each member carries), and the documents shown for each member are their
documents nearest the topic that carry that label. So the topic named is what both
members' shown documents are about, by construction, and ``faithful`` checks it. A pair
with no label that both members' documents carry gets no reasons (and is not suggested).

*Why now*: both members' latest contribution and how many they made within one half-life
of the activity clock (the same recency that weighs their activity in the score).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from copmatch.ranking.corpus import ASKER, OFFERING_CLASSES
from copmatch.ranking.retrieval import normalise_rows
from copmatch.ranking.snippets import focused_snippet
from copmatch.services.brokering.context import BrokeringContext
from copmatch.services.brokering.score import pair_terms
from copmatch.services.labels import TAG, Label, contains_phrase, shown_text
from copmatch.services.topics import document_tags, recency_weights

ASKS, PEERS = "asks what the other knows", "work on the same topics"


@dataclass(frozen=True)
class SharedTopic:
    """What a pair has in common under one relation, before it is named."""

    relation: str  # "peer", "a_asks_b" or "b_asks_a"
    first: int  # member row: the asker under an asking relation
    second: int  # member row: the one who knows
    docs_first: np.ndarray  # the documents of ``first`` that count under the relation
    docs_second: np.ndarray
    direction: np.ndarray  # (dim,) unit: the sum of the closest document pair, one of each
    anchors: tuple[int, int]  # that closest document pair (rows)
    rank: int  # 0 for the strongest relation, 1 for the next...


class Explainer:
    def __init__(self, context: BrokeringContext) -> None:
        self.context = context
        self.searcher = context.searcher
        self.corpus = corpus = context.searcher.corpus
        self.settings = context.settings
        # Why now: each member's latest contribution and their contributions within a half-life.
        recent = recency_weights(corpus, self.settings) >= 0.5
        days = np.where(np.isfinite(corpus.doc_days), corpus.doc_days, -np.inf)[corpus.contrib_doc]
        self._last_day = np.full(corpus.n_members, -np.inf)
        np.maximum.at(self._last_day, corpus.contrib_member, days)
        self._recent = np.bincount(corpus.contrib_member, weights=recent, minlength=corpus.n_members).astype(int)

    def shared_topic(self, a: int, b: int, similarity: dict[str, float], skip: int = 0) -> SharedTopic | None:
        """The pair's shared topic under its strongest relation (``skip``: the next ones)."""
        s = self.settings
        terms = pair_terms(
            self.context.topics, a, b, similarity["peer"], similarity["a_asks_b"], similarity["b_asks_a"],
            s.intro_peer_weight, s.intro_similarity_power,
        )  # fmt: skip
        strengths = dict(zip(("a_asks_b", "b_asks_a", "peer"), terms, strict=True))
        # The relation that added most first; a relation whose documents share no label
        # falls back to the next.
        for relation in sorted(strengths, key=lambda key: -strengths[key])[skip:]:
            if relation == "peer":
                sides = ((a, None), (b, None))
            else:
                asker, knower = (a, b) if relation == "a_asks_b" else (b, a)
                sides = ((asker, (ASKER,)), (knower, OFFERING_CLASSES))
            docs = [self._member_docs(member, classes) for member, classes in sides]
            if any(len(d) == 0 for d in docs):
                continue
            vectors = self.context.doc_vectors
            closeness = vectors[docs[0]] @ vectors[docs[1]].T  # (n_a, n_b) every document pair
            i, j = np.unravel_index(int(np.argmax(closeness)), closeness.shape)
            direction = normalise_rows((vectors[docs[0][i]] + vectors[docs[1][j]])[None, :])[0]
            return SharedTopic(relation, sides[0][0], sides[1][0], docs[0], docs[1], direction,
                               (int(docs[0][i]), int(docs[1][j])), skip)  # fmt: skip
        return None

    def __call__(self, a: int, b: int, similarity: dict[str, float], topic: SharedTopic | None = None):
        """The reasons for pair (a, b) (member rows), or None when no topic both members'
        documents carry can be named under any relation."""
        topic = topic or self.shared_topic(a, b, similarity)
        while topic is not None:
            found = self._labels(topic)
            if found is not None:
                return self._reasons(a, b, similarity, topic, *found)
            topic = self.shared_topic(a, b, similarity, skip=topic.rank + 1)
        return None

    def _reasons(self, a, b, similarity, topic: SharedTopic, labels: list[Label], shown: list[list[int]]) -> dict:
        ids = self.corpus.member_ids
        first, second = topic.first, topic.second
        if topic.relation == "peer":
            summary = f"{ids[a]} and {ids[b]} both work on {labels[0].text}"
        else:
            summary = f"{ids[first]} asks about {labels[0].text}, which {ids[second]} knows"
        why_now = {str(ids[m]): self._activity(m) for m in (a, b)}
        texts = self._passages([d for docs in shown for d in docs], topic.direction)
        label_text = " ".join(label.text.replace("-", " ") for label in labels)
        return {
            "summary": summary,
            "relation": PEERS if topic.relation == "peer" else ASKS,
            "asker": None if topic.relation == "peer" else str(ids[first]),
            "similarity": {key: round(float(value), 4) for key, value in similarity.items()},
            "topic": labels[0].text,
            "shared_topics": [label.text for label in labels],
            "topics_from": "tags" if labels[0].source == TAG else "key phrases",
            "anchors": [str(self.corpus.doc_ids[d]) for d in topic.anchors],
            "evidence": {
                str(ids[member]): [self._evidence(member, d, texts.get(d, ""), label_text) for d in docs]
                for member, docs in zip((first, second), shown)
            },
            "why_now": why_now,
            # Said only when it holds: both contributed within one half-life of the clock.
            "why_now_summary": (
                "both active lately: " if all(v["recent_contributions"] for v in why_now.values()) else "activity: "
            )
            + "; ".join(f"{m} {self._describe_activity(v)}" for m, v in why_now.items()),
        }

    def _member_docs(self, member: int, classes: tuple[int, ...] | None) -> np.ndarray:
        contrib = self.searcher.member_contributions(member)
        if classes is not None:
            contrib = contrib[np.isin(self.corpus.contrib_class[contrib], classes)]
        return np.unique(self.corpus.contrib_doc[contrib].astype(np.int64))

    def _labels(self, topic: SharedTopic) -> tuple[list[Label], list[list[int]]] | None:
        """(labels, each side's shown documents) for a shared topic, or None."""
        vectors = self.context.doc_vectors
        nearest = []
        for side in (topic.docs_first, topic.docs_second):
            near = np.clip(vectors[side] @ topic.direction, 0.0, None)
            order = np.argsort(-near, kind="stable")[: self.settings.intro_label_documents]
            nearest.append((side[order], near[order]))
        (docs_a, near_a), (docs_b, near_b) = nearest
        labels = self.context.labeller.common(docs_a, near_a, docs_b, near_b, self.settings.intro_labels)
        if not labels:
            return None
        carriers = self.context.labeller.carries
        # Shown: each side's nearest documents carrying the main label, nearest first.
        shown = [
            [int(d) for d in side if carriers(int(d), labels[0])][: self.settings.intro_evidence_documents]
            for side, _ in nearest
        ]
        # Further labels only where a shown document of each member carries them too.
        labels = [labels[0]] + [
            label for label in labels[1:] if all(any(carriers(d, label) for d in side) for side in shown)
        ]
        return labels, shown

    def _passages(self, docs: list[int], direction: np.ndarray) -> dict[int, str]:
        """Each document's passage closest to ``direction``, as text."""
        best: dict[int, int] = {}
        for doc in set(docs):
            passages = self.searcher.document_passages(doc)
            if len(passages):
                scores = np.asarray(self.searcher.passage_vectors[passages]) @ direction
                best[doc] = int(passages[np.argmax(scores)])
        texts = self.searcher.passage_texts(sorted(best.values()))
        return {doc: texts.get(passage, "") for doc, passage in best.items()}

    def _evidence(self, member: int, doc: int, text: str, focus: str) -> dict[str, Any]:
        corpus = self.corpus
        return {
            "document_id": str(corpus.doc_ids[doc]),
            "title": str(corpus.doc_titles[doc]),
            "kind": str(corpus.doc_kinds[doc]),
            "role": self.searcher.role_of(member, doc),
            "snippet": focused_snippet(text, focus, self.settings.snippet_chars),
        }

    def _activity(self, member: int) -> dict[str, Any]:
        last = self._last_day[member]
        return {
            "last_active": datetime.fromtimestamp(last * 86400, UTC).date().isoformat() if np.isfinite(last) else None,
            "recent_contributions": int(self._recent[member]),
        }

    def _describe_activity(self, activity: dict[str, Any]) -> str:
        s = self.settings
        window = (
            f"the community's last {s.intro_activity_half_life_posts:g} posts"
            if s.intro_activity_clock == "posts"
            else f"the last {s.intro_activity_half_life_days:g} days"
        )
        last = f"last active {activity['last_active']}" if activity["last_active"] else "no dated activity"
        return f"{last}, {activity['recent_contributions']} contribution(s) in {window}"


def faithful(reasons: dict[str, Any], tags_of: dict[str, list[str]], bodies_of: dict[str, str]) -> bool:
    """Check of a suggestion's reasons against the documents themselves (their stored tags,
    the title shown and the stored body; not the labeller's matrices): the named topic is
    carried by every document shown for either member, and each further label by a shown
    document of each member."""
    evidence = reasons.get("evidence") or {}
    topics = reasons.get("shared_topics") or []
    if len(evidence) != 2 or not topics or any(not docs for docs in evidence.values()):
        return False

    def carries(item: dict, label: str) -> bool:
        if reasons.get("topics_from") == "tags":
            return label in tags_of.get(item["document_id"], [])
        return contains_phrase(shown_text(item["title"], bodies_of.get(item["document_id"], "")), label)

    main_ok = all(carries(e, topics[0]) for docs in evidence.values() for e in docs)
    rest_ok = all(any(carries(e, t) for e in docs) for t in topics[1:] for docs in evidence.values())
    return main_ok and rest_ok


def faithfulness_inputs(documents: list[dict]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Each document's tags (an answer takes its question's) and body, for ``faithful``."""
    return document_tags(documents), {d["id"]: d.get("body") or "" for d in documents}
