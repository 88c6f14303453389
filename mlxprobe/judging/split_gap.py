"""Rule unit: two held-out evaluations of one model that disagree far past their noise, the
validation at its ceiling and the test near where an untrained model stands.

Job: a validation accuracy and a test accuracy of the same run measure one model on data it
did not train on; they agree within their sampling noise (an accuracy over n >= 30 examples
has a standard deviation of at most 0.09). When the validation reads near perfect and the
test GAP or more below it, the validation data was trained on: one model and optimizer shared
across cross-validation folds (each fold's validation part was an earlier fold's training
part), a split redrawn every epoch, a validation set cut from the training set. What the run
reports as its validation score is wrong, and so is anything chosen by it.

Thresholds and why: at their last reports, a validation accuracy (val, valid, validation,
dev, cv) >= CEILING (0.95 of its scale; x100 for a percentage) and a test accuracy (test,
holdout) of the same measure (the same name once the split word is taken out: `acc` and
`accuracy` alike) at least GAP (0.3) below it; no metric and no loss report of the run
non-finite (a diverged run's last evaluations are of a broken model: fresh32 `gat_cora_like`,
val_acc 0.958 at its best and test_acc 0.2 after its loss went nan). Measured over every
kept run of the corpus (1,175 runs; 6 print both): fresh175 `kfold_shared_model`
(mlx-notebooks b523bc0, one model trained through every fold): validation_acc 1.0,
test_accuracy 0.516; its fixed twin 0.523 / 0.509; the widest correct gap, fresh134
`lobster_pot_grade_seeds_restore`, `val_bal_acc` 84.41 against `test_acc` 45.1, is two
different measures and below the ceiling.

The same for losses: a validation loss and a test loss of the same measure (`val_loss` and
`test_loss`, `val_rmse` and `test_rmse`) at their last reports, the test's at least LOSS_RATIO
(5) times the validation's. Measured over every kept run of the corpus (1,354 runs; 16 print
both): the widest correct ratio 1.20 (fresh181 `retread_bond_compiled_restore`, val_nll
0.497, test_nll 0.597); fresh269 `tidewater_roster_merge` (Soup PR 701: oversampling cycled
the training rows before the split, so the validation rows were copies of training rows):
val_loss 0.0356, test_loss 0.554 (15.6x), val_acc 1.000 against test_acc 0.860; its fixed
twin 0.526 / 0.575 (1.09x).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import re

from ..watching.facts import RawResult
from . import metrics, program
from .rule import Rule, Verdict

CEILING = 0.95
GAP = 0.3
VALIDATION = re.compile(r"(?:^|_)(?:val|valid|validation|dev|cv|cross_validated)(?:_|$)")
TEST = re.compile(r"(?:^|_)(?:test|holdout|held_out)(?:_|$)")
ACCURACY = re.compile(r"^(?:acc|accuracy)$")
LOSS = re.compile(r"^(?:loss|nll|ce|xent|cross_entropy|mse|rmse|mae)$")
LOSS_RATIO = 5.0
HINT = ("the validation reads {val:g} while the test reads {test:g} ({gap} apart; two "
        "held-out evaluations of one model agree within their noise): the validation data "
        "was trained on, so what it reports is memorised, not learnt (a leak across the "
        "split: rows copied into both, as oversampling that cycles a dataset before it is "
        "split does). One model and optimizer shared across cross-validation folds trains on "
        "each fold's validation part in another fold: build a fresh model and optimizer for "
        "each fold and run the epochs inside it; split once, before training, into disjoint "
        "index sets (a partition redrawn every epoch mixes them); never cut the validation "
        "set from data the model trains on")


def measure(name: str, split: re.Pattern[str], kind: re.Pattern[str] = ACCURACY) -> \
        str | None:
    """`acc` for `validation_acc` under VALIDATION (the name with its split word taken
    out), when what is left is an accuracy (with `kind` LOSS, a loss: `val_loss` is `loss`);
    else None."""
    if not split.search(name):
        return None
    left = "_".join(w for w in split.sub("_", name).split("_") if w)
    return ("acc" if kind is ACCURACY else left) if kind.match(left) else None


def last_of(series: dict[str, list[tuple[int, float]]], split: re.Pattern[str],
            kind: re.Pattern[str] = ACCURACY) -> tuple[str, float] | None:
    """The first accuracy (or loss) of that split and its last value."""
    return next(((n, p[-1][1]) for n, p in series.items() if p and measure(n, split, kind)),
                None)


def finite_run(raw: RawResult) -> dict | None:
    """The run's metric series, when no metric and no loss report is non-finite."""
    series = metrics.series(raw)
    values = [v for points in series.values() for _, v in points] + program.losses(raw)
    return series if all(math.isfinite(v) for v in values) else None


def gap(series: dict) -> dict | None:
    """The accuracy form over a run's finite series (`finite_run`)."""
    val, test = last_of(series, VALIDATION), last_of(series, TEST)
    if val is None or test is None:
        return None
    scale = 100.0 if max(val[1], test[1]) > 1 else 1.0
    if val[1] < CEILING * scale or val[1] - test[1] < GAP * scale:
        return None
    return {"validation": val[0], "validation_last": val[1], "test": test[0],
            "test_last": test[1], "ceiling": CEILING, "gap": GAP, "scale": scale}


def loss_gap(series: dict) -> dict | None:
    """A validation loss and a test loss of the same measure at their last reports, the
    test's LOSS_RATIO times the validation's or more (both above 0)."""
    val, test = last_of(series, VALIDATION, LOSS), last_of(series, TEST, LOSS)
    if val is None or test is None or measure(val[0], VALIDATION, LOSS) != measure(
            test[0], TEST, LOSS) or not 0 < val[1] * LOSS_RATIO <= test[1]:
        return None
    return {"validation": val[0], "validation_last": val[1], "test": test[0],
            "test_last": test[1], "loss_ratio": LOSS_RATIO}


def split_gap(raw: RawResult, meta: dict) -> Verdict | None:
    series = finite_run(raw)
    found = gap(series) if series else None
    if found is None:
        return _loss_split_gap(series) if series else None
    val, test, scale = found["validation_last"], found["test_last"], found["scale"]
    return Verdict("wrong_result", "split_gap", f"`{found['validation']}` ended at {val:g} "
                   f"and `{found['test']}` at {test:g}: the two held-out evaluations differ by "
                   f">= {GAP * scale:g} with the validation at its ceiling",
                   HINT.format(val=val, test=test, gap=f"{(val - test) / scale:.0%}"), found)


def _loss_split_gap(series: dict) -> Verdict | None:
    found = loss_gap(series)
    if found is None:
        return None
    val, test = found["validation_last"], found["test_last"]
    return Verdict("wrong_result", "split_gap", f"`{found['validation']}` ended at {val:g} "
                   f"and `{found['test']}` at {test:g}: the test loss is >= {LOSS_RATIO:g} "
                   "times the validation loss", HINT.format(
                       val=val, test=test, gap=f"{test / val:.1f}x"), found)


RULES = (
    Rule("wrong_result.split_gap", "metrics", f"at their last reports a validation accuracy "
         f">= {CEILING:g} (x100 for a percentage) and a test accuracy of the same name "
         f">= {GAP:g} below it, or a test loss >= {LOSS_RATIO:g}x the validation loss of the "
         "same name; no metric or loss non-finite", "failure corpus fresh175 "
         "kfold_shared_model (mlx-notebooks b523bc0); fresh269 tidewater_roster_merge (Soup "
         "PR 701)", split_gap),
)
