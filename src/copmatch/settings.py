"""All tunable settings in one frozen dataclass.

Defaults for ranking weights were chosen on the development dumps in
``../shared/data`` (see ``benchmarks/RESULTS.md``), never on test data. Library code
receives a ``Settings`` explicitly; only the interfaces read the environment.
"""

from __future__ import annotations

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
    # Two single-threaded calls of a few queries each beat one call on both cores with every
    # waiting query: more throughput and a shorter tail (benchmarks/api_load.py compares them).
    serve_encoder_workers: int = _setting(
        2, "Server: model calls run at once, each on its own batch of concurrent queries."
    )
    serve_encoder_threads: int = _setting(1, "Server: onnxruntime threads per model call; 0 = one per core.")
    serve_max_batch: int = _setting(4, "Server: most queries encoded in one model call.")
    serve_max_wait_ms: float = _setting(2.0, "Server: how long a lone query waits for others to share its model call.")
    # Queries come before a background rebuild: it runs on what CPU they leave (api_load.py
    # measures queries' latency during a rebuild with and without it).
    rebuild_nice: int = _setting(
        10, "Server: scheduling niceness added to a background rebuild's threads (0 = same as queries; Linux)."
    )
    cache_commit_texts: int = _setting(
        512, "Texts encoded between commits to the embedding cache (a killed build loses at most these)."
    )
    encoder_variant: str = _setting(
        "fp32", "Encoder of builds and queries: fp32, or int8 (~2x faster, slightly less exact; export it first)."
    )

    # --- index -----------------------------------------------------------------
    exact_index_max: int = _setting(
        100_000, "Collections up to this size use exact inner product; larger ones IVF+SQ8 (benchmarks/scale.py)."
    )
    ivf_lists_per_sqrt: float = _setting(2.0, "IVF inverted lists per square root of the collection size.")
    ivf_nprobe: int = _setting(32, "IVF lists scanned per query (recall@10 >= 0.95 at 1M in benchmarks/scale.py).")
    snapshots_kept: int = _setting(3, "Old index snapshots kept on disk after a successful build.")
    ray_min_texts: int = _setting(
        512, "index build --ray: fewer texts (or documents) than this are encoded (chunked) locally: actors cost more."
    )
    ivf_retrain_ratio: float = _setting(
        1.25, "An incremental build retrains the IVF lists once the list count the size calls for moves by this factor."
    )

    # --- retrieval --------------------------------------------------------------
    dense_top_k: int = _setting(400, "Passages retrieved by dense (FAISS) search per query.")
    sparse_top_k: int = _setting(400, "Passages retrieved by BM25 per query.")
    dense_floor: float = _setting(0.25, "Cosine below which a passage counts as unrelated (MiniLM's background level).")
    lexical_weight: float = _setting(
        0.35, "Weight of the saturated BM25 score next to the dense cosine in passage relevance."
    )
    lexical_saturation: float = _setting(8.0, "BM25 score at which the lexical term reaches half its weight.")

    # --- aggregation to members --------------------------------------------------
    relevance_power: float = _setting(
        4.0, "Power applied to document relevance before summing per member (few strong matches beat many weak)."
    )
    top_documents: int = _setting(20, "A member's best documents that count; more adds no score.")
    rank_decay: float = _setting(1.0, "Weight of a member's n-th best document relative to the (n-1)-th.")
    role_weight_accepted: float = _setting(1.0, "Evidence weight of an accepted answer.")
    role_weight_answer: float = _setting(0.75, "Evidence weight of an answer.")
    role_weight_author: float = _setting(0.85, "Evidence weight of an authored practice document or publication.")
    role_weight_asker: float = _setting(0.25, "Evidence weight of an asked question (interest, not expertise).")
    role_weight_other: float = _setting(0.3, "Evidence weight of any other role (editor, commenter).")

    # --- profile and priors -------------------------------------------------------
    profile_weight: float = _setting(0.35, "Weight of the bio/skills similarity next to content evidence.")
    profile_floor: float = _setting(0.3, "Cosine below which a bio is unrelated (bios sit closer to every query).")
    profile_lexical_weight: float = _setting(
        0.0, "Weight of BM25 over bios in the profile match (long questions share common words with many bios)."
    )
    cold_start_profile_weight: float = _setting(
        1.0, "Extra profile weight for a member with no documents, fading out as they write."
    )
    cold_start_documents: int = _setting(
        5, "Answers or authored documents after which the extra profile weight is gone."
    )
    match_floor: float = _setting(0.1, "Topical match every member has, so the prior still orders non-matching ones.")
    match_saturation: float = _setting(1.0, "Topical match (content + profile) at which its factor reaches 0.5.")
    # Chosen over five development windows x six dumps (benchmarks/expert_dev_prior.py, RESULTS.md
    # expert_dev_prior) by the acceptance's own shape: each window is one split of all six dumps, and
    # it needs a mean ratio >= 1.15 and no dump below 1.0. Exponent 0.75 on the answers clock times 0.5
    # on the share clock (h 0.02, k 30) has the best worst-window margin, min(mean / 1.15, min): 0.96
    # against 0.81 for the answers clock alone; minimum 0.96 (was 0.81), cells below 1.0 3 (was 5),
    # P@1 / MRR significantly worse 0 / 0 (was 1 / 3), mean 1.32 (was 1.405: beer's weak-baseline cells
    # 3.9 -> 3.3). Below prior_share_min_answers dated answers the share factor grows in (ranking/prior.py).
    prior_weight: float = _setting(
        0.75, "Exponent of the answers-clock activity prior in the score (0: ignore it; 1: as strong as the match)."
    )
    recency_half_life_answers: float = _setting(
        75.0, "Answers posted in the community since a contribution after which it counts half (expertise goes stale)."
    )
    activity_question_weight: float = _setting(0.0, "Weight of an asked question in activity, next to an answer's 1.")
    activity_saturation: float = _setting(10.0, "Recent answers at which the prior reaches 0.5 ** prior_weight.")
    newcomer_activity: float = _setting(1.0, "Activity every member starts with, so a newcomer is not scored as idle.")
    prior_share_weight: float = _setting(
        0.5,
        "Exponent of the share-clock activity prior multiplied into the prior (0: off; ranking/prior.py).",
    )
    prior_share_half_life: float = _setting(
        0.02, "Share of all history answers posted since an answer after which it counts half in the share-clock prior."
    )
    prior_share_saturation: float = _setting(
        30.0, "Share-clock recent answers at which that prior's factor reaches 0.5 ** prior_share_weight."
    )
    prior_share_min_answers: int = _setting(
        50,
        "Dated answers from which the share-clock factor counts fully; in a shorter history its exponent "
        "shrinks in proportion (there a share of prior_share_half_life is less than one answer).",
    )
    prior_acceptance_share: float = _setting(
        0.0, "Share of the prior scaled by the member's smoothed acceptance rate (0: off; measured no gain)."
    )

    # --- long queries ------------------------------------------------------------------
    query_window_combination: str = _setting(
        "max", "How a long query's windows combine into one cosine per passage: max, mean or centroid."
    )

    # --- content ranker (no Q&A history: members known by their documents alone) -----------
    # Chosen on benchmarks/content_matching.py's dev split (second-latest publication held out,
    # the latest never read), all six dumps; see ranking/content.py.
    content_top_documents: int = _setting(3, "A member's most relevant documents averaged by the content ranker.")
    content_lexical_weight: float = _setting(
        0.7, "Weight of the saturated whole-query BM25 term added to a document's best passage cosine."
    )
    content_lexical_saturation: float = _setting(20.0, "BM25 score at which that term reaches half its weight.")
    # 256 is as good as 1024 (all of each dev corpus) on every dev dump, and a quarter of the cost.
    content_background_documents: int = _setting(
        256, "Documents sampled as the corpus background (members' pseudo queries; every query's baseline)."
    )
    content_score_slope: float = _setting(
        4.17, "Slope of the logistic mapping the excess over both backgrounds to a score (Platt, dev split)."
    )
    content_score_intercept: float = _setting(-3.16, "Intercept of that logistic (Platt, dev split).")

    # --- learned ranker (fitted per community at index build) -------------------------------
    learned_min_questions: int = _setting(
        50, "Answered past questions a community needs before a ranker is learned from its history."
    )
    learned_max_questions: int = _setting(1500, "Latest answered past questions used to train (older ones are left).")
    learned_training_passages: int = _setting(
        8192,
        "Passages up to which a training question is matched against every passage that existed before it; past "
        "them, as a served query is (dense_top_k nearest, sparse_top_k best by BM25): build time stays bounded "
        "on large communities (every development dump is below it, so there all count).",
    )
    learned_refit_share: float = _setting(
        0.05,
        "A build keeps the current ranker while the answered past questions moved by less than this share of those "
        "it was trained on (and no setting changed); index build --retrain refits it (services/ranker_cadence.py).",
    )
    learned_validation_share: float = _setting(
        0.2, "Latest share of the training questions held out to validate the learned ranker against the default."
    )
    learned_min_gain: float = _setting(
        0.0, "nDCG@10 another ranker must gain over the first of learned_choices on the held-out slice to serve."
    )
    learned_model: str = _setting(
        "logistic",
        "Learner: logistic (L2 logistic regression, pointwise), pairwise (logistic on within-question "
        "answerer-minus-other differences), trees (LightGBM, binary) or lambdarank (LightGBM ranking).",
    )
    learned_negatives: int = _setting(
        50, "Non-answerers kept per training question (every answerer is kept); 0 keeps every candidate."
    )
    learned_hard_negative_share: float = _setting(
        0.5, "Share of those kept non-answerers that are the hardest by the default formula (the rest: random)."
    )
    learned_sample_seed: int = _setting(0, "Seed of the random sample of non-answerers (builds are reproducible).")
    learned_dropped_groups: tuple[str, ...] = _setting(
        ("default formula",),
        "Feature groups (ranking/features.py FEATURE_GROUPS) the learner leaves out (the default formula's "
        "logs largely repeat the content and prior columns: collinear).",
    )
    # Five development windows inside the 70% history (benchmarks/expert_dev_learn.py, RESULTS.md
    # expert_dev_windows): keeping the default formula unless the learner beats it by 2 standard
    # errors on the held-out slice has the best geometric mean, minimum and window wins (4 of 5);
    # learned first won only the 0.5-0.7 window it had been chosen on.
    learned_choices: tuple[str, ...] = _setting(
        ("default formula", "learned"),
        "Rankers a build may serve, chosen on the held-out latest questions; the first is kept unless another "
        "beats it there (learned_switch_z): default formula, learned, recent activity.",
    )
    learned_switch_z: float = _setting(
        2.0,
        "Standard errors of the held-out paired nDCG@10 gain another ranker needs over the first of "
        "learned_choices to serve instead (0: any gain above learned_min_gain).",
    )
    learned_regularisation: float = _setting(
        0.01, "Inverse L2 strength C of the logistic learner (small: stays close to the community's average member)."
    )
    learned_horizon_share: float = _setting(
        0.2,
        "A build serves for a while: each past question's features are taken as of the start of its block of "
        "this share of the history's questions.",
    )
    learned_trees: int = _setting(200, "Boosting rounds of the trees learner.")
    learned_leaves: int = _setting(7, "Leaves per tree of the trees learner (small trees: little data per community).")
    learned_learning_rate: float = _setting(0.05, "Shrinkage of each boosting round.")
    learned_min_rows_per_leaf: int = _setting(40, "Fewest training rows a leaf may hold.")

    # --- honest confidence ------------------------------------------------------------------
    # Dev splits, six dumps (benchmarks/knows_threshold.py): balanced accuracy of "someone / nobody
    # is known" on own vs other-subject questions is 0.926 at 0.3 and 0.933 at 0.325 (the best);
    # 0.3 is kept because 0.325 hides the sample community's planted cold-start expert (bio only).
    knows_threshold: float = _setting(
        0.3,
        "Topical evidence (best matching answer, document or profile, 0-1) a member needs to be shown as an expert.",
    )

    # --- evidence ---------------------------------------------------------------------
    evidence_per_member: int = _setting(3, "Documents returned as evidence for each expert.")
    evidence_min_score: float = _setting(
        0.001, "Smallest contribution to the content score for a document to be shown as evidence."
    )
    snippet_chars: int = _setting(220, "Length of an evidence snippet.")

    # --- limits ---------------------------------------------------------------------
    api_max_query_chars: int = _setting(
        50_000, "HTTP API only: longest query text accepted (413 beyond; the CLI and library read any length)."
    )
    max_limit: int = _setting(200, "Largest number of results (experts, documents, suggestions) one request returns.")
    api_max_batch_queries: int = _setting(100, "API: most queries in one POST /v1/experts/batch.")
    api_max_ids: int = _setting(1000, "API: most member ids in one request's exclude or candidates list.")
    api_max_import_records: int = _setting(
        20_000, "API: most members (and most documents) in one POST /v1/admin/import."
    )
    # Checked while the body streams in, before authentication: an unauthenticated client
    # cannot make the server hold more than this (20,000 records of ~2 kB fit in 64 MiB).
    api_max_body_bytes: int = _setting(64 * 2**20, "API: largest request body in bytes; larger ones get 413.")
    api_failed_auth_per_minute: int = _setting(
        20, "API: failed authentications a client (IP address) may make per minute before 429 (0 = no limit)."
    )
    api_key_requests_per_minute: int = _setting(
        12_000, "API: requests one key may make per minute before 429 (0 = no limit; above this machine's capacity)."
    )

    # --- knowledge brokering: silos, introductions, related practice, health -----------
    silo_resolution: float = _setting(1.0, "Louvain resolution when inferring silos (higher: more, smaller silos).")
    silo_seed: int = _setting(0, "Random seed of silo inference, so the same data always gives the same silos.")
    intro_interest_weight: float = _setting(
        0.6, "Weight of an asked question in a member's topic vector (asking shows what they work on)."
    )
    intro_profile_weight: float = _setting(0.3, "Weight of bio/skills in a member's topic vector next to content.")
    intro_neighbours: int = _setting(30, "Nearest members (by topic vector) considered as partners for each member.")
    intro_min_similarity: float = _setting(0.35, "Topic cosine below which two members are not worth introducing.")
    intro_peer_weight: float = _setting(
        1.0, "Weight of 'work on the same topics' next to 'one asks what the other knows' in an introduction."
    )
    intro_similarity_power: float = _setting(
        4.0, "Exponent on the topic cosines in an introduction's score (higher: closeness counts more than activity)."
    )
    intro_activity_half_life_days: float = _setting(
        180.0, "Age at which a contribution counts half in a member's activity (active people follow up)."
    )
    # Days, not the community's own clock: on the development cutoffs of all six dumps the
    # 'posts' clock (half-lives 300 and 1000 posts) did no better than 60 or 180 days (within
    # one hit; introductions_tuning in benchmarks/RESULTS.md), and a broker reads dates.
    intro_activity_clock: str = _setting(
        "days", "Clock of a member's recent activity: 'days' of the calendar, or 'posts' of the community since."
    )
    intro_activity_half_life_posts: float = _setting(
        2000.0, "With the 'posts' clock: community posts after a contribution at which it counts half."
    )
    intro_candidates: int = _setting(
        400, "Best-scored candidate pairs whose shared topic is worked out before the list is made."
    )
    intro_per_member: int = _setting(5, "Open introductions (suggested, snoozed, approved) per member at most.")
    intro_evidence_documents: int = _setting(2, "Documents of each member shown as evidence for an introduction.")
    intro_label_documents: int = _setting(
        5, "Each member's documents nearest a pair's shared topic that the topic's label is drawn from."
    )
    intro_labels: int = _setting(3, "Topic labels named for an introduction (all carried by both members' documents).")
    intro_mmr_lambda: float = _setting(
        0.8, "Score vs. novelty when ordering introductions (1: by score only, 0: as different as possible)."
    )
    intro_mmr_shared_member: float = _setting(
        1.0, "Redundancy of a pair with one already listed that shares one of its members (0..1)."
    )
    intro_mmr_same_silos: float = _setting(
        0.5, "Redundancy of a pair with one already listed between the same two silos (0..1)."
    )
    intro_feedback_weight: float = _setting(
        0.8, "How far broker decisions on similar pairs move a pair's score (0: ignore decisions; < 1)."
    )
    intro_feedback_similarity: float = _setting(
        0.3, "Cosine of two pairs' topics below which one's decision says nothing about the other."
    )
    intro_feedback_prior: float = _setting(
        0.5, "Pseudo-decisions of no opinion added to the similar decisions, so one decision moves a score less."
    )
    intro_feedback_approved: float = _setting(
        0.5, "Vote of an approved (or introduced) pair; rejected and not-helpful count -1, helpful +1."
    )
    # The pair model learned from the community's own history (services/brokering/pair_model.py).
    # Defaults chosen on the development cutoffs (0.5, 0.6) of all six dumps only
    # (benchmarks/introductions.py --development): C 0.01 beat 0.1 and 0.001; closeness power
    # 4 (the formula's own exponent) keeps the sample's planted pairs in the top 20, which 0-2
    # lose (there the model ranks busy members' pairs first).
    intro_model_cutoffs: tuple[float, ...] = _setting(
        (0.5, 0.6, 0.7, 0.8), "Pseudo-cutoffs the pair model learns from: shares of the history's dated documents."
    )
    intro_model_min_positives: int = _setting(
        10, "Pairs that met after a pseudo-cutoff the pair model needs; below, the hand-set formula scores pairs."
    )
    intro_model_negatives: int = _setting(20_000, "Pairs that did not meet sampled per pseudo-cutoff (seeded).")
    intro_model_c: float = _setting(0.01, "Inverse L2 strength of the pair model's logistic regression.")
    intro_model_closeness_power: float = _setting(
        4.0, "With the pair model: exponent on the pair's best topic cosine multiplying its learned chance of meeting."
    )
    intro_model_validate: bool = _setting(
        True, "Serve the pair model only if, fitted before the last pseudo-cutoff, it ranks that one's pairs better."
    )
    intro_model_seed: int = _setting(0, "Seed of the pair model's negative sample, so one history gives one model.")
    intro_model_active_members: int = _setting(
        150, "With the pair model: pairs among this many most active members are candidates besides topic neighbours."
    )
    intro_model_all_pairs: int = _setting(
        2_000_000, "With the pair model: every pair of eligible members is a candidate up to this many pairs."
    )
    label_max_document_share: float = _setting(
        0.15, "Share of all documents above which a tag or phrase is too common to name a topic."
    )
    label_min_coherence: float = _setting(
        0.25, "How much a tag's or phrase's documents must be about one thing to name a topic (0..1, above chance)."
    )
    label_max_words: int = _setting(3, "Longest key phrase (words) used as a topic label where tags are missing.")
    practices_candidates: int = _setting(60, "Documents considered before diversification in related practice.")
    practices_mmr_lambda: float = _setting(
        0.7, "Relevance vs. novelty in related practice (1: pure relevance, 0: pure diversity)."
    )
    health_topic_neighbours: int = _setting(10, "Neighbours per question when clustering questions into topics.")
    health_topic_similarity: float = _setting(
        0.45, "Cosine linking two questions into one topic (the highest keeping 80%+ of dev-dump questions in one)."
    )
    health_min_topic_questions: int = _setting(3, "Questions a topic needs before its answerers are checked.")
    health_topic_labels: int = _setting(3, "Labels (tags, else key phrases) naming a topic of the health report.")
    health_isolated_share: float = _setting(
        0.05, "Share of a silo's ties to other silos at or below which it is isolated."
    )
    health_min_isolated_members: int = _setting(5, "Members a silo needs before it can be reported as isolated.")
    health_bridges: int = _setting(5, "Members listed as the strongest bridges between silos.")
    health_betweenness_sample: int = _setting(
        500, "Members sampled for betweenness on large graphs (exact up to this many members)."
    )

    # --- web pages ----------------------------------------------------------------------
    web_session_hours: float = _setting(12.0, "Web pages: hours a sign-in lasts (a revoked key ends it at once).")
    web_member_contributions: int = _setting(50, "Web pages: contributions listed on a member's page.")
    web_member_topics: int = _setting(12, "Web pages: topics (tags of their documents) shown for a member.")

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **overrides)

    @classmethod
    def describe(cls) -> list[tuple[str, Any, str]]:
        """(name, default, help) for every setting, for docs and `--help`."""
        return [(f.name, f.default, f.metadata.get("help", "")) for f in fields(cls)]
