"""Suggested introductions against a real store and index: who is suggested, who never is."""

from __future__ import annotations

import numpy as np
import pytest

from copmatch.errors import NotFoundError
from copmatch.services.brokering.diversity import diversified
from copmatch.services.brokering.score import pair_terms, score_pairs
from copmatch.services.brokering.suggest import neighbour_pairs
from copmatch.services.topics import MemberTopics
from copmatch.settings import Settings
from tests.conftest import imported_and_built, private_copy
from tests.support import DATA, open_community

MEMBERS, DOCUMENTS = DATA / "brokering_members.jsonl", DATA / "brokering_documents.jsonl"


@pytest.fixture(scope="module")
def brokering_built(build_once, embedder):
    return build_once("brokering", imported_and_built(embedder, MEMBERS, DOCUMENTS))


@pytest.fixture
def brokering(brokering_built, tmp_path, embedder):
    path = tmp_path / "brokering"
    private_copy(brokering_built, path)
    community = open_community(path, embedder)
    yield community
    community.close()


def pairs(intros) -> set[tuple[str, str]]:
    return {(i.member_a, i.member_b) for i in intros}


def test_members_of_different_silos_on_one_topic_are_suggested(brokering):
    found = pairs(brokering.suggest_introductions(limit=20))
    assert ("lena", "nora") in found  # chlorine residual: Laboratory and Operations
    assert ("emil", "olga") in found  # pump vibration: Engineering and Operations


def test_never_same_silo_interacted_or_opted_out(brokering):
    found = pairs(brokering.suggest_introductions(limit=50))
    assert ("olga", "otto") not in found  # both Operations
    assert ("bill", "cara") not in found  # bill answered cara's question
    assert not any("pia" in pair for pair in found)  # opted out


def test_each_suggestion_explains_itself(brokering):
    intro = next(i for i in brokering.suggest_introductions(limit=20) if (i.member_a, i.member_b) == ("lena", "nora"))
    reasons = intro.reasons
    assert "chlorine-residual" in reasons["shared_topics"]
    assert {e["document_id"] for e in reasons["evidence"]["lena"]} == {"c2"}
    assert {e["document_id"] for e in reasons["evidence"]["nora"]} == {"c1"}
    assert all(e["snippet"] for items in reasons["evidence"].values() for e in items)
    assert intro.score > 0 and intro.status == "suggested"
    assert (intro.silo_a, intro.silo_b) == ("Laboratory", "Operations")


def test_a_pair_is_suggested_once_and_a_rejected_pair_never_again(brokering):
    first = brokering.suggest_introductions(limit=20)
    assert not pairs(first) & pairs(brokering.suggest_introductions(limit=20))  # already suggested
    target = next(i for i in first if (i.member_a, i.member_b) == ("lena", "nora"))
    brokering.decide_introduction(target.id, "rejected", broker="rita")
    brokering.build_index()  # a rebuild must not bring it back either
    assert ("lena", "nora") not in pairs(brokering.suggest_introductions(limit=20))
    assert [i.status for i in brokering.list_introductions() if i.id == target.id] == ["rejected"]


def test_cap_per_member_counts_open_introductions(brokering):
    brokering.suggest_introductions(limit=20, per_member=1)
    open_per_member: dict[str, int] = {}
    for intro in brokering.list_introductions():
        for member in (intro.member_a, intro.member_b):
            open_per_member[member] = open_per_member.get(member, 0) + 1
    assert open_per_member and max(open_per_member.values()) == 1
    # Still open (suggested): nobody who has one gets another while the cap is 1.
    again = brokering.suggest_introductions(limit=20, per_member=1)
    assert not {m for i in again for m in (i.member_a, i.member_b)} & set(open_per_member)


def test_opting_out_after_a_suggestion_blocks_approval(brokering, tmp_path):
    intro = next(i for i in brokering.suggest_introductions(limit=20) if "olga" in (i.member_a, i.member_b))
    members = tmp_path / "olga.jsonl"
    members.write_text('{"id": "olga", "name": "Olga Pumps", "silo": "Operations", "opt_out": true}\n')
    brokering.import_jsonl(members=members)
    # Opting out (here through an import) withdraws the suggestion and hides it from brokers.
    assert brokering.store.get_introduction(intro.id)["status"] == "withdrawn"
    assert intro.id not in {i.id for i in brokering.list_introductions()}
    with pytest.raises(NotFoundError):
        brokering.decide_introduction(intro.id, "approved", broker="rita")
    assert not any("olga" in p for p in pairs(brokering.suggest_introductions(limit=20)))


def test_neighbour_pairs_match_a_brute_force_oracle():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = np.arange(0, 40, 2)
    found = {tuple(p) for p in neighbour_pairs(vectors, vectors, rows, rows, 3, exact_max=1000).tolist()}
    expected = set()
    for a in rows:
        sims = {b: float(vectors[a] @ vectors[b]) for b in rows if b != a}
        for b in sorted(sims, key=lambda b: -sims[b])[:3]:
            expected.add((min(a, b), max(a, b)))
    assert expected <= found
    assert all(a < b and a % 2 == 0 and b % 2 == 0 for a, b in found)


def test_two_suggest_runs_at_once_both_succeed_and_store_each_pair_once(brokering):
    """Two brokers asking the server for suggestions at the same moment: both get an answer
    (no failure on the pair-stored-once rule) and no pair is suggested twice."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(brokering.suggest_introductions, 20) for _ in range(2)]
        first, second = (run.result(timeout=300) for run in runs)
    assert first or second
    assert not pairs(first) & pairs(second)
    stored = [(i.member_a, i.member_b) for i in brokering.list_introductions()]
    assert len(stored) == len(set(stored)) == len(first) + len(second)


def test_explained_relation_is_the_largest_term_of_the_score_at_any_power():
    """The reasons name the relation that added most to the score: the explainer and the
    scorer share score.pair_terms, so they agree whatever intro_similarity_power is."""
    # Member 0 asks about axis 0, which member 1 knows; both also work on nearby topics.
    topic = np.array([[1.0, 0.0], [0.9, np.sqrt(1 - 0.81)]])
    interest = np.array([[1.0, 0.0], [0.0, 0.0]])
    expertise = np.array([[0.0, 0.0], [0.6, 0.8]])
    topics = MemberTopics(topic, interest, expertise, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    a, b = np.array([0]), np.array([1])
    for power, winner in ((1.0, 0), (4.0, 2)):  # asking wins at power 1, the closer peer tie at 4
        scored = score_pairs(topics, a, b, peer_weight=0.5, power=power)
        terms = pair_terms(topics, a, b, scored.peer, scored.a_asks_b, scored.b_asks_a, 0.5, power)
        assert int(np.argmax([t[0] for t in terms])) == winner
        assert scored.score[0] == pytest.approx(sum(t[0] for t in terms))


def test_score_pairs_matches_the_formula_written_out():
    rng = np.random.default_rng(5)

    def unit(n: int) -> np.ndarray:
        v = rng.normal(size=(n, 6))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    topics = MemberTopics(unit(5), unit(5), unit(5), rng.uniform(size=5), rng.uniform(size=5))
    a, b = np.array([0, 1, 2]), np.array([3, 4, 4])
    scored = score_pairs(topics, a, b, peer_weight=0.7, power=2.0)
    for i, (x, y) in enumerate(zip(a, b)):
        fit_xy = max(0.0, topics.interest[x] @ topics.expertise[y]) ** 2
        fit_yx = max(0.0, topics.interest[y] @ topics.expertise[x]) ** 2
        peer = max(0.0, topics.topic[x] @ topics.topic[y]) ** 2
        act_x, act_y = topics.asking[x] + topics.offering[x], topics.asking[y] + topics.offering[y]
        expected = (
            fit_xy * np.sqrt(topics.asking[x] * topics.offering[y])
            + fit_yx * np.sqrt(topics.asking[y] * topics.offering[x])
            + 0.7 * peer * np.sqrt(act_x * act_y)
        )
        assert scored.score[i] == pytest.approx(expected, rel=1e-5)


def test_cap_skips_pairs_of_full_members_in_score_order():
    a, b = np.array([0, 0, 1, 2]), np.array([1, 2, 2, 3])
    score = np.array([4.0, 3.0, 2.0, 1.0])
    topic = np.eye(4)  # orthogonal topics: only the cap and shared members matter
    silos = np.array(["", "", "", ""], dtype=object)
    by_score = Settings(intro_mmr_lambda=1.0)

    def pick(load, per_member, limit, settings=by_score):
        return diversified(score, topic, a, b, silos, settings, load, per_member, limit)

    assert pick({}, per_member=1, limit=10) == [0, 3]
    assert pick({3: 1}, per_member=1, limit=10) == [0]
    assert pick({}, per_member=2, limit=2) == [0, 1]


def test_mmr_passes_over_pairs_repeating_a_member_or_a_topic():
    # Pairs 0-2 share member 0 and one topic; pair 3 is weaker but new in both ways.
    a, b = np.array([0, 0, 0, 4]), np.array([1, 2, 3, 5])
    score = np.array([1.0, 0.95, 0.9, 0.6])
    topic = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    silos = np.array(["x", "y", "y", "y", "z", "w"], dtype=object)
    order = diversified(score, topic, a, b, silos, Settings(intro_mmr_lambda=0.7), {}, 5, 4)
    assert order[:2] == [0, 3]
    assert diversified(score, topic, a, b, silos, Settings(intro_mmr_lambda=1.0), {}, 5, 4) == [0, 1, 2, 3]


def test_a_refused_pair_is_passed_over_for_the_next():
    a, b = np.array([0, 2, 4]), np.array([1, 3, 5])
    silos = np.array([""] * 6, dtype=object)
    order = diversified(
        np.array([3.0, 2.0, 1.0]), np.eye(3), a, b, silos, Settings(), {}, 5, 2, accept=lambda i: i != 0
    )
    assert order == [1, 2]
