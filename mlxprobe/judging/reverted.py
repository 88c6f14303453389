"""Rule unit: after training, a measured value comes back exactly to what it was before.

Job: a metric the program reports (an accuracy, an error, a loss, under any name) that
training moved far, then, after the last optimizer update, reads exactly the value it had at
an earlier report taken before that training: the model evaluated at the end is not the one
that trained. A deterministic evaluation of the same model on the same data gives the same
number to the last digit; a trained model landing there by chance would have to undo its
whole improvement to the printed digit. What does it: a reload that builds a fresh model and
never loads the saved weights or adapters into it (mlx-examples PR 396: LoRA layers swapped
into a new base model, the adapter arrays never applied), the base model object evaluated
instead of the trained one, a save that wrote the untrained parameters, adapter layers
rebuilt at another rank or scale than they were trained with (fresh262
`apiary_frame_adapter_reopen`, mlx-vlm's `apply_lora_layers` before it read
adapter_config.json: alpha 0.1 for a trained 2.0, the reopened accuracy back at 0.000).

Thresholds and why: the last two reports of the metric both after every update the run made (the
bootstrap counts them; a program that updates by hand counts none and is not judged; only while
every step record is kept): two evaluations with no training between them, so the model changed
without a step; the last exactly equal to an earlier report taken before some updates, the one
before it better than that by at least MOVED_ACC (0.1, ten points of accuracy) for a
higher-is-better metric, or at most MOVED_LOSS (half) of it for a lower-is-better one (training
had really moved it). A training metric that wobbles back to a value it printed before is never
judged: updates lie between its reports (checked: fresh24 `protonet_episodes`, `train_acc` 68 at
its last report and at update 1499; fresh25 `orpo_half_odds_floor_ok`, `nll` 4e-06 at its last
report and at update 248). Measured (failure corpus fresh40 `lora_reload_adapters_dropped`):
task-B accuracy 0.575 before LoRA (update 1500), 0.840 after 500 LoRA updates in memory, 0.575
again after the reload (update 3500); its fixed twin's reload reads 0.840. Over every kept run
of the corpus (682 cases) no other run fires. A reference line printed after training,
`chance level: acc@1=0.100`, equal to an untrained model's exact 1/K on a balanced set, is
not a reload: the output reader reads no line named by such a first word. The last report
need not print the names the one before it did (fresh98 `lora_fuse_reload`: a training line
`train mse ... | val mse 0.0218`, then `fused model val mse: 0.9517`, the base model's value
before training, after a fuse that built fresh adapter layers). A higher-is-better metric
above 1 is read as a percentage: its move must be PERCENT x MOVED_ACC points (fresh76
`hive_swarm_lion_restore`: a best epoch restored at 79.67% after 79.87% is no reload).
Over every kept run (1,413 cases) no other run fires. Three or more different values after the
last update are a breakdown by group, one evaluation per subset, not one model evaluated twice
(fresh117 `railway_transe_growing_graph`: `final: ... hits@3 89.7%`, then per relation 90.9%,
100.0% and 0.0%, the last equal to the stage-1 value 0.0%). A restored best checkpoint keeps
most of the gain: the end must lose at least RANGE_LOST (a quarter) of the metric's whole
span against the report before it.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from ..protocol import PROGRESS, decode_number
from ..watching.facts import RawResult
from . import program
from .readings import direction, reports
from .rule import Rule, Verdict

MOVED_ACC = 0.1
MOVED_LOSS = 0.5
PERCENT = 100.0  # a higher-is-better metric above 1 is read as a percentage
# the end must lose at least this share of the metric's whole span against the report
# before it: an early-stopping run that restores its best checkpoint comes back to a value
# it printed before, and keeps nearly all of its gain (fresh203 `stride_tagger_bestckpt_ok`:
# eval loss 3.19 at the first evaluation, 0.0019 after the last update, 0.0070 after restoring
# the step-225 best: 0.2% of the span lost; its broken twin restores the step-25 model and
# loses all of it)
RANGE_LOST = 0.25
BREAKDOWN = 2  # more different values than this after the last update: one per group
HINT = ("what was evaluated at the end is not the model that trained: `{name}` came back "
        "to exactly its value from before training. A reload, a fuse or an export step that "
        "builds a fresh model must load what was saved into it (`model.load_weights(path)`; "
        "for LoRA, swap the adapter layers in with the rank, scale (alpha) and dropout they "
        "were trained with, read back from the saved adapter_config.json (`load_weights(..., "
        "strict=False)` takes arrays into layers of another rank or scale without a word), then "
        "`model.update(tree_unflatten(list(mx.load(adapter_file).items())))` before fusing: "
        "adapters never loaded stay at lora_b = 0, the base model); evaluate the trained "
        "model object, not the base one it was copied from; save after training, from the "
        "trained model (`model.save_weights(path)`)")
# said besides when the value came back to is the run's worst among several evaluations
# taken during training (fresh171 `quill_perplexity_restore`, unsloth-zoo PR 1011:
# `eval_perplexity` read as greater-is-better, the step-100 checkpoint restored at the end)
WORST = ("; it came back to its worst value of {count} evaluations during training: where "
         "the run keeps and restores a best checkpoint, its comparison runs the wrong way "
         "for this metric (`{name}` is {better}-is-better: {how})")
HOW = {False: "a perplexity, an error or a loss must be compared with `<`, "
              "`greater_is_better=False`",
       True: "an accuracy or a reward must be compared with `>`, `greater_is_better=True`"}
WORST_AFTER = 3  # evaluations during training (after some updates, before the last)
# said besides when the evaluation the value came back to printed another metric non-finite
# (fresh197 `snowmelt_pearson_bestrestore`, an MLXTrainer's load_best_model_at_end: a step-0
# validation Pearson r of nan kept as best, since `cur > nan` is False for every later cur,
# and its checkpoint restored at early stopping)
NAN_BEST = ("; at that evaluation `{metric}` read {value}: a best-checkpoint comparison "
            "(`cur > best`) keeps a non-finite first value as best for good, since every "
            "comparison with NaN is False, and restores it: skip non-finite evaluations, "
            "`if cur == cur and (best is None or cur > best)`")


def _moved(before: float, middle: float, higher: bool) -> bool:
    """Training took the metric far from `before`, the better way: ten points of accuracy
    on its own scale (a percentage's points are 100x a fraction's: fresh76
    `hive_swarm_lion_restore`, a best epoch restored at 79.67% after a last epoch at 79.87%,
    is no reload)."""
    if higher:
        scale = PERCENT if max(abs(before), abs(middle)) > 1 else 1.0
        return middle - before >= MOVED_ACC * scale
    return before > 0 and middle <= MOVED_LOSS * before


def came_back(values: list[tuple[int, float]], total: int, higher: bool) -> dict | None:
    """The last two reports both after every update (no training between them), the first
    of them moved far from an earlier report taken before some updates, the last exactly
    equal to that earlier one."""
    if len(values) < 3 or values[-1][0] != total or values[-2][0] != total:
        return None
    if len({value for then, value in values if then == total}) > BREAKDOWN:
        return None  # a breakdown by group after training (`BREAKDOWN`), not a reload
    end, trained = values[-1][1], values[-2][1]
    if abs(trained - end) < RANGE_LOST * _span(values):
        return None  # a best checkpoint restored: it kept most of what training gained
    for then, value in values[:-2]:
        if then < total and value == end and _moved(value, trained, higher):
            return {"value": end, "updates_before": then, "updates_at_end": total,
                    "trained": trained, "worst_of": _worst_of(values, higher)}
    return None


def _span(values: list[tuple[int, float]]) -> float:
    """How far apart the metric's reports lie: all that training moved it."""
    return max(v for _, v in values) - min(v for _, v in values)


def _worst_of(values: list[tuple[int, float]], higher: bool) -> int:
    """How many evaluations taken during training the last value is the worst of (0 when
    it is not their worst)."""
    during = [value for then, value in values[:-1] if 0 < then < values[-1][0]]
    worst = min(during, default=None) if higher else max(during, default=None)
    return len(during) if worst == values[-1][1] else 0


def reverted(raw: RawResult, meta: dict) -> Verdict | None:
    times = program.update_times(raw)
    if times is None:
        return None
    for name, values in reports(raw, times).items():
        higher = bool(direction(name))
        found = came_back(values, len(times), higher)
        if found is not None:
            hint = HINT.format(name=name)
            if found["worst_of"] >= WORST_AFTER:
                hint += WORST.format(count=found["worst_of"], name=name, how=HOW[higher],
                                     better="higher" if higher else "lower")
            hint += nan_beside(raw, name, found["value"])
            return Verdict("wrong_result", "reverted", f"`{name}` read {found['value']:g} after "
                           f"the last of {found['updates_at_end']} updates, exactly its value "
                           f"after {found['updates_before']} (before training moved it to "
                           f"{found['trained']:g} at the report before)", hint,
                           {"metric": name, **found, "moved_acc": MOVED_ACC,
                            "moved_loss": MOVED_LOSS})
    return None


def nan_beside(raw: RawResult, name: str, value: float) -> str:
    """NAN_BEST, naming a metric printed non-finite in the first record where `name` read
    `value`; else nothing."""
    for record in raw.of_kind(PROGRESS):
        metrics = record.get("metrics") or {}
        if decode_number(metrics.get(name)) == value:
            for other, read in metrics.items():
                number = decode_number(read)
                if number is not None and not math.isfinite(number):
                    return NAN_BEST.format(metric=other, value=read)
            return ""
    return ""


RULES = (
    Rule("wrong_result.reverted", "metrics", "the last two reports of a metric after every "
         "optimizer update (no update between them), the last exactly equal to a report "
         "with fewer updates, the one before it better than that by >= "
         f"{MOVED_ACC:g} (higher-is-better; x{PERCENT:g} above 1) or <= {MOVED_LOSS:g}x it "
         f"(lower-is-better), and the last losing >= {RANGE_LOST:g} of the metric's span "
         "against it", "failure corpus: fresh40 lora_reload_adapters_dropped "
         "(mlx-examples PR 396), fresh98 lora_fuse_reload (mlx-swift-examples PR 424)",
         reverted),
)
