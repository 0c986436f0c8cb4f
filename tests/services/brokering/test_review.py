"""The broker's review: every transition of the state machine, valid and invalid, on a real store."""

from __future__ import annotations

import pytest

from copmatch.errors import InvalidArgumentError, InvalidTransitionError, NotFoundError
from copmatch.services.brokering.review import (
    STATUSES,
    TRANSITIONS,
    decide,
    get_introduction,
    list_introductions,
    record_outcome,
)
from copmatch.store.records import ImportBatch, Member
from copmatch.store.store import Store


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "copmatch.sqlite")
    store.import_batch(
        ImportBatch(members=[Member("a", "Ann", "X"), Member("b", "Bob", "Y"), Member("c", "Cy", "Z")], source="t")
    )
    yield store
    store.close()


def suggested(store: Store, pair=("a", "b")) -> int:
    reasons = {"summary": "test", "shared_topics": ["pumps"]}
    return store.add_introductions([{"member_a": pair[0], "member_b": pair[1], "score": 0.5, "reasons": reasons}])[0]


def move(store: Store, intro_id: int, step: str):
    if step in ("helpful", "not-helpful"):
        return record_outcome(store, intro_id, step, broker="rita")
    return decide(store, intro_id, step, broker="rita", note=f"to {step}")


VALID_PATHS = [
    ["approved", "introduced", "helpful"],
    ["approved", "introduced", "not-helpful"],
    ["rejected"],
    ["snoozed", "approved", "introduced", "helpful"],
    ["snoozed", "rejected"],
]


@pytest.mark.parametrize("path", VALID_PATHS, ids="-".join)
def test_valid_paths_store_who_and_when(store, path):
    intro_id = suggested(store)
    for step in path:
        intro = move(store, intro_id, step)
    final = {"helpful": "closed", "not-helpful": "closed"}.get(path[-1], path[-1])
    assert intro.status == final
    assert intro.broker == "rita"
    assert intro.decided_at is not None
    if final == "closed":
        assert intro.outcome == path[-1]
    history = get_introduction(store, intro_id).history
    expected = [("closed" if s in ("helpful", "not-helpful") else s) for s in path]
    assert [e["to_status"] for e in history] == ["suggested", *expected]
    assert [e["from_status"] for e in history] == [None, "suggested", *expected[:-1]]
    assert all(e["at"] for e in history) and all(e["broker"] == "rita" for e in history[1:])


INVALID = [
    ([], "introduced"),
    ([], "helpful"),
    (["approved"], "rejected"),
    (["approved"], "snoozed"),
    (["approved"], "approved"),
    (["approved"], "helpful"),
    (["rejected"], "approved"),
    (["rejected"], "snoozed"),
    (["snoozed"], "introduced"),
    (["snoozed"], "snoozed"),
    (["approved", "introduced"], "approved"),
    (["approved", "introduced"], "rejected"),
    (["approved", "introduced", "helpful"], "not-helpful"),
    (["approved", "introduced", "helpful"], "approved"),
]


@pytest.mark.parametrize(("before", "step"), INVALID, ids=lambda v: "-".join(v) if isinstance(v, list) else v)
def test_invalid_transitions_are_clear_errors_and_change_nothing(store, before, step):
    intro_id = suggested(store)
    for earlier in before:
        move(store, intro_id, earlier)
    status_before = get_introduction(store, intro_id).status
    with pytest.raises(InvalidTransitionError, match=f"is {status_before}; cannot") as raised:
        move(store, intro_id, step)
    assert "it can go to" in raised.value.hint
    assert raised.value.http_status == 409
    assert get_introduction(store, intro_id).status == status_before
    assert len(get_introduction(store, intro_id).history) == len(before) + 1


def test_every_status_is_reachable_and_final_ones_have_no_exit():
    reachable = {"suggested"} | {s for targets in TRANSITIONS.values() for s in targets}
    # withdrawn is reached only by the system, when a member of the pair opts out.
    assert reachable | {"withdrawn"} == set(STATUSES)
    assert TRANSITIONS["withdrawn"] == ()
    assert TRANSITIONS["rejected"] == () and TRANSITIONS["closed"] == ()


def test_unknown_id_outcome_and_status(store):
    with pytest.raises(NotFoundError, match="No introduction with id 99"):
        decide(store, 99, "approved", broker="rita")
    intro_id = suggested(store)
    for step in ("approved", "introduced"):
        move(store, intro_id, step)
    # A bad argument is a 422 (InvalidArgumentError), not a 409 like a move the state forbids.
    with pytest.raises(InvalidArgumentError, match="Unknown outcome 'great'") as bad:
        record_outcome(store, intro_id, "great", broker="rita")
    assert bad.value.http_status == 422
    assert record_outcome(store, intro_id, "Not helpful", broker="rita").outcome == "not-helpful"
    with pytest.raises(InvalidArgumentError, match="Unknown status"):
        list_introductions(store, "pending")
    with pytest.raises(InvalidArgumentError, match="not a decision"):
        decide(store, intro_id, "closed", broker="rita")


def test_list_by_status_and_pair_stored_once(store):
    first, second = suggested(store, ("a", "b")), suggested(store, ("a", "c"))
    decide(store, second, "snoozed", broker="rita")
    assert [i.id for i in list_introductions(store, "suggested")] == [first]
    assert [i.id for i in list_introductions(store, "snoozed")] == [second]
    assert list_introductions(store)[0].name_a == "Ann"
    # A pair is stored once: suggesting it again (another process racing) stores nothing.
    assert store.add_introductions([{"member_a": "a", "member_b": "b", "score": 0.5, "reasons": {}}]) == []
    assert len(list_introductions(store)) == 2


def test_a_decision_against_a_stale_status_is_refused(store):
    intro_id = suggested(store)
    # Another broker rejects between our read and our write: the compare-and-set refuses ours.
    assert store.change_introduction(intro_id, "suggested", {"status": "rejected"}, "other", None)
    assert not store.change_introduction(intro_id, "suggested", {"status": "approved"}, "rita", None)
    assert get_introduction(store, intro_id).status == "rejected"
