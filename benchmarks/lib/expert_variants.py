"""Ranker variants for the ablation and the one-at-a-time sweep, as Settings overrides.

Each variant changes the defaults in one way; the benchmark scores every test question
under each through ``experts.score_members`` (the function ``find_experts`` ranks with),
reusing one built index and one set of query vectors.
"""

from __future__ import annotations

from copmatch import Settings

# (name, what it tests, overrides)
ABLATIONS: list[tuple[str, str, dict]] = [
    ("copmatch (defaults)", "the shipped ranker", {}),
    ("no activity prior", "topical match alone", {"prior_weight": 0.0}),
    (
        "activity prior only",
        "no topical match at all",
        {"lexical_weight": 0.0, "dense_floor": 0.999, "profile_weight": 0.0, "cold_start_profile_weight": 0.0},
    ),
    ("no recency", "all past contributions count fully", {"recency_half_life_answers": 1e9}),
    ("relevance power 1", "volume of weak matches counts as much as strong ones", {"relevance_power": 1.0}),
    ("dense only", "no BM25 in passage relevance", {"lexical_weight": 0.0}),
    ("BM25 only", "no dense cosine in passage relevance", {"lexical_weight": 1.0}),
    (
        "no role weights",
        "accepted answer = answer = asked question",
        {"role_weight_accepted": 1.0, "role_weight_answer": 1.0, "role_weight_asker": 1.0},
    ),
    ("asked questions not evidence", "asking adds no topical evidence", {"role_weight_asker": 0.0}),
    ("+ asking as activity", "an asked question counts half an answer in activity", {"activity_question_weight": 0.5}),
    ("no profile", "bio/skills ignored", {"profile_weight": 0.0, "cold_start_profile_weight": 0.0}),
    (
        "profile scored like passages",
        "bio floor 0.25 and BM25 weight 0.2, as for passages",
        {"profile_floor": 0.25, "profile_lexical_weight": 0.2},
    ),
    ("+ acceptance-rate prior", "prior also scaled by acceptance rate (share 0.3)", {"prior_acceptance_share": 0.3}),
    (
        "best 3 documents only",
        "top_documents 3, rank decay 0.5 (the previous default)",
        {"top_documents": 3, "rank_decay": 0.5},
    ),
]

SWEEP: dict[str, list[float]] = {
    "recency_half_life_answers": [35, 50, 75, 100, 150, 200],
    "prior_weight": [0.25, 0.5, 0.75, 1.0],
    "activity_saturation": [2.0, 5.0, 10.0, 20.0],
    "newcomer_activity": [0.3, 1.0, 3.0],
    "activity_question_weight": [0.0, 0.25, 0.5],
    "relevance_power": [1.0, 2.0, 3.0, 4.0, 6.0],
    "lexical_weight": [0.0, 0.2, 0.35, 0.5],
    "dense_floor": [0.2, 0.25, 0.3],
    "match_saturation": [0.3, 1.0, 3.0],
    "match_floor": [0.03, 0.1, 0.3],
    "profile_floor": [0.25, 0.3, 0.35, 0.4],
    "cold_start_profile_weight": [0.65, 1.0, 1.65],
    "role_weight_answer": [0.5, 0.75, 1.0],
    "role_weight_asker": [0.0, 0.1, 0.25, 0.5],
    "top_documents": [3, 10, 20, 50],
}

QUICK_SWEEP = {k: SWEEP[k] for k in ("recency_half_life_answers", "prior_weight", "relevance_power")}


def sweep_variants(sweep: dict[str, list[float]], defaults: Settings) -> list[tuple[str, dict]]:
    """One (name, overrides) per swept value; the default value is marked."""
    out = []
    for field, values in sweep.items():
        default = getattr(defaults, field)
        for value in values:
            value = type(default)(value)
            mark = " (default)" if value == default else ""
            out.append((f"{field}={value:g}{mark}", {field: value}))
    return out
