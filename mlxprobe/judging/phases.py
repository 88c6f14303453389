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
to 2), or it announced a stage on a line of its own between the two reports (`-- stage:
clear+mixed days (6000 days)`: fresh382 `reindeer_collar_allsum`, correct, train xent 0.064 ->
0.741 as harder days joined, falling to 0.519 within the stage; a `HEADING` record of the
output parser), or the words its lines start with changed and held (`[A] step` -> `[B] step`:
`_retagged`), or a printed step that held over WINDOW reports went up by one (`_stage_step`: a
stage counter read as the step), and the loss jumped at least JUMP x the report before it AND
back to at least where the curve before it began (the median of its first WINDOW reports).
The loss rules judge the last phase. An epoch counter that restarts every epoch is no new
phase: a small noisy loss may double at an epoch boundary (measured: `cosine_decay_steps_ok`,
mse ~0.03), it does not go back to its starting level.

A setting the program prints beside its loss (any name whose role is neither loss, accuracy,
counter nor time: `seq_len`, `max_sigma`, `level`) that held over the two reports before and
changes to a value it never had marks a stage too, when the new curve starts under
STEPPED_MAX x where the curve before it began (weaker evidence than a `stage` name, so a
blow-up that coincides with it stays one curve). fresh85 `morse_dah_count_curriculum_gru`,
a CSV column `seq_len` 4 -> 8 -> 16 -> 24: the window mse 0.314 -> 1.702 (3.8x the stage's
opening) at the third change, falling within each stage; fresh87
`seismo_denoise_noise_curriculum`, `max_sigma` 0.1 -> 0.3 -> 0.6: train_mse 0.00143 ->
0.00748 (4.6x), 0.00603 -> 0.01549 (2.4x). One that moves at every report is a statistic
(`mean_len`, a learning rate under a schedule) and one that goes back to an old value a
toggle: no boundary.

At a boundary the program marks, a report above every report of the curve before it (by
FELL) starts a new phase whatever that curve did (fresh188 `haulrope_splice_wirecount`, a
curriculum whose first stage's loss was flat and noisy). A curve that fell and restarts above
every one of its first WINDOW reports is a new phase too, however small the jump: fresh42
`adapter_reload_default_scale_ok` trains a base model
(train_ce 1.004 -> 0.899 over five reports) and then an adapter, its epoch counter back at 5
and train_ce at 1.041 (1.16x): read as one curve, its last ten reports "did not fall".
FELL = 0.05 (the trend rule's own smallest fall) keeps a flat noisy loss, which has not
fallen, one curve.

Thresholds and why: STEPPED_MAX = 10.0, the spike rule's own factor (no measured stage
starts above 4.6x); JUMP = 2.0, the divergence rule's own factor (a loop that learns never
doubles its loss); measured on the failure corpus (old held-out half,
`load_weights_missing_head_ok`): pre-training ends at 0.002, fine-tuning starts at 1.898
when `Iter` starts again at 50, and falls to 0.039.

Must not import: mlx, the runner.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .. import metric_names
from ..protocol import HEADING, decode_number
from ..watching.facts import RawResult
from ..watching.store import PROGRESS_VIEW

JUMP = 2.0
FELL = 0.05  # the not_learning trend rule's own MIN_DROP: the curve before it learned
WINDOW = 3  # the reports that say where a curve began
STEPPED_MAX = 10.0  # a stepped setting's new curve starts under 10x where the last began
BLOWN = 10.0  # a curve that ended at 10x its opening blew up (the spike rule's own factor)


def loss_records(raw: RawResult) -> list[dict]:
    """The learning records that carry a loss, in order (one per value of the loss series
    when none were thinned)."""
    return [r for r in raw.learning if decode_number(r.get("loss")) is not None]


def last_start(raw: RawResult, losses: list[float]) -> int:
    """The index in `losses` (the run's finite losses, whole) where the last phase starts; 0
    when there is one phase or the records were thinned."""
    records = loss_records(raw)
    if len(records) != len(losses):
        return 0
    restarts, headings, announced = restart_times(raw), heading_times(raw), announcements(raw)
    start = 0
    for i in range(1, len(losses)):
        before = losses[start:i]
        boundary = _boundary(records[i - 1], records[i], restarts) or _stage_step(
            records, i) or _retagged(records, i) or _between(
            headings, records[i - 1].get("t"), records[i].get("t"))
        if _new_curve(before, losses[i]) and (
                boundary
                or _setting_stepped(records, i) and losses[i] < STEPPED_MAX * _opening(before)) \
                or _repeated(records[i - 1], records[i], restarts, announced) \
                or boundary and _above_all(before, losses[i]):
            start = i
    return start


def _repeated(before: dict, record: dict, restarts: list[float],
              announced: list[tuple[float, dict]]) -> bool:
    """A new run from scratch, however its loss starts: the program's counter went back
    and a counter of its repeated runs (`metric_names.repeat_counter`: fold, seed) changed,
    in the reports or on a line of its own between them that announces the run (fresh121
    `perry_pear_mixup_folds`: four folds of six epochs, each mixup loss 0.91 -> 0.79-0.85,
    read as one curve of 24 that did not fall: `not_learning:trend`; fresh391
    `thawline_ablation_groups`: `::group::arm=lake_only seed=2 ...` before each run)."""
    return _restarted(before, record, restarts) and (_changed(
        before, record, metric_names.repeat_counter) or _announced(
            announced, before.get("t"), record.get("t")))


def announcements(raw: RawResult) -> list[tuple[float, dict]]:
    """When the program printed a counter of its repeated runs, and its value there: on a
    line of its own (a `HEADING` with `repeat`: `seed=2`) or in a report (`fold 3/5`)."""
    found = [(r["t"], r["repeat"]) for r in raw.of_kind(HEADING) if r.get("repeat")]
    found += [(r["t"], counters) for r in raw.view(PROGRESS_VIEW).records()
              if (counters := {name: value for name, value in (r.get("metrics") or {}).items()
                               if metric_names.repeat_counter(name)})]
    return sorted(((t, repeat) for t, repeat in found if isinstance(t, (int, float))),
                  key=lambda item: item[0])


def _announced(announced: list[tuple[float, dict]], start: object, end: object) -> bool:
    """A run announced between two reports with a counter value other than the one
    announced last before them (or the first announcement of that counter)."""
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        return False
    earlier = {}
    for when, repeat in announced:
        if when <= start:
            earlier.update(repeat)
        elif when <= end and any(earlier.get(name) != value for name, value in repeat.items()):
            return True
    return False


def restart_times(raw: RawResult) -> list[float]:
    """When the program's printed counter went back, on any progress report (a report with
    no loss, as a validation line that starts the new stage at step 0, counts too)."""
    return [r["t"] for r in raw.view(PROGRESS_VIEW).records()
            if r.get("restart") and isinstance(r.get("t"), (int, float))]


def heading_times(raw: RawResult) -> list[float]:
    """When the program announced a stage on a line of its own (`-- stage: clear+mixed days`,
    read by the output parser as a `HEADING`)."""
    return [r["t"] for r in raw.of_kind(HEADING) if isinstance(r.get("t"), (int, float))]


def _boundary(before: dict, record: dict, restarts: list[float]) -> bool:
    """The program marked a new phase here: its counter went back (`restart`) at this report
    or at one between the two, or a stage counter it prints (`metric_names.stage_counter`:
    stage, phase) changed."""
    return _restarted(before, record, restarts) or _changed(
        before, record, metric_names.stage_counter)


def _stage_step(records: list[dict], i: int) -> bool:
    """The printed step held one value over the WINDOW reports before report `i` and went up
    by exactly one there: a stage counter read as the step (fresh225
    `marquetry_veneer_bnstage_bars`: `stage A (1/2) ep 3/8` read as step 1 for stage A's
    eight epochs, then 2 for stage B, whose noisier data opened at 1.077 after 0.065)."""
    if i < WINDOW:
        return False
    steps = [records[j].get("step") for j in range(i - WINDOW, i + 1)]
    return all(isinstance(s, int) for s in steps) and len(set(steps[:-1])) == 1 \
        and steps[-1] == steps[-2] + 1


def _retagged(records: list[dict], i: int) -> bool:
    """The words the program's lines start with (`head`, read by the output parser) changed
    at report `i` from one held over the WINDOW reports before to one the next WINDOW keep: a
    program that tags its stages (fresh342 `woodcut_press_relay`, correct: `[A] step 79 loss
    0.0039`, then `[B] step 80 ... loss 1.0377`, a second stage weighting the style term up,
    its counter running on; read as one curve, `diverged:exploding`). Lines of two kinds taking
    turns never hold a head over WINDOW reports, and a run whose lines keep one head has no
    such change."""
    head = records[i].get("head")
    if head is None or i < WINDOW:
        return False
    before = {records[j].get("head") for j in range(i - WINDOW, i)}
    return len(before) == 1 and head not in before and all(
        r.get("head") == head for r in records[i:i + WINDOW])


def _restarted(before: dict, record: dict, restarts: list[float]) -> bool:
    """The program's counter went back at `record` or at a report between the two."""
    return bool(record.get("restart")) or _between(restarts, before.get("t"), record.get("t"))


def _changed(before: dict, record: dict, counter: Callable[[str], bool]) -> bool:
    """A counter the program prints in both reports (one `counter` accepts) changed."""
    now, then = record.get("metrics") or {}, before.get("metrics") or {}
    return any(counter(name) and name in then and then[name] != value
               for name, value in now.items())


def _setting_stepped(records: list[dict], i: int) -> bool:
    """A number the program prints beside its loss that is no loss, accuracy, counter or
    time (`metric_names.role` OTHER: `seq_len`, `max_sigma`, `level`) held over the two
    reports before report `i` and changed there to a value it never had: a setting the
    program stepped, not a statistic that moves at every report or a toggle."""
    if i < 2:
        return False
    now, then, held = (records[j].get("metrics") or {} for j in (i, i - 1, i - 2))
    return any(metric_names.role(name) == metric_names.OTHER and name in then and name in held
               and then[name] == held[name] != value and _new_value(records[:i], name, value)
               for name, value in now.items())


def _new_value(records: list[dict], name: str, value: object) -> bool:
    return all((r.get("metrics") or {}).get(name) != value for r in records)


def _between(times: list[float], start: object, end: object) -> bool:
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        return False
    return any(start < t <= end for t in times)


def _opening(before: list[float]) -> float:
    """Where a curve began: the median of its first WINDOW reports."""
    return sorted(before[:WINDOW])[len(before[:WINDOW]) // 2]


def _new_curve(before: list[float], first: float) -> bool:
    """`first` is back to at least where the curve before it began (`_opening`) and either
    jumped JUMP x the report before it, or is above every one of those first reports after a
    curve that fell FELL below its opening, or lies FELL above every report of a curve
    before it that ended no higher than its opening (a second model trained from scratch
    after one that converged in its first report: fresh107 `refill_dpsgd_rst`, a reference
    0.4358 -> 0.4164, then DP-SGD from 0.4952; a loss that climbs through its epochs stays
    one curve); or the curve before it ended in a blow-up and `first` lies under its opening
    (`_blew_up`)."""
    opening = _opening(before)
    if before[-1] <= 0:
        return False
    if first < opening:
        return opening > 0 and _blew_up(before, opening)
    fell = len(before) >= WINDOW and before[-1] <= (1 - FELL) * opening
    return first >= JUMP * before[-1] or (fell and first > max(before[:WINDOW])) or (
        len(before) >= WINDOW and before[-1] <= opening and first > (1 + FELL) * max(before))


def _above_all(before: list[float], first: float) -> bool:
    """`first` lies FELL above every report of a curve of at least WINDOW reports that did
    not climb (its last WINDOW reports' median within FELL of its opening: a loss that climbs
    through its epochs stays one curve): at a boundary the program marks, a harder stage,
    however flat and noisy the curve before it
    (fresh188 `haulrope_splice_wirecount`: a Poisson NLL curriculum whose `it` went back to 1
    for the whole fleet, train_nll 0.98-1.14 over the young ropes' nine reports, then 1.46;
    read as one curve, 1.14 -> 1.48 "did not fall")."""
    if len(before) < WINDOW:
        return False
    ended = sorted(before[-WINDOW:])[WINDOW // 2]
    return ended <= (1 + FELL) * _opening(before) and first > (1 + FELL) * max(before)


def _blew_up(before: list[float], opening: float) -> bool:
    """The curve's last WINDOW reports reach BLOWN x its opening: a learning-rate range test
    that ends by design where its loss blows up, after which the program trains fresh weights
    from the start (fresh99 `ean_scanline_conv_rangetest`: smoothed loss 2.30 -> 1.59 -> 55.4
    at the sweep's last learning rate, then train_ce 1.599 -> 0.018 with its epoch counter
    back at 1). Only at a boundary the program marks, and only for a new curve that starts
    under the opening: a blow-up the program trains on through stays one curve."""
    return len(before) > WINDOW and max(before[-WINDOW:]) > BLOWN * opening


def last_restart(raw: RawResult) -> float | None:
    """When the program's counter last went back (`restart_times`), or None."""
    times = restart_times(raw)
    return max(times) if times else None


def since_restart(raw: RawResult) -> list[dict]:
    """The learning records since the program's counter last restarted (`last_restart`):
    the last stage's, where a second stage starts a new model or task."""
    since = last_restart(raw)
    return [r for r in raw.learning if since is None or r.get("t", 0.0) >= since]


def held_out_since_restart(raw: RawResult) -> dict[str, list[float]]:
    """Each held-out loss's finite evaluations since the program's counter last restarted."""
    found: dict[str, list[float]] = {}
    for record in since_restart(raw):
        for name, value in (record.get("metrics") or {}).items():
            if metric_names.held_out_loss(name) and isinstance(value, (int, float)) \
                    and math.isfinite(value):
                found.setdefault(name, []).append(float(value))
    return found
