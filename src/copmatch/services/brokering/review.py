"""The broker's review of introductions: an enforced state machine with a history.

    suggested  -> approved | rejected | snoozed
    snoozed    -> approved | rejected            (a snoozed suggestion is decided later)
    approved   -> introduced
    introduced -> closed, with an outcome: helpful | not-helpful
    suggested | snoozed | approved -> withdrawn   (a member of the pair opted out)

Rejected, closed and withdrawn are final. An introduction involving a member who has
opted out is shown to no broker (lists skip it, a lookup is "not found"); it stays stored,
so the pair is never suggested again. Every change stores who made it and when (in
``introduction_events``); a pair is stored once, so it is never suggested again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from copmatch.errors import InvalidArgumentError, InvalidTransitionError, NotFoundError, PermissionDeniedError
from copmatch.store.store import Store, utc_now

SUGGESTED, APPROVED, REJECTED, SNOOZED, INTRODUCED, CLOSED = (
    "suggested", "approved", "rejected", "snoozed", "introduced", "closed"
)  # fmt: skip
WITHDRAWN = "withdrawn"  # by the system, when a member of the pair opts out
STATUSES = (SUGGESTED, APPROVED, REJECTED, SNOOZED, INTRODUCED, CLOSED, WITHDRAWN)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    SUGGESTED: (APPROVED, REJECTED, SNOOZED),
    SNOOZED: (APPROVED, REJECTED),
    APPROVED: (INTRODUCED,),
    INTRODUCED: (CLOSED,),
    REJECTED: (),
    CLOSED: (),
    WITHDRAWN: (),
}
#: Who withdrew an introduction, in its history.
OPT_OUT_ACTOR = "system:opt-out"
#: Statuses that still occupy a member's attention; the per-member cap counts these.
OPEN_STATUSES = (SUGGESTED, SNOOZED, APPROVED)
OUTCOMES = ("helpful", "not-helpful")
_DECISIONS = (APPROVED, REJECTED, SNOOZED)


@dataclass(frozen=True)
class Introduction:
    id: int
    member_a: str
    member_b: str
    name_a: str
    name_b: str
    silo_a: str | None
    silo_b: str | None
    score: float
    reasons: dict[str, Any]
    status: str
    broker: str | None = None
    note: str | None = None
    outcome: str | None = None
    created_at: str | None = None
    decided_at: str | None = None
    updated_at: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _introduction(row: dict[str, Any], members: dict[str, dict], history: list[dict] | None = None) -> Introduction:
    a, b = members.get(row["member_a"], {}), members.get(row["member_b"], {})
    return Introduction(
        name_a=a.get("name", row["member_a"]),
        name_b=b.get("name", row["member_b"]),
        silo_a=a.get("silo"),
        silo_b=b.get("silo"),
        history=history or [],
        **row,
    )


def list_introductions(store: Store, status: str | None = None) -> list[Introduction]:
    if status is not None and status not in STATUSES:
        raise InvalidArgumentError(f"Unknown status {status!r}.", hint=f"Use one of: {', '.join(STATUSES)}.")
    members = {m["id"]: m for m in store.members()}
    hidden = store.opted_out()
    rows = store.introductions(status=status)
    return [_introduction(row, members) for row in rows if not {row["member_a"], row["member_b"]} & hidden]


def introductions_by_id(store: Store, ids: list[int], members: dict[str, dict] | None = None) -> list[Introduction]:
    """The given introductions, in the order of ``ids`` (members as already read, if given)."""
    members = members if members is not None else {m["id"]: m for m in store.members()}
    found = {row["id"]: _introduction(row, members) for row in store.introductions(ids=ids)}
    return [found[i] for i in ids if i in found]


def get_introduction(store: Store, introduction_id: int) -> Introduction:
    members = {m["id"]: m for m in store.members()}
    row = _visible(store, store.get_introduction(introduction_id))
    return _introduction(row, members, store.introduction_events(introduction_id))


def _visible(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    """The row, unless it involves a member who opted out: then, to a broker, it does not exist."""
    if {row["member_a"], row["member_b"]} & store.opted_out():
        raise NotFoundError(f"No introduction with id {row['id']}.", hint="List them with: copmatch intros list")
    return row


def withdraw_opted_out(store: Store) -> list[int]:
    """Withdraw every open introduction involving a member who opted out (through the API,
    the CLI or an import); returns their ids."""
    hidden = store.opted_out()
    withdrawn = []
    for row in store.introductions() if hidden else ():
        if row["status"] in OPEN_STATUSES and {row["member_a"], row["member_b"]} & hidden:
            note = "a member of the pair opted out"
            if store.change_introduction(row["id"], row["status"], {"status": WITHDRAWN}, OPT_OUT_ACTOR, note):
                withdrawn.append(row["id"])
    return withdrawn


def check_not_involved(current: dict[str, Any], acting_member: str | None) -> None:
    """A broker bound to a member never decides an introduction of themself."""
    if acting_member is not None and acting_member in (current["member_a"], current["member_b"]):
        raise PermissionDeniedError(
            f"Introduction {current['id']} involves you ({acting_member}); a broker cannot decide their own.",
            hint="Ask another broker to decide it.",
        )


def decide(
    store: Store,
    introduction_id: int,
    to_status: str,
    broker: str | None,
    note: str | None = None,
    acting_member: str | None = None,
) -> Introduction:
    """Move an introduction to ``to_status`` (approved, rejected, snoozed, introduced).
    ``acting_member``: the member the broker's key is bound to, who may not decide their own."""
    if to_status not in (*_DECISIONS, INTRODUCED):
        raise InvalidArgumentError(
            f"{to_status!r} is not a decision.", hint="Use approve, reject, snooze or introduced."
        )
    current = _visible(store, store.get_introduction(introduction_id))
    check_not_involved(current, acting_member)
    _check(current, to_status)
    if to_status == APPROVED:
        _check_not_opted_out(store, current)
    changes: dict[str, Any] = {"status": to_status}
    if to_status in _DECISIONS:
        changes["decided_at"] = utc_now()
    _apply(store, current, changes, broker, note)
    return get_introduction(store, introduction_id)


def record_outcome(
    store: Store,
    introduction_id: int,
    outcome: str,
    broker: str | None,
    note: str | None = None,
    acting_member: str | None = None,
) -> Introduction:
    """Close an introduction that took place with whether it helped."""
    normalised = outcome.strip().lower().replace("_", "-").replace(" ", "-")
    if normalised not in OUTCOMES:
        raise InvalidArgumentError(f"Unknown outcome {outcome!r}.", hint="Use helpful or not-helpful.")
    current = _visible(store, store.get_introduction(introduction_id))
    check_not_involved(current, acting_member)
    _check(current, CLOSED)
    _apply(store, current, {"status": CLOSED, "outcome": normalised}, broker, note)
    return get_introduction(store, introduction_id)


def _check(current: dict[str, Any], to_status: str) -> None:
    allowed = TRANSITIONS[current["status"]]
    if to_status not in allowed:
        verb = "record an outcome for it" if to_status == CLOSED else f"mark it {to_status}"
        next_steps = ", ".join(allowed) if allowed else "nothing (it is final)"
        raise InvalidTransitionError(
            f"Introduction {current['id']} is {current['status']}; cannot {verb}.",
            hint=f"From {current['status']} it can go to: {next_steps}.",
            details={"id": current["id"], "status": current["status"], "allowed": list(allowed)},
        )


def _check_not_opted_out(store: Store, current: dict[str, Any]) -> None:
    opted_out = store.opted_out() & {current["member_a"], current["member_b"]}
    if opted_out:
        raise InvalidTransitionError(
            f"Introduction {current['id']}: {', '.join(sorted(opted_out))} opted out since it was suggested.",
            hint=f"Reject it: copmatch intros reject {current['id']}",
        )


def _apply(
    store: Store, current: dict[str, Any], changes: dict[str, Any], broker: str | None, note: str | None
) -> None:
    if not store.change_introduction(current["id"], current["status"], changes, broker, note):
        # Someone else decided between our read and our write.
        try:
            now = store.get_introduction(current["id"])["status"]
        except NotFoundError:
            now = "gone"
        raise InvalidTransitionError(
            f"Introduction {current['id']} changed to {now} while you were deciding.",
            hint="List it again and decide from its current status.",
        )
