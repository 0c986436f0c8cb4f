"""The corpus as it stood at a past moment: what the community knew before a question was asked.

The learned ranker trains on the community's own past questions, and every feature of a
training question must come from what existed strictly before it (nothing from its own
future: not its answers, not later activity). Instead of re-indexing per question, the
snapshot's arrays are masked by date: contributions to documents dated on or after the
moment are dropped, and passages of such documents are not searched. Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from copmatch.ranking.corpus import Corpus


def corpus_as_of(corpus: Corpus, day: float) -> Corpus:
    """The corpus restricted to contributions to documents dated strictly before ``day``.

    Undated documents are kept (nothing says they came later: standing practice documents).
    Document and member rows are unchanged, so arrays stay aligned with the full corpus.
    """
    if not np.isfinite(day):
        return corpus
    days = corpus.doc_days[corpus.contrib_doc]  # (n_contrib,)
    keep = ~(days >= day)  # NaN compares False: undated contributions are kept
    contrib_doc = corpus.contrib_doc[keep]
    doc_ptr = np.zeros(corpus.n_docs + 1, dtype=np.int64)
    np.add.at(doc_ptr, contrib_doc.astype(np.int64) + 1, 1)
    return replace(
        corpus,
        contrib_member=corpus.contrib_member[keep],
        contrib_doc=contrib_doc,
        contrib_class=corpus.contrib_class[keep],
        doc_ptr=np.cumsum(doc_ptr),
    )


def passages_before(corpus: Corpus, day: float) -> np.ndarray:
    """(n_passages,) bool: the passage's document existed before ``day`` (undated: yes)."""
    if not np.isfinite(day):
        return np.ones(corpus.n_passages, dtype=bool)
    return ~(corpus.doc_days[corpus.passage_doc] >= day)


def newest_day(corpus: Corpus) -> float:
    """The moment a snapshot describes: just after its newest dated document (NaN if none)."""
    dated = corpus.doc_days[np.isfinite(corpus.doc_days)]
    return float(dated.max()) + 1e-6 if len(dated) else float("nan")
