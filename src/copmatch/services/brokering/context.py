"""Everything one suggestion run reads, read once: the members, the documents' facts, the
contributions, who has met whom, the introductions so far, the document vectors and the
members' topics. ``suggest`` and the benchmark build one and pass it down, so no step
reads the store or recomputes the corpus's vectors a second time."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from copmatch.ranking.retrieval import Searcher
from copmatch.services.brokering.pair_model import Fitted, History, MemberState, PairModel, cached_fit, member_state
from copmatch.services.graph import build_graph, interactions
from copmatch.services.labels import Labeller, labeller_for
from copmatch.services.topics import MemberTopics, member_topics
from copmatch.settings import Settings
from copmatch.store.store import Store


@dataclass(frozen=True)
class BrokeringContext:
    searcher: Searcher
    settings: Settings
    members: dict[str, dict[str, Any]]  # member id -> store row
    facts: list[dict[str, Any]]  # document facts (id, kind, title, tags, parent_id, ...)
    met: frozenset[tuple[str, str]]  # canonical pairs that interacted in any way
    introductions: list[dict[str, Any]]  # every stored introduction, any status
    doc_vectors: np.ndarray  # (n_docs, dim) unit document vectors of the snapshot
    topics: MemberTopics
    labeller: Labeller

    @classmethod
    def load(cls, store: Store, searcher: Searcher, settings: Settings) -> BrokeringContext:
        members = {m["id"]: m for m in store.members()}
        facts = store.document_facts()
        graph = build_graph(members, interactions(facts, store.contributions()))
        doc_vectors = searcher.document_vectors()
        return cls(
            searcher=searcher,
            settings=settings,
            members=members,
            facts=facts,
            met=graph.met,
            introductions=store.introductions(),
            doc_vectors=doc_vectors,
            topics=member_topics(searcher, doc_vectors, settings),
            labeller=labeller_for(searcher, store, settings, doc_vectors),
        )

    def with_settings(self, store: Store, settings: Settings) -> BrokeringContext:
        """The same data under other settings (topics and labels recomputed; for tuning)."""
        return BrokeringContext(
            self.searcher,
            settings,
            self.members,
            self.facts,
            self.met,
            self.introductions,
            self.doc_vectors,
            member_topics(self.searcher, self.doc_vectors, settings),
            labeller_for(self.searcher, store, settings, self.doc_vectors),
        )

    @functools.cached_property
    def history(self) -> History:
        return History.of(self.searcher.corpus, self.doc_vectors, self.facts, self.searcher.document_rows)

    def fitted(self) -> Fitted:
        """Which scorer serves this snapshot's suggestions and why: the pair model learned
        from its history, or the hand-set formula (``pair_model.fit``); fitted once per
        snapshot version and model settings."""
        return cached_fit((str(self.searcher.path), self.searcher.version), self.history, self.settings)

    @functools.cached_property
    def _pair_model(self) -> tuple[PairModel, MemberState] | None:
        model = self.fitted().model
        return None if model is None else (model, member_state(self.history, np.inf, self.settings))

    def pair_model(self) -> tuple[PairModel, MemberState] | None:
        """The learned pair model and today's signals, or None when the hand-set formula
        serves (too little history, or learning did not beat it: ``fitted()``)."""
        return self._pair_model

    def silos(self) -> np.ndarray:
        """(n_members,) object: each snapshot member's silo now, "" when unknown."""
        ids = self.searcher.corpus.member_ids.tolist()
        return np.array([(self.members.get(m) or {}).get("silo") or "" for m in ids], dtype=object)
