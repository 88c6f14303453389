"""The run's phases: where a new loss curve starts inside one program's output.

Job: a program that pre-trains and then fine-tunes, trains a second model, or resumes from a
checkpoint prints two loss curves one after the other, and its own step counter starts again
at the second. Read as one curve, the second curve's start is a "spike" or an "explosion"
and the first curve's low end makes the second look like it never learned. A new phase is a
report where the program's printed counter went back (the output parser marks it `restart`,
on that report or on a report without a loss between two losses: fresh5's
`lora_scale_alpha_raw_ok` starts its LoRA stage with a `Step 0` validation line)
or a stage counter it prints changed (`stage 1 -> 2`: a curriculum's longer sequences, a
harder set; fresh4's `correct_curriculum_length`, mse 0.00045 -> 0.00646 as its stage went
to 2), and the loss jumped at least JUMP x the report before it AND back to at least where the
curve before it began (the median of its first WINDOW reports). The loss rules judge the
last phase. An epoch counter that restarts every epoch is no new phase: a small noisy loss
may double at an epoch boundary (measured: `cosine_decay_steps_ok`, mse ~0.03), it does not
go back to its starting level.

A size the program sets and prints (`metric_names.size_setting`: `seq_len`, `len`, `level`)
that changes after holding over the two reports before it marks a stage too (fresh85
`morse_dah_count_curriculum_gru`, a CSV column `seq_len` 4 -> 8 -> 16 -> 24: the window mse
0.146 -> 0.618, 0.314 -> 1.702, 0.444 -> 1.168 at the changes, falling within each stage);
one that moves at every report is a statistic of the batch (`mean_len`), no boundary.

A curve that fell and restarts above every one of its first WINDOW reports is a new phase
too, however small the jump: fresh42 `adapter_reload_default_scale_ok` trains a base model
(train_ce 1.004 -> 0.899 over five reports) and then an adapter, its epoch counter back at 5
and train_ce at 1.041 (1.16x): read as one curve, its last ten reports "did not fall".
FELL = 0.05 (the trend rule's own smallest fall) keeps a flat noisy loss, which has not
fallen, one curve.

Thresholds and why: JUMP = 2.0, the divergence rule's own factor (a loop that learns never
doubles its loss); measured on the failure corpus (old held-out half,
`load_weights_missing_head_ok`): pre-training ends at 0.002, fine-tuning starts at 1.898
when `Iter` starts again at 50, and falls to 0.039.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from .. import metric_names
from ..protocol import decode_number
from ..watching.facts import RawResult
from ..watching.store import PROGRESS_VIEW

JUMP = 2.0
FELL = 0.05  # the not_learning trend rule's own MIN_DROP: the curve before it learned
WINDOW = 3  # the reports that say where a curve began


def last_start(raw: RawResult, losses: list[float]) -> int:
    """The index in `losses` (the run's finite losses, whole) where the last phase starts; 0
    when there is one phase or the records were thinned."""
    records = [r for r in raw.learning if decode_number(r.get("loss")) is not None]
    if len(records) != len(losses):
        return 0
    restarts = restart_times(raw)
    start = 0
    for i in range(1, len(losses)):
        if (_boundary(records[i - 1], records[i], restarts) or _size_changed(records, i)) \
                and _new_curve(losses[start:i], losses[i]):
            start = i
    return start


def restart_times(raw: RawResult) -> list[float]:
    """When the program's printed counter went back, on any progress report (a report with
    no loss, as a validation line that starts the new stage at step 0, counts too)."""
    return [r["t"] for r in raw.view(PROGRESS_VIEW).records()
            if r.get("restart") and isinstance(r.get("t"), (int, float))]


def _boundary(before: dict, record: dict, restarts: list[float]) -> bool:
    """The program marked a new phase here: its counter went back (`restart`) at this report
    or at one between the two, or a stage counter it prints (`metric_names.stage_counter`:
    stage, phase) changed."""
    if record.get("restart") or _between(restarts, before.get("t"), record.get("t")):
        return True
    now, then = record.get("metrics") or {}, before.get("metrics") or {}
    return any(metric_names.stage_counter(name) and name in then and then[name] != value
               for name, value in now.items())


def _size_changed(records: list[dict], i: int) -> bool:
    """A size the program sets (`metric_names.size_setting`: seq_len, level) changed at
    report `i` after holding over the two reports before it: a setting, not a statistic that
    moves at every report."""
    if i < 2:
        return False
    now, then, held = (records[j].get("metrics") or {} for j in (i, i - 1, i - 2))
    return any(metric_names.size_setting(name) and name in then and name in held
               and then[name] == held[name] != value for name, value in now.items())


def _between(times: list[float], start: object, end: object) -> bool:
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        return False
    return any(start < t <= end for t in times)


def _new_curve(before: list[float], first: float) -> bool:
    """`first` is back to at least where the curve before it began (the median of its first
    WINDOW reports) and either jumped JUMP x the report before it, or is above every one of
    those first reports after a curve that fell FELL below its opening."""
    opening = sorted(before[:WINDOW])[len(before[:WINDOW]) // 2]
    if before[-1] <= 0 or first < opening:
        return False
    fell = len(before) >= WINDOW and before[-1] <= (1 - FELL) * opening
    return first >= JUMP * before[-1] or (fell and first > max(before[:WINDOW]))
