"""The terminal view of a comparison: one row per variant that changed, then why, then a total.

Job: plain-text table of `comparison.Comparison` (newly failing, lost its eyes, worse, newly
fixed, better ...), the reason of each regression, and the summary line. The words and
numbers of a change (`explain`, `metric_text`, `headline`) live here so the markdown and JUnit
reporters say the same thing.

Must not import: mlx, the runner.
"""

from __future__ import annotations

import math

from ..gating.comparison import EXPECTED, SKIPPED, Comparison, MetricChange, VariantChange
from ..gating.ranktest import smallest_p
from . import ansi

COLUMNS = ("status", "scenario", "variant", "expected", "BASE", "HEAD", "what changed")
TEXT_WIDTH = 110


def metric_text(m: MetricChange, alpha: float) -> str:
    """'step ms 10.1 -> 15.3 (x1.51, p=0.050, 3 vs 3 runs)'; the learning curve: 'learning
    curve differs: 30 of 60 steps outside the noise band (above), final ... (3 vs 3 runs)'."""
    if m.detail:
        text = f"{m.label} differs: {m.detail} ({m.runs[0]} vs {m.runs[1]} runs)"
        if m.state == "worse?":
            text += " [not confirmed: one run on a side measures no noise; use --repeat 3]"
        return text
    text = f"{m.label} {_num(m.base)} -> {_num(m.head)} ({_ratio(m.ratio)}"
    if m.p is not None:
        text += f", p={m.p:.3f}"
    if m.runs != (1, 1):
        text += f", {m.runs[0]} vs {m.runs[1]} runs"
    text += ")"
    if m.state == "worse?":
        text += " " + unconfirmed_reason(m, alpha)
    return text


def unconfirmed_reason(m: MetricChange, alpha: float) -> str:
    if smallest_p(*m.runs) > alpha:
        return "[not confirmed: too few runs for the rank test; use --repeat 3 or more]"
    return f"[not confirmed: rank test p={m.p:.3f} > {alpha}]"


def _num(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def _ratio(ratio: float) -> str:
    return "new" if math.isinf(ratio) else f"x{ratio:.2f}"


def explain(change: VariantChange, alpha: float) -> str:
    """Why this row is what it is, in one line."""
    moved = [metric_text(m, alpha) for m in change.metrics if m.state != "same"]
    parts = {
        "newly failing": f"was {change.base}, now {change.head}: {change.reason}",
        "lost its eyes": f"expected {change.expected} no longer shows (now {change.head}): "
                         "the scenario stopped reproducing",
        "changed": f"failing differently: {change.base} -> {change.head}: {change.reason}",
        "newly fixed": f"was {change.base}, now passes",
        "reproduces again": f"shows {change.expected} again (was {change.base})",
        "still failing": f"failing in both: {change.head}",
        SKIPPED: f"NOT checked, not run ({change.reason})",
        "missing": "in BASE, not in HEAD: not checked (narrow both with --scenario/--variant "
                   "or pass --allow-missing if that is on purpose)",
        "left out": "in BASE, not in HEAD (allowed: --allow-missing)",
        EXPECTED: expected_text(change),
        "new": "only in HEAD" + (f" ({change.reason})" if change.reason else ""),
    }
    text = parts.get(change.status, "")
    return "; ".join(p for p in (text, *moved, change.note) if p)


def expected_text(change: VariantChange) -> str:
    """'pass -> no_update (expected from mlx 0.32.1): no step changed the parameters'."""
    text = f"{change.base} -> {change.head} ({change.why_expected})"
    return text + (f": {change.reason}" if change.reason else "")


def headline(comparison: Comparison) -> str:
    """'FAIL: 1 newly failing, 1 worse; good news: 1 newly fixed; 10 unchanged'."""
    counts: dict[str, int] = {}
    for c in comparison.changes:
        counts[c.kind] = counts.get(c.kind, 0) + 1
    bad = [f"{counts[k]} {k}" for k in ("newly failing", "lost its eyes", "changed",
                                         "missing", "worse") if k in counts]
    bad += [f"{len(comparison.problems)} problem(s) with the reports"] \
        if comparison.problems else []
    good = [f"{counts[k]} {k}" for k in ("newly fixed", "reproduces again", "better")
            if k in counts]
    other = [f"{counts[k]} {k}" for k in ("worse?", EXPECTED, "still failing", "left out",
                                          "new", "same") if k in counts]
    if SKIPPED in counts:  # never part of an OK: say what was not checked
        other.append(skipped_line(comparison))
    text = ("FAIL: " + ", ".join(bad)) if comparison.failed else "OK: no regression"
    if good:
        text += "; good news: " + ", ".join(good)
    text += "; " + ", ".join(other) if other else ""
    if not comparison.metrics_compared:
        text += "; metrics NOT compared (different hosts)"
    return text


def skipped_line(comparison: Comparison) -> str:
    """'6 skipped, NOT checked (HEAD: NCCL needs ...)': variants a side's machine could not
    run; the gate's OK does not cover them."""
    skipped = comparison.of_kind(SKIPPED)
    reasons = sorted({c.reason for c in skipped})
    return (f"{len(skipped)} {SKIPPED}, NOT checked ({reasons[0]}"
            + (f"; and {len(reasons) - 1} other reason(s)" if len(reasons) > 1 else "") + ")")


def sides(comparison: Comparison) -> str:
    """'BASE mlx 0.31.2 -> HEAD mlx 0.32.4 on linux-x86_64-cpu (python 3.11.7)'."""
    b, h = comparison.base_fingerprint, comparison.head_fingerprint
    host = b.get("name") if b.get("name") == h.get("name") else f"{b.get('name')} / {h.get('name')}"
    return (f"BASE mlx {b.get('mlx_version')} -> HEAD mlx {h.get('mlx_version')} on {host} "
            f"(python {h.get('python')})")


def rows(comparison: Comparison, everything: bool = False) -> list[tuple[str, ...]]:
    shown = [c for c in comparison.changes if everything or c.kind != "same"]
    return [(c.kind.upper() if c.regressed else c.kind, c.scenario, c.variant, c.expected,
             c.base, c.head, explain(c, comparison.alpha)) for c in shown]


def render(comparison: Comparison, color: bool = False) -> str:
    """The whole terminal output of `mlxprobe compare`; with `color`, the status column
    and the headline coloured (a regression red, good news green, a warning yellow)."""
    lines = [sides(comparison)]
    lines += [f"error: {p}" for p in comparison.problems]
    lines += [f"warning: {w}" for w in comparison.warnings]
    body = rows(comparison)
    if body:
        lines += ["", *_table([COLUMNS, *body], color)]
    flagged = [c for c in comparison.changes if c.regressed or c.kind == "worse?"]
    if flagged:
        lines += ["", *(f"{c.scenario} [{c.variant}]: {explain(c, comparison.alpha)}"
                        for c in flagged)]
    expected = comparison.of_kind(EXPECTED)
    if expected:
        lines += ["", f"{EXPECTED} (not a failure: the verdict moved, and both sides matched):",
                  *(f"  {c.scenario} [{c.variant}]: {expected_text(c)}" for c in expected)]
    top = headline(comparison)
    lines += ["", ansi.paint(top, "bad" if comparison.failed else "good", color)]
    return "\n".join(lines)


def _tone(status: str) -> str:
    """The colour of a status cell (its text, upper-cased when it regressed)."""
    if status.isupper() or status in ("worse", "worse?", SKIPPED):
        return "bad" if status.isupper() else "warn"
    return "good" if status in ("newly fixed", "reproduces again", "better") else "none"


def _table(rows_: list[tuple[str, ...]], color: bool = False) -> list[str]:
    clipped = [(*r[:-1], _clip(r[-1], TEXT_WIDTH)) for r in rows_]
    widths = [max(len(r[i]) for r in clipped) for i in range(len(COLUMNS))]
    out = [_line(r, widths, color and i > 0) for i, r in enumerate(clipped)]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def _line(cells: tuple[str, ...], widths: list[int], color: bool) -> str:
    padded = [cell.ljust(w) for cell, w in zip(cells, widths)]
    if color:  # padding measured on plain text
        padded[0] = ansi.paint(padded[0], _tone(cells[0]), True)
    return "  ".join(padded).rstrip()


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
