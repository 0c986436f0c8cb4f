"""What the pages show, mapped from the library's result objects in one place.

Other work changes what results contain (an expert's score split into "knows" and
"active", a calibrated "nobody here is known to know" outcome, richer introduction
reasons); the templates read only these views, so such a change is adapted here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from copmatch.services.brokering.review import Introduction
    from copmatch.services.experts import Expert
    from copmatch.web.session import Viewer


def percent(value: float | None) -> str:
    return "–" if value is None else f"{round(100 * float(value))}%"


def when(timestamp: str | None) -> str:
    """The date of an ISO timestamp (the pages show days, not seconds)."""
    return (timestamp or "")[:10] or "–"


def nav_items(viewer: Viewer | None) -> list[tuple[str, str]]:
    if viewer is None:
        return []
    items = [("/", "Ask"), ("/practices", "Practice"), ("/community-health", "Health")]
    if viewer.member_id:
        items.append((f"/members/{viewer.member_id}", "My page"))
    if viewer.may("broker"):
        items.append(("/introductions", "Introductions"))
    if viewer.may("admin"):
        items.append(("/admin", "Admin"))
    return items


@dataclass(frozen=True)
class EvidenceView:
    document_id: str
    title: str
    kind: str
    role: str
    snippet: str


@dataclass(frozen=True)
class ExpertView:
    member_id: str
    name: str
    silo: str | None
    knows: float  # (0, 1): how well the topical evidence says they know it
    active: float  # (0, 1): how active they are lately (the prior)
    evidence: list[EvidenceView] = field(default_factory=list)
    has_evidence: bool = False  # knows reaches settings.knows_threshold

    @property
    def knows_words(self) -> str:
        # Facts, not a verdict: what "well" means is issue #12's calibration, not a guess here.
        n = len(self.evidence)
        return f"{self.knows:.0%}, {n} matching document{'s' if n != 1 else ''}" if n else "no matching documents"

    @property
    def active_words(self) -> str:
        return f"{_level(self.active, ('rarely', 'now and then', 'often', 'very'))} ({self.active:.0%})"


@dataclass(frozen=True)
class AskAnswer:
    question: str
    experts: list[ExpertView]
    index_version: str

    @property
    def nobody_knows(self) -> bool:
        """No returned member has evidence on the question: nobody here is known to know."""
        return not any(e.has_evidence for e in self.experts)


def _level(value: float, words: tuple[str, str, str, str]) -> str:
    return words[min(int(value * len(words)), len(words) - 1)]


def expert_view(expert: Expert) -> ExpertView:
    # "knows" (topical evidence alone) and "active" (the prior alone) come apart from the
    # ranker itself (services/experts.Expert), whichever ranker scored.
    return ExpertView(
        member_id=expert.member_id,
        name=expert.name,
        silo=expert.silo,
        knows=min(max(expert.knows, 0.0), 1.0),
        active=min(max(expert.active, 0.0), 1.0),
        evidence=[
            EvidenceView(e.document_id, e.title or e.document_id, e.kind, e.role, e.snippet) for e in expert.evidence
        ],
        has_evidence=expert.has_evidence,
    )


def ask_answer(question: str, experts: list[Expert], index_version: str) -> AskAnswer:
    return AskAnswer(question, [expert_view(e) for e in experts], index_version)


@dataclass(frozen=True)
class PartyView:
    member_id: str
    name: str
    silo: str | None
    documents: list[dict[str, Any]]  # document_id, title, kind, role, snippet


@dataclass(frozen=True)
class IntroductionView:
    id: int
    status: str
    score: float
    summary: str
    relation: str
    shared_topics: list[str]
    why_now: str | None
    parties: list[PartyView]
    broker: str | None
    note: str | None
    outcome: str | None
    created_at: str | None
    updated_at: str | None
    history: list[dict[str, Any]]
    next_steps: tuple[str, ...]

    @property
    def why_now_named(self) -> str:
        return _named(self.why_now or "", self.parties)


def introduction_view(intro: Introduction) -> IntroductionView:
    from copmatch.services.brokering.review import TRANSITIONS

    reasons = intro.reasons or {}
    evidence = reasons.get("evidence") or {}
    parties = [
        PartyView(member_id, name, silo, list(evidence.get(member_id) or []))
        for member_id, name, silo in (
            (intro.member_a, intro.name_a, intro.silo_a),
            (intro.member_b, intro.name_b, intro.silo_b),
        )
    ]
    return IntroductionView(
        id=intro.id,
        status=intro.status,
        score=intro.score,
        summary=_named(str(reasons.get("summary") or ""), parties),
        relation=str(reasons.get("relation") or ""),
        shared_topics=list(reasons.get("shared_topics") or []),
        why_now=_why_now(reasons),
        parties=parties,
        broker=intro.broker,
        note=intro.note,
        outcome=intro.outcome,
        created_at=intro.created_at,
        updated_at=intro.updated_at,
        history=list(intro.history),
        next_steps=TRANSITIONS.get(intro.status, ()),
    )


def _why_now(reasons: dict[str, Any]) -> str | None:
    """The reasons' sentence on both members' recent activity (#14), if they have one."""
    said = reasons.get("why_now_summary") or reasons.get("why_now")
    return said if isinstance(said, str) and said else None


def _named(summary: str, parties: list[PartyView]) -> str:
    """Reasons name members by id; a broker reads names."""
    for party in parties:
        summary = summary.replace(party.member_id, party.name)
    return summary


#: The buttons a broker sees for each next step of an introduction.
DECISION_LABELS = {"approved": "Approve", "rejected": "Reject", "snoozed": "Snooze", "introduced": "Mark introduced"}
