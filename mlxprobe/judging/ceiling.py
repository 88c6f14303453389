"""Rule unit: an accuracy at its ceiling before the first update, and at every report after.

Job: an accuracy-like metric (higher is better, at most 1, or 100 as a percentage) that
reads perfect at a report taken before any optimizer update, and never moves from there
while training changes the loss, does not measure the model: an untrained model is not
perfect. What does it: a comparison that matches each prediction against every label of
the batch (`np.isin(preds, targets)`, `(preds[:, None] == targets).any()`: mlx-image PR
25's top-k accuracy, true as soon as the batch holds every class), labels compared with
themselves, a mask that selects nothing and a mean of an empty set defaulted to 1.

Thresholds and why: >= MIN_REPORTS reports of the metric while training went on (before the
run's last update: a line printed after training, such as a chance level for reference, is
not one), the first before any update the bootstrap counted (only while every step record is
kept), every one at >= CEILING of its scale (0.999, or 99.9 for a percentage); the loss the
run reports changed by at least LOSS_MOVED (20%) between its first and last values (training
moved the model). Over every kept run of the corpus no clean run reads a ceiling before its
first update; accuracies that reach 1.0 after a few updates (fresh9
`correct_hinge_zero_loss`, from update 9) are not judged. Measured: fresh44
`topk_isin_accuracy`: acc@1 1.000 before training (val_ce 2.32 = ln 10, chance) and at all
12 epochs; its fixed twin 0.077 -> 0.835.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from . import program
from .readings import direction, reports
from .rule import Rule, Verdict

MIN_REPORTS = 5
CEILING = 0.999
LOSS_MOVED = 0.2
HINT = ("`{name}` read perfect before any update and at every report after: an untrained "
        "model is not perfect, so the metric does not compare each prediction with its own "
        "label. A comparison against the whole batch (`np.isin(preds, targets)`, "
        "`(preds[:, None] == targets).any()`) is true as soon as the batch holds the "
        "predicted class; compare row by row, `preds == targets` (top-k: "
        "`(topk == targets[:, None]).any(axis=1)`), and check the metric of an untrained "
        "model is near chance")


def at_ceiling(value: float) -> bool:
    scale = 100.0 if value > 1.0 else 1.0
    return CEILING * scale <= value <= scale


def moved(losses: list[float]) -> bool:
    """The loss changed by LOSS_MOVED of its first value between its first and last."""
    return len(losses) >= 2 and losses[0] > 0 and abs(losses[-1] - losses[0]) >= (
        LOSS_MOVED * losses[0])


def ceiling(raw: RawResult, meta: dict) -> Verdict | None:
    times = program.update_times(raw)
    if not times or not moved(program.losses(raw)):
        return None
    for name, values in reports(raw, times).items():
        during = [(done, v) for done, v in values if done < len(times)]
        if (direction(name) and len(during) >= MIN_REPORTS and during[0][0] == 0
                and all(at_ceiling(v) for _, v in during)):
            return Verdict("wrong_result", "untrained_ceiling", f"`{name}` read "
                           f"{during[0][1]:g} before any of the {len(times)} updates and at "
                           f"each of its {len(during)} reports while training went on, never "
                           "below its ceiling, while the loss moved: it does not measure the "
                           "model", HINT.format(name=name),
                           {"metric": name, "reports": len(during), "ceiling": CEILING,
                            "min_reports": MIN_REPORTS, "loss_moved": LOSS_MOVED})
    return None


RULES = (
    Rule("wrong_result.untrained_ceiling", "metrics", f"an accuracy at >= {CEILING:g} of its "
         f"scale at each of >= {MIN_REPORTS} reports, the first before any optimizer update, "
         f"while the loss moved >= {LOSS_MOVED:.0%}",
         "failure corpus: fresh44 topk_isin_accuracy (mlx-image PR 25)", ceiling),
)
