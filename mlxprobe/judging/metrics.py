"""Rule units on the metrics a program reports, whatever it calls them.

Job: every number a program prints or hands over under a name (`metric_names` tells a loss
from an accuracy from a timing) is evidence. `non_finite` is `diverged` when a metric that is
not a timing or a count became nan/inf and stayed so: at least PERSIST of its reports from
the first non-finite one on are non-finite (a run that ends on it always is). One inf among
finite reports (a skipped overflow step) is not a divergence; it is noted in the evidence.
The training loss under any name (`loss_name`) is judged by the loss rules in `verdict`.
Where the loss went past its non-finite reports (`skipped`: batches the program left out),
the metrics reported at those reports' steps are left out too.

Threshold and why: PERSIST = 0.5. A diverged run prints nan at every report after it
diverged (nan propagates through every later update); a transient overflow that the
program recovers from leaves finite reports after it. So a metric finite at its last report
is never judged non-finite, however many of its reports were not: fresh306
`beachcomb_shell_fomaml` (correct) wrote `nan` in a CSV column at every other report, where
it had not measured its unseen-task accuracy (96.3% -> 97.5% at the others).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from .. import metric_names
from ..protocol import decode_number
from ..watching.facts import RawResult
from ..watching.store import PROGRESS_VIEW
from . import hints, policy, program, skipped
from .rule import Rule, Verdict
from .stats import finite_head

PERSIST = 0.5


def series(raw: RawResult, since: float | None = None) -> dict[str, list[tuple[int, float]]]:
    """(step, value) of every named metric the run reported, in order: the metrics of its
    step records and of its progress records (output lines, a trainer's callback); with
    `since`, only those reported at or after that time."""
    out: dict[str, list[tuple[int, float]]] = {}
    records = raw.steps if raw.steps_view != PROGRESS_VIEW else []
    for record in [*records, *raw.view(PROGRESS_VIEW).records()]:
        if since is not None and not record.get("t", since) >= since:
            continue
        step = record.get("step")
        for name, value in (record.get("metrics") or {}).items():
            number = decode_number(value)
            if number is not None and isinstance(step, int):
                out.setdefault(str(name), []).append((step, number))
    return out


def learning_rates(raw: RawResult) -> list[float]:
    """The learning rate the program reported, in order (under any of the names
    `metric_names` reads as one: `lr`, `learning_rate`, ...)."""
    return [v for _, v in series(raw).get("learning_rate", [])]


def first_persisting(values: list[tuple[int, float]]) -> dict | None:
    """Where a metric became non-finite and stayed so (see PERSIST), or None."""
    bad = [i for i, (_, v) in enumerate(values) if not math.isfinite(v)]
    if not bad or math.isfinite(values[-1][1]):
        return None  # a metric finite at its last report came back: no nan propagates
    for i in bad:
        after = values[i:]
        share = sum(1 for _, v in after if not math.isfinite(v)) / len(after)
        if share >= PERSIST:
            return {"first_step": values[i][0], "value": str(values[i][1]),
                    "non_finite_reports": len(bad), "reports": len(values),
                    "share_after": round(share, 3), "persist_threshold": PERSIST}
    return None


def non_finite(raw: RawResult, meta: dict) -> Verdict | None:
    found = {}
    passed = skipped_steps(raw)
    for name, values in series(raw).items():
        if metric_names.judged_for_finite(name):
            hit = first_persisting([(s, v) for s, v in values if s not in passed])
            if hit is not None:
                found[name] = hit
    if not found:
        return None
    name, hit = min(found.items(), key=lambda item: item[1]["first_step"])
    others = sorted(set(found) - {name})
    also = f"; also non-finite: {', '.join(others)}" if others else ""
    reported = series(raw)
    values = [v for _, v in reported[name]]
    return Verdict("diverged", "non_finite_metric", f"the metric `{name}` became "
                   f"{hit['value']} at step {hit['first_step']} and stayed non-finite "
                   f"({hit['non_finite_reports']} of {hit['reports']} reports){also}",
                   _schedule_hint(found) or _hint(raw, name, reported, values),
                   {"metric": name, **hit, "non_finite_metrics": found})


def skipped_steps(raw: RawResult) -> set[int]:
    """The steps of the non-finite loss reports that the program went past
    (`skipped.went_past`): the metrics reported beside them are those batches' (fresh267
    `moraine_gauge_sentinel`: `loss=nan grad_norm=nan -> update left out`); else none."""
    bad = {r["step"] for r in raw.learning if isinstance(r.get("step"), int)
           and not math.isfinite(decode_number(r.get("loss")) or 0.0)}
    return bad if bad and skipped.went_past(raw, program.losses(raw)) else set()


def _schedule_hint(found: dict) -> str | None:
    """The learning rate itself became non-finite: the schedule computed it from a 0/0 or
    an inf, and every update after it carries it into the weights."""
    return hints.NAN_SCHEDULE if any(metric_names.normal(n) in metric_names.LEARNING_RATES
                                     for n in found) else None


def _hint(raw: RawResult, name: str, reported: dict, values: list[float]) -> str:
    """A validation metric non-finite while the training loss stayed finite is an
    evaluation over nothing; else the policy-gradient or the trajectory's fix."""
    losses = program.losses(raw)
    if metric_names.held_out(name) and losses and all(math.isfinite(v) for v in losses):
        return hints.NAN_HELD_OUT
    return policy.non_finite_hint(reported, name) or hints.for_non_finite(finite_head(values))



RULES = (
    Rule("diverged.metric", "metrics", f"a named metric (not a timing or count) non-finite "
         f"in >= {PERSIST:.0%} of its reports from its first non-finite one, and at its last",
         "a diverged run's metrics stay nan (nan propagates through every later update)",
         non_finite),
)
