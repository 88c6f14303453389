"""Markdown of a comparison, for a CI step summary (`compare --markdown "$GITHUB_STEP_SUMMARY"`).

Job: a headline (FAIL or OK, with counts), the two fingerprints, warnings, a table of what
changed, then every compared variant's metric medians and the thresholds in folded sections.
The sentences come from `reporters.changes`, so the terminal and the summary agree.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..gating.comparison import EXPECTED, Comparison, VariantChange
from ..results.fingerprint import KEYS
from .changes import expected_text, explain, headline, sides

MARKS = {"newly failing": "❌", "lost its eyes": "❌", "changed": "❌", "missing": "❌",
         "worse": "🔺", "worse?": "⚠️", EXPECTED: "ℹ️", "newly fixed": "✅",
         "reproduces again": "✅", "better": "🟢", "still failing": "⚪", "skipped": "⏭️",
         "left out": "❔", "new": "🆕", "same": ""}


def render(comparison: Comparison, title: str = "mlxprobe compare") -> str:
    parts = [f"## {title}: {headline(comparison)}", "", _escape(sides(comparison)), "",
             _fingerprints(comparison)]
    parts += [f"> **error:** {_escape(p)}" for p in comparison.problems]
    parts += [f"> **warning:** {_escape(w)}" for w in comparison.warnings]
    changed = [c for c in comparison.changes if c.kind != "same"]
    if changed:
        parts += ["", _changes_table(changed, comparison.alpha)]
    expected = comparison.of_kind(EXPECTED)
    if expected:
        parts += ["", f"### {MARKS[EXPECTED]} Changed as expected (not a failure: the verdict "
                  "moved, and both sides matched)", "",
                  *(f"- `{_escape(c.scenario)}` {_escape(c.variant)}: "
                    f"{_escape(expected_text(c))}" for c in expected)]
    parts += ["", _metrics_section(comparison), "", _thresholds_section(comparison)]
    return "\n".join(parts) + "\n"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(_escape(c) for c in cells) + " |"


def _header(*names: str) -> list[str]:
    return [_row(list(names)), "|" + "---|" * len(names)]


def _fingerprints(comparison: Comparison) -> str:
    b, h = comparison.base_fingerprint, comparison.head_fingerprint
    lines = _header("", *KEYS)
    lines.append(_row(["BASE", *(str(b.get(k)) for k in KEYS)]))
    lines.append(_row(["HEAD", *(str(h.get(k)) for k in KEYS)]))
    return "\n".join(lines)


def _changes_table(changed: list[VariantChange], alpha: float) -> str:
    lines = _header("", "status", "scenario", "variant", "expected", "BASE", "HEAD",
                    "what changed")
    for c in changed:
        status = f"**{c.kind}**" if c.regressed else c.kind
        lines.append(_row([MARKS.get(c.kind, ""), status, f"`{c.scenario}`", c.variant,
                           c.expected, c.base, c.head, explain(c, alpha)]))
    return "\n".join(lines)


def _metrics_section(comparison: Comparison) -> str:
    compared = [c for c in comparison.changes if c.metrics]
    names = list(comparison.thresholds)
    labels = [comparison.thresholds[n].label for n in names]
    lines = ["<details><summary>Metrics of every variant that passed on both sides "
             f"({len(compared)}), medians BASE -> HEAD</summary>", "",
             *_header("scenario", "variant", *labels)]
    for c in compared:
        by_name = {m.name: m for m in c.metrics}
        cells = [_cell(by_name.get(n)) for n in names]
        lines.append(_row([f"`{c.scenario}`", c.variant, *cells]))
    return "\n".join([*lines, "", "</details>"])


def _cell(m: object) -> str:
    if m is None:
        return "-"
    mark = {"worse": " 🔺", "worse?": " ⚠️", "better": " 🟢"}.get(m.state, "")
    return f"{m.base:.4g} -> {m.head:.4g}{mark}"


def _thresholds_section(comparison: Comparison) -> str:
    lines = ["<details><summary>Thresholds (worse when HEAD/BASE > ratio and HEAD - BASE > "
             f"floor; ranked metrics also need a one-sided Mann-Whitney p <= "
             f"{comparison.alpha})</summary>", "",
             *_header("metric", "report key", "ratio", "floor", "ranked", "why")]
    for name, t in comparison.thresholds.items():
        lines.append(_row([name, f"`{t.key}`", f"{t.ratio:g}", f"{t.floor:g}",
                           "yes" if t.ranked else "no", t.why]))
    return "\n".join([*lines, "", "</details>"])


def gate_notes(command: str, sides: list[list[str]], order: list[tuple[str, int]],
               wall_s: float, environments_s: float) -> str:
    """How a gate ran: its command, each side's mlx and environment, the rounds, wall time."""
    rounds = " | ".join(", ".join(side for side, r in order if r == n)
                        for n in sorted({r for _, r in order}))
    lines = ["", "<details><summary>How this gate ran</summary>", "", f"`{command}`", "",
             *_header("side", "requirement", "mlx", "environment"),
             *(_row(row) for row in sides), "",
             f"Rounds (each side runs the whole selection once per round): {rounds}.", "",
             f"Wall time {wall_s:.0f} s: environments {environments_s:.0f} s, runs "
             f"{wall_s - environments_s:.0f} s.", "", "</details>"]
    return "\n".join(lines) + "\n"
