"""Silos: imported (department, team) or, where the data has none, inferred as the
communities of the interaction graph (Louvain modularity, networkx, fixed seed).

Inference never overwrites imported silos, and records how each silo was made in
``members.silo_source`` (e.g. ``inferred:louvain(seed=0,resolution=1.0)``). A member with
no ties at all belongs to no community, so an inferred silo is never given to them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import networkx as nx

from copmatch.errors import ConflictError
from copmatch.services.graph import load_graph
from copmatch.services.topics import member_tag_counts
from copmatch.settings import Settings
from copmatch.store.store import Store

IMPORTED = "import"
INFERRED = "inferred:"


def inference_source(settings: Settings) -> str:
    return f"{INFERRED}louvain(seed={settings.silo_seed},resolution={settings.silo_resolution})"


def detect_communities(graph: nx.Graph, resolution: float, seed: int) -> list[set[str]]:
    """Louvain communities of the members with at least one tie, largest first."""
    connected = graph.subgraph(sorted(n for n in graph if graph.degree(n) > 0))
    if connected.number_of_nodes() == 0:
        return []
    found = nx.community.louvain_communities(connected, weight="weight", resolution=resolution, seed=seed)
    return sorted(found, key=lambda members: (-len(members), min(members)))


def name_silo(number: int, tags: Counter, everywhere: Counter) -> str:
    """``c01 hops/ipa``: a stable number plus the two tags most typical of the silo.

    Typical = frequent here and rare elsewhere (count here times the share of all its
    uses that are here), so a tag every silo uses ("taste") does not name them all.
    """
    typical = sorted(tags, key=lambda t: (-tags[t] * tags[t] / everywhere[t], t))[:2]
    return f"c{number:02d}" + (f" {'/'.join(typical)}" if typical else "")


def infer_silos(graph: nx.Graph, member_tags: dict[str, Counter], settings: Settings) -> dict[str, str | None]:
    """A silo name for every member of ``graph``; None for members with no ties."""
    silos: dict[str, str | None] = dict.fromkeys(graph.nodes)
    everywhere = sum(member_tags.values(), Counter())
    for number, members in enumerate(detect_communities(graph, settings.silo_resolution, settings.silo_seed), 1):
        tags = sum((member_tags.get(m, Counter()) for m in members), Counter())
        silos.update(dict.fromkeys(members, name_silo(number, tags, everywhere)))
    return silos


@dataclass(frozen=True)
class SiloSummary:
    source: str  # "import", an inference recipe, or "none"
    silos: dict[str, int]  # silo name -> members, largest first
    unassigned: int  # members with no silo

    def to_dict(self) -> dict:
        return {"source": self.source, "silos": self.silos, "unassigned": self.unassigned}


def summarise(store: Store) -> SiloSummary:
    members = store.members()
    sizes = Counter(m["silo"] for m in members if m["silo"])
    sources = Counter(m["silo_source"] for m in members if m["silo_source"])
    return SiloSummary(
        source=sources.most_common(1)[0][0] if sources else "none",
        silos=dict(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))),
        unassigned=sum(1 for m in members if not m["silo"]),
    )


def needs_inference(store: Store) -> bool:
    """True when no silo was imported and some member was never through inference
    (a fresh StackExchange import, or members added since the last inference)."""
    members = store.members()
    if any(m["silo_source"] == IMPORTED for m in members):
        return False
    return any(m["silo_source"] is None for m in members)


def infer_and_store(store: Store, settings: Settings) -> SiloSummary:
    """Infer silos from the interaction graph and store them with their recipe."""
    if any(m["silo_source"] == IMPORTED for m in store.members()):
        raise ConflictError(
            "Members' silos were imported; inferring them would overwrite the organisation's own.",
            hint="Silos are inferred only for data without them (e.g. a StackExchange dump).",
        )
    graph = load_graph(store)
    tags = member_tag_counts(store.document_facts(), store.contributions())
    store.set_silos(infer_silos(graph.ties, tags, settings), inference_source(settings))
    return summarise(store)


def ensure_silos(store: Store, settings: Settings) -> None:
    """Infer silos when the data has none (or has new members since the last inference)."""
    if needs_inference(store):
        infer_and_store(store, settings)
