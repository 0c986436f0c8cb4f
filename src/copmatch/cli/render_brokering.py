"""Tables for the knowledge-brokering commands: related practice, introductions, health."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from copmatch.ranking.snippets import snippet
from copmatch.services.brokering.review import Introduction
from copmatch.services.health import HealthReport
from copmatch.services.practices import Practice


def practices_table(title: str, practices: list[Practice]) -> Table:
    table = Table(title=escape(title), title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("document")
    table.add_column("score", justify="right")
    table.add_column("matching passage")
    for rank, practice in enumerate(practices, start=1):
        answered = f", {practice.answers} answer(s)" if practice.kind == "question" else ""
        source = (
            ""
            if practice.matched_document_id == practice.document_id
            else f" (in {escape(practice.matched_document_id)})"
        )
        table.add_row(
            str(rank),
            f"[bold]{escape(practice.title or practice.document_id)}[/bold]\n"
            f"[dim]{escape(practice.document_id)} · {escape(practice.kind)}{answered}[/dim]",
            f"{practice.score:.3f}",
            escape(snippet(practice.snippet, 200)) + f"[dim]{source}[/dim]",
        )
    return table


def introductions_table(title: str, intros: list[Introduction]) -> Table:
    table = Table(title=escape(title), title_justify="left", show_lines=True)
    for column, justify in (("id", "right"), ("pair", "left"), ("score", "right"), ("status", "left"),
                            ("why", "left")):  # fmt: skip
        table.add_column(column, justify=justify)
    for intro in intros:
        reasons = intro.reasons
        # Why these two: the topic and each member's documents on it (every one carries the
        # topic); why now: both active lately; and any past decisions that moved the pair.
        topics = reasons.get("shared_topics") or []
        lines = [escape(reasons.get("summary", ""))]
        if len(topics) > 1:
            lines.append(f"[dim]also: {escape(', '.join(topics[1:]))} ({reasons.get('topics_from', '')})[/dim]")
        lines += [
            f"  {escape(member)} ({escape(item['role'] or 'contributor')}): "
            f"{escape(item['title'] or item['document_id'])} [dim]({escape(item['document_id'])})[/dim]"
            for member, items in reasons.get("evidence", {}).items()
            for item in items
        ]
        if reasons.get("why_now_summary"):
            lines.append(f"[dim]{escape(reasons['why_now_summary'])}[/dim]")
        feedback = reasons.get("feedback")
        if feedback:
            like = ", ".join(f"#{d['introduction']} ({d['vote']:+g})" for d in feedback.get("like", []))
            lines.append(f"[dim]score x{feedback['factor']:.2f} from decisions on similar pairs: {like}[/dim]")
        status = intro.status + (f" ({intro.outcome})" if intro.outcome else "")
        if intro.broker:
            status += f"\n[dim]by {escape(intro.broker)}[/dim]"
        table.add_row(
            str(intro.id),
            f"{escape(intro.name_a)} [dim]{escape(intro.member_a)}[/dim]\n  {escape(intro.silo_a or '-')}\n"
            f"{escape(intro.name_b)} [dim]{escape(intro.member_b)}[/dim]\n  {escape(intro.silo_b or '-')}",
            f"{intro.score:.3f}",
            status,
            "\n".join(lines),
        )
    return table


def introduction_detail(intro: Introduction) -> Group:
    parts: list = [introductions_table(f"Introduction {intro.id}", [intro])]
    if intro.note:
        parts.append(Text(f"note: {intro.note}"))
    history = Table(title="History", title_justify="left")
    for column in ("at", "from", "to", "broker", "note"):
        history.add_column(column)
    for event in intro.history:
        history.add_row(event["at"], event["from_status"] or "-", event["to_status"], escape(event["broker"] or "-"),
                        escape(event["note"] or ""))  # fmt: skip
    parts.append(history)
    return Group(*parts)


def health_tables(report: HealthReport) -> Group:
    findings = Table(title="Community health: weak spots first", title_justify="left", show_header=False)
    findings.add_column("finding")
    for finding in report.findings:
        findings.add_row(escape(finding))
    silos = Table(title=f"Silos ({report.silo_source})", title_justify="left")
    for column in ("silo", "members", "ties inside", "ties out", "share out", "isolated"):
        silos.add_column(column, justify="left" if column == "silo" else "right")
    for silo in report.silos:
        silos.add_row(escape(silo["silo"]), str(silo["members"]), str(silo["internal_ties"]),
                      str(silo["external_ties"]), f"{silo['external_share']:.0%}",
                      "[bold red]yes[/bold red]" if silo["isolated"] else "")  # fmt: skip
    topics = Table(title="Topics with demand and at most one answerer", title_justify="left")
    for column in ("topic", "questions", "open", "answerer"):
        topics.add_column(column)
    for topic in report.thin_topics[:15]:
        who = (
            escape(", ".join(f"{a['name']} ({a['member_id']})" for a in topic.answerers)) or "[bold red]none[/bold red]"
        )
        topics.add_row(escape(topic.label), str(len(topic.questions)), str(topic.unanswered), who)
    people = Table(title="Core group and bridges", title_justify="left", show_header=False)
    people.add_column("what", style="bold")
    people.add_column("members")
    core = ", ".join(f"{m['name']} ({m['member_id']})" for m in report.core["members"])
    people.add_row(f"core group (k={report.core['k']})", escape(core))
    bridges = ", ".join(
        f"{b['name']} ({b['member_id']}, {b['silo'] or '-'}; betweenness {b['betweenness']:.3f}, "
        f"reaches {b['silos_reached']} other silos)"
        for b in report.bridges
    )
    people.add_row("bridges", escape(bridges))
    return Group(findings, silos, topics, people)
