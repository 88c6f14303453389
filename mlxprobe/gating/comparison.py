"""The comparison of two reports (BASE, HEAD): which verdicts changed, which metrics got worse.

Job: a pure function of two loaded reports and the thresholds. Runs are grouped by (scenario,
variant); with `run --repeat N` each group holds N runs.

1. Verdicts first, and a change there is a hard failure: a variant whose runs all matched
   their expectation in BASE and not all in HEAD is `newly failing` (expected `pass`) or `lost
   its eyes` (a broken variant that no longer shows its failure: the scenario stopped
   reproducing). Failing in both but differently is `changed`, also hard. The reverse is good
   news: `newly fixed`, or `reproduces again`. A variant that matched on both sides with
   different verdicts (an `expected_before_mlx` override on one side: mlx changed, and the
   scenario says it would) is `changed as expected`: not a failure, but never hidden.
   A variant of BASE that HEAD lacks is `missing`, a failure, unless the caller allowed it
   (`left out`); narrowing both reports to a selection first (`narrow`) is the other way to
   compare on purpose less than BASE holds. A partial report (`"complete": false`) on either
   side is a failure of its own (`problems`), naming the runs it lacks and why.
2. Then metrics, only for variants that passed in every run on both sides: each metric has a
   ratio threshold and an absolute noise floor, applied to the medians over repeats. A noisy
   metric (`ranked`: step time, peak memory, memory slope) must also pass a one-sided
   Mann-Whitney test over the runs (p <= alpha) before it counts; with too few runs to reach
   alpha it is `worse?`, reported, not failed. The learning curve (`curves`: the loss over
   matching steps against the noise band of each side's runs) is `worse` when HEAD learns
   differently, `worse?` with one run on a side. Reports from different hosts (OS, machine,
   device) have their verdicts compared but not their metrics, and the headline says so.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace

from ..errors import UsageError
from ..results import fingerprint
from . import curves, ranktest


@dataclass(frozen=True)
class Threshold:
    """A metric is worse when HEAD/BASE > ratio and HEAD - BASE > floor (lower is better)."""

    key: str  # the run's metrics key
    label: str
    ratio: float
    floor: float
    ranked: bool = False  # noisy: needs the rank test over repeated runs
    why: str = ""


CURVE_KEY = "series.loss"  # not a metrics key: the learning curve rule (`curves`)
DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "step_ms": Threshold("step_ms_median", "step ms", 1.25, 0.5, ranked=True,
                         why="median step time; shared CI runners swing 10-20% run to run"),
    # memory is ranked too (issue 13): one run a side once failed on a peak counted twice
    # under load; a real regression repeats in every run and passes the rank test
    "peak_mb": Threshold("peak_rss_mb", "peak MB", 1.20, 32.0, ranked=True,
                         why="peak RSS, the kernel's high-water mark; allocator noise is a "
                             "few MB"),
    "mx_peak_mb": Threshold("peak_mx_active_mb", "MLX peak MB", 1.20, 32.0, ranked=True,
                            why="MLX's own active-memory counter at the heartbeats (another "
                            "view than RSS: MLX's buffers)"),
    "device_mb": Threshold("peak_device_mb", "device MB", 1.20, 32.0, ranked=True,
                           why="GPU memory of the tree (NVML), where seen"),
    "slope": Threshold("rss_mb_per_step", "MB/step", 2.0, 0.05, ranked=True,
                       why="RSS slope after warm-up; 0.05 MB/step is 15 MB over 300 steps"),
    "loss": Threshold("loss_final", "final loss", 1.10, 0.05,
                      why="median loss of the last 10% of steps; seeds are fixed"),
    "curve": Threshold(CURVE_KEY, "learning curve", 3.0, 0.05,
                       why="loss over matching steps (log scale when positive): HEAD's median "
                       "outside BASE's band on 25% of the steps or at the end is worse (with "
                       "2+ runs a side, else worse?); RATIO: the band in run-to-run spreads, "
                       "FLOOR: the narrowest band, a share of how far the curve moved"),
}
DEFAULT_ALPHA = 0.05

HARD = ("newly failing", "lost its eyes", "changed", "missing")
GOOD = ("newly fixed", "reproduces again")
EXPECTED = "changed as expected"
SKIPPED = "skipped"  # not run on a side's machine (its shape): neither passed nor failed
ORDER = (*HARD, "worse", "worse?", EXPECTED, *GOOD, "better", "still failing", SKIPPED,
         "left out", "new", "same")
SHOWN_MISSING = 8  # a partial report's missing runs named in its problem line


@dataclass(frozen=True)
class MetricChange:
    name: str
    label: str
    base: float  # median over runs
    head: float
    ratio: float  # head / base (inf when base <= 0 < head)
    state: str  # "worse", "worse?" (not confirmed by the rank test), "better", "same"
    p: float | None = None  # one-sided Mann-Whitney p (ranked metrics)
    runs: tuple[int, int] = (1, 1)
    detail: str = ""  # the learning curve: steps outside the band, final losses


@dataclass(frozen=True)
class VariantChange:
    scenario: str
    variant: str
    expected: str
    base: str  # verdict summary, e.g. "pass", "hang:cpu_busy (2/3)", "-"
    head: str
    status: str  # one of ORDER, the verdict-level status
    metrics: tuple[MetricChange, ...] = ()
    note: str = ""
    reason: str = ""  # why HEAD's verdict is what it is (its first mismatching run)
    why_expected: str = ""  # changed as expected: the rule, e.g. "expected from mlx 0.32.1"

    @property
    def hard(self) -> bool:
        return self.status in HARD

    @property
    def regressed(self) -> bool:
        return self.hard or any(m.state == "worse" for m in self.metrics)

    @property
    def kind(self) -> str:
        """The row's mark: the verdict status, or the worst metric state when that is 'same'."""
        if self.status != "same":
            return self.status
        states = {m.state for m in self.metrics}
        return next((s for s in ("worse", "worse?", "better") if s in states), "same")


@dataclass(frozen=True)
class Comparison:
    base_fingerprint: dict
    head_fingerprint: dict
    changes: tuple[VariantChange, ...]
    warnings: tuple[str, ...] = ()
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    alpha: float = DEFAULT_ALPHA
    problems: tuple[str, ...] = ()  # failures not of one variant: a partial report
    metrics_compared: bool = True  # False when the reports come from different hosts

    @property
    def failed(self) -> bool:
        return bool(self.problems) or any(c.regressed for c in self.changes)

    def of_kind(self, *kinds: str) -> list[VariantChange]:
        return [c for c in self.changes if c.kind in kinds]


def compare(base: dict, head: dict, thresholds: dict[str, Threshold] | None = None,
            alpha: float = DEFAULT_ALPHA, allow_missing: bool = False) -> Comparison:
    """Compare two loaded reports; UsageError when they share no scenario variant.
    `allow_missing`: a variant of BASE that HEAD lacks is `left out`, not `missing`."""
    thresholds = DEFAULT_THRESHOLDS if thresholds is None else thresholds
    base_runs, head_runs = _grouped(base), _grouped(head)
    for side, runs in (("BASE", base_runs), ("HEAD", head_runs)):
        if not runs:
            raise UsageError(f"the {side} report holds no runs; nothing to compare")
    if not set(base_runs) & set(head_runs):
        raise UsageError("the two reports share no scenario variant; nothing to compare")
    base_fp, head_fp = fingerprint.of_report(base), fingerprint.of_report(head)
    same_host = not fingerprint.differences(base_fp, head_fp, fingerprint.HOST_KEYS)
    keys = list(base_runs) + [k for k in head_runs if k not in base_runs]
    changes = [_variant(k, base_runs.get(k, []), head_runs.get(k, []),
                        thresholds if same_host else {}, alpha, allow_missing) for k in keys]
    changes.sort(key=lambda c: ORDER.index(c.kind))
    return Comparison(base_fp, head_fp, tuple(changes), _warnings(base, head, base_fp, head_fp),
                      dict(thresholds), alpha, _problems(base, head), same_host)


def narrow(report: dict, side: str, scenarios: list[str] | None, variant: str | None,
           strict: bool = True) -> dict:
    """`report` with only the runs (and missing runs) of the selection. `strict` (for BASE):
    a UsageError when the selection names a scenario or variant the report does not hold
    (it would compare nothing and pass); HEAD is not strict: what it lacks is `missing`."""
    def chosen(run: dict) -> bool:
        return (not scenarios or run.get("scenario") in scenarios) and \
            (not variant or run.get("variant") == variant)
    runs = [r for r in report.get("runs", []) if chosen(r)]
    if strict:
        _require_selection(report, side, scenarios, variant, runs)
    missing = [m for m in report.get("missing") or [] if isinstance(m, dict) and chosen(m)]
    return {**report, "runs": runs, **({"missing": missing} if "missing" in report else {})}


def _require_selection(report: dict, side: str, scenarios: list[str] | None,
                       variant: str | None, runs: list[dict]) -> None:
    for wanted in scenarios or []:
        if not any(r.get("scenario") == wanted for r in report.get("runs", [])):
            raise UsageError(f"--scenario {wanted!r}: the {side} report holds no such scenario")
    if not runs:
        raise UsageError(f"--variant {variant!r}: the {side} report holds no run of it"
                         + (" in the scenarios chosen" if scenarios else ""))


def _grouped(report: dict) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for run in report.get("runs", []):
        groups.setdefault((str(run.get("scenario")), str(run.get("variant"))), []).append(run)
    return groups


def _warnings(base: dict, head: dict, base_fp: dict, head_fp: dict) -> tuple[str, ...]:
    out = ["BASE and HEAD are the same report (same runs, same time): this compared a run "
           "with itself"] if base == head else []
    host = fingerprint.differences(base_fp, head_fp, fingerprint.HOST_KEYS)
    if host:
        diff = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in host.items())
        out.append(f"the reports come from different hosts ({diff}): timings are not "
                   "comparable, metrics were not compared (verdicts were)")
    out += [f"{side} report is partial ({rep.get('stopped') or 'interrupted'}), but holds "
            "every run of the selection compared" for side, rep in (("BASE", base), ("HEAD", head))
            if rep.get("complete") is False and rep.get("missing") == []]
    versions = (base.get("mlxprobe_version"), head.get("mlxprobe_version"))
    if versions[0] != versions[1] and all(versions):
        out.append(f"the reports were made by different mlxprobe versions ({versions[0]} -> "
                   f"{versions[1]}): a verdict may have changed with mlxprobe's rules, not mlx")
    return tuple(out)


def _problems(base: dict, head: dict) -> tuple[str, ...]:
    """A partial report on either side: which runs it lacks and why (none, when it was
    narrowed to a selection whose runs it all holds); no matched run on either side (every
    variant 'still failing': the scenarios did not run, nothing was compared)."""
    found = [_partial(side, rep, other) for side, rep, other in
             (("BASE", base, head), ("HEAD", head, base)) if rep.get("complete") is False]
    if not any(r.get("matched") for rep in (base, head) for r in rep.get("runs", [])):
        programs = all(r.get("program") for rep in (base, head) for r in rep.get("runs", []))
        what = "does the program pass" if programs else "do the scenarios run"
        found.append("no run matched its expectation on either side: nothing was checked "
                     f"({what} at all in these environments?)")
    return tuple(p for p in found if p)


def _partial(side: str, rep: dict, other: dict) -> str:
    why = str(rep.get("stopped") or "its run was interrupted")
    missing = rep.get("missing")
    if isinstance(missing, list):
        names = [f"{m.get('scenario')} [{m.get('variant')}] #{int(m.get('repeat') or 0) + 1}"
                 for m in missing if isinstance(m, dict)]
        if not names:
            return ""
        what = f"{len(names)} run(s) missing: " + _some(names)
    else:  # a report from before the list was kept: name what the other side has
        lacking = sorted(set(_grouped(other)) - set(_grouped(rep)))
        what = "the runs it lacks are not recorded" + (
            "; variants only the other side has: " + _some([f"{s} [{v}]" for s, v in lacking])
            if lacking else "")
    return f"{side} report is partial ({why}): {what}"


def _some(names: list[str]) -> str:
    more = len(names) - SHOWN_MISSING
    return ", ".join(names[:SHOWN_MISSING]) + (f" and {more} more" if more > 0 else "")


def label(run: dict) -> str:
    detail = run.get("detail")
    return f"{run.get('verdict')}:{detail}" if detail else str(run.get("verdict"))


def summary(runs: list[dict]) -> str:
    """'pass', or 'hang:cpu_busy (2/3)' when the runs disagree, '-' when there are none."""
    if not runs:
        return "-"
    counts: dict[str, int] = {}
    for run in runs:
        counts[label(run)] = counts.get(label(run), 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{k} ({n}/{len(runs)})" for k, n in
                     sorted(counts.items(), key=lambda kv: -kv[1]))


def _all_matched(runs: list[dict]) -> bool:
    return all(r.get("matched") for r in runs)


def _failing_labels(runs: list[dict]) -> set[str]:
    return {label(r) for r in runs if not r.get("matched")}


def _variant(key: tuple[str, str], base: list[dict], head: list[dict],
             thresholds: dict[str, Threshold], alpha: float,
             allow_missing: bool = False) -> VariantChange:
    # a watched program has no expectation (None): it is expected to pass
    expected = str((head or base)[0].get("expected") or "pass")
    status = _status(base, head, expected)
    if status == "missing" and allow_missing:
        status = "left out"
    change = VariantChange(key[0], key[1], expected, summary(base), summary(head), status,
                           note=_note(base, head) if status != EXPECTED else "",
                           reason=skip_reasons(base, head) if status == SKIPPED
                           else _reason(head),
                           why_expected=_why_expected(base, head) if status == EXPECTED else "")
    if change.status == "same" and _all_pass(base) and _all_pass(head):
        metrics = tuple(m for t_name, t in thresholds.items()
                        if (m := metric_change(t_name, t, base, head, alpha)) is not None)
        return replace(change, metrics=metrics)
    return change


def _status(base: list[dict], head: list[dict], expected: str) -> str:
    if not head:
        return "missing"
    if not base:
        return "new"
    if any(r.get("skipped") for r in (*base, *head)):
        return SKIPPED  # never a pass: the headline says it was not checked
    was, now = _all_matched(base), _all_matched(head)
    if was and not now:
        return "newly failing" if expected == "pass" else "lost its eyes"
    if now and not was:
        return "newly fixed" if expected == "pass" else "reproduces again"
    if not was and _failing_labels(base) != _failing_labels(head):
        return "changed"
    if was and {label(r) for r in base} != {label(r) for r in head}:
        return EXPECTED
    return "same" if was else "still failing"


def _why_expected(base: list[dict], head: list[dict]) -> str:
    """'expected from mlx 0.32.1' (BASE ran under an `expected_before_mlx` override that HEAD
    is past), 'expected before mlx ...' (the reverse), or what both sides expected."""
    bounds = [{str(r["expected_before_mlx"]) for r in runs if r.get("expected_before_mlx")}
              for runs in (base, head)]
    if bounds[0] and not bounds[1]:
        return f"expected from mlx {', '.join(sorted(bounds[0]))}"
    if bounds[1] and not bounds[0]:
        return f"expected before mlx {', '.join(sorted(bounds[1]))}"
    was, now = (", ".join(sorted({str(r.get("expected")) for r in runs})) for runs in (base, head))
    return f"expectation {was} -> {now}" if was != now else f"both match the expectation {was}"


def _note(base: list[dict], head: list[dict]) -> str:
    expected = {str(r.get("expected")) for r in base} | {str(r.get("expected")) for r in head}
    return f"expectation differs between reports: {sorted(expected)}" if len(expected) > 1 \
        else ""


def _reason(runs: list[dict]) -> str:
    chosen = next((r for r in runs if not r.get("matched")), runs[0] if runs else {})
    return str(chosen.get("reason") or "")


def skip_reasons(change_base: list[dict], change_head: list[dict]) -> str:
    """'BASE: REASON; HEAD: REASON' for the sides whose runs were skipped."""
    parts = [f"{side}: {next(str(r['skipped']) for r in runs if r.get('skipped'))}"
             for side, runs in (("BASE", change_base), ("HEAD", change_head))
             if any(r.get("skipped") for r in runs)]
    return "; ".join(parts)


def _all_pass(runs: list[dict]) -> bool:
    return bool(runs) and all(r.get("verdict") == "pass" for r in runs)


def values(runs: list[dict], key: str) -> list[float]:
    """The finite numbers of one metric over the runs."""
    out = [(r.get("metrics") or {}).get(key) for r in runs]
    return [float(v) for v in out if isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v)]


def metric_change(name: str, t: Threshold, base_runs: list[dict], head_runs: list[dict],
                  alpha: float) -> MetricChange | None:
    """One metric's change, None when a side has no value for it."""
    if t.key == CURVE_KEY:
        return curve_change(name, t, base_runs, head_runs)
    base, head = values(base_runs, t.key), values(head_runs, t.key)
    if not base or not head:
        return None
    b, h = statistics.median(base), statistics.median(head)
    state = _direction(b, h, t)
    p = None
    if t.ranked and state != "same":
        p = ranktest.greater_p(head, base) if state == "worse" else ranktest.greater_p(base, head)
        if p > alpha:
            state = "worse?" if state == "worse" else "same"
    return MetricChange(name, t.label, b, h, _ratio(b, h), state, p, (len(base), len(head)))


def curve_change(name: str, t: Threshold, base_runs: list[dict],
                 head_runs: list[dict]) -> MetricChange | None:
    """The learning curve as a metric change: base/head are the final losses."""
    found = curves.judge(base_runs, head_runs, t.ratio, t.floor)
    if found is None:
        return None
    found_band = found.band
    b, h = (found_band.loss(found_band.final(v)) for v in (found_band.base, found_band.head))
    return MetricChange(name, t.label, b, h, _ratio(b, h), found.state,
                        runs=found.band.runs, detail=found.detail)


def _ratio(base: float, head: float) -> float:
    if base > 0:
        return head / base
    return math.inf if head > 0 else 1.0


def _direction(base: float, head: float, t: Threshold) -> str:
    if head - base > t.floor and _ratio(base, head) > t.ratio:
        return "worse"
    if base - head > t.floor and _ratio(head, base) > t.ratio:
        return "better"
    return "same"


def parse_threshold(text: str, known: dict[str, Threshold]) -> tuple[str, Threshold]:
    """'step_ms=1.5' or 'step_ms=1.5:2' (ratio[:floor]) -> (name, threshold)."""
    name, _, spec = text.partition("=")
    if name not in known:
        raise UsageError(f"unknown metric {name!r} in --threshold {text!r} "
                         f"(known: {', '.join(known)})")
    ratio_text, _, floor_text = spec.partition(":")
    try:
        ratio = float(ratio_text)
        floor = float(floor_text) if floor_text else known[name].floor
    except ValueError:
        raise UsageError(f"--threshold {text!r}: expected NAME=RATIO[:FLOOR], "
                         "e.g. step_ms=1.5:1") from None
    if not ratio >= 1 or not floor >= 0:
        raise UsageError(f"--threshold {text!r}: RATIO must be >= 1 and FLOOR >= 0")
    return name, replace(known[name], ratio=ratio, floor=floor)
