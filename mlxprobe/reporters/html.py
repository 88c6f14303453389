"""The HTML report: one self-contained page (no network, no script) for a run or a comparison.

Job: from one report (or a baseline and a candidate report), build a page with a summary
grid of scenarios x variants with verdict badges, then per scenario the runs' series plotted
together (`plots`, inline SVG) and each run's card side by side (`html_run`: evidence,
thresholds, fix, collapsed stacks). Everything user-supplied is escaped; the page's content
security policy forbids scripts and any fetch.

Must not import: mlx, the runner, the child side; matplotlib only through `plots`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..gating import comparison, curves
from ..gating.comparison import EXPECTED, Comparison
from ..results import textfile
from . import plots
from .changes import expected_text, headline
from .html_run import badge, card, esc
from .html_style import CSS
from .table import skipped_text
from .tones import label

VARIANT_COLORS = {"broken": "#d62728", "fixed": "#2ca02c"}
OTHER_COLORS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
                "#bcbd22")
require = plots.require  # UsageError when matplotlib is missing
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@dataclass(frozen=True)
class Run:
    """A run entry as placed on the page: its side of a comparison ("" when there is one
    report) and its number among repeats of the same variant (0 when alone)."""

    entry: dict
    side: str = ""
    repeat: int = 0

    def heading(self) -> str:
        parts = [str(self.entry.get("variant")), self.side]
        return " ".join(p for p in parts if p) + (f" #{self.repeat}" if self.repeat else "")


Groups = dict[str, dict[str, list[Run]]]  # scenario -> variant -> runs, in report order


def write(path: Path, report: dict, baseline: dict | None = None,
          result: Comparison | None = None) -> None:
    textfile.write(path, render(report, baseline, result))


def render(report: dict, baseline: dict | None = None, result: Comparison | None = None) -> str:
    """The page for `report`; with `baseline`, baseline against `report` as the candidate,
    headed by the comparison's verdict (`result`, else one with the default thresholds)."""
    plots.require()
    sides = [("baseline", baseline), ("candidate", report)] if baseline else [("", report)]
    groups = group(sides)
    colors = variant_colors(groups)
    if baseline is not None and result is None:
        result = _comparison(baseline, report)
    body = [header(report, baseline, result), grid(groups, compare=baseline is not None)]
    curve = (result.thresholds.get("curve") if result is not None else None) \
        or comparison.DEFAULT_THRESHOLDS["curve"]
    body += [section(i, name, variants, colors, curve) for i, (name, variants)
             in enumerate(groups.items())]
    title = "mlxprobe comparison" if baseline else "mlxprobe report"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")


def group(sides: list[tuple[str, dict]]) -> Groups:
    groups: Groups = {}
    for side, report in sides:
        for entry in report.get("runs", []):
            runs = groups.setdefault(str(entry.get("scenario")), {}) \
                .setdefault(str(entry.get("variant")), [])
            repeats = sum(1 for r in runs if r.side == side)
            runs.append(Run(entry, side, repeats))
    for variants in groups.values():  # number repeats only where a variant ran more than once
        for variant, runs in variants.items():
            variants[variant] = [_numbered(r, runs) for r in runs]
    return groups


def _numbered(run: Run, runs: list[Run]) -> Run:
    many = sum(1 for r in runs if r.side == run.side) > 1
    return Run(run.entry, run.side, run.repeat + 1 if many else 0)


def variant_colors(groups: Groups) -> dict[str, str]:
    names = list(dict.fromkeys(v for variants in groups.values() for v in variants))
    others = iter(OTHER_COLORS * (len(names) // len(OTHER_COLORS) + 1))
    return {n: VARIANT_COLORS.get(n) or next(others) for n in names}


def _comparison(baseline: dict, candidate: dict) -> Comparison | None:
    try:
        return comparison.compare(baseline, candidate)
    except UsageError:  # nothing in common: the page still shows both
        return None


def header(report: dict, baseline: dict | None, result: Comparison | None = None) -> str:
    runs = report.get("runs", [])
    matched = sum(1 for e in runs if e.get("matched"))
    judged = sum(1 for e in runs if not e.get("skipped"))
    lines = [f"{matched} of {judged} verdicts matched their expectation"
             + esc(skipped_text(runs)), _about(report)]
    if runs and all(e.get("expected") is None for e in runs):  # `watch` of a program
        lines[0] = "program: " + esc(" ".join(runs[0].get("program") or [runs[0]["variant"]]))
    if baseline is not None:
        lines = [_changes(baseline, report), "baseline: " + _about(baseline),
                 "candidate: " + _about(report)]
        lines = _verdict_lines(result) + lines
    if not report.get("complete", True) or (baseline and not baseline.get("complete", True)):
        lines.append('<span class="partial">partial report: the run was interrupted</span>')
    title = "mlxprobe: baseline against candidate" if baseline else "mlxprobe report"
    return f"<header><h1>{title}</h1>" + "".join(f"<p>{line}</p>" for line in lines) \
        + "</header>"


def _verdict_lines(result: Comparison | None) -> list[str]:
    """The comparison's headline, its partial-report errors and its changes as expected."""
    if result is None:
        return []
    lines = [f'<strong>{esc(headline(result))}</strong>']
    lines += [f'<span class="partial">{esc(p)}</span>' for p in result.problems]
    lines += [f'<span class="expected-change">{EXPECTED}: {esc(c.scenario)} '
              f"[{esc(c.variant)}] {esc(expected_text(c))}</span>"
              for c in result.of_kind(EXPECTED)]
    return lines


def _about(report: dict) -> str:
    keys = ("mlx_version", "mlxprobe_version", "python", "platform", "created")
    names = ("mlx", "mlxprobe", "python", "", "")
    return esc(" · ".join(f"{n} {report.get(k)}".strip() for k, n in zip(keys, names)
                          if report.get(k)))


def _changes(baseline: dict, candidate: dict) -> str:
    before = {(e.get("scenario"), e.get("variant")): label(e) for e in baseline.get("runs", [])}
    after = {(e.get("scenario"), e.get("variant")): label(e) for e in candidate.get("runs", [])}
    changed = sum(1 for key in after if key in before and before[key] != after[key])
    return f"{changed} of {len(after)} verdicts changed from baseline to candidate"


def grid(groups: Groups, compare: bool) -> str:
    """The summary grid: a row per scenario, a column per variant, badges in the cells."""
    variants = list(dict.fromkeys(v for vs in groups.values() for v in vs))
    head = "<tr><th>scenario</th>" + "".join(f"<th>{esc(v)}</th>" for v in variants) + "</tr>"
    rows = [f'<tr><td><a href="#s{i}">{esc(name)}</a></td>'
            + "".join(_cell(runs.get(v, []), compare) for v in variants) + "</tr>"
            for i, (name, runs) in enumerate(groups.items())]
    return f'<section class="summary"><table class="grid">{head}{"".join(rows)}</table></section>'


def _cell(runs: list[Run], compare: bool) -> str:
    if not runs:
        return "<td>-</td>"
    if not compare:
        return "<td>" + " ".join(badge(r.entry) for r in runs) + "</td>"
    before = [r for r in runs if r.side == "baseline"]
    after = [r for r in runs if r.side == "candidate"]
    changed = {label(r.entry) for r in before} != {label(r.entry) for r in after}
    badges = [" ".join(badge(r.entry) for r in side) or "-" for side in (before, after)]
    css = ' class="changed"' if changed else ""
    return f'<td{css}>{badges[0]}<span class="arrow">&rarr;</span>{badges[1]}</td>'


def section(index: int, name: str, variants: dict[str, list[Run]],
            colors: dict[str, str], curve: comparison.Threshold | None = None) -> str:
    """One scenario: legend, the plots of all its runs, in a comparison each variant's
    learning curve against the baseline's noise band, the runs' cards side by side."""
    runs = [r for rs in variants.values() for r in rs]
    lines = [plots.Line(r.entry.get("series") or {}, colors[str(r.entry.get("variant"))],
                        dashed=r.side == "baseline", stall=_stall(r.entry)) for r in runs]
    cards = [_cards(rs, colors) for rs in variants.values()]
    bands = "".join(learning_curve(v, rs, curve) for v, rs in variants.items()) \
        if curve is not None else ""
    return (f'<section class="scenario" id="s{index}" data-scenario="{esc(name)}">'
            f"<h2>{esc(name)}</h2>{legend(runs, colors)}"
            f'<figure class="plot">{plots.figure_svg(lines)}</figure>{bands}'
            f'<div class="{_runs_class(runs)}">{"".join(cards)}</div></section>')


def learning_curve(variant: str, runs: list[Run], t: comparison.Threshold) -> str:
    """Both sides' loss curves over the matching steps with the baseline's noise band
    shaded, and the rule's words; "" when a side has no curve (or nothing is compared)."""
    base = [r.entry for r in runs if r.side == "baseline"]
    head = [r.entry for r in runs if r.side == "candidate"]
    found = curves.judge(base, head, t.ratio, t.floor) if base and head else None
    if found is None:
        return ""
    band = found.band
    steps, loss = list(band.steps), band.loss
    low = [loss(b - w) for b, w in zip(band.base, band.half)]
    high = [loss(b + w) for b, w in zip(band.base, band.half)]
    each = [("baseline", c) for c in map(curves.curve, base) if c] + \
        [("candidate", c) for c in map(curves.curve, head) if c]
    svg = plots.band_svg(steps, low, high, [(side, [c[s] for s in steps]) for side, c in each],
                         [("baseline", [loss(v) for v in band.base]),
                          ("candidate", [loss(v) for v in band.head])], band.logs)
    state = {"worse": "differs", "worse?": "differs (unconfirmed: one run on a side)"} \
        .get(found.state, "within the noise band")
    return (f'<figure class="plot curve"><figcaption>{esc(variant)}: learning curve '
            f"{state}: {esc(found.detail)}</figcaption>{svg}</figure>")


def _runs_class(runs: list[Run]) -> str:
    return "runs compare" if any(r.side for r in runs) else "runs"


def _cards(runs: list[Run], colors: dict[str, str]) -> str:
    color = colors[str(runs[0].entry.get("variant"))]
    cards = "".join(card(r.entry, r.heading(), color) for r in runs)
    return f'<div class="pair">{cards}</div>' if any(r.side for r in runs) else cards


def legend(runs: list[Run], colors: dict[str, str]) -> str:
    items = [f'<span class="item"><span class="swatch{" dashed" if r.side == "baseline" else ""}'
             f'" style="background-color:{colors[str(r.entry.get("variant"))]}"></span>'
             f"{esc(r.heading())} {badge(r.entry)}</span>" for r in runs]
    return f'<p class="legend">{"".join(items)}</p>'


def _stall(entry: dict) -> tuple[float, float] | None:
    """(step that never finished, stalled ms) of a hang, for the step-time plot."""
    ev = entry.get("evidence") or {}
    step, stalled = ev.get("last_step"), ev.get("stalled_s")
    if entry.get("verdict") != "hang" or not all(isinstance(v, (int, float))
                                                 for v in (step, stalled)):
        return None
    return float(step) + 1, float(stalled) * 1000
