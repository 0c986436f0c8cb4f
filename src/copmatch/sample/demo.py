"""The demo: the sample community imported, indexed and asked its showcase questions."""

from __future__ import annotations

from dataclasses import dataclass

from copmatch.community import Community
from copmatch.progress import Progress
from copmatch.sample import documents_path, members_path, questions
from copmatch.services.build import BuildReport
from copmatch.services.experts import Expert
from copmatch.store.store import ImportSummary


@dataclass(frozen=True)
class DemoAnswer:
    question: str
    expected: list[str]
    experts: list[Expert]


@dataclass(frozen=True)
class DemoRun:
    imported: ImportSummary
    build: BuildReport
    answers: list[DemoAnswer]


def run_demo(community: Community, limit: int = 5, progress: Progress | None = None) -> DemoRun:
    imported = community.import_jsonl(members_path(), documents_path(), progress=progress)
    # Once per data dir (seconds, with torch): then builds and queries never import torch.
    community.ensure_encoder_exported()
    build = community.build_index(progress=progress)
    showcase = [q for q in questions() if q.get("demo")]
    answers = [
        DemoAnswer(q["text"], q.get("expected", []), community.find_experts(q["text"], limit=limit)) for q in showcase
    ]
    return DemoRun(imported, build, answers)
