"""Rule unit: the loss falls while the task's accuracy sits at zero (the loss works against
the task).

Job: a run whose loss falls significantly learns what its loss rewards; when an accuracy it
reports at the same time is zero at every report after the first and never rose above its
first value, what the loss rewards is not the task the accuracy measures: a sign turned
round (minimising a similarity, `nn.losses.cosine_similarity_loss`, which returns the
similarity itself; maximising a distance), or an accuracy taken against other targets than
the loss's. A model that learns anything of a task scores above zero on it: even a uniform
guess over K classes scores 1/K.

Thresholds and why: the loss's trend over >= 10 reports falls significantly (Mann-Kendall p
< 0.05, the trend rule's own test: `program.trend`); the accuracy (a fraction, or a
percentage scaled) at most ZERO at every one of its reports after the first, >= MIN_REPORTS
of them, and never above its first nor below 0 (a negative value is no share). Rewards,
returns and scores are left out (an RL reward is an objective and may sit at 0 for long).
Measured (failure corpus fresh7, `cosine_similarity_minimized`, mlx PR 336): cos_loss -0.942
-> -0.963 over 10 reports (it falls: it is the similarity itself), recall@1 0.006 then 0.000
at all 10 later reports; the fixed twin (1 - cos): recall@1 1.000. A language model's token
accuracy leaves 0 within its first reports (the commonest token); a detector's mAP rises
above 0.000 once it learns. A run too short for the trend test counts when its loss ended at
<= HALF = 0.5 of its first over >= 5 reports: over 1,687 kept runs (stop 80) five have an
accuracy zeroed so, all broken, and only fresh284 `crosswalk_beacon_priors` (49.4 -> 7.56,
hit@0.5 0.000 at 7 reports) moves from the 100-fold floor asked before.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import re

from ..watching.facts import RawResult
from . import chance, program
from .rule import Rule, Verdict

ZERO = 0.001
MIN_REPORTS = 6
# a short run's loss fell to at most HALF of its first over >= FLOOR_REPORTS reports
HALF, FLOOR_REPORTS = 0.5, program.FLOOR_REPORTS  # `program.fell_to_floor`
HINT = ("the loss falls while {name} stays at 0: what the loss rewards works against what "
        "{name} measures. Check the loss's sign: `nn.losses.cosine_similarity_loss` returns "
        "the similarity itself, so minimising it pushes pairs apart: minimise `1 - cos` (or "
        "`-cos`) instead; a likelihood or a similarity is maximised, so minimise its "
        "negative. Then check that {name} is taken against the same targets as the loss "
        "(labels, pairs, an argmax over the class axis), and that the loss sees the task's "
        "targets at all: sequences truncated before them (a length taken with len() of a "
        "(1, seq) array is 1, so every example is cut to the padding), labels masked or cut "
        "off")


# a detector's score (an IoU hit rate, a mAP) sits at 0 when its boxes are in other units
DETECTION = re.compile(r"iou|map|hit|box|(?:^|_)ap(?:\d|$|_)")
BOXES = ("; for a detector, first check that the target boxes are in the units the "
         "predictions are: normalised by the image's own height and width (`H, W, C = "
         "img.shape` for an HWC image: `_, H, W = img.shape` reads the channel count as the "
         "width) and taken from the resized image when the images were resized, then that "
         "each prior is matched to a box it overlaps")


def zeroed(raw: RawResult) -> tuple[str, list[float]] | None:
    """The first accuracy at <= ZERO at every report after its first, never above it, and
    never below 0: a share of right answers is none (fresh358 `quilt_motif_attractor_resume`,
    correct: `E_recall` -63.3 -> -80.7, a Hopfield energy named like a recall)."""
    for name, values in chance.task_accuracies(raw).items():
        later = [v for v in values[1:] if math.isfinite(v)]
        if len(later) < MIN_REPORTS or min(values) < 0:
            continue
        if max(later) <= ZERO and max(later) <= values[0]:
            return name, values
    return None


def floor_fall(raw: RawResult) -> dict | None:
    """The loss ended at or below HALF its first report over >= FLOOR_REPORTS reports, for a
    run too short for the trend test (fresh132
    `okapi_caption_sft`, mlx-vlm PR 826: train loss 0.857 -> 0.0000 over 8 epochs while the
    held-out caption accuracy was 0.000 at each: every sequence cut to its first 33 tokens,
    all prompt, so no caption token was ever trained on; fresh284 `crosswalk_beacon_priors`,
    mlx-models 9a42db7: an SSD's boxes normalised by the channel count, loss 49.4 -> 7.56 over
    6 epochs while hit@0.5 was 0.000 at each)."""
    losses = program.losses(raw)
    if not program.fell_to_floor(losses, HALF):
        return None
    return {"first": losses[0], "last": losses[-1], "reports": len(losses), "floor": HALF}


def opposed(raw: RawResult, meta: dict) -> Verdict | None:
    found = zeroed(raw)
    fit = (program.significant_fall(raw) or floor_fall(raw)) if found else None
    if found is None or fit is None:
        return None
    name, values = found
    evidence = {"accuracy": name, "accuracy_first": values[0], "accuracy_max_later":
                max(values[1:]), "reports": len(values), "zero": ZERO, "loss_trend": fit}
    fell = program.fall_words(fit) if "p_decrease" in fit else (
        f"the loss fell {fit['first']:.4g} -> {fit['last']:.4g} (<= {HALF:g}x its first "
        f"over {fit['reports']} reports)")
    return Verdict("not_learning", "opposed", f"{fell} while "
                   f"{name} was <= {ZERO} at all {len(values) - 1} reports after its first "
                   f"({values[0]:.3g}): the loss works against the task",
                   HINT.format(name=name) + (BOXES if DETECTION.search(name) else ""),
                   evidence)


RULES = (
    Rule("not_learning.opposed", "metrics", f"the loss falls significantly (p < "
         f"{program.TREND_P}, or to <= {HALF:g}x its first over >= {FLOOR_REPORTS} reports) "
         f"while an accuracy (not a reward) is <= {ZERO} at >= "
         f"{MIN_REPORTS} reports after its first, never above it nor below 0",
         "failure corpus: fresh7 cosine_similarity_minimized (mlx PR 336), fresh132 "
         "okapi_caption_sft (mlx-vlm PR 826)", opposed),
)
