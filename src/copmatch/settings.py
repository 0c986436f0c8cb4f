"""All tunable settings in one frozen dataclass.

Defaults for ranking weights were chosen on the development dumps in
``../shared/data`` (see ``benchmarks/RESULTS.md``), never on test data. Library code
receives a ``Settings`` explicitly; only the interfaces read the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DATA_DIR_ENV = "COPMATCH_DATA_DIR"
DEFAULT_DATA_DIR = Path("copmatch-data")


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    # --- embedding -------------------------------------------------------------
    model_id: str = _setting("sentence-transformers/all-MiniLM-L6-v2", "Embedding model id recorded in manifests.")
    encode_batch_size: int = _setting(16, "Texts per model call when encoding (16 was fastest on 2 CPU cores).")
    passage_tokens: int = _setting(240, "Word pieces per passage (the model reads 256 incl. special tokens and title).")
    passage_overlap_tokens: int = _setting(32, "Word pieces shared by consecutive passages of one document.")
    title_tokens: int = _setting(24, "Word pieces of the document title kept as a prefix of every passage.")

    # --- index -----------------------------------------------------------------
    exact_index_max: int = _setting(200_000, "Collections up to this size use exact inner product; larger ones HNSW.")
    snapshots_kept: int = _setting(3, "Old index snapshots kept on disk after a successful build.")

    # --- retrieval --------------------------------------------------------------
    dense_top_k: int = _setting(400, "Passages retrieved by dense (FAISS) search per query.")
    sparse_top_k: int = _setting(400, "Passages retrieved by BM25 per query.")
    dense_floor: float = _setting(0.25, "Cosine below which a passage counts as unrelated (MiniLM's background level).")
    lexical_weight: float = _setting(
        0.35, "Weight of the saturated BM25 score next to the dense cosine in passage relevance."
    )
    lexical_saturation: float = _setting(8.0, "BM25 score at which the lexical term reaches half its weight.")

    # --- aggregation to members --------------------------------------------------
    top_documents: int = _setting(3, "A member's best documents that count; more adds no score (focus beats volume).")
    rank_decay: float = _setting(0.5, "Weight of a member's n-th best document relative to the (n-1)-th.")
    role_weight_accepted: float = _setting(1.0, "Evidence weight of an accepted answer.")
    role_weight_answer: float = _setting(0.75, "Evidence weight of an answer.")
    role_weight_author: float = _setting(0.85, "Evidence weight of an authored practice document or publication.")
    role_weight_asker: float = _setting(0.25, "Evidence weight of an asked question (interest, not expertise).")
    role_weight_other: float = _setting(0.3, "Evidence weight of any other role (editor, commenter).")

    # --- profile and priors -------------------------------------------------------
    profile_weight: float = _setting(0.35, "Weight of the bio/skills similarity next to content evidence.")
    cold_start_profile_weight: float = _setting(
        0.65, "Extra profile weight for a member with no documents, fading out as they write."
    )
    cold_start_documents: int = _setting(
        5, "Answers or authored documents after which the extra profile weight is gone."
    )
    prior_weight: float = _setting(
        0.3, "How much the query-independent prior (activity, acceptance, recency) scales the match."
    )
    prior_acceptance_share: float = _setting(
        0.3, "Share of the prior given to the acceptance rate (the rest: recent activity)."
    )
    recency_half_life_days: float = _setting(365.0, "Age at which a contribution's activity counts half.")

    # --- evidence ---------------------------------------------------------------------
    evidence_per_member: int = _setting(3, "Documents returned as evidence for each expert.")
    snippet_chars: int = _setting(220, "Length of an evidence snippet.")

    # --- limits ---------------------------------------------------------------------
    max_query_chars: int = _setting(4000, "Longest query text accepted.")
    max_limit: int = _setting(200, "Largest number of experts returned for one query.")

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **overrides)

    @classmethod
    def describe(cls) -> list[tuple[str, Any, str]]:
        """(name, default, help) for every setting, for docs and `--help`."""
        return [(f.name, f.default, f.metadata.get("help", "")) for f in fields(cls)]


def data_dir_from_env(explicit: Path | None = None) -> Path:
    """The data dir: an explicit path, else $COPMATCH_DATA_DIR, else ./copmatch-data."""
    if explicit is not None:
        return explicit
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else DEFAULT_DATA_DIR
