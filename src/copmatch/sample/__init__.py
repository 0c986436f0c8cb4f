"""The sample community shipped with copmatch (see README.md in this folder)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path


def sample_path(name: str) -> Path:
    return Path(str(resources.files(__package__) / name))


def members_path() -> Path:
    return sample_path("members.jsonl")


def documents_path() -> Path:
    return sample_path("documents.jsonl")


def questions() -> list[dict]:
    """Example questions with the experts known by construction to answer them."""
    with sample_path("questions.jsonl").open() as handle:
        return [json.loads(line) for line in handle if line.strip()]
