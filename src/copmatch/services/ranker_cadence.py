"""When a build refits the community's ranker, and when it keeps the one it serves.

The ranker is a trained model of how this community answers (how much the topical match,
the activity on each clock and acceptance count), like the IVF lists are a trained model of
its vector space (``index.dense.reuses_lists``). It changes as the community does, not with
each document: a build after a handful of new documents refitting it would cost every small
update the whole learning stage (at a million passages most of a build's time apart from
encoding), and two builds of nearly the same store would rank differently. So full and
incremental builds alike keep the current snapshot's ranker (its model file and report)
while

- the community's answered past questions (``ranking.history.answered_questions``) moved by
  less than ``learned_refit_share`` of what the ranker was trained on,
- every setting is as it was (the fingerprint of ``Settings``), and the encoder is the same.

``index build --retrain`` refits it whatever the cadence says.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from copmatch.embedding.encoder import Encoder
from copmatch.errors import CopmatchError
from copmatch.index.snapshot import LEARNED_RANKER, read_manifest
from copmatch.settings import Settings


def settings_fingerprint(settings: Settings) -> str:
    """A digest of every setting: a ranker learned under other settings is refitted."""
    text = json.dumps(asdict(settings), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def kept_ranker(
    current: Path | None,
    building: Path,
    embedder: Encoder,
    settings: Settings,
    history_questions: int,
) -> dict[str, Any] | None:
    """The report of the current snapshot's ranker, copied (with its model, if one) into the
    snapshot being built, when the cadence keeps it; None when the build must refit."""
    if current is None:
        return None
    try:
        manifest = read_manifest(current)
    except (CopmatchError, OSError, ValueError):
        return None
    report = manifest.get("ranker")
    if not isinstance(report, dict) or manifest.get("encoder") != embedder.identity.to_dict():
        return None
    trained_on = report.get("history_questions")
    if report.get("settings") != settings_fingerprint(settings) or not isinstance(trained_on, int):
        return None
    if abs(history_questions - trained_on) > settings.learned_refit_share * trained_on:
        return None
    model = current / LEARNED_RANKER
    if report.get("serving") not in (None, "default formula") and not model.is_file():
        return None  # a damaged snapshot is no base: refit
    if model.is_file():
        shutil.copyfile(model, building / LEARNED_RANKER)
    kept = {**report, "kept": {"from": current.name, "history_questions": history_questions}}
    kept["why_kept"] = (
        f"kept from snapshot {current.name}: trained on {trained_on} answered past questions, now "
        f"{history_questions} (refitted past a change of {settings.learned_refit_share:.0%}: learned_refit_share)"
    )
    return kept
