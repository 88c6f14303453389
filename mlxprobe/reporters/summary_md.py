"""The run summary in Markdown, for a CI step summary (GitHub's $GITHUB_STEP_SUMMARY, ...).

Job: a headline (matched count, mlx version), one table row per run, and for each run whose
verdict did not match its expectation a collapsed block with the reason, the fix and the
evidence. User-supplied text is HTML-escaped (step summaries render inline HTML) and table
cells have their pipes escaped and newlines folded.

Must not import: mlx, the runner, matplotlib.
"""

from __future__ import annotations

import html
import json

from .table import skipped_text
from .tones import label

HEAD = ("scenario", "variant", "expected", "verdict", "ok", "steps", "step ms", "peak MB",
        "wall s")
ALIGN = ("---", "---", "---", "---", ":-:", "--:", "--:", "--:", "--:")
EVIDENCE_CHARS = 3000


def cell(value: object) -> str:
    """Text safe inside a Markdown table cell."""
    text = html.escape(str(value), quote=False).replace("|", "\\|")
    return " ".join(text.split())


def render(report: dict) -> str:
    runs = report.get("runs", [])
    judged = [e for e in runs if not e.get("skipped")]
    bad = [e for e in judged if not e.get("matched")]
    complete = report.get("complete", True) is not False
    mark = "✅" if not bad and judged and complete else "❌"
    lines = [f"### {mark} mlxprobe: {len(judged) - len(bad)}/{len(judged)} verdicts matched "
             "their expectation" + cell(skipped_text(runs))
             + ("" if complete else " (partial report)"), "",
             _about(report), ""]
    if runs and all(e.get("expected") is None for e in runs):  # `watch` of a program
        lines[0] = f"### {mark} mlxprobe watch: **{cell(label(runs[0]))}**"
    if not complete:
        lines += [f"**{cell(partial_line(report))}**", ""]
    lines += ["| " + " | ".join(HEAD) + " |", "|" + "|".join(ALIGN) + "|"]
    lines += [_row(e) for e in runs]
    for entry in bad:  # skipped runs: their reason is in the headline
        lines += ["", *_mismatch(entry)]
    return "\n".join(lines) + "\n"


def partial_line(report: dict) -> str:
    """'Partial report (interrupted by SIGINT): 3 runs missing, not judged.'"""
    missing = report.get("missing")
    count = f"{len(missing)} run(s) missing, not judged" if isinstance(missing, list) \
        else "the runs it lacks are not recorded"
    return f"Partial report ({report.get('stopped') or 'the run was interrupted'}): {count}."


def _about(report: dict) -> str:
    parts = [f"mlx {report.get('mlx_version')}", f"python {report.get('python')}",
             str(report.get("platform")), str(report.get("created"))]
    return cell(" · ".join(p for p in parts if p and "None" not in p))


def _row(entry: dict) -> str:
    m = entry.get("metrics") or {}
    ok = "⏭️" if entry.get("skipped") else "✅" if entry.get("matched") else "❌"
    cells = (cell(entry.get("scenario")), cell(entry.get("variant")),
             f"`{cell(entry.get('expected') or '-')}`", f"**{cell(label(entry))}**", ok,
             _num(m.get("steps"), 0), _num(m.get("step_ms_median"), 2),
             _num(m.get("peak_rss_mb"), 0), _num(m.get("wall_s"), 1))
    return "| " + " | ".join(cells) + " |"


def _num(value: object, digits: int) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return f"{value:.{digits}f}"


def _mismatch(entry: dict) -> list[str]:
    title = (f"{entry.get('scenario')} [{entry.get('variant')}]: expected "
             f"{entry.get('expected')}, got {label(entry)}")
    if entry.get("expected") is None:
        title = f"{entry.get('variant')}: {label(entry)}"
    evidence = json.dumps(entry.get("evidence") or {}, indent=1, default=str)
    lines = [f"<details><summary>{html.escape(title)}</summary>", "",
             f"**reason:** {cell(entry.get('reason', ''))}", ""]
    if entry.get("hint"):
        lines += [f"**fix:** {cell(entry['hint'])}", ""]
    lines += ["<pre>" + html.escape(evidence[:EVIDENCE_CHARS]) + "</pre>", "", "</details>"]
    return lines
