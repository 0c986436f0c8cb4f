"""Recording benchmark figures: append to results.jsonl, regenerate RESULTS.md.

Every benchmark calls ``record(...)`` once per run with its sizes, timings, quality
figures and the tables it wants shown. RESULTS.md shows the latest run of each
benchmark, with the commit, machine and command that produced it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: The benchmarks/ folder: results and scratch data (.work/) live here.
HERE = Path(__file__).resolve().parents[1]
RESULTS_JSONL = HERE / "results.jsonl"
RESULTS_MD = HERE / "RESULTS.md"
SHARED_DUMPS = HERE.parents[1] / "shared" / "data" / "stackexchange"


def git_commit() -> str:
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True).stdout.strip()

    commit = run("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if run("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def record(
    benchmark: str,
    *,
    sizes: dict,
    timings: dict,
    quality: dict | None = None,
    tables: dict[str, list[dict]] | None = None,
    notes: str = "",
    extra: dict | None = None,
) -> dict:
    """Append one run to results.jsonl and regenerate RESULTS.md. Returns the record."""
    entry = {
        "benchmark": benchmark,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(),
        "machine": machine(),
        "command": command_line(),
        "sizes": sizes,
        "timings": timings,
        "quality": quality or {},
        "tables": tables or {},
        "notes": notes,
        **(extra or {}),
    }
    with RESULTS_JSONL.open("a") as handle:
        handle.write(json.dumps(entry, default=_jsonable) + "\n")
    render()
    return entry


def command_line() -> str:
    """How this run was started: ``python -m benchmarks.NAME ...`` (or the script's path)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    target = f"-m {spec.name}" if spec is not None and spec.name else _relative(sys.argv[0])
    return " ".join(["python", target, *sys.argv[1:]])


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(HERE.parent))
    except ValueError:
        return path


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def load() -> list[dict]:
    if not RESULTS_JSONL.is_file():
        return []
    return [json.loads(line) for line in RESULTS_JSONL.read_text().splitlines() if line.strip()]


def render() -> None:
    """RESULTS.md: the latest run of each benchmark, as tables."""
    latest: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for entry in load():
        latest[entry["benchmark"]] = entry
        counts[entry["benchmark"]] = counts.get(entry["benchmark"], 0) + 1
    lines = [
        "# Benchmark results",
        "",
        "Generated from `benchmarks/results.jsonl` by `python -m benchmarks.lib.results`; each section",
        "is the latest run of one benchmark (all runs stay in the JSONL). Timings compare as ratios",
        "measured in the same run: the machines are shared and noisy. `benchmarks/README.md` lists",
        "the benchmarks, what each measures and its command.",
        "",
    ]
    for name in sorted(latest):
        entry = latest[name]
        m = entry["machine"]
        lines += [
            f"## {name}",
            "",
            f"- command: `{entry['command']}`",
            f"- run: {entry['date']}, commit `{entry['commit']}`, {counts[name]} run(s) recorded",
            f"- machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gb')} GB, Python {m.get('python')}",
            f"- sizes: {_inline(entry['sizes'])}",
        ]
        if entry.get("notes"):
            lines.append(f"- notes: {entry['notes']}")
        lines.append("")
        for title, rows in entry.get("tables", {}).items():
            lines += [f"### {title}", "", *_markdown_table(rows), ""]
    RESULTS_MD.write_text("\n".join(lines).rstrip() + "\n")


def _inline(mapping: dict) -> str:
    return ", ".join(f"{k} {_fmt(v)}" for k, v in mapping.items())


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _markdown_table(rows: list[dict]) -> list[str]:
    if not rows:
        return ["(no rows)"]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |" for row in rows]
    return out


if __name__ == "__main__":
    render()
    print(f"wrote {RESULTS_MD}")
